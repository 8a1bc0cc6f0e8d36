// Three replicas through one real redis-server, on the real control plane, while Redis misbehaves:
// frozen (SIGSTOP), stopped, restarted empty, flushed. An oracle watches the apiserver directly; every
// replica's watcher must go on without reconnecting and end equal to it (exactly, or — where a replica
// took a difference — an in-order subsequence of its states ending at its final state), no replica may
// stop serving or become unready, and the replicas must come back to one leader and one upstream watch
// per type.
import * as assert from 'uvu/assert';
import { registeredWatchers } from '../support/apiserver-watchers.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, type OwnerInput } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { watchAfterList, WatchReader, type TimedEvent } from '../support/watch-reader.ts';

const LEASE_TTL = '3s';
const ROLES = ['leader', 'follower', 'degraded'] as const;
type Role = (typeof ROLES)[number];

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  replicas: RunningProxy[];
  alice: KubeHttp[];
  tenant: KubeObject;
  /** The apiserver's namespace watchers besides the replicas' (the oracle's included). */
  namespaceWatchersBefore: number;
  /** The apiserver's own watch of the tenant's namespaces. */
  oracle: WatchReader;
  /** alice's watch on each replica: opened once, reopened only after a 410 (then from a relist). */
  watchers: Follower[];
  /** Watches that ended with 410 (each relisted and converged). */
  expired: number;
  step: number;
}

const test = suite<Context>('Redis faults under three replicas');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const TENANT = `oil-${suffix}`;
const OWNERS: OwnerInput[] = [{ kind: 'User', name: ALICE }];
const NAMESPACES_PATH = '/api/v1/namespaces';
const NAMESPACES = [`oil-a-${suffix}`, `oil-b-${suffix}`];
const namespaceRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

const namespaceWatchers = (cp: ControlPlane) => registeredWatchers(cp, 'Namespace');

/** Each replica's role; `unanswered` while its /metrics does not answer (a busy machine, a transition). */
async function rolesOf(ctx: Context): Promise<(Role | 'unanswered')[]> {
  return Promise.all(
    ctx.replicas.map(async (r) => {
      for (const role of ROLES) if ((await r.metric('tenant_proxy_replica_role', { role }).catch(() => 0)) === 1) return role;
      return 'unanswered';
    }),
  );
}

/** A client's watch on one replica, and the upstream revision it started after. */
interface Follower {
  client: KubeHttp;
  reader: WatchReader;
  fromRv: number;
}

const revisionOf = (rv: string) => Number(rv.split('.')[0]);

/** A watch from a fresh list: what a client does at start, and after a 410. */
async function follow(client: KubeHttp, after: number): Promise<Follower> {
  const { list, reader } = await watchAfterList(client, NAMESPACES_PATH, (l) => l.items.length === NAMESPACES.length && revisionOf(l.metadata.resourceVersion) >= after, "alice's namespaces");
  return { client, reader, fromRv: revisionOf(list.metadata.resourceVersion) };
}

const expiredWatch = (f: Follower) => f.reader.ended && f.reader.events.some((e) => e.event.type === 'ERROR' && (e.event.object as { code?: number }).code === 410);

const settled = (roles: (Role | 'unanswered')[]) => roles.filter((r) => r === 'leader').length === 1 && roles.every((r) => r !== 'degraded');

/** What a watcher saw, as the apiserver would show it: type, name, upstream resourceVersion. */
const changes = (events: readonly TimedEvent[]) =>
  events.filter((e) => e.event.type !== 'BOOKMARK').map((e) => `${e.event.type} ${e.event.object.metadata?.name} @${e.event.object.metadata?.resourceVersion}`);

/** The state after each event: name → resourceVersion (absent once deleted). */
function states(seen: readonly string[]): string[] {
  const state = new Map<string, string>();
  return seen.map((line) => {
    const [type = '', name = '', at = ''] = line.split(' ');
    if (type === 'DELETED') state.delete(name);
    else state.set(name, at);
    return JSON.stringify([...state].sort());
  });
}

/** Whether `seen` is exact, or an in-order subsequence of the oracle's states ending at its final state. */
function convergedWith(seen: readonly string[], oracle: readonly string[]): 'exact' | 'subsequence' | undefined {
  if (JSON.stringify(seen) === JSON.stringify(oracle)) return 'exact';
  const want = states(oracle);
  const got = states(seen);
  if (got.length === 0 || got[got.length - 1] !== want[want.length - 1]) return undefined;
  let i = 0;
  for (const s of got) {
    while (i < want.length && want[i] !== s) i++;
    if (i === want.length) return undefined;
    i++;
  }
  return 'subsequence';
}

/** One labelled change to one of the tenant's namespaces. */
async function change(ctx: Context): Promise<void> {
  const step = ++ctx.step;
  await patch(ctx.cp.admin, namespaceRef(NAMESPACES[step % 2] ?? ''), { metadata: { labels: { step: String(step) } } });
}

