// What a tenant's Update and Delete grants let its owner change, with the real kubectl against the real
// control plane: every write is judged on its result (a server-side dry run), whatever its shape (merge,
// JSON, strategic and apply patches, PUT). Cordon, taints on a node only this tenant sees, labels and
// annotations go through; labels a tenant's nodeSelector uses, taints on a shared node, other fields,
// default-class markers, a volume's claim, reclaim policy and tenant label, and deleting what another
// tenant also sees get 403 naming the field — and leave the object exactly as it was (read back as admin).
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, eventuallyPasses, Identities, ingressClass, node, persistentVolume, priorityClass, storageClass, Tracker, trackTenant, waitReady, type Identity } from '../support/cluster-objects.ts';
import { createTenant, TENANT_LABEL } from '../support/fixtures.ts';
import { kubectl, type KubectlResult } from '../support/kubectl.ts';
import type { KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  owner: Identity;
}

const test = suite<Context>('granted writes: what a grant lets change');
const s = digitSuffix();
const n = (base: string): string => `gw-${base}-${s}`;
const PROXY_USER = 'system:serviceaccount:tenant-proxy:tenant-proxy';
const POOL = `gw.test/pool-${s}`;
const ZONE = `gw.test/zone-${s}`;
const SC = `gw.test/sc-${s}`;
const SC_OTHER = `gw.test/sc-other-${s}`;
const PC = `gw.test/pc-${s}`;
const IC = `gw.test/ic-${s}`;
const MINE = n('mine');
const OTHER = n('other');
const NODE = n('node');
const SHARED_NODE = n('node-shared');
const SC_MINE = n('sc');
const SC_SHARED = n('sc-shared');
const PC_MINE = n('pc');
const IC_MINE = n('ic');
const PV_MINE = n('pv');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  // A tenant without a nodeSelector has every node in its pool: no node would be this tenant's alone.
  const unpooled = (await ctx.cp.admin.json<{ items: KubeObject[] }>('GET', '/apis/capsule.clastix.io/v1beta2/tenants')).items.filter((t) => !(t.spec as { nodeSelector?: object } | undefined)?.nodeSelector);
  if (unpooled.length > 0) throw new Error(`tenants left by another test, sharing every node: ${unpooled.map((t) => t.metadata.name).join(', ')}`);
  await ctx.tracker.apply(
    node(NODE, { [POOL]: 'a' }),
    node(SHARED_NODE, { [POOL]: 'a', [ZONE]: 'z' }),
    storageClass(SC_MINE, { [SC]: 'a' }),
    storageClass(SC_SHARED, { [SC]: 'a', [SC_OTHER]: 'b' }),
    priorityClass(PC_MINE, { [PC]: 'a' }),
    ingressClass(IC_MINE, { [IC]: 'a' }),
    persistentVolume(PV_MINE, { labels: { [TENANT_LABEL]: MINE } }),
  );
  trackTenant(ctx.tracker, MINE, [n('mine-ns')]);
  trackTenant(ctx.tracker, OTHER, [n('other-ns')]);
  const all = (['Nodes', 'StorageClasses', 'PriorityClasses', 'IngressClasses', 'PersistentVolumes'] as const).map((kind) => ({ kind, operations: ['List' as const, 'Update' as const, 'Delete' as const] }));
  await createTenant(ctx.cp.admin, {
    name: MINE,
    owners: [{ kind: 'User', name: n('owner'), proxySettings: all }],
    namespaces: [n('mine-ns')],
    spec: { nodeSelector: { [POOL]: 'a' }, storageClasses: { matchLabels: { [SC]: 'a' } }, priorityClasses: { matchLabels: { [PC]: 'a' } }, ingressOptions: { allowedClasses: { matchLabels: { [IC]: 'a' } } } },
  });
  await createTenant(ctx.cp.admin, {
    name: OTHER,
    owners: [{ kind: 'User', name: n('other-owner') }],
    namespaces: [n('other-ns')],
    spec: { nodeSelector: { [ZONE]: 'z' }, storageClasses: { matchLabels: { [SC_OTHER]: 'b' } }, priorityClasses: { allowed: ['none'] }, ingressOptions: { allowedClasses: { allowed: ['none'] } } },
  });
  await waitReady(ctx.proxy);
  ctx.owner = await new Identities(ctx.cp, ctx.proxy).user(n('owner'));
  for (const [resource, name] of [['node', NODE], ['node', SHARED_NODE], ['storageclass', SC_MINE], ['storageclass', SC_SHARED], ['priorityclass', PC_MINE], ['ingressclass', IC_MINE], ['pv', PV_MINE]] as const) {
    await eventuallyPasses(`the owner sees ${resource} ${name}`, async () => assert.is((await run(ctx, ['get', resource, name, '-o', 'name'])).code, 0));
  }
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

