// Which nodes, classes and persistent volumes a tenant owner sees through the proxy, with the real
// kubectl against the real control plane: every selection rule of issue 3 (nodeSelector; class names,
// default, regex — the original Capsule Proxy README's example —, matchLabels, matchExpressions, OR'ed;
// PVs labelled for the tenant or bound into its namespaces), never anything of another tenant (a
// foreign name is NotFound exactly as the apiserver words it, never Forbidden), ingress classes at
// networking.k8s.io/v1beta1 too, and tables printed exactly as the apiserver's for the same objects.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, eventuallyPasses, gatewayClass, Identities, ingressClass, listedNames, node, persistentVolume, priorityClass, runtimeClass, volumeClaim, storageClass, Tracker, trackTenant, waitReady, withoutAges, type Identity } from '../support/cluster-objects.ts';
import { createTenant, TENANT_LABEL } from '../support/fixtures.ts';
import { kubectl } from '../support/kubectl.ts';
import type { KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  admin: Identity;
  sel: Identity;
  oth: Identity;
  all: Identity;
}

const test = suite<Context>('tenant kinds: what a tenant owner sees');
const s = digitSuffix();
const n = (base: string): string => `${base}-${s}`;
const key = (base: string): string => `kinds.test/${base}-${s}`;
const mine = (name: string): boolean => name.endsWith(`-${s}`);

const SEL = { tenant: n('sel'), ns: n('sel-ns'), owner: n('sel-owner') };
const OTH = { tenant: n('oth'), ns: n('oth-ns'), owner: n('oth-owner') };
const ALL = { tenant: n('all'), ns: n('all-ns'), owner: n('all-owner') };
const EVERY_KIND = ['Nodes', 'StorageClasses', 'IngressClasses', 'PriorityClasses', 'RuntimeClasses', 'GatewayClasses', 'PersistentVolumes'] as const;
const listAll = EVERY_KIND.map((kind) => ({ kind, operations: ['List' as const] }));

interface Named {
  name: string;
  labels: Record<string, string>;
}

/** One kind: its objects, what each tenant must see of ours, and each tenant's rule as an oracle. */
interface KindCase {
  resource: string;
  /** Collection path at the apiserver (admin's list feeds the oracle). */
  path: string;
  objects: KubeObject[];
  sel: string[];
  oth: string[];
  selRule: (o: Named) => boolean;
  othRule: (o: Named) => boolean;
  /** An object of OTH's that SEL must not see. */
  foreign: string;
}

const has = (o: Named, k: string, v: string): boolean => o.labels[k] === v;

const NODES: KindCase = {
  resource: 'nodes',
  path: '/api/v1/nodes',
  objects: [
    node(n('node-a1'), { [key('pool')]: 'a', [key('zone')]: '1', 'kinds.test/extra': 'x' }),
    node(n('node-a2'), { [key('pool')]: 'a', [key('zone')]: '2' }),
    node(n('node-b1'), { [key('pool')]: 'b', [key('zone')]: '1' }),
    node(n('node-plain')),
  ],
  sel: [n('node-a1')],
  oth: [n('node-b1')],
  selRule: (o) => has(o, key('pool'), 'a') && has(o, key('zone'), '1'),
  othRule: (o) => has(o, key('pool'), 'b'),
  foreign: n('node-b1'),
};

// The original README: allowed [custom], allowedRegex "\w+fs" → cephfs, custom, glusterfs.
const STORAGE: KindCase = {
  resource: 'storageclasses',
  path: '/apis/storage.k8s.io/v1/storageclasses',
  objects: ['cephfs', 'custom', 'standard', 'glusterfs', 'zol', 'foreign-sc'].map((b) => storageClass(n(b))),
  sel: [n('cephfs'), n('custom'), n('glusterfs')],
  oth: [n('foreign-sc')],
  selRule: (o) => o.name === n('custom') || /\w+fs/.test(o.name),
  othRule: (o) => o.name === n('foreign-sc'),
  foreign: n('foreign-sc'),
};

