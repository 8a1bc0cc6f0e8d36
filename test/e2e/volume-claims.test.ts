// A persistent volume is in a tenant's view through its claim only while that very claim lives: the
// claimRef's uid must be a live claim's. A volume retained after its namespace (and claim) were deleted
// keeps its claimRef; a tenant that creates a namespace of the same name, even with a claim of the same
// name, does not inherit it.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, eventuallyPasses, persistentVolume, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { createTenant } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import type { KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  owner: KubeHttp;
}

const test = suite<Context>('volumes bound into a tenant through a live claim');
const s = digitSuffix();
const n = (base: string): string => `vc-${base}-${s}`;
const NS = n('ns');
const PVS = '/api/v1/persistentvolumes';

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  trackTenant(ctx.tracker, n('t'), [NS]);
  await createTenant(ctx.cp.admin, { name: n('t'), owners: [{ kind: 'User', name: n('owner'), proxySettings: [{ kind: 'PersistentVolumes', operations: ['List'] }] }], namespaces: [NS] });
  await waitReady(ctx.proxy);
  ctx.owner = ctx.proxy.client(await ctx.cp.clientCertificate(n('owner')));
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

const claim = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: NS }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });

function boundTo(name: string, claimName: string, uid: string): KubeObject {
  const pv = persistentVolume(name);
  return { ...pv, spec: { ...(pv.spec as object), claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name: claimName, uid } } };
}

async function visible(ctx: Context): Promise<string[]> {
  const list = await ctx.owner.json<{ items: KubeObject[] }>('GET', PVS);
  return list.items.map((i) => i.metadata.name).filter((x) => x.endsWith(`-${s}`)).sort();
}

test('bound to a live claim: seen; to a claim uid that is not (a deleted namespace\'s, re-created): not; the claim deleted: gone', async (ctx) => {
  const live = await ctx.cp.admin.json<KubeObject>('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, { body: claim('data') });
  ctx.tracker.track(claim('data'));
  // One volume bound to the live claim; one whose claimRef names the same namespace and claim name, but
  // the uid of a claim that no longer exists (its namespace was deleted and the name taken again).
  await ctx.tracker.apply(boundTo(n('pv-live'), 'data', live.metadata.uid ?? ''), boundTo(n('pv-stale'), 'data', '0d5e1c2a-0000-4000-8000-000000000000'), boundTo(n('pv-gone'), 'missing', '0d5e1c2a-0000-4000-8000-000000000001'));
  await eventuallyPasses('only the volume of the live claim is seen', async () => assert.equal(await visible(ctx), [n('pv-live')]));
  const named = await ctx.owner.request('GET', `${PVS}/${n('pv-stale')}`);
  assert.is(named.status, 404, 'the stale one is NotFound by name too');
  await ctx.cp.admin.request('DELETE', `/api/v1/namespaces/${NS}/persistentvolumeclaims/data`);
  // The pvc-protection finalizer is removed by a controller this control plane does not run.
  await ctx.cp.admin.request('PATCH', `/api/v1/namespaces/${NS}/persistentvolumeclaims/data`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
  await eventuallyPasses('the claim gone, so is its volume from the view', async () => assert.equal(await visible(ctx), []));
  // A claim of that name again, with a new uid: no volume bound to the old one comes back.
  await ctx.cp.admin.json('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, { body: claim('data') });
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(await visible(ctx), []);
});

test.run();