function run(ctx: Context, args: string[], stdin?: string): Promise<KubectlResult> {
  return kubectl(ctx.owner.viaProxy, args, stdin === undefined ? {} : { input: stdin });
}

const PATHS: Record<string, string> = {
  node: '/api/v1/nodes',
  storageclass: '/apis/storage.k8s.io/v1/storageclasses',
  priorityclass: '/apis/scheduling.k8s.io/v1/priorityclasses',
  ingressclass: '/apis/networking.k8s.io/v1/ingressclasses',
  pv: '/api/v1/persistentvolumes',
};

async function read(ctx: Context, resource: string, name: string): Promise<KubeObject> {
  return ctx.cp.admin.json<KubeObject>('GET', `${PATHS[resource]}/${name}`);
}

/** kubectl `args` is refused with 403 naming `field`, and the object is exactly as it was. */
async function refused(ctx: Context, resource: string, name: string, args: string[], field: string, stdin?: string): Promise<string> {
  const before = await read(ctx, resource, name);
  const r = await run(ctx, args, stdin);
  assert.is(r.code, 1, `kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, 'Forbidden', `kubectl ${args.join(' ')}`);
  assert.match(r.stderr, field, `kubectl ${args.join(' ')} names ${field}: ${r.stderr}`);
  const after = await read(ctx, resource, name);
  assert.is(after.metadata.resourceVersion, before.metadata.resourceVersion, `${resource} ${name} unchanged after kubectl ${args.join(' ')}`);
  return r.stderr;
}

async function allowed(ctx: Context, args: string[], stdin?: string): Promise<void> {
  const r = await run(ctx, args, stdin);
  assert.is(r.code, 0, `kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

test('nodes: cordon and uncordon; taints on a node only this tenant sees; other labels', async (ctx) => {
  await allowed(ctx, ['cordon', NODE]);
  assert.is((await read(ctx, 'node', NODE)).spec && ((await read(ctx, 'node', NODE)).spec as { unschedulable?: boolean }).unschedulable, true);
  await allowed(ctx, ['uncordon', NODE]);
  assert.not.ok(((await read(ctx, 'node', NODE)).spec as { unschedulable?: boolean }).unschedulable);
  await allowed(ctx, ['taint', 'node', NODE, `gw.test/dedicated-${s}=yes:NoSchedule`]);
  assert.ok(((await read(ctx, 'node', NODE)).spec as { taints?: { key: string }[] }).taints?.some((t) => t.key === `gw.test/dedicated-${s}`));
  await allowed(ctx, ['label', 'node', NODE, `gw.test/extra-${s}=1`]);
  await allowed(ctx, ['annotate', 'node', NODE, `gw.test/note-${s}=hello`]);
  const labels = (await read(ctx, 'node', NODE)).metadata.labels ?? {};
  assert.is(labels[`gw.test/extra-${s}`], '1');
});

test('nodes: keys a nodeSelector uses, taints on a shared node, and other fields are refused, whatever the write\'s shape', async (ctx) => {
  await refused(ctx, 'node', NODE, ['label', 'node', NODE, `${POOL}=b`, '--overwrite'], `metadata.labels[${POOL}]`);
  await refused(ctx, 'node', NODE, ['label', 'node', NODE, `${ZONE}=z`], `metadata.labels[${ZONE}]`);
  const stderr = await refused(ctx, 'node', SHARED_NODE, ['taint', 'node', SHARED_NODE, `gw.test/mine-${s}=yes:NoSchedule`], 'spec.taints');
  assert.match(stderr, "another tenant's view");
  await refused(ctx, 'node', NODE, ['patch', 'node', NODE, '--type=merge', '-p', '{"spec":{"podCIDR":"10.9.0.0/24"}}'], 'spec.podCIDR');
  await refused(ctx, 'node', NODE, ['patch', 'node', NODE, '--type=json', '-p', '[{"op":"add","path":"/spec/providerID","value":"fake://x"}]'], 'spec.providerID');
  await refused(ctx, 'node', NODE, ['patch', 'node', NODE, '--type=strategic', '-p', '{"metadata":{"finalizers":["gw.test/keep"]}}'], 'metadata.finalizers');
  await refused(ctx, 'node', NODE, ['apply', '--server-side', '--field-manager', 'gw-test', '-f', '-'], 'spec.providerID', JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, spec: { providerID: 'fake://y' } }));
  const current = await read(ctx, 'node', NODE);
  const replaced = { ...current, spec: { ...(current.spec as object), podCIDR: '10.8.0.0/24' } };
  await refused(ctx, 'node', NODE, ['replace', '-f', '-'], 'spec.podCIDR', JSON.stringify(replaced));
  // Nothing but dry runs reached the apiserver as the proxy for those.
  const writes = ctx.cp.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.user.username === PROXY_USER && !e.impersonatedUser && e.objectRef?.name === SHARED_NODE && e.verb !== 'get' && e.verb !== 'list' && e.verb !== 'watch');
  assert.ok(writes.length > 0 && writes.every((e) => e.requestURI.includes('dryRun=All')), `only dry runs on the shared node: ${writes.map((e) => `${e.verb} ${e.requestURI}`).join(', ')}`);
});

