// Live views of nodes, classes and persistent volumes through the proxy, against the real control
// plane: a running `kubectl get storageclasses -w` (and raw watches, one HTTP response each, so no
// reconnect can hide anything) shows ADDED when the tenant's spec starts allowing an object or an
// object gets a matching label, DELETED when it stops matching, MODIFIED while it stays — and nothing
// of another tenant. A namespace joining the tenant brings the volumes bound into it; losing the grant
// ends the watch after DELETED for everything it showed.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, eventuallyPasses, gatewayClass, Identities, listedNames, node, persistentVolume, volumeClaim, priorityClass, storageClass, Tracker, trackTenant, waitReady, type Identity } from '../support/cluster-objects.ts';
import { createTenant, TENANT_LABEL } from '../support/fixtures.ts';
import { kubectl, KubectlStream } from '../support/kubectl.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  ids: Identities;
  user: Identity;
  account: Identity;
}

const test = suite<Context>('tenant kinds: live views');
const s = digitSuffix();
const n = (base: string): string => `${base}-${s}`;
const LIVE = `kinds.test/live-${s}`;
const POOL = `kinds.test/pool-${s}`;
const TENANT = n('live');
const NS = n('live-ns');
const LISTED = ['StorageClasses', 'Nodes', 'PersistentVolumes', 'GatewayClasses', 'PriorityClasses'] as const;
const tenantRef = { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: TENANT } };

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  ctx.ids = new Identities(ctx.cp, ctx.proxy);
  ctx.user = await ctx.ids.user(n('live-user'));
  ctx.tracker.track({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n('live-sa') } });
  ctx.account = await ctx.ids.serviceAccount(n('live-sa'), 'watcher');
  const proxySettings = LISTED.map((kind) => ({ kind, operations: ['List' as const] }));
  trackTenant(ctx.tracker, TENANT, [NS]);
  await createTenant(ctx.cp.admin, {
    name: TENANT,
    owners: [{ kind: 'User', name: ctx.user.name, proxySettings }, { kind: 'ServiceAccount', name: ctx.account.name, proxySettings }],
    namespaces: [NS],
    spec: {
      storageClasses: { allowed: [n('live-a')], matchLabels: { [LIVE]: 'on' } },
      nodeSelector: { [POOL]: 'a' },
      gatewayOptions: { allowedClasses: { matchLabels: { [LIVE]: 'on' } } },
      priorityClasses: { matchExpressions: [{ key: LIVE, operator: 'In', values: ['on'] }] },
    },
  });
  // Another tenant, whose classes must never show in this one's watches.
  trackTenant(ctx.tracker, n('live-other'), [n('live-other-ns')]);
  await createTenant(ctx.cp.admin, { name: n('live-other'), owners: [{ kind: 'User', name: n('live-other-owner'), proxySettings }], namespaces: [n('live-other-ns')], spec: { storageClasses: { allowed: [n('live-foreign')], matchLabels: { [LIVE]: 'off' } } } });
  await waitReady(ctx.proxy);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

const label = (value: string | null) => ({ metadata: { labels: { [LIVE]: value } } });
const summary = (w: WatchReader): string[] => w.events.map((e) => `${e.event.type} ${e.event.object.metadata?.name ?? ''}`);

/** A raw watch through the proxy starting right after a list (only changes from now on). */
async function watchFromNow(ctx: Context, who: Identity, path: string): Promise<WatchReader> {
  const client = ctx.proxy.client(who.credentials);
  const list = await client.json<{ metadata: { resourceVersion: string } }>('GET', path);
  const watch = await WatchReader.open(client, `${path}?watch=1&resourceVersion=${list.metadata.resourceVersion}`);
  assert.is(watch.status, 200);
  return watch;
}

/** Waits for the watch to have `count` events in all; returns the newest `fresh` of them. */
async function next(w: WatchReader, count: number, fresh: number, what: string): Promise<string[]> {
  await w.waitForCount(count, what);
  return summary(w).slice(count - fresh, count);
}

