// Every Capsule generation: a control plane of its own whose Tenant CRD is, in turn, Capsule's v1alpha1
// (served alone), that CRD upgraded in place to v1beta1 + v1beta2 (v1beta2 stored) while a
// `kubectl get ns -w` runs through the proxy, v1beta1 alone, and v1beta1 + v1beta2 with each
// generation's structural schema. One proxy follows all of it through its CRD informer, without a
// restart. Each generation runs the original Capsule Proxy README's example: alice, owner of tenant
// oil, lists storage classes cephfs, custom, glusterfs (allowed [custom] or \w+fs out of cephfs,
// custom, standard, glusterfs, zol), ingress classes custom, external-lb, internal-lb, the node whose
// hostname is capsule-gold-qwerty, and oil's namespaces; a foreign namespace is NotFound; a Group owner's
// members see their tenant.
import * as assert from 'uvu/assert';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, ingressClass, listedNames, node, storageClass, waitReady } from '../support/cluster-objects.ts';
import { ensureNamespaceDeleterRole, NAMESPACE_DELETER_ROLE, TENANT_LABEL } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { kubectl, KubectlStream } from '../support/kubectl.ts';
import { apply, readManifests, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  alice: string;
  bob: string;
  carol: string;
  aliceHttp: KubeHttp;
}

const test = suite<Context>('every Capsule generation');
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tenants.capsule.clastix.io';
const STORAGE = ['cephfs', 'custom', 'standard', 'glusterfs', 'zol'];
const INGRESS = ['custom', 'external-lb', 'haproxy-ingress', 'internal-lb', 'nginx'];
const SEES = { storageclasses: ['cephfs', 'custom', 'glusterfs'], ingressclasses: ['custom', 'external-lb', 'internal-lb'], nodes: ['capsule-gold-qwerty'] };
const OIL_NS = ['oil-dev', 'oil-production'];
const LISTING = { 'capsule.clastix.io/enable-node-listing': 'true', 'capsule.clastix.io/enable-storageclass-listing': 'true', 'capsule.clastix.io/enable-ingressclass-listing': 'true' };

const crdFile = (name: string): string => path.join('test/support/crds-generations', `${name}.yaml`);

test.before(async (ctx) => {
  ctx.cp = await ControlPlane.start({ unref: true, tenantCrd: 'crds-generations/tenants-v1alpha1.yaml' });
  ctx.proxy = await startProxy(ctx.cp);
  for (const name of STORAGE) await apply(ctx.cp.admin, storageClass(name));
  for (const name of INGRESS) await apply(ctx.cp.admin, ingressClass(name));
  await apply(ctx.cp.admin, node('capsule-gold-qwerty', { 'kubernetes.io/hostname': 'capsule-gold-qwerty' }));
  await apply(ctx.cp.admin, node('capsule-silver-asdf', { 'kubernetes.io/hostname': 'capsule-silver-asdf' }));
  await ensureNamespaceDeleterRole(ctx.cp.admin);
  // Namespaces carry the tenant label only (no ownerReference), so that they outlive the CRD swaps.
  for (const ns of OIL_NS) await tenantNamespace(ctx, ns, 'oil', { kind: 'User', name: 'alice' });
  await tenantNamespace(ctx, 'gas-dev', 'gas', { kind: 'Group', name: 'gas-admins' });
  await tenantNamespace(ctx, 'water-dev', 'water', { kind: 'User', name: 'carol' });
  await waitReady(ctx.proxy);
  const dir = mkdtempSync(path.join(tmpdir(), 'generations-'));
  const alice = await ctx.cp.clientCertificate('alice');
  ctx.alice = ctx.proxy.kubeconfig(path.join(dir, 'alice'), alice, 'alice');
  ctx.bob = ctx.proxy.kubeconfig(path.join(dir, 'bob'), ctx.cp.tokenCredentials('bob'), 'bob');
  ctx.carol = ctx.proxy.kubeconfig(path.join(dir, 'carol'), await ctx.cp.clientCertificate('carol'), 'carol');
  ctx.aliceHttp = ctx.proxy.client(alice);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.cp?.stop();
});

