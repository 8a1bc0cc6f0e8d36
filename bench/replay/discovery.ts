// Minimal discovery for the replay upstream, as a 1.20 apiserver answers it (no aggregated discovery):
// /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version> — listing exactly the resource
// types the replay serves (get, list, watch). Enough for the proxy's rule expansion and for a client
// that discovers before listing. Built once; answers are constant Buffers.
import { groupVersion, type ResourceType } from '../../streams/resource-type.ts';

export const REPLAY_VERSION = {
  major: '1',
  minor: '20',
  gitVersion: 'v1.20.2-replay',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.19',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const VERBS = ['get', 'list', 'watch'];

export function discoveryDocuments(types: readonly ResourceType[], serverAddress: string): Map<string, Buffer> {
  const docs = new Map<string, Buffer>();
  const json = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`);
  const resources = (gv: string) =>
    types
      .filter((t) => groupVersion(t) === gv)
      .map((t) => ({ name: t.resource, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: VERBS }));

  docs.set('/version', json(REPLAY_VERSION));
  docs.set('/api', json({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] }));
  docs.set('/api/v1', json({ kind: 'APIResourceList', groupVersion: 'v1', resources: resources('v1') }));

  const groups = new Map<string, Set<string>>();
  for (const t of types) {
    if (!t.group) continue;
    let versions = groups.get(t.group);
    if (!versions) groups.set(t.group, (versions = new Set()));
    versions.add(t.version);
  }
  const groupDocs = [...groups].map(([name, versions]) => {
    const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
    return { name, versions: list, preferredVersion: list[0] };
  });
  docs.set('/apis', json({ kind: 'APIGroupList', apiVersion: 'v1', groups: groupDocs }));
  for (const g of groupDocs) {
    docs.set(`/apis/${g.name}`, json({ kind: 'APIGroup', apiVersion: 'v1', ...g }));
    for (const v of g.versions) docs.set(`/apis/${v.groupVersion}`, json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: v.groupVersion, resources: resources(v.groupVersion) }));
  }
  return docs;
}