test('kubectl get storageclasses -w: ADDED when the tenant starts allowing a class or a class gets a matching label, DELETED when it stops — one watch', async (ctx) => {
  const [a, b, c] = [n('live-a'), n('live-b'), n('live-c')];
  await ctx.tracker.apply(storageClass(b), storageClass(c), storageClass(a));
  await eventuallyPasses('the owner sees live-a', async () => assert.equal(await listedNames(ctx.user.viaProxy, 'storageclasses'), [a]));
  const kubectlWatch = new KubectlStream(ctx.user.viaProxy, ['get', 'storageclasses', '-w', '--output-watch-events']);
  const raw = await watchFromNow(ctx, ctx.account, '/apis/storage.k8s.io/v1/storageclasses');
  try {
    await kubectlWatch.waitFor(new RegExp(`^ADDED\\s+${a}\\s`));
    const row = (type: string, name: string) => new RegExp(`^${type}\\s+${name}\\s+example\\.com/disks`);
    // The tenant starts allowing live-b by name.
    await patch(ctx.cp.admin, tenantRef, { spec: { storageClasses: { allowed: [a, b], matchLabels: { [LIVE]: 'on' } } } });
    assert.equal(await next(raw, 1, 1, 'ADDED live-b'), [`ADDED ${b}`]);
    await kubectlWatch.waitFor(row('ADDED', b));
    // live-c gets the tenant's label.
    await patch(ctx.cp.admin, storageClass(c), label('on'));
    assert.equal(await next(raw, 2, 1, 'ADDED live-c'), [`ADDED ${c}`]);
    await kubectlWatch.waitFor(row('ADDED', c));
    // Another tenant's class appears, and one with a label value nobody here selects: nothing.
    await ctx.tracker.apply(storageClass(n('live-foreign')), storageClass(n('live-off'), { [LIVE]: 'off' }));
    // live-c loses the label (ordered after the two creations by the same informer).
    await patch(ctx.cp.admin, storageClass(c), label('off'));
    assert.equal(await next(raw, 3, 1, 'DELETED live-c'), [`DELETED ${c}`]);
    await kubectlWatch.waitFor(row('DELETED', c));
    // The tenant stops allowing live-b.
    await patch(ctx.cp.admin, tenantRef, { spec: { storageClasses: { allowed: [a], matchLabels: { [LIVE]: 'on' } } } });
    assert.equal(await next(raw, 4, 1, 'DELETED live-b'), [`DELETED ${b}`]);
    await kubectlWatch.waitFor(row('DELETED', b));
    // A visible class changes: MODIFIED; deleted upstream: DELETED.
    await patch(ctx.cp.admin, storageClass(a), { metadata: { annotations: { 'kinds.test/touched': 'yes' } } });
    assert.equal(await next(raw, 5, 1, 'MODIFIED live-a'), [`MODIFIED ${a}`]);
    await kubectlWatch.waitFor(row('MODIFIED', a));
    await remove(ctx.cp.admin, storageClass(a));
    assert.equal(await next(raw, 6, 1, 'DELETED live-a'), [`DELETED ${a}`]);
    await kubectlWatch.waitFor(row('DELETED', a));
    // Exactly these events, in this order, on one response; never another tenant's class.
    assert.equal(summary(raw), [`ADDED ${b}`, `ADDED ${c}`, `DELETED ${c}`, `DELETED ${b}`, `MODIFIED ${a}`, `DELETED ${a}`]);
    assert.not.ok(raw.ended, 'the raw watch is still open');
    assert.is(kubectlWatch.child.exitCode, null, 'kubectl is still watching');
    assert.is(kubectlWatch.stderr, '');
    const rows = kubectlWatch.lines.filter((l) => !l.startsWith('EVENT')).map((l) => l.split(/\s+/).slice(0, 2).join(' '));
    assert.equal(rows, [`ADDED ${a}`, `ADDED ${b}`, `ADDED ${c}`, `DELETED ${c}`, `DELETED ${b}`, `MODIFIED ${a}`, `DELETED ${a}`], 'kubectl printed exactly these events');
  } finally {
    raw.close();
    await kubectlWatch.stop();
  }
});

test('nodes (raw watch): a changed nodeSelector, node labels, and no selector at all move nodes in and out', async (ctx) => {
  const [n1, n2, n3] = [n('live-node-1'), n('live-node-2'), n('live-node-3')];
  await ctx.tracker.apply(node(n2, { [POOL]: 'b' }), node(n3), node(n1, { [POOL]: 'a' }));
  await eventuallyPasses('the owner sees live-node-1', async () => assert.equal(await listedNames(ctx.user.viaProxy, 'nodes'), [n1]));
  const watch = await watchFromNow(ctx, ctx.user, '/api/v1/nodes');
  try {
    await patch(ctx.cp.admin, tenantRef, { spec: { nodeSelector: { [POOL]: 'b' } } });
    assert.equal((await next(watch, 2, 2, 'the selector moved')).sort(), [`ADDED ${n2}`, `DELETED ${n1}`]);
    await patch(ctx.cp.admin, node(n3), { metadata: { labels: { [POOL]: 'b' } } });
    assert.equal(await next(watch, 3, 1, 'node-3 labelled in'), [`ADDED ${n3}`]);
    await patch(ctx.cp.admin, node(n2), { metadata: { labels: { [POOL]: 'c' } } });
    assert.equal(await next(watch, 4, 1, 'node-2 labelled out'), [`DELETED ${n2}`]);
    // No selector: every node of the cluster, the new ones as ADDED.
    await patch(ctx.cp.admin, tenantRef, { spec: { nodeSelector: null } });
    const everyNode = (await ctx.cp.admin.json<{ items: KubeObject[] }>('GET', '/api/v1/nodes')).items.map((o) => o.metadata.name);
    const added = everyNode.filter((name) => name !== n3).sort();
    assert.equal((await next(watch, 4 + added.length, added.length, 'every node')).sort(), added.map((name) => `ADDED ${name}`));
    assert.equal(await listedNames(ctx.user.viaProxy, 'nodes'), [...everyNode].sort());
    assert.not.ok(watch.ended);
  } finally {
    watch.close();
    await patch(ctx.cp.admin, tenantRef, { spec: { nodeSelector: { [POOL]: 'a' } } });
  }
});

