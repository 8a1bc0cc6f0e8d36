// A proxy whose own upstream identity lacks one permission of deploy/rbac.yaml: the informer of that
// resource then never syncs (its list is refused, and retried with backoff), which holds the proxy in
// its "not synced yet" state for as long as a test needs — deterministically, through the public API.
// grant() binds the full tenant-proxy ClusterRole, so the informer syncs at its next retry.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUpstream } from '../../src/basics/upstream.ts';
import type { ControlPlane } from './control-plane.ts';
import { apply, readManifests, remove, type KubeObject } from './manifests.ts';
import { startProxy, type RunningProxy } from './proxy.ts';

const RBAC_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/rbac.yaml');
const PROXY_NAMESPACE = 'tenant-proxy';

export interface LimitedProxy {
  proxy: RunningProxy;
  /** Gives the proxy's identity everything deploy/rbac.yaml grants. */
  grant(): Promise<void>;
  /** Stops the proxy and removes its service account, roles and bindings. */
  cleanup(): Promise<void>;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Starts a proxy running as service account `tp-<id>`, bound to deploy/rbac.yaml's rules minus `missing`. */
export async function startProxyLacking(cp: ControlPlane, id: string, missing: { group: string; resource: string }): Promise<LimitedProxy> {
  const name = `tp-${id}`;
  const role = readManifests(RBAC_FILE).find((o) => o.kind === 'ClusterRole');
  if (!role) throw new Error(`${RBAC_FILE} has no ClusterRole`);
  const rules = (role.rules as Rule[])
    .map((r) => (r.apiGroups.includes(missing.group) ? { ...r, resources: r.resources.filter((x) => x !== missing.resource) } : r))
    .filter((r) => r.resources.length > 0);
  const admin = cp.admin;
  await apply(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules });
  const token = await cp.serviceAccountToken(PROXY_NAMESPACE, name);
  const binding = (roleName: string, bindingName: string): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: bindingName },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
    subjects: [{ kind: 'ServiceAccount', name, namespace: PROXY_NAMESPACE }],
  });
  await apply(admin, binding(name, name));
  const dir = mkdtempSync(path.join(tmpdir(), 'limited-proxy-'));
  const kubeconfig = cp.writeKubeconfig(path.join(dir, 'kubeconfig'), { caPem: cp.caPem, token }, name);
  const proxy = await startProxy(undefined, { upstream: await loadUpstream({ kubeconfig }) });
  return {
    proxy,
    grant: async () => void (await apply(admin, binding('tenant-proxy', `${name}-full`))),
    cleanup: async () => {
      await proxy.stop();
      for (const [kind, n] of [['ClusterRoleBinding', name], ['ClusterRoleBinding', `${name}-full`], ['ClusterRole', name]] as const) {
        await remove(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name: n } });
      }
      await remove(admin, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: PROXY_NAMESPACE } });
    },
  };
}
