// 50 concurrent watches on one HTTP/2 session, as a controller holding many informers on one connection,
// through tenant changes: a namespace added to a tenant, one taken out of it, one deleted, the watching
// owner removed from a tenant and added back. After every change each of the 50 watches, folded into
// the set of objects it says exist, equals what a fresh list with its own query shows — names and
// resourceVersions — without an ERROR event and without the stream ending.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { addTenantNamespace, createTenant, NAMESPACE_DELETER_ROLE, setTenantStatus, TENANT_LABEL, type OwnerInput } from '../support/fixtures.ts';
import { H2Client, type H2Watch } from '../support/h2-client.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

const WATCHES = 50;
const CONVERGE_TIMEOUT_MS = 30_000;
const NS = '/api/v1/namespaces';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  h2: H2Client;
}

const test = suite<Context>('50 watches on one HTTP/2 session through tenant changes');
const suffix = Math.random().toString(36).slice(2, 7);
const owner: OwnerInput = { kind: 'User', name: `h2c-owner-${suffix}` };
const other: OwnerInput = { kind: 'User', name: `h2c-other-${suffix}` };
const a = { tenant: `h2c-a-${suffix}`, ns: (i: number) => `h2c-a-${suffix}-${i}` };
const b = { tenant: `h2c-b-${suffix}`, ns: `h2c-b-${suffix}-1` };
const namespaceRef = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const tenantRef = (name: string): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name } });

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, a.tenant, [1, 2, 3, 4].map(a.ns));
  trackTenant(ctx.tracker, b.tenant, [b.ns]);
  await createTenant(ctx.cp.admin, { name: a.tenant, owners: [owner], namespaces: [1, 2, 3].map(a.ns) });
  await createTenant(ctx.cp.admin, { name: b.tenant, owners: [owner, other], namespaces: [b.ns] });
  ctx.proxy = await startProxy(ctx.cp);
  await waitReady(ctx.proxy);
  ctx.h2 = await H2Client.connect(ctx.proxy.url, { ...(await ctx.cp.clientCertificate(owner.name)), caPem: ctx.proxy.caPem });
});

test.after(async (ctx) => {
  ctx.h2?.close();
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

interface ListBody {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string } }[];
}

/** One of the 50: the query it lists with, and what its events say exists (name → resourceVersion). */
interface Follower {
  query: string;
  watch: H2Watch;
  /** The state the watch started from (the list it resumed after), for a watch with a resourceVersion. */
  start: Map<string, string>;
}

async function list(ctx: Context, query: string): Promise<ListBody> {
  const r = await ctx.h2.request('GET', `${NS}${query ? `?${query}` : ''}`);
  assert.is(r.status, 200, `list ?${query}: ${r.body}`);
  return JSON.parse(r.body) as ListBody;
}

const asState = (l: ListBody) => new Map(l.items.map((i) => [i.metadata.name, i.metadata.resourceVersion]));

/** The watch's events folded over its starting state. */
function folded(f: Follower): Map<string, string> {
  const state = new Map(f.start);
  for (const e of f.watch.events) {
    const name = e.object.metadata?.name ?? '';
    if (e.type === 'ADDED' || e.type === 'MODIFIED') state.set(name, e.object.metadata?.resourceVersion ?? '');
    else if (e.type === 'DELETED') state.delete(name);
    else if (e.type !== 'BOOKMARK') throw new Error(`?${f.query}: a ${e.type} event: ${JSON.stringify(e.object)}`);
  }
  return state;
}

const sorted = (m: Map<string, string>) => [...m.entries()].sort(([x], [y]) => (x < y ? -1 : 1));

/** The plain list shows `expected`, and every watch, folded, equals a fresh list with its own query. */
async function converge(ctx: Context, followers: Follower[], what: string, expected: string[]): Promise<void> {
  await eventuallyPasses(what, async () => {
    const plain = await list(ctx, '');
    assert.equal(plain.items.map((i) => i.metadata.name).sort(), [...expected].sort(), `${what}: the list`);
    const lists = new Map<string, Map<string, string>>();
    for (const f of followers) {
      const listQuery = f.query.replace(/&?(watch|resourceVersion|allowWatchBookmarks)=[^&]*/g, '').replace(/^&/, '');
      if (!lists.has(listQuery)) lists.set(listQuery, asState(await list(ctx, listQuery)));
      assert.equal(sorted(folded(f)), sorted(lists.get(listQuery) ?? new Map()), `${what}: ?${f.query}`);
      assert.is(f.watch.end, undefined, `?${f.query} still open`);
    }
  }, CONVERGE_TIMEOUT_MS);
}