async function tenantNamespace(ctx: Context, name: string, tenant: string, owner: { kind: string; name: string }): Promise<void> {
  await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [TENANT_LABEL]: tenant } } });
  for (const role of ['admin', NAMESPACE_DELETER_ROLE]) {
    await apply(ctx.cp.admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `owner-${role}`, namespace: name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...owner }] });
  }
}

/** Replaces the Tenant CRD: in place, or deleted (with every Tenant) and created anew. */
async function installCrd(ctx: Context, name: string, how: 'in-place' | 'recreate'): Promise<void> {
  const [crd] = readManifests(crdFile(name));
  if (!crd) throw new Error(`no CRD in ${name}`);
  if (how === 'recreate') {
    await ctx.cp.admin.request('DELETE', CRD_PATH);
    await eventuallyPasses('the old CRD is gone', async () => assert.is((await ctx.cp.admin.request('GET', CRD_PATH)).status, 404), 60_000);
    await ctx.cp.admin.json('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
  } else {
    const live = await ctx.cp.admin.json<KubeObject>('GET', CRD_PATH);
    await ctx.cp.admin.json('PUT', CRD_PATH, { body: { ...crd, metadata: { ...crd.metadata, resourceVersion: live.metadata.resourceVersion } } });
  }
  await eventuallyPasses('the CRD is established', async () => {
    const current = await ctx.cp.admin.json<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', CRD_PATH);
    assert.ok(current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
  });
}

async function createTenant(ctx: Context, version: string, name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}, namespaces: string[]): Promise<void> {
  const base = `/apis/capsule.clastix.io/${version}/tenants`;
  const created = await ctx.cp.admin.json<KubeObject>('POST', base, { body: { apiVersion: `capsule.clastix.io/${version}`, kind: 'Tenant', metadata: { name, annotations }, spec } });
  const status = version === 'v1alpha1' ? { size: namespaces.length, namespaces } : { size: namespaces.length, state: 'Active', namespaces };
  await ctx.cp.admin.json('PUT', `${base}/${name}/status`, { body: { ...created, status } });
}

/** The README's example, as alice, bob (group gas-admins) and carol see it through the proxy. */
async function assertExample(ctx: Context, what: string, namespaces = OIL_NS): Promise<void> {
  for (const [resource, expected] of Object.entries(SEES)) {
    await eventuallyPasses(`${what}: alice lists ${resource}`, async () => assert.equal(await listedNames(ctx.alice, resource), expected), 20_000);
  }
  await eventuallyPasses(`${what}: alice lists oil's namespaces`, async () => assert.equal(await listedNames(ctx.alice, 'namespaces'), namespaces), 20_000);
  const foreign = await kubectl(ctx.alice, ['get', 'namespace', 'gas-dev']);
  assert.is(foreign.code, 1);
  assert.is(foreign.stderr.trim(), 'Error from server (NotFound): namespaces "gas-dev" not found', `${what}: a foreign namespace`);
  await eventuallyPasses(`${what}: bob, a member of the owning group`, async () => assert.equal(await listedNames(ctx.bob, 'namespaces'), ['gas-dev']), 20_000);
}

const v1alpha1Oil = { owner: { kind: 'User', name: 'alice' }, nodeSelector: { 'kubernetes.io/hostname': 'capsule-gold-qwerty' }, storageClasses: { allowed: ['custom'], allowedRegex: '\\w+fs' }, ingressClasses: { allowed: ['custom'], allowedRegex: '\\w+-lb' } };

test('v1alpha1 alone: the README example, a live watch, a clean namespace delete', async (ctx) => {
  await createTenant(ctx, 'v1alpha1', 'oil', v1alpha1Oil, LISTING, OIL_NS);
  await createTenant(ctx, 'v1alpha1', 'gas', { owner: { kind: 'Group', name: 'gas-admins' } }, {}, ['gas-dev']);
  await assertExample(ctx, 'v1alpha1');
  const watch = new KubectlStream(ctx.alice, ['get', 'namespaces', '--watch', '--output=name']);
  try {
    await watch.waitFor(/^namespace\/oil-dev$/);
    await tenantNamespace(ctx, 'oil-new', 'oil', { kind: 'User', name: 'alice' });
    await watch.waitFor(/^namespace\/oil-new$/);
  } finally {
    await watch.stop();
  }
  const deleted = await kubectl(ctx.alice, ['delete', 'namespace', 'oil-new'], { timeoutMs: 90_000 });
  assert.is(deleted.code, 0, deleted.stderr);
  assert.is(deleted.stdout, 'namespace "oil-new" deleted\n');
  assert.is(deleted.stderr, '', 'no Forbidden lines');
});

test('the CRD upgraded in place to v1beta1 + v1beta2 while a watch runs: the watch carries on, tenants are re-read, no restart', async (ctx) => {
  const watch = new KubectlStream(ctx.alice, ['get', 'namespaces', '--watch', '--output=name']);
  try {
    await watch.waitFor(/^namespace\/oil-dev$/);
    await installCrd(ctx, 'tenants-upgraded-from-v1alpha1', 'in-place');
    // Served at the new versions, from the proxy's informer, in the stored (v1alpha1) shape.
    await eventuallyPasses('oil at v1beta2 through the proxy', async () => {
      const r = await ctx.aliceHttp.request('GET', '/apis/capsule.clastix.io/v1beta2/tenants/oil');
      assert.is(r.status, 200, r.body);
      const oil = JSON.parse(r.body) as KubeObject;
      assert.is(oil.apiVersion, 'capsule.clastix.io/v1beta2');
      assert.equal((oil.spec as { owner?: unknown }).owner, { kind: 'User', name: 'alice' });
    }, 30_000);
    const v1beta1 = await ctx.aliceHttp.request('GET', '/apis/capsule.clastix.io/v1beta1/tenants');
    assert.is(v1beta1.status, 200, 'and at v1beta1');
    assert.is((JSON.parse(v1beta1.body) as { apiVersion: string }).apiVersion, 'capsule.clastix.io/v1beta1');
    // A tenant written after the upgrade, in the new shape, is read too.
    await createTenant(ctx, 'v1beta2', 'water', { owners: [{ kind: 'User', name: 'carol' }] }, {}, ['water-dev']);
    await eventuallyPasses('carol, owner of a v1beta2 tenant', async () => assert.equal(await listedNames(ctx.carol, 'namespaces'), ['water-dev']), 20_000);
    // The watch opened before the upgrade still delivers.
    await tenantNamespace(ctx, 'oil-after', 'oil', { kind: 'User', name: 'alice' });
    await watch.waitFor(/^namespace\/oil-after$/);
    assert.is(watch.child.exitCode, null, 'kubectl still watching');
    assert.not.match(watch.stderr, 'Error');
  } finally {
    await watch.stop();
  }
  await assertExample(ctx, 'after the upgrade', [...OIL_NS, 'oil-after'].sort());
});

test('v1beta1 alone, with its structural schema: owners with proxy settings, ingressOptions', async (ctx) => {
  await installCrd(ctx, 'tenants-v1beta1', 'recreate');
  const listing = ['Nodes', 'StorageClasses', 'IngressClasses'].map((kind) => ({ kind, operations: ['List'] }));
  await createTenant(ctx, 'v1beta1', 'oil', { owners: [{ kind: 'User', name: 'alice', proxySettings: listing }], nodeSelector: { 'kubernetes.io/hostname': 'capsule-gold-qwerty' }, storageClasses: { allowed: ['custom'], allowedRegex: '\\w+fs' }, ingressOptions: { allowedClasses: { allowed: ['custom'], allowedRegex: '\\w+-lb' } } }, {}, OIL_NS);
  await createTenant(ctx, 'v1beta1', 'gas', { owners: [{ kind: 'Group', name: 'gas-admins' }] }, {}, ['gas-dev']);
  await assertExample(ctx, 'v1beta1', [...OIL_NS, 'oil-after'].sort());
});

test('v1beta1 + v1beta2 (v1beta2 stored, conversion None), with their structural schemas: served at both versions', async (ctx) => {
  await installCrd(ctx, 'tenants-v1beta1-v1beta2', 'recreate');
  const listing = ['Nodes', 'StorageClasses', 'IngressClasses'].map((kind) => ({ kind, operations: ['List'] }));
  await createTenant(ctx, 'v1beta2', 'oil', { owners: [{ kind: 'User', name: 'alice', proxySettings: listing }], nodeSelector: { 'kubernetes.io/hostname': 'capsule-gold-qwerty' }, storageClasses: { allowed: ['custom'], allowedRegex: '\\w+fs' }, ingressOptions: { allowedClasses: { allowed: ['custom'], allowedRegex: '\\w+-lb' } } }, {}, OIL_NS);
  await createTenant(ctx, 'v1beta2', 'gas', { owners: [{ kind: 'Group', name: 'gas-admins' }] }, {}, ['gas-dev']);
  await assertExample(ctx, 'v1beta1 + v1beta2', [...OIL_NS, 'oil-after'].sort());
  for (const version of ['v1beta2', 'v1beta1']) {
    const r = await ctx.aliceHttp.request('GET', `/apis/capsule.clastix.io/${version}/tenants`);
    assert.is(r.status, 200, `${version}: ${r.body}`);
    const list = JSON.parse(r.body) as { apiVersion: string; items: KubeObject[] };
    assert.equal(list.items.map((t) => [t.apiVersion, t.metadata.name]), [[`capsule.clastix.io/${version}`, 'oil']]);
  }
  const tenants = await kubectl(ctx.alice, ['get', 'tenants.v1beta2.capsule.clastix.io', '-o', 'name']);
  assert.is(tenants.stdout, 'tenant.capsule.clastix.io/oil\n', tenants.stderr);
});

test('a ProxySetting CRD installed later is picked up at once (not at the next slow retry)', async (ctx) => {
  const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/proxysettings.capsule.clastix.io';
  const [crd] = readManifests('test/support/crds/proxysettings.capsule.clastix.io.yaml');
  await ctx.cp.admin.request('DELETE', crdPath);
  await eventuallyPasses('the ProxySetting CRD is gone', async () => assert.is((await ctx.cp.admin.request('GET', crdPath)).status, 404), 60_000);
  // The informer finds the kind gone and waits to retry slowly (30 s): the CRD's return must wake it.
  await eventuallyPasses('the ProxySetting informer is absent', async () => assert.is(await ctx.proxy.metric('tenant_proxy_informer_synced', { resource: 'proxysettings.capsule.clastix.io' }), 0), 30_000);
  await ctx.cp.admin.json('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
  await eventuallyPasses('the CRD is established', async () => {
    const current = await ctx.cp.admin.json<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', crdPath);
    assert.ok(current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
  });
  await apply(ctx.cp.admin, { apiVersion: 'capsule.clastix.io/v1beta1', kind: 'ProxySetting', metadata: { name: 'dave', namespace: 'oil-dev' }, spec: { subjects: [{ kind: 'User', name: 'dave', proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }] }] } });
  const dave = ctx.proxy.kubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'dave-')), 'dave'), ctx.cp.tokenCredentials('dave'), 'dave');
  await eventuallyPasses('dave, a ProxySetting subject, lists oil\'s storage classes', async () => assert.equal(await listedNames(dave, 'storageclasses'), SEES.storageclasses), 10_000);
});

test.run();
