// Three replicas through one real redis-server, on the real control plane: one upstream watch per type
// for the whole deployment (only the leader watches), the same list and resourceVersion from every
// replica, a follower's `kubectl get ns -w` following a namespace created upstream, and a watch resumed
// on another replica with the last resourceVersion it got receiving exactly the events it missed — also
// on a replica that never served that tenant, or started after those events.
import * as assert from 'uvu/assert';
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Namespace } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { registeredWatchers } from '../support/apiserver-watchers.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, type OwnerInput } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { KubectlStream } from '../support/kubectl.ts';
import { apply, patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { switchRelay } from '../support/switch-relay.ts';
import { WatchReader, type TimedEvent } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  replicas: RunningProxy[];
  /** alice's client on each replica. */
  alice: KubeHttp[];
  tenant: KubeObject;
  /** The apiserver's registered namespace watchers before the replicas started. */
  namespaceWatchersBefore: number;
}

const test = suite<Context>('replicas through Redis');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const TENANT = `oil-${suffix}`;
const OWNERS: OwnerInput[] = [{ kind: 'User', name: ALICE }];
const NAMESPACES_PATH = '/api/v1/namespaces';
const KEY_FILE = deploymentKeyFile();
const ns = (n: number) => `oil-${n}-${suffix}`;
const BOB = `bob-${suffix}`;
const OTHER_TENANT = `gas-${suffix}`;
const GAS = `gas-0-${suffix}`;

interface NamespaceList {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string } }[];
}

const namespaceWatchers = (cp: ControlPlane) => registeredWatchers(cp, 'Namespace');

async function leaderIndex(ctx: Context): Promise<number> {
  const roles = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_replica_role', { role: 'leader' })));
  assert.equal(roles.filter((r) => r === 1).length, 1, `exactly one leader: ${roles.join(', ')}`);
  return roles.indexOf(1);
}

const listOf = (client: KubeHttp) => client.json<NamespaceList>('GET', NAMESPACES_PATH);
const summary = (list: NamespaceList) => JSON.stringify([list.metadata.resourceVersion, list.items.map((i) => [i.metadata.name, i.metadata.resourceVersion])]);
const eventSummary = (events: TimedEvent[]) => events.map((e) => `${e.event.type} ${e.event.object.metadata?.name} @${e.event.object.metadata?.resourceVersion}`);

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.namespaceWatchersBefore = await namespaceWatchers(ctx.cp);
  ctx.replicas = [];
  for (const id of ['r1', 'r2', 'r3']) ctx.replicas.push(await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', id, '--lease-ttl', '3s']));
  ctx.tenant = await createTenant(ctx.cp.admin, { name: TENANT, owners: OWNERS, namespaces: [ns(0)] });
  const credentials = await ctx.cp.clientCertificate(ALICE);
  ctx.alice = ctx.replicas.map((r) => r.client(credentials));
  for (const [i, client] of ctx.alice.entries()) {
    await eventually(() => listOf(client).catch(() => undefined), (list) => list?.items.map((o) => o.metadata.name).join() === ns(0), `alice's namespaces through replica r${i + 1}`, 30_000);
  }
});

test.after(async (ctx) => {
  for (const r of ctx.replicas ?? []) await r.stop();
  if (ctx.tenant) await deleteTenant(ctx.cp.admin, TENANT);
  await deleteTenant(ctx.cp.admin, OTHER_TENANT).catch(() => undefined);
  await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GAS } }).catch(() => undefined);
  for (let n = 0; n < 5; n++) await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(n) } }).catch(() => undefined);
  await ctx.redis?.stop();
});