// The original README: allowed [custom], allowedRegex "\w+-lb" → custom, external-lb, internal-lb.
const INGRESS: KindCase = {
  resource: 'ingressclasses',
  path: '/apis/networking.k8s.io/v1/ingressclasses',
  objects: ['custom', 'external-lb', 'internal-lb', 'nginx', 'lb', 'foreign-ic'].map((b) => ingressClass(n(b))),
  sel: [n('custom'), n('external-lb'), n('internal-lb')],
  oth: [n('foreign-ic')],
  selRule: (o) => o.name === n('custom') || /\w+-lb/.test(o.name),
  othRule: (o) => o.name === n('foreign-ic'),
  foreign: n('foreign-ic'),
};

// default OR matchLabels.
const PRIORITY: KindCase = {
  resource: 'priorityclasses',
  path: '/apis/scheduling.k8s.io/v1/priorityclasses',
  objects: [priorityClass(n('prio-default')), priorityClass(n('prio-gold'), { [key('tier')]: 'gold' }), priorityClass(n('prio-silver'), { [key('tier')]: 'silver' }), priorityClass(n('prio-plain'))],
  sel: [n('prio-default'), n('prio-gold')],
  oth: [n('prio-silver')],
  selRule: (o) => o.name === n('prio-default') || has(o, key('tier'), 'gold'),
  othRule: (o) => has(o, key('tier'), 'silver'),
  foreign: n('prio-silver'),
};

// allowed OR matchExpressions (In); for OTH two expressions ANDed (NotIn + Exists).
const RUNTIME: KindCase = {
  resource: 'runtimeclasses',
  path: '/apis/node.k8s.io/v1/runtimeclasses',
  objects: [runtimeClass(n('runc')), runtimeClass(n('rt-gvisor'), { [key('sandbox')]: 'gvisor' }), runtimeClass(n('rt-kata'), { [key('sandbox')]: 'kata' }), runtimeClass(n('rt-wasm'), { [key('sandbox')]: 'wasm' }), runtimeClass(n('rt-plain'))],
  sel: [n('runc'), n('rt-gvisor'), n('rt-kata')],
  oth: [n('rt-wasm')],
  selRule: (o) => o.name === n('runc') || ['gvisor', 'kata'].includes(o.labels[key('sandbox')] ?? ''),
  othRule: (o) => key('sandbox') in o.labels && !['gvisor', 'kata'].includes(o.labels[key('sandbox')] ?? ''),
  foreign: n('rt-wasm'),
};

// allowed OR allowedRegex OR matchLabels, on a CRD-served kind.
const GATEWAY: KindCase = {
  resource: 'gatewayclasses',
  path: '/apis/gateway.networking.k8s.io/v1/gatewayclasses',
  objects: [gatewayClass(n('gw-named')), gatewayClass(n('gw-rx')), gatewayClass(n('gw-labelled'), { [key('gw')]: 'yes' }), gatewayClass(n('gw-other'), { [key('gw')]: 'no' })],
  sel: [n('gw-labelled'), n('gw-named'), n('gw-rx')],
  oth: [n('gw-other')],
  selRule: (o) => o.name === n('gw-named') || /^gw-rx-/.test(o.name) || has(o, key('gw'), 'yes'),
  othRule: (o) => o.name === n('gw-other'),
  foreign: n('gw-other'),
};

// Labelled capsule.clastix.io/tenant=<tenant>, or bound (spec.claimRef) to a live claim in its namespaces.
const VOLUMES: KindCase = {
  resource: 'persistentvolumes',
  path: '/api/v1/persistentvolumes',
  objects: [
    volumeClaim(SEL.ns),
    volumeClaim(OTH.ns),
    persistentVolume(n('pv-labelled'), { labels: { [TENANT_LABEL]: SEL.tenant } }),
    persistentVolume(n('pv-bound'), { claimNamespace: SEL.ns }),
    persistentVolume(n('pv-other'), { labels: { [TENANT_LABEL]: OTH.tenant } }),
    persistentVolume(n('pv-other-bound'), { claimNamespace: OTH.ns }),
    persistentVolume(n('pv-stray'), { claimNamespace: n('no-tenant-ns') }),
    persistentVolume(n('pv-free')),
  ],
  sel: [n('pv-bound'), n('pv-labelled')],
  oth: [n('pv-other'), n('pv-other-bound')],
  selRule: (o) => [n('pv-labelled'), n('pv-bound')].includes(o.name),
  othRule: (o) => [n('pv-other'), n('pv-other-bound')].includes(o.name),
  foreign: n('pv-other-bound'),
};