/** `count` changes, one every `everyMs`. */
async function churn(ctx: Context, count: number, everyMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await change(ctx);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Changes, one every `everyMs`, for as long as `during` runs: a leader starting the log again must lose none. */
async function churnWhile<T>(ctx: Context, everyMs: number, during: () => Promise<T>): Promise<T> {
  let done = false;
  const changes = (async () => {
    while (!done) {
      await change(ctx);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  try {
    return await during();
  } finally {
    done = true;
    await changes;
  }
}

/**
 * Every watcher ends where the oracle ends: exactly or as an in-order subsequence of its states, on a
 * stream that stayed open without an ERROR — or its stream ended with 410, and the client's relist (and
 * new watch) converges. Returns how each got there.
 */
async function assertConverged(ctx: Context, what: string): Promise<string[]> {
  const oracle = (f: Follower) => changes(ctx.oracle.events).filter((line) => revisionOf(line.split('@')[1] ?? '0') > f.fromRv);
  const verdict = (f: Follower) => (expiredWatch(f) ? 'expired' : convergedWith(changes(f.reader.events), oracle(f)));
  await eventually(
    async () => ctx.watchers.map(verdict),
    (verdicts) => verdicts.every((v) => v !== undefined),
    `${what}: every replica's watcher converged with the apiserver`,
    45_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\noracle: ${JSON.stringify(changes(ctx.oracle.events))}\nwatchers: ${JSON.stringify(ctx.watchers.map((f) => [f.fromRv, changes(f.reader.events)]))}`);
  });
  const verdicts: string[] = [];
  for (const [i, f] of ctx.watchers.entries()) {
    if (expiredWatch(f)) {
      ctx.expired++;
      f.reader.close();
      const last = changes(ctx.oracle.events).at(-1) ?? '@0';
      ctx.watchers[i] = await follow(f.client, revisionOf(last.split('@')[1] ?? '0'));
      verdicts.push('410, relisted');
      continue;
    }
    assert.not.ok(f.reader.ended, `r${i + 1}'s watch is still open (no reconnect needed)`);
    assert.not.ok(f.reader.events.some((e) => e.event.type === 'ERROR'), `r${i + 1}'s watch got no ERROR: ${JSON.stringify(f.reader.events.filter((e) => e.event.type === 'ERROR').map((e) => e.line))}`);
    verdicts.push(verdict(f) ?? '?');
  }
  return verdicts;
}

async function assertBackToOneLeader(ctx: Context, what: string): Promise<void> {
  await eventually(() => rolesOf(ctx), settled, `${what}: one leader, nobody degraded`, 45_000, 250);
  await eventually(() => namespaceWatchers(ctx.cp), (n) => n === ctx.namespaceWatchersBefore + 1, `${what}: one upstream namespace watch for the three replicas`, 30_000, 250);
}

/** Each degraded replica watches the apiserver itself. */
async function assertEachWatchesUpstream(ctx: Context, what: string): Promise<void> {
  await eventually(() => namespaceWatchers(ctx.cp), (n) => n === ctx.namespaceWatchersBefore + 3, `${what}: one upstream namespace watch per degraded replica`, 30_000, 250);
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.step = 0;
  // The oracle's watch, opened below, is the apiserver's too.
  ctx.namespaceWatchersBefore = (await namespaceWatchers(ctx.cp)) + 1;
  ctx.replicas = [];
  const keyFile = deploymentKeyFile();
  for (const id of ['r1', 'r2', 'r3']) ctx.replicas.push(await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--shared-auth-key-file', keyFile, '--replica-id', id, '--lease-ttl', LEASE_TTL]));
  ctx.tenant = await createTenant(ctx.cp.admin, { name: TENANT, owners: OWNERS, namespaces: [] });
  for (const name of NAMESPACES) await addTenantNamespace(ctx.cp.admin, ctx.tenant, name, OWNERS);
  const credentials = await ctx.cp.clientCertificate(ALICE);
  ctx.alice = ctx.replicas.map((r) => r.client(credentials));
  const start = await ctx.cp.admin.json<{ metadata: { resourceVersion: string } }>('GET', NAMESPACES_PATH);
  ctx.oracle = await WatchReader.open(ctx.cp.admin, `${NAMESPACES_PATH}?watch=1&labelSelector=${encodeURIComponent(`capsule.clastix.io/tenant=${TENANT}`)}&resourceVersion=${start.metadata.resourceVersion}`);
  ctx.watchers = [];
  ctx.expired = 0;
  for (const client of ctx.alice) ctx.watchers.push(await follow(client, revisionOf(start.metadata.resourceVersion)));
  await eventually(() => rolesOf(ctx), settled, 'one leader', 30_000);
});

test.after(async (ctx) => {
  ctx.oracle?.close();
  for (const f of ctx.watchers ?? []) f.reader.close();
  console.log(`    watches expired with 410 over the suite: ${ctx.expired ?? 0}`);
  for (const r of ctx.replicas ?? []) await r.stop();
  if (ctx.tenant) await deleteTenant(ctx.cp.admin, TENANT);
  for (const name of NAMESPACES) await remove(ctx.cp.admin, namespaceRef(name)).catch(() => undefined);
  await ctx.redis?.stop();
});

test('Redis frozen (SIGSTOP) 30 s: every replica degrades and keeps serving; changes reach every watcher meanwhile; they rejoin', async (ctx) => {
  await churn(ctx, 2, 300);
  await assertConverged(ctx, 'before the freeze');
  ctx.redis.signal('SIGSTOP');
  const frozenAt = Date.now();
  try {
    const roles = await eventually(() => rolesOf(ctx), (r) => r.every((role) => role === 'degraded'), 'every replica degraded', 25_000, 250);
    const degradedAfterMs = Date.now() - frozenAt;
    await assertEachWatchesUpstream(ctx, 'while Redis is frozen');
    await churn(ctx, 5, 400);
    // Still frozen: the replicas' own informers bring the changes.
    const verdicts = await assertConverged(ctx, 'while Redis is frozen');
    for (const [i, client] of ctx.alice.entries()) {
      const ready = await client.request('GET', '/readyz?verbose');
      assert.is(ready.status, 200, `r${i + 1} stays ready: ${ready.body}`);
      assert.match(ready.body, /replication ok \(degraded since/);
    }
    console.log(`    frozen Redis: ${roles.join(', ')} after ${degradedAfterMs} ms; watchers while frozen: ${verdicts.join(', ')}`);
    const waitMs = 30_000 - (Date.now() - frozenAt);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  } finally {
    ctx.redis.signal('SIGCONT');
  }
  await assertBackToOneLeader(ctx, 'after the thaw');
  await churn(ctx, 3, 300);
  const verdicts = await assertConverged(ctx, 'after the thaw');
  console.log(`    after the thaw: ${verdicts.join(', ')}`);
});

test('a resourceVersion handed out while degraded resumes on any replica, exactly', async (ctx) => {
  // The oracle's events carry upstream resourceVersions: a watcher anywhere resumes from one.
  const events = changes(ctx.oracle.events);
  const middle = events[Math.floor(events.length / 2)] ?? '';
  const from = middle.split('@')[1] ?? '';
  const expected = events.slice(events.indexOf(middle) + 1);
  for (const [i, client] of ctx.alice.entries()) {
    const resumed = await WatchReader.open(client, `${NAMESPACES_PATH}?watch=1&resourceVersion=${from}`);
    try {
      await resumed.waitForCount(expected.length, `the ${expected.length} changes after ${from} on r${i + 1}`, 15_000);
      assert.equal(changes(resumed.events), expected, `r${i + 1}: exactly the changes after ${from}`);
    } finally {
      resumed.close();
    }
  }
});

test('Redis stopped ~30 s, then back empty: the replicas degrade, then start the log again from one of them', async (ctx) => {
  await ctx.redis.restart(); // stop, start empty: the log, the lease and the snapshots are gone
  await assertBackToOneLeader(ctx, 'after a restart');
  await churn(ctx, 2, 300);
  await assertConverged(ctx, 'after a restart');

  // Longer: every replica notices and runs on its own meanwhile.
  await ctx.redis.stop();
  try {
    await eventually(() => rolesOf(ctx), (r) => r.every((role) => role === 'degraded'), 'every replica degraded', 25_000, 250);
    await assertEachWatchesUpstream(ctx, 'while Redis is down');
    await churn(ctx, 4, 400);
    await assertConverged(ctx, 'while Redis is down');
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  } catch (err) {
    await ctx.redis.restart();
    throw err;
  }
  // Changes go on while the replicas rejoin and one starts the log again from its state.
  await churnWhile(ctx, 150, async () => {
    await ctx.redis.restart();
    await assertBackToOneLeader(ctx, 'after Redis came back empty');
  });
  await churn(ctx, 3, 300);
  const verdicts = await assertConverged(ctx, 'after Redis came back empty');
  console.log(`    after Redis came back empty: ${verdicts.join(', ')}`);
});

test('FLUSHALL: the log is lost under the replicas; the leader starts it again and the followers reload', async (ctx) => {
  const admin = ctx.redis.client('flush');
  await admin.flushall();
  await churn(ctx, 3, 300);
  await assertBackToOneLeader(ctx, 'after FLUSHALL');
  await churn(ctx, 3, 300);
  const verdicts = await assertConverged(ctx, 'after FLUSHALL');
  console.log(`    after FLUSHALL: ${verdicts.join(', ')}`);
});

test.run();
