// Tenants served at every served version when the CRD converts through a webhook: a control plane of its
// own whose Tenant CRD serves v1beta1 + v1beta2 (v1beta2 stored, Capsule's structural schemas), first
// with conversion None, then switched in place to a conversion webhook (a double on 127.0.0.1 that
// moves an owner's clusterRoles into an annotation at v1beta1), then back — one proxy follows all of it
// without a restart. At v1beta1 a tenant owner sees, through real kubectl, only their tenants in the
// webhook's shape (the proxy's own v1beta1 informer, one more upstream watch), gets them by name, gets
// NotFound for a foreign one, and watches a change.
import * as assert from 'uvu/assert';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, waitReady } from '../support/cluster-objects.ts';
import { startConversionWebhook, type ConversionWebhook } from '../support/conversion-webhook.ts';
import { kubectl, KubectlStream } from '../support/kubectl.ts';
import { readManifests, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  webhook: ConversionWebhook;
  alice: string;
  /** Upstream watches of the proxy with conversion None. */
  watchesWithoutWebhook: number;
  /** alice's `kubectl get tenants.v1beta1… --watch`, opened while the webhook converts. */
  v1beta1Watch?: KubectlStream;
}

const test = suite<Context>('Tenants through a conversion webhook');
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tenants.capsule.clastix.io';
const V1BETA1 = 'tenants.v1beta1.capsule.clastix.io';
const V1BETA2 = 'tenants.v1beta2.capsule.clastix.io';
const ALICE_ROLES = 'clusterrolenames.capsule.clastix.io/user.alice';
const V1BETA1_INFORMER = { resource: V1BETA1 };

interface Owner {
  kind: string;
  name: string;
  clusterRoles?: string[];
}
type Tenant = KubeObject & { spec: { owners: Owner[] } };

test.before(async (ctx) => {
  ctx.webhook = await startConversionWebhook();
  ctx.cp = await ControlPlane.start({ unref: true, tenantCrd: 'crds-generations/tenants-v1beta1-v1beta2.yaml' });
  ctx.proxy = await startProxy(ctx.cp);
  await createTenant(ctx, 'oil', { kind: 'User', name: 'alice', clusterRoles: ['admin'] });
  await createTenant(ctx, 'gas', { kind: 'User', name: 'carol', clusterRoles: ['admin'] });
  await waitReady(ctx.proxy);
  ctx.alice = ctx.proxy.kubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'conversion-')), 'alice'), await ctx.cp.clientCertificate('alice'), 'alice');
});

test.after(async (ctx) => {
  await ctx.v1beta1Watch?.stop();
  await ctx.proxy?.stop();
  await ctx.cp?.stop();
  await ctx.webhook?.stop();
});

async function createTenant(ctx: Context, name: string, owner: Owner): Promise<void> {
  await ctx.cp.admin.json('POST', '/apis/capsule.clastix.io/v1beta2/tenants', { body: { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec: { owners: [owner] } } });
}

/** The Tenant CRD of v1beta1 + v1beta2, updated in place to convert with `conversion`. */
async function convertWith(ctx: Context, conversion: Record<string, unknown>): Promise<void> {
  const [crd] = readManifests('test/support/crds-generations/tenants-v1beta1-v1beta2.yaml');
  if (!crd) throw new Error('no Tenant CRD');
  const live = await ctx.cp.admin.json<KubeObject>('GET', CRD_PATH);
  const spec = { ...(crd.spec as Record<string, unknown>), conversion };
  await ctx.cp.admin.json('PUT', CRD_PATH, { body: { ...crd, metadata: { ...crd.metadata, resourceVersion: live.metadata.resourceVersion }, spec } });
  await eventuallyPasses('the CRD converts as asked', async () => {
    const current = await ctx.cp.admin.json<KubeObject & { spec: { conversion?: { strategy?: string } } }>('GET', CRD_PATH);
    assert.is(current.spec.conversion?.strategy, conversion.strategy);
  });
}