const CASES = [NODES, STORAGE, INGRESS, PRIORITY, RUNTIME, GATEWAY, VOLUMES];

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  const ids = new Identities(ctx.cp, ctx.proxy);
  ctx.admin = ids.admin();
  ctx.sel = await ids.user(SEL.owner);
  ctx.oth = await ids.user(OTH.owner);
  ctx.all = await ids.user(ALL.owner);
  trackTenant(ctx.tracker, SEL.tenant, [SEL.ns]);
  await createTenant(ctx.cp.admin, {
    name: SEL.tenant,
    owners: [{ kind: 'User', name: SEL.owner, proxySettings: listAll }],
    namespaces: [SEL.ns],
    spec: {
      nodeSelector: { [key('pool')]: 'a', [key('zone')]: '1' },
      storageClasses: { allowed: [n('custom')], allowedRegex: '\\w+fs' },
      ingressOptions: { allowedClasses: { allowed: [n('custom')], allowedRegex: '\\w+-lb' } },
      priorityClasses: { default: n('prio-default'), matchLabels: { [key('tier')]: 'gold' } },
      runtimeClasses: { allowed: [n('runc')], matchExpressions: [{ key: key('sandbox'), operator: 'In', values: ['gvisor', 'kata'] }] },
      gatewayOptions: { allowedClasses: { allowed: [n('gw-named')], allowedRegex: '^gw-rx-', matchLabels: { [key('gw')]: 'yes' } } },
    },
  });
  trackTenant(ctx.tracker, OTH.tenant, [OTH.ns]);
  await createTenant(ctx.cp.admin, {
    name: OTH.tenant,
    owners: [{ kind: 'User', name: OTH.owner, proxySettings: listAll }],
    namespaces: [OTH.ns],
    spec: {
      nodeSelector: { [key('pool')]: 'b' },
      storageClasses: { allowed: [n('foreign-sc')] },
      ingressOptions: { allowedClasses: { allowed: [n('foreign-ic')] } },
      priorityClasses: { matchLabels: { [key('tier')]: 'silver' } },
      runtimeClasses: { matchExpressions: [{ key: key('sandbox'), operator: 'NotIn', values: ['gvisor', 'kata'] }, { key: key('sandbox'), operator: 'Exists' }] },
      gatewayOptions: { allowedClasses: { allowed: [n('gw-other')] } },
    },
  });
  trackTenant(ctx.tracker, ALL.tenant, [ALL.ns]);
  await createTenant(ctx.cp.admin, { name: ALL.tenant, owners: [{ kind: 'User', name: ALL.owner, proxySettings: [{ kind: 'Nodes', operations: ['List'] }] }], namespaces: [ALL.ns] });
  for (const c of CASES) await ctx.tracker.apply(...c.objects);
  await waitReady(ctx.proxy);
  // The proxy's informers have caught up once each tenant sees all of its own objects of every kind.
  for (const c of CASES) {
    for (const [who, expected] of [[ctx.sel, c.sel], [ctx.oth, c.oth]] as const) {
      await eventuallyPasses(`${who.name} sees its ${c.resource}`, async () => {
        const seen = (await listedNames(who.viaProxy, c.resource)).filter(mine);
        for (const name of expected) if (!seen.includes(name)) throw new Error(`${name} missing from ${JSON.stringify(seen)}`);
      });
    }
  }
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

/** Every object of the kind in the cluster, as admin sees it directly. */
async function everything(ctx: Context, c: KindCase): Promise<Named[]> {
  const list = await ctx.cp.admin.json<{ items: { metadata: { name: string; labels?: Record<string, string> } }[] }>('GET', c.path);
  return list.items.map((i) => ({ name: i.metadata.name, labels: i.metadata.labels ?? {} }));
}

/**
 * What `kubectl get <kind>` lists through the proxy: exactly the expected objects of this file, and of
 * the whole cluster exactly those the tenant's rule selects (other files may leave objects around).
 */