test('one replica leads; only it watches the apiserver: one namespace watch for the three', async (ctx) => {
  const leader = await leaderIndex(ctx);
  const upstreamWatches = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_informer_watches_total')));
  for (const [i, watches] of upstreamWatches.entries()) {
    if (i === leader) assert.ok(watches > 0, 'the leader watches upstream');
    else assert.is(watches, 0, `follower r${i + 1} sent no upstream watch`);
  }
  assert.is(await namespaceWatchers(ctx.cp), ctx.namespaceWatchersBefore + 1, 'the apiserver registered one more namespace watcher, not three');
  const leaderReplica = ctx.replicas[leader] as RunningProxy;
  assert.ok((await leaderReplica.metric('tenant_proxy_log_appended_entries_total')) > 0, 'the leader appends to the log');
  for (const r of ctx.replicas) assert.ok((await r.metric('tenant_proxy_log_tail_lag_seconds_count')) > 0, 'every replica applies what the leader recorded');
});

test('every replica answers a list with the same items and the same resourceVersion', async (ctx) => {
  await addTenantNamespace(ctx.cp.admin, ctx.tenant, ns(1), OWNERS);
  const lists = await eventually(
    () => Promise.all(ctx.alice.map(listOf)),
    (all) => all.every((l) => l.items.length === 2) && new Set(all.map(summary)).size === 1,
    'the same list from the three replicas',
    30_000,
  );
  assert.equal(lists[0]?.items.map((i) => i.metadata.name), [ns(0), ns(1)]);

  // A list's resourceVersion is the log's, not that of the moment a replica built the view: bob's view
  // exists on the first replica before an unrelated change, on the others only after it.
  await createTenant(ctx.cp.admin, { name: OTHER_TENANT, owners: [{ kind: 'User', name: BOB }], namespaces: [GAS] });
  const bob = await ctx.cp.clientCertificate(BOB);
  const [bobOnFirst, ...bobElsewhere] = ctx.replicas.map((r) => r.client(bob)) as [KubeHttp, ...KubeHttp[]];
  const first = await eventually(() => listOf(bobOnFirst), (l) => l.items.length === 1, "bob's namespace on the first replica", 30_000);
  await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(4) } });
  const revision = (list: NamespaceList) => Number(list.metadata.resourceVersion.split('.')[0]);
  await eventually(() => Promise.all(ctx.alice.map(listOf)), (all) => all.every((l) => revision(l) > revision(first)), "every replica's list resourceVersion past the unrelated change (a list is at the log's position)", 30_000);
  await eventually(
    () => Promise.all([bobOnFirst, ...bobElsewhere].map(listOf)),
    (all) => all.every((l) => l.items.length === 1) && new Set(all.map(summary)).size === 1,
    "bob's list, the same from a replica that built his view earlier and from those that built it now",
    30_000,
  );
  // A page's continue token is the replica's own: another one answers as the apiserver does for an
  // expired token (the client lists again), never with a wrong page.
  const [a, b] = ctx.alice as [KubeHttp, KubeHttp];
  const page = await a.json<NamespaceList & { metadata: { continue?: string } }>('GET', `${NAMESPACES_PATH}?limit=1`);
  assert.ok(page.metadata.continue, 'a first page with a continue token');
  const elsewhere = await b.request('GET', `${NAMESPACES_PATH}?limit=1&continue=${encodeURIComponent(page.metadata.continue ?? '')}`);
  assert.is(elsewhere.status, 410);
  assert.is((JSON.parse(elsewhere.body) as { reason?: string }).reason, 'Expired');
});

test('kubectl get ns -w through a follower sees a namespace created upstream', async (ctx) => {
  const follower = ((await leaderIndex(ctx)) + 1) % 3;
  const dir = mkdtempSync(path.join(tmpdir(), 'replicas-'));
  const kubeconfig = (ctx.replicas[follower] as RunningProxy).kubeconfig(path.join(dir, 'alice'), await ctx.cp.clientCertificate(ALICE), ALICE);
  const watch = new KubectlStream(kubeconfig, ['get', 'ns', '-w']);
  try {
    await watch.waitFor(new RegExp(`^${ns(0)}\\s`), 30_000);
    await addTenantNamespace(ctx.cp.admin, ctx.tenant, ns(2), OWNERS);
    await watch.waitFor(new RegExp(`^${ns(2)}\\s+Active`), 30_000);
  } finally {
    await watch.stop();
  }
});