test('50 namespace watches of a tenant owner on one session converge through every tenant change, without an ERROR', async (ctx) => {
  assert.is(ctx.h2.session.alpnProtocol, 'h2');
  const initial = [a.ns(1), a.ns(2), a.ns(3), b.ns];
  const start = await eventuallyPasses('the tenants through the proxy', async () => {
    const l = await list(ctx, '');
    assert.equal(l.items.map((i) => i.metadata.name).sort(), [...initial].sort());
    return l;
  });
  const kinds = [
    'watch=1',
    `watch=1&resourceVersion=${start.metadata.resourceVersion}`,
    `watch=1&labelSelector=${encodeURIComponent(`${TENANT_LABEL}=${a.tenant}`)}`,
    `watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${a.ns(4)}`)}`,
    'watch=1&allowWatchBookmarks=true',
  ];
  const followers: Follower[] = [];
  try {
    for (let i = 0; i < WATCHES; i++) {
      const query = kinds[i % kinds.length] ?? 'watch=1';
      followers.push({ query, watch: await ctx.h2.watch(`${NS}?${query}`), start: query.includes('resourceVersion=') ? asState(start) : new Map() });
    }
    await converge(ctx, followers, 'at the start', initial);
    await eventuallyPasses('50 watchers open on the proxy', async () => assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), WATCHES));

    // A namespace added to the tenant.
    const tenantA = await ctx.cp.admin.json<KubeObject>('GET', `/apis/capsule.clastix.io/v1beta2/tenants/${a.tenant}`);
    await addTenantNamespace(ctx.cp.admin, tenantA, a.ns(4), [owner]);
    await setTenantStatus(ctx.cp.admin, a.tenant, [1, 2, 3, 4].map(a.ns));
    await converge(ctx, followers, 'a namespace added to the tenant', [a.ns(1), a.ns(2), a.ns(3), a.ns(4), b.ns]);

    // One taken out of the tenant (label, ownerReference and status all let go of it); it still exists.
    await patch(ctx.cp.admin, namespaceRef(a.ns(2)), { metadata: { labels: { [TENANT_LABEL]: null }, ownerReferences: null } });
    await setTenantStatus(ctx.cp.admin, a.tenant, [1, 3, 4].map(a.ns));
    await converge(ctx, followers, 'a namespace taken out of the tenant', [a.ns(1), a.ns(3), a.ns(4), b.ns]);

    // One deleted (Terminating first, then gone once the namespace controller has finalized it).
    await remove(ctx.cp.admin, namespaceRef(a.ns(3)));
    await setTenantStatus(ctx.cp.admin, a.tenant, [1, 4].map(a.ns));
    await converge(ctx, followers, 'a tenant namespace deleted', [a.ns(1), a.ns(4), b.ns]);

    // The owner removed from the other tenant (as Capsule does it: out of spec.owners, its RoleBindings in
    // the tenant's namespaces deleted — a RoleBinding alone still makes it a member), then added back.
    await patch(ctx.cp.admin, tenantRef(b.tenant), { spec: { owners: [other] } });
    for (const role of ['admin', NAMESPACE_DELETER_ROLE]) {
      await remove(ctx.cp.admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `capsule-${b.tenant}-0-${role}`, namespace: b.ns } });
    }
    await converge(ctx, followers, 'the owner removed from a tenant', [a.ns(1), a.ns(4)]);
    await patch(ctx.cp.admin, tenantRef(b.tenant), { spec: { owners: [other, owner] } });
    await converge(ctx, followers, 'the owner added back to the tenant', [a.ns(1), a.ns(4), b.ns]);

    // A last plain change reaches every watch that selects it.
    await patch(ctx.cp.admin, namespaceRef(a.ns(4)), { metadata: { labels: { last: suffix } } });
    await converge(ctx, followers, 'a last change', [a.ns(1), a.ns(4), b.ns]);
    for (const f of followers) assert.not.ok(f.watch.types().includes('ERROR'), `?${f.query}: no ERROR`);
    assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), WATCHES, 'all 50 still open');
    assert.not.ok(ctx.h2.session.closed);
  } finally {
    for (const f of followers) f.watch.close();
  }
});

test.run();