async function assertSelection(ctx: Context, c: KindCase): Promise<void> {
  const all = await everything(ctx, c);
  for (const [who, expected, rule] of [[ctx.sel, c.sel, c.selRule], [ctx.oth, c.oth, c.othRule]] as const) {
    const listed = await listedNames(who.viaProxy, c.resource);
    assert.equal(listed.filter(mine), [...expected].sort(), `${who.name}: ${c.resource} of this test`);
    assert.equal(listed, all.filter(rule).map((o) => o.name).sort(), `${who.name}: every ${c.resource} its rules select, no other`);
    // Each one reads by name too.
    const one = expected[0] ?? '';
    const got = await kubectl(who.viaProxy, ['get', c.resource, one, '-o', 'jsonpath={.metadata.name}']);
    assert.is(got.code, 0, got.stderr);
    assert.is(got.stdout, one);
  }
}

test('nodes: every key/value of spec.nodeSelector must match; no selector = every node', async (ctx) => {
  await assertSelection(ctx, NODES);
  const direct = await kubectl(ctx.admin.direct, ['get', 'nodes', '-o', 'name']);
  const everyNode = direct.stdout.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('/') + 1)).sort();
  assert.ok(everyNode.includes(n('node-plain')));
  assert.equal(await listedNames(ctx.all.viaProxy, 'nodes'), everyNode, 'a tenant without nodeSelector sees every node');
});

test('storage classes: the README example — allowed [custom], allowedRegex \\w+fs → cephfs, custom, glusterfs', async (ctx) => {
  await assertSelection(ctx, STORAGE);
});

test('ingress classes (networking.k8s.io/v1): allowed [custom], allowedRegex \\w+-lb → custom, external-lb, internal-lb', async (ctx) => {
  await assertSelection(ctx, INGRESS);
});

test('ingress classes at networking.k8s.io/v1beta1 (raw list, get, watch): the same selection, objects as the apiserver serves them', async (ctx) => {
  const viaProxy = ctx.proxy.client(ctx.sel.credentials);
  const list = await viaProxy.json<{ kind: string; apiVersion: string; items: { metadata: { name: string } }[] }>('GET', '/apis/networking.k8s.io/v1beta1/ingressclasses');
  assert.is(list.kind, 'IngressClassList');
  assert.is(list.apiVersion, 'networking.k8s.io/v1beta1');
  assert.equal(list.items.map((i) => i.metadata.name).filter(mine), [...INGRESS.sel].sort());
  const direct = await ctx.cp.admin.json<{ items: { metadata: { name: string } }[] }>('GET', '/apis/networking.k8s.io/v1beta1/ingressclasses');
  for (const item of list.items) {
    assert.ok(INGRESS.selRule({ name: item.metadata.name, labels: {} }), `${item.metadata.name} is selected`);
    assert.equal(item, direct.items.find((d) => d.metadata.name === item.metadata.name), `list item ${item.metadata.name}`);
  }
  for (const name of INGRESS.sel) {
    const one = await viaProxy.request('GET', `/apis/networking.k8s.io/v1beta1/ingressclasses/${name}`);
    const expected = await ctx.cp.admin.request('GET', `/apis/networking.k8s.io/v1beta1/ingressclasses/${name}`);
    assert.is(one.status, 200);
    assert.equal(JSON.parse(one.body), JSON.parse(expected.body), `GET ${name}`);
  }
  // A watch at v1beta1 carries v1beta1 objects.
  const watch = await WatchReader.open(viaProxy, '/apis/networking.k8s.io/v1beta1/ingressclasses?watch=1&timeoutSeconds=1');
  await watch.waitForEnd();
  const events = watch.events.map((e) => e.event);
  assert.equal(events.map((e) => e.object.metadata?.name).filter((name) => mine(name ?? '')).sort(), [...INGRESS.sel].sort());
  for (const e of events) assert.equal([e.type, e.object.apiVersion, e.object.kind], ['ADDED', 'networking.k8s.io/v1beta1', 'IngressClass']);
  const foreign = await viaProxy.request('GET', `/apis/networking.k8s.io/v1beta1/ingressclasses/${INGRESS.foreign}`);
  assert.is(foreign.status, 404);
  assert.is((JSON.parse(foreign.body) as { message: string }).message, `ingressclasses.networking.k8s.io "${INGRESS.foreign}" not found`);
});