test('every replica measures how long a change took from the leader\'s informer to its watchers\' connections', async (ctx) => {
  const LAG = 'tenant_proxy_watch_delivery_lag_seconds';
  const observed = () => Promise.all(ctx.replicas.map(async (r) => ({ count: await r.metric(`${LAG}_count`), sum: await r.metric(`${LAG}_sum`) })));
  const before = await observed();
  const name = `lag-${suffix}`;
  await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  try {
    const after = await eventually(observed, (now) => now.every((n, i) => n.count > (before[i]?.count ?? 0)), 'the change counted on every replica', 30_000);
    for (const [i, n] of after.entries()) {
      const count = n.count - (before[i]?.count ?? 0);
      const seconds = n.sum - (before[i]?.sum ?? 0);
      assert.ok(seconds >= 0 && seconds / count < 10, `replica ${i + 1}: ${count} changes, ${seconds} s in all`);
    }
  } finally {
    await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch(() => undefined);
  }
});

test('a watch resumed on another replica with the last resourceVersion it got receives exactly the missed events', async (ctx) => {
  const leader = await leaderIndex(ctx);
  const [a, b] = [ctx.alice[leader] as KubeHttp, ctx.alice[(leader + 1) % 3] as KubeHttp];
  const start = (await listOf(a)).metadata.resourceVersion;
  const onA = await WatchReader.open(a, `${NAMESPACES_PATH}?watch=true&resourceVersion=${start}`);
  const missed: TimedEvent[] = [];
  try {
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(0) } }, { metadata: { labels: { step: 'one' } } });
    missed.push(await onA.waitFor((e) => e.object.metadata?.labels?.step === 'one', 'the first change on A'));
    // Labelled for the tenant, without RoleBindings: alice's view changes, her scope does not.
    await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(3), labels: { 'capsule.clastix.io/tenant': TENANT } } });
    missed.push(await onA.waitFor((e) => e.object.metadata?.name === ns(3), 'the new namespace on A'));
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(1) } }, { metadata: { labels: { step: 'two' } } });
    missed.push(await onA.waitFor((e) => e.object.metadata?.labels?.step === 'two', 'the last change on A'));
  } finally {
    onA.close();
  }
  // The client saw the first event on A, then A went away: it resumes on B from that event's resourceVersion.
  const from = missed[0]?.event.object.metadata?.resourceVersion ?? '';
  const onB = await WatchReader.open(b, `${NAMESPACES_PATH}?watch=true&resourceVersion=${from}`);
  try {
    const resumed = await onB.waitForCount(2, 'the events after the resourceVersion on B', 30_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(eventSummary(onB.events.filter((e) => e.event.type !== 'BOOKMARK')), eventSummary(missed.slice(1)), 'no gap, no duplicate, the same resourceVersions');
    assert.ok(resumed.length >= 2);
  } finally {
    onB.close();
  }
});

/**
 * Waits until no namespace is still having its content deleted. Earlier test files' clean-ups end in the
 * namespace controller deleting RoleBindings; each may change what someone sees, and no replica rebuilds a
 * late view's history across such a change (it answers 410, as exact as it can be). A namespace held
 * only by a finalizer has no content left.
 */
async function namespaceCleanupsSettled(cp: ControlPlane): Promise<void> {
  type Namespaces = { items: { metadata: { name: string }; status?: { phase?: string; conditions?: { type: string; status: string }[] } }[] };
  const emptying = (list: Namespaces) =>
    list.items.filter((n) => n.status?.phase === 'Terminating' && !n.status.conditions?.some((c) => c.type === 'NamespaceContentRemaining' && c.status === 'False')).map((n) => n.metadata.name);
  await eventually(async () => emptying(await cp.admin.json<Namespaces>('GET', NAMESPACES_PATH)), (names) => names.length === 0, 'namespace clean-ups finished', 60_000);
}