test('persistent volumes (raw watch): a namespace joining the tenant brings the volumes bound into it, leaving takes them; a tenant label brings one', async (ctx) => {
  const extra = n('live-extra');
  const [bound, free] = [n('live-pv-bound'), n('live-pv-free')];
  await ctx.tracker.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } }, volumeClaim(extra), volumeClaim(NS), persistentVolume(free), persistentVolume(bound, { claimNamespace: extra }), persistentVolume(n('live-pv-mine'), { claimNamespace: NS }));
  await eventuallyPasses('the owner sees the volume bound into its namespace', async () => assert.equal(await listedNames(ctx.user.viaProxy, 'persistentvolumes'), [n('live-pv-mine')]));
  const watch = await watchFromNow(ctx, ctx.account, '/api/v1/persistentvolumes');
  const nsRef = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } };
  try {
    await patch(ctx.cp.admin, nsRef, { metadata: { labels: { [TENANT_LABEL]: TENANT } } });
    assert.equal(await next(watch, 1, 1, 'the bound volume'), [`ADDED ${bound}`]);
    await patch(ctx.cp.admin, persistentVolume(free), { metadata: { labels: { [TENANT_LABEL]: TENANT } } });
    assert.equal(await next(watch, 2, 1, 'the labelled volume'), [`ADDED ${free}`]);
    await patch(ctx.cp.admin, nsRef, { metadata: { labels: { [TENANT_LABEL]: null } } });
    assert.equal(await next(watch, 3, 1, 'the bound volume leaves'), [`DELETED ${bound}`]);
    await patch(ctx.cp.admin, persistentVolume(free), { metadata: { labels: { [TENANT_LABEL]: n('live-other') } } });
    assert.equal(await next(watch, 4, 1, 'the volume labelled for another tenant'), [`DELETED ${free}`]);
    assert.equal(await listedNames(ctx.user.viaProxy, 'persistentvolumes'), [n('live-pv-mine')]);
  } finally {
    watch.close();
  }
});

test('gateway classes (a CRD) and priority classes (raw watches): a matching label brings a class in, losing it takes it out', async (ctx) => {
  const [gw, prio] = [n('live-gw'), n('live-prio')];
  await ctx.tracker.apply(gatewayClass(gw), priorityClass(prio));
  const watches = [
    { w: await watchFromNow(ctx, ctx.user, '/apis/gateway.networking.k8s.io/v1/gatewayclasses'), obj: gatewayClass(gw) },
    { w: await watchFromNow(ctx, ctx.user, '/apis/scheduling.k8s.io/v1/priorityclasses'), obj: priorityClass(prio) },
  ];
  try {
    for (const { w, obj } of watches) {
      await patch(ctx.cp.admin, obj, label('on'));
      assert.equal(await next(w, 1, 1, `${obj.metadata.name} in`), [`ADDED ${obj.metadata.name}`]);
      await patch(ctx.cp.admin, obj, label(null));
      assert.equal(await next(w, 2, 1, `${obj.metadata.name} out`), [`DELETED ${obj.metadata.name}`]);
      assert.not.ok(w.ended);
    }
  } finally {
    for (const { w } of watches) w.close();
  }
});

test('losing the List grant: the watch gets DELETED for everything it showed, then ends; the next request is forwarded; a new grant serves again', async (ctx) => {
  const grantee = await ctx.ids.user(n('live-grantee'));
  const [g1, g2] = [n('live-g1'), n('live-g2')];
  await ctx.tracker.apply(storageClass(g1), storageClass(g2));
  const granted = (operations: 'List'[]) => ({ spec: { owners: [{ kind: 'User', name: grantee.name, proxySettings: operations.length ? [{ kind: 'StorageClasses', operations }] : [] }] } });
  trackTenant(ctx.tracker, n('live-grant'), [n('live-grant-ns')]);
  await createTenant(ctx.cp.admin, { name: n('live-grant'), owners: [{ kind: 'User', name: grantee.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }] }], namespaces: [n('live-grant-ns')], spec: { storageClasses: { allowed: [g1, g2] } } });
  await eventuallyPasses('the grantee lists its classes', async () => assert.equal(await listedNames(grantee.viaProxy, 'storageclasses'), [g1, g2]));
  const watch = await watchFromNow(ctx, grantee, '/apis/storage.k8s.io/v1/storageclasses');
  const grantRef = { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: n('live-grant') } };
  try {
    await patch(ctx.cp.admin, grantRef, granted([]));
    assert.equal((await next(watch, 2, 2, 'DELETED for both classes')).sort(), [`DELETED ${g1}`, `DELETED ${g2}`]);
    await watch.waitForEnd();
    const refused = await kubectl(grantee.viaProxy, ['get', 'storageclasses']);
    assert.match(refused.stderr, `User "${grantee.name}" cannot list resource "storageclasses"`);
    await patch(ctx.cp.admin, grantRef, granted(['List']));
    await eventuallyPasses('served again', async () => assert.equal(await listedNames(grantee.viaProxy, 'storageclasses'), [g1, g2]));
  } finally {
    watch.close();
  }
});

test.run();