test('priority classes: default OR matchLabels', async (ctx) => {
  await assertSelection(ctx, PRIORITY);
});

test('runtime classes: allowed OR matchExpressions (In); expressions of one selector are ANDed', async (ctx) => {
  await assertSelection(ctx, RUNTIME);
});

test('gateway classes (CRD): allowed OR allowedRegex OR matchLabels', async (ctx) => {
  await assertSelection(ctx, GATEWAY);
});

test('persistent volumes: labelled capsule.clastix.io/tenant=<tenant>, or bound into a tenant namespace', async (ctx) => {
  await assertSelection(ctx, VOLUMES);
});

test("another tenant's object: NotFound exactly as the apiserver says it, never Forbidden", async (ctx) => {
  const missing = n('missing');
  const viaProxy = ctx.proxy.client(ctx.sel.credentials);
  for (const c of CASES) {
    // kubectl: the same words as the apiserver's for a name that does not exist.
    const proxied = await kubectl(ctx.sel.viaProxy, ['get', c.resource, c.foreign]);
    const direct = await kubectl(ctx.admin.direct, ['get', c.resource, missing]);
    assert.is(proxied.code, 1, `kubectl get ${c.resource} ${c.foreign}`);
    assert.is(proxied.stderr, direct.stderr.replaceAll(missing, c.foreign), `kubectl get ${c.resource} ${c.foreign}`);
    assert.match(proxied.stderr, 'Error from server (NotFound)');
    assert.is(proxied.stdout, '');
    // On the wire: the same status, type and Status object.
    const raw = await viaProxy.request('GET', `${c.path}/${c.foreign}`);
    const expected = await ctx.cp.admin.request('GET', `${c.path}/${missing}`);
    assert.is(raw.status, 404, `GET ${c.path}/${c.foreign}`);
    assert.is(raw.headers['content-type'], expected.headers['content-type']);
    assert.equal(JSON.parse(raw.body), JSON.parse(expected.body.replaceAll(missing, c.foreign)), `GET ${c.path}/${c.foreign}`);
    // A list pinned to the name (kubectl get <kind> <name> -w lists this way) shows nothing either.
    const pinned = await viaProxy.json<{ items: unknown[] }>('GET', `${c.path}?fieldSelector=${encodeURIComponent(`metadata.name=${c.foreign}`)}`);
    assert.equal(pinned.items, [], `list pinned to ${c.foreign}`);
  }
});

test("another tenant's object: the 404 body is the apiserver's byte for byte (field order, final newline)", async (ctx) => {
  const missing = n('missing');
  const viaProxy = ctx.proxy.client(ctx.sel.credentials);
  for (const c of CASES) {
    const raw = await viaProxy.request('GET', `${c.path}/${c.foreign}`);
    const expected = await ctx.cp.admin.request('GET', `${c.path}/${missing}`);
    assert.is(raw.body, expected.body.replaceAll(missing, c.foreign), `GET ${c.path}/${c.foreign}`);
  }
});

test('tables: kubectl prints for these kinds through the proxy what the apiserver prints for the same objects', async (ctx) => {
  for (const c of CASES) {
    const names = await listedNames(ctx.sel.viaProxy, c.resource);
    assert.ok(names.length > 0, c.resource);
    for (const wide of [[], ['-o', 'wide']]) {
      const proxied = withoutAges(await kubectl(ctx.sel.viaProxy, ['get', c.resource, ...wide]));
      const direct = withoutAges(await kubectl(ctx.admin.direct, ['get', c.resource, ...names, ...wide]));
      assert.is(proxied.code, 0, proxied.stderr);
      assert.equal(proxied, direct, `kubectl get ${c.resource} ${wide.join(' ')}`);
      const one = names[0] ?? '';
      const single = withoutAges(await kubectl(ctx.sel.viaProxy, ['get', c.resource, one, ...wide]));
      assert.equal(single, withoutAges(await kubectl(ctx.admin.direct, ['get', c.resource, one, ...wide])), `kubectl get ${c.resource} ${one} ${wide.join(' ')}`);
    }
  }
});

test.run();