test('classes: labels and annotations, but no default-class marker, no globalDefault, nothing that moves a class into another tenant\'s view', async (ctx) => {
  await allowed(ctx, ['label', 'storageclass', SC_MINE, `gw.test/extra-${s}=1`]);
  await refused(ctx, 'storageclass', SC_MINE, ['annotate', 'storageclass', SC_MINE, 'storageclass.kubernetes.io/is-default-class=true'], 'metadata.annotations[storageclass.kubernetes.io/is-default-class]');
  await refused(ctx, 'storageclass', SC_MINE, ['label', 'storageclass', SC_MINE, `${SC_OTHER}=b`], "another tenant's view");
  await refused(ctx, 'ingressclass', IC_MINE, ['annotate', 'ingressclass', IC_MINE, 'ingressclass.kubernetes.io/is-default-class=true'], 'is-default-class');
  await refused(ctx, 'priorityclass', PC_MINE, ['patch', 'priorityclass', PC_MINE, '--type=merge', '-p', '{"globalDefault":true}'], 'globalDefault');
  await allowed(ctx, ['annotate', 'priorityclass', PC_MINE, `gw.test/note-${s}=x`]);
});

test('persistent volumes: labels, but not the claim, the reclaim policy or the tenant label', async (ctx) => {
  await allowed(ctx, ['label', 'pv', PV_MINE, `gw.test/extra-${s}=1`]);
  await refused(ctx, 'pv', PV_MINE, ['patch', 'pv', PV_MINE, '--type=merge', '-p', JSON.stringify({ spec: { claimRef: { namespace: n('other-ns'), name: 'data' } } })], 'spec.claimRef');
  await refused(ctx, 'pv', PV_MINE, ['patch', 'pv', PV_MINE, '--type=merge', '-p', '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}'], 'spec.persistentVolumeReclaimPolicy');
  await refused(ctx, 'pv', PV_MINE, ['label', 'pv', PV_MINE, `${TENANT_LABEL}=${OTHER}`, '--overwrite'], `metadata.labels[${TENANT_LABEL}]`);
});

test('a client\'s resourceVersion is honoured; a client dry run changes nothing; apply cannot create', async (ctx) => {
  const current = await read(ctx, 'node', NODE);
  const stale = { ...current, metadata: { ...current.metadata, resourceVersion: '1', labels: { ...current.metadata.labels, [`gw.test/stale-${s}`]: 'x' } } };
  const put = await run(ctx, ['replace', '-f', '-'], JSON.stringify(stale));
  assert.is(put.code, 1);
  assert.match(put.stderr, 'the object has been modified', put.stderr);
  const patched = await run(ctx, ['patch', 'node', NODE, '--type=merge', '-p', JSON.stringify({ metadata: { resourceVersion: '1', labels: { [`gw.test/stale-${s}`]: 'x' } } })]);
  assert.is(patched.code, 1);
  assert.match(patched.stderr, 'the object has been modified', patched.stderr);
  const before = await read(ctx, 'node', NODE);
  await allowed(ctx, ['label', 'node', NODE, `gw.test/dry-${s}=1`, '--dry-run=server']);
  assert.is((await read(ctx, 'node', NODE)).metadata.resourceVersion, before.metadata.resourceVersion, 'a dry run wrote nothing');
  const created = await run(ctx, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n('new-node'), labels: { [POOL]: 'a' } } }));
  assert.is(created.code, 1, 'not in the view: forwarded, and the owner may not create nodes');
  assert.is((await ctx.cp.admin.request('GET', `/api/v1/nodes/${n('new-node')}`)).status, 404);
});

test('deletes: not of what another tenant also sees; of what only this tenant sees, with its uid as precondition', async (ctx) => {
  await refused(ctx, 'node', SHARED_NODE, ['delete', 'node', SHARED_NODE], "another tenant's view");
  await refused(ctx, 'storageclass', SC_SHARED, ['delete', 'storageclass', SC_SHARED], "another tenant's view");
  await allowed(ctx, ['delete', 'storageclass', SC_MINE]);
  assert.is((await ctx.cp.admin.request('GET', `${PATHS.storageclass}/${SC_MINE}`)).status, 404);
  const deletes = ctx.cp.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.user.username === PROXY_USER && e.verb === 'delete' && e.objectRef?.name === SC_MINE);
  assert.is(deletes.length, 1, 'one delete, performed by the proxy');
});

test.run();