test('a replica started after the changes resumes a watch from a resourceVersion handed out before it started', async (ctx) => {
  // Changes whose resourceVersions the deployment hands out, made before the late replica starts.
  await namespaceCleanupsSettled(ctx.cp);
  const a = ctx.alice[0] as KubeHttp;
  const from = (await listOf(a)).metadata.resourceVersion;
  const onA = await WatchReader.open(a, `${NAMESPACES_PATH}?watch=true&resourceVersion=${from}`);
  const events: TimedEvent[] = [];
  try {
    for (const step of ['three', 'four']) {
      await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(0) } }, { metadata: { labels: { step } } });
      events.push(await onA.waitFor((e) => e.object.metadata?.labels?.step === step, `change ${step} on r1`));
    }
  } finally {
    onA.close();
  }
  const late = await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', 'r4', '--lease-ttl', '3s']);
  ctx.replicas.push(late);
  const client = late.client(await ctx.cp.clientCertificate(ALICE));
  await eventually(() => listOf(client).catch(() => undefined), (list) => (list?.items.length ?? 0) > 0, 'the late replica serves alice', 30_000);
  const watch = await WatchReader.open(client, `${NAMESPACES_PATH}?watch=true&resourceVersion=${from}`);
  try {
    await watch.waitForCount(events.length, 'the events after the resourceVersion on the late replica', 30_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(eventSummary(watch.events.filter((e) => e.event.type !== 'BOOKMARK')), eventSummary(events));
  } finally {
    watch.close();
  }
  assert.is(await late.metric('tenant_proxy_informer_watches_total'), 0, 'it never watched upstream');
  assert.is(await late.metric('tenant_proxy_informer_relists_total'), 0, 'nor listed');
});

test('a client-node informer moved between replicas converges without a relist', async (ctx) => {
  // Two replicas behind one address with one serving certificate, as behind a TCP load balancer.
  const certDir = mkdtempSync(path.join(tmpdir(), 'replicas-cert-'));
  const first = await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', 'r5', '--cert-dir', certDir]);
  const second = await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', 'r6', '--cert-dir', certDir]);
  ctx.replicas.push(second);
  const relay = await switchRelay(first.port);
  const credentials = await ctx.cp.clientCertificate(ALICE);
  const file = ctx.cp.writeKubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'replicas-informer-')), 'alice'), { ...credentials, caPem: first.caPem }, ALICE, `https://127.0.0.1:${relay.port}`, first.caPem);
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const core = kc.makeApiClient(CoreV1Api);
  const unrefDelay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  const informer = new ListWatch<V1Namespace>(NAMESPACES_PATH, new Watch(kc), () => core.listNamespace(), false, undefined, undefined, { delayFn: unrefDelay });
  const errors: unknown[] = [];
  let stopped = false;
  informer.on('error', (err: unknown) => {
    if (!stopped) errors.push(err);
  });
  const names = () => informer.list().map((n) => n.metadata?.name ?? '').sort().join();
  const listsOn = (replica: RunningProxy) => replica.metric('tenant_proxy_requests_total', { verb: 'list' });
  try {
    await informer.start();
    const expected = (await listOf(ctx.alice[0] as KubeHttp)).items.map((i) => i.metadata.name).sort().join();
    await eventually(async () => names(), (n) => n === expected, 'the informer holds alice\'s namespaces', 30_000);
    const listsBefore = (await listsOn(first)) + (await listsOn(second));
    // The replica the informer uses goes away (its watches end cleanly); the informer's next connection
    // lands on the other one, with the last resourceVersion it saw.
    relay.switchTo(second.port);
    const listsOnFirst = await listsOn(first);
    await first.stop();
    await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(4), labels: { 'capsule.clastix.io/tenant': TENANT } } });
    await eventually(async () => names(), (n) => n.split(',').includes(ns(4)), 'the informer sees a namespace created after the move', 60_000);
    assert.is(listsOnFirst + (await listsOn(second)), listsBefore, 'no relist: the watch resumed on the other replica');
    assert.equal(errors, []);
  } finally {
    stopped = true;
    informer.stop();
    await relay.close();
  }
});

test.run();