async function getJson<T>(kubeconfig: string, argv: string[]): Promise<T> {
  const r = await kubectl(kubeconfig, [...argv, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${argv.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const shape = (t: Tenant) => ({ apiVersion: t.apiVersion, name: t.metadata.name, roles: t.metadata.annotations?.[ALICE_ROLES], owners: t.spec.owners });

test('conversion None: v1beta1 is answered from the storage informer, in the stored shape', async (ctx) => {
  const list = await getJson<{ items: Tenant[] }>(ctx.alice, ['get', V1BETA1]);
  assert.equal(list.items.map(shape), [{ apiVersion: 'capsule.clastix.io/v1beta1', name: 'oil', roles: undefined, owners: [{ kind: 'User', name: 'alice', clusterRoles: ['admin'] }] }]);
  assert.is(await ctx.proxy.metric('tenant_proxy_informer_synced', V1BETA1_INFORMER), 0, 'no informer of its own');
  ctx.watchesWithoutWebhook = await ctx.proxy.metric('tenant_proxy_upstream_watches');
  assert.ok(ctx.watchesWithoutWebhook > 0);
});

test('switched to a conversion webhook while the proxy runs: v1beta1 from its own informer, converted, per tenant', async (ctx) => {
  await convertWith(ctx, ctx.webhook.conversion);
  const converted = { apiVersion: 'capsule.clastix.io/v1beta1', name: 'oil', roles: 'admin', owners: [{ kind: 'User', name: 'alice' }] };
  await eventuallyPasses('alice lists her tenant at v1beta1 in the webhook\'s shape', async () => {
    const list = await getJson<{ items: Tenant[] }>(ctx.alice, ['get', V1BETA1]);
    assert.equal(list.items.map(shape), [converted]);
  }, 30_000);
  assert.ok(ctx.webhook.reviews > 0, 'the apiserver called the webhook');
  assert.equal(shape(await getJson<Tenant>(ctx.alice, ['get', V1BETA1, 'oil'])), converted, 'get by name');
  const foreign = await kubectl(ctx.alice, ['get', V1BETA1, 'gas']);
  assert.is(foreign.stderr.trim(), 'Error from server (NotFound): tenants.capsule.clastix.io "gas" not found');
  assert.is(foreign.code, 1);
  // The storage version is still the stored shape.
  const stored = await getJson<{ items: Tenant[] }>(ctx.alice, ['get', V1BETA2]);
  assert.equal(stored.items.map(shape), [{ apiVersion: 'capsule.clastix.io/v1beta2', name: 'oil', roles: undefined, owners: [{ kind: 'User', name: 'alice', clusterRoles: ['admin'] }] }]);
  // One more upstream watch: the v1beta1 informer.
  assert.is(await ctx.proxy.metric('tenant_proxy_informer_synced', V1BETA1_INFORMER), 1);
  assert.is(await ctx.proxy.metric('tenant_proxy_upstream_watches'), ctx.watchesWithoutWebhook + 1);

  const watch = (ctx.v1beta1Watch = new KubectlStream(ctx.alice, ['get', V1BETA1, '--watch', '-o', 'json']));
  await watch.waitFor(/"clusterrolenames\.capsule\.clastix\.io\/user\.alice": "admin"/);
  // carol's tenant changes first, then alice's: only alice's change reaches her watch.
  await addClusterRole(ctx, 'gas', 'view');
  await addClusterRole(ctx, 'oil', 'view');
  await watch.waitFor(/"clusterrolenames\.capsule\.clastix\.io\/user\.alice": "admin,view"/);
  assert.not.ok(watch.lines.some((l) => l.includes('"gas"') || l.includes('carol')), `carol's tenant stays out of alice's watch:\n${watch.lines.join('\n')}`);
  assert.is(watch.child.exitCode, null, 'kubectl still watching');
});

test('switched back to None: the v1beta1 informer stops, its watch ends, v1beta1 is answered from the storage informer again', async (ctx) => {
  await convertWith(ctx, { strategy: 'None' });
  await eventuallyPasses('the v1beta1 informer is stopped', async () => assert.is(await ctx.proxy.metric('tenant_proxy_upstream_watches'), ctx.watchesWithoutWebhook), 30_000);
  await eventuallyPasses('the watch served from it ends (as the apiserver ends watches when a CRD changes)', async () => assert.is.not(ctx.v1beta1Watch?.child.exitCode, null));
  const list = await getJson<{ items: Tenant[] }>(ctx.alice, ['get', V1BETA1]);
  assert.equal(list.items.map(shape), [{ apiVersion: 'capsule.clastix.io/v1beta1', name: 'oil', roles: undefined, owners: [{ kind: 'User', name: 'alice', clusterRoles: ['admin', 'view'] }] }]);
});

async function addClusterRole(ctx: Context, tenant: string, role: string): Promise<void> {
  const at = `/apis/capsule.clastix.io/v1beta2/tenants/${tenant}`;
  const current = await ctx.cp.admin.json<Tenant>('GET', at);
  const owners = current.spec.owners.map((o) => ({ ...o, clusterRoles: [...(o.clusterRoles ?? []), role] }));
  await ctx.cp.admin.json('PUT', at, { body: { ...current, spec: { ...current.spec, owners } } });
}

test.run();
