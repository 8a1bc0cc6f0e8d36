// Failover of replicas through Redis (issue 14), with real replica processes on the real control plane:
// a leader SIGKILLed mid-load, a follower SIGKILLed mid-load, and a leader stalled (SIGSTOP) past its
// lease that wakes up (SIGCONT). The oracle is a watch on the apiserver itself, as admin, on the
// tenant's namespaces: every watcher on every replica must end up with exactly its sequence of
// (type, name, object resourceVersion), once, in order — the survivors' watchers without reconnecting,
// the killed replica's watcher after resuming on a survivor with the last resourceVersion it got (at
// once, and again after the load, as a client that noticed late). Last, a client resuming on a survivor
// from the resourceVersion of any event it got, with the owner's scope unchanged throughout.
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unseal } from '../../redis/signer.ts';
import { registeredWatchers } from '../support/apiserver-watchers.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually, waitUntil } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, TENANT_LABEL, type OwnerInput } from '../support/fixtures.ts';
import type { Credentials, KubeHttp } from '../support/kube-http.ts';
import { apply, patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxyProcesses, type ProxyProcess } from '../support/proxy-process.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader, type TimedEvent } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  tenant: KubeObject;
  owner: Credentials;
  /** Every namespace the tests created (removed after). */
  namespaces: string[];
  /** The apiserver's namespace watchers before any replica started. */
  namespaceWatchersBefore: number;
}

const test = suite<Context>('replica failover');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const OWNER = `fo-owner-${suffix}`;
const TENANT = `fo-${suffix}`;
const OWNERS: OwnerInput[] = [{ kind: 'User', name: OWNER }];
const NAMESPACES_PATH = '/api/v1/namespaces';
const STEP_LABEL = 'failover-step';
const LEASE_TTL_MS = 3_000;
const LOG_KEY = '{tenant-proxy}:log';
const KEY_FILE = deploymentKeyFile();
const EPOCH_KEY = '{tenant-proxy}:lease:epoch';
const SETTLE_MS = 30_000;

interface NamespaceList {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string } }[];
}

const namespaceWatchers = (cp: ControlPlane) => registeredWatchers(cp, 'Namespace');

const names = (list: NamespaceList) => list.items.map((i) => i.metadata.name).sort().join();
const significant = (events: TimedEvent[]) => events.filter((e) => e.event.type !== 'BOOKMARK');
const summary = (events: TimedEvent[]) =>
  significant(events).map(({ event: { type, object } }) => (type === 'ERROR' ? `ERROR ${JSON.stringify(object).slice(0, 200)}` : `${type} ${object.metadata?.name} @${object.metadata?.resourceVersion}`));
const gone = (events: TimedEvent[]) => events.filter((e) => e.event.type === 'ERROR' && e.event.object.code === 410).length;
/** The resourceVersion a client resumes from: that of the last event it got, else of its list. */
const lastResourceVersion = (events: TimedEvent[], listed: string) => events.filter((e) => e.event.type !== 'ERROR').at(-1)?.event.object.metadata?.resourceVersion ?? listed;
const secondsSince = (t: number, until = Date.now()) => ((until - t) / 1000).toFixed(1);
const at = <T>(items: readonly T[], i: number): T => {
  const item = items[i];
  if (item === undefined) throw new Error(`no item ${i} of ${items.length}`);
  return item;
};

/** A watch on a replica, and the resourceVersion of the list it started from. */
interface ReplicaWatch {
  reader: WatchReader;
  listed: string;
}

/** Three replica processes on a fresh redis-server, each serving the tenant owner's namespaces. */
interface Deployment {
  redis: RedisServer;
  replicas: ProxyProcess[];
  /** The owner's client on each replica. */
  clients: KubeHttp[];
  stop(): Promise<void>;
}

async function deploy(ctx: Context): Promise<Deployment> {
  // The replicas of an earlier test have let their upstream watches go.
  await eventually(() => namespaceWatchers(ctx.cp), (n) => n === ctx.namespaceWatchersBefore, 'the apiserver back to its namespace watchers before any replica', 30_000);
  const redis = await startRedis();
  const flags = (id: string) => ['--redis', redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', id, '--lease-ttl', `${LEASE_TTL_MS / 1000}s`, '--log-level', 'info'];
  const group = await startProxyProcesses(
    ctx.cp,
    ['r1', 'r2', 'r3'].map((name) => ({ name, flags: flags(name) })),
  ).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  const d: Deployment = {
    redis,
    replicas: group.replicas,
    clients: group.replicas.map((r) => r.client(ctx.owner)),
    stop: async () => {
      await group.stop();
      await redis.stop();
    },
  };
  try {
    const expected = names(await oracleList(ctx));
    for (const [i, client] of d.clients.entries()) {
      await eventually(() => client.json<NamespaceList>('GET', NAMESPACES_PATH).catch(() => undefined), (l) => !!l && names(l) === expected, `the owner's namespaces through r${i + 1}`, 30_000);
    }
    await leaderOf(d.replicas);
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

/** Index (in `replicas`) of the one replica whose role metric says leader; waits up to `timeoutMs` for exactly one. */
async function leaderOf(replicas: ProxyProcess[], timeoutMs = SETTLE_MS): Promise<number> {
  const roles = await eventually(
    () => Promise.all(replicas.map((r) => r.metric('tenant_proxy_replica_role', { role: 'leader' }).catch(() => -1))),
    (all) => all.filter((r) => r === 1).length === 1 && all.every((r) => r === 0 || r === 1),
    `exactly one leader among ${replicas.map((r) => r.name).join(', ')}`,
    timeoutMs,
  );
  return roles.indexOf(1);
}

function oracleList(ctx: Context): Promise<NamespaceList> {
  return ctx.cp.admin.json<NamespaceList>('GET', `${NAMESPACES_PATH}?labelSelector=${encodeURIComponent(`${TENANT_LABEL}=${TENANT}`)}`);
}

/** A watch opened at the resourceVersion of a list just taken. */
async function watchFromList(client: KubeHttp, list: () => Promise<NamespaceList>, query = ''): Promise<ReplicaWatch> {
  const listed = (await list()).metadata.resourceVersion;
  const reader = await WatchReader.open(client, `${NAMESPACES_PATH}?watch=true&resourceVersion=${listed}${query}`);
  assert.is(reader.status, 200, `watch from ${listed}`);
  return { reader, listed };
}

interface Step {
  index: number;
  name: string;
  /** The event a namespace watcher gets for it; none for a RoleBinding. */
  event: 'ADDED' | 'MODIFIED' | undefined;
  sentAt: number;
}

const OTHER_USER = `fo-other-${suffix}`;

/** Binds another user in `namespace`: a change of another type, which changes nothing the owner sees. */
function bindOtherUser(ctx: Context, namespace: string, name: string): Promise<KubeObject> {
  const subjects = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: OTHER_USER }];
  return apply(ctx.cp.admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects });
}

/**
 * The load: `count` changes of namespaces, one every `everyMs`, each setting the label STEP_LABEL to its
 * index (so each is exactly one event, found by that label). Every fourth creates a namespace of the
 * tenant (with the owner's RoleBindings, as Capsule does) and the others relabel one of those; or, given
 * `existing` namespaces, each relabels one of them while another user is bound in it at the same time
 * (two types changing together, committed and watched in either order). `fault.run` is called
 * right after step `fault.at` is sent, while it is in flight (the replica it hits may or may not have
 * seen it).
 */
function startLoad(ctx: Context, tag: string, count: number, everyMs: number, fault: { at: number; run: () => void }, existing: string[] = []): { steps: Step[]; done: Promise<void> } {
  const steps: Step[] = [];
  const own = [...existing];
  const done = (async () => {
    for (let index = 0; index < count; index++) {
      const sentAt = Date.now();
      const label = { [STEP_LABEL]: String(index) };
      let step: Omit<Step, 'sentAt'>;
      let change: Promise<unknown>;
      if (index % 4 === 0 && existing.length === 0) {
        step = { index, name: `${TENANT}-${tag}-${index}`, event: 'ADDED' };
        ctx.namespaces.push(step.name);
        own.push(step.name);
        change = addTenantNamespace(ctx.cp.admin, ctx.tenant, step.name, OWNERS, label);
      } else {
        step = { index, name: own[index % own.length] ?? '', event: 'MODIFIED' };
        change = patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: step.name } }, { metadata: { labels: label } });
        if (existing.length > 0) change = Promise.all([change, bindOtherUser(ctx, step.name, `${STEP_LABEL}-${index}`)]);
      }
      if (index === fault.at) fault.run();
      await change;
      steps.push({ ...step, sentAt });
      await sleep(Math.max(0, sentAt + everyMs - Date.now()));
    }
  })();
  return { steps, done };
}

/** Resolves with the time `act` ran, once the load runs it. */
function faultAt(at: number, act: () => void): { at: number; run: () => void; ran: Promise<number> } {
  let ran!: (t: number) => void;
  return {
    at,
    run: () => {
      act();
      ran(Date.now());
    },
    ran: new Promise((resolve) => (ran = resolve)),
  };
}

/** When the first change sent after `at` reached a watcher on one of `readers` (ms epoch), and which step it was. */
function firstDeliveryAfter(at: number, steps: Step[], readers: WatchReader[]): { step: Step; deliveredAt: number } | undefined {
  const step = steps.find((s) => s.sentAt >= at && s.event);
  if (!step) return undefined;
  const times = readers.flatMap((r) => r.events.filter((e) => e.event.object.metadata?.labels?.[STEP_LABEL] === String(step.index)).map((e) => r.startedAt + e.atMs));
  return times.length ? { step, deliveredAt: Math.min(...times) } : undefined;
}

/** The client of a killed replica, watching again on another one from the last resourceVersion it got. */
interface Resumed {
  label: string;
  from: string;
  /** What it got from the killed replica. */
  before: TimedEvent[];
  reader: WatchReader | undefined;
  /** The answers to its attempts. */
  statuses: number[];
}

/**
 * What a client does when its replica went away: watch again on another one, from the last
 * resourceVersion it got; retried while the replica cannot answer yet (504 Too large resource version,
 * a connection error), not after a 410.
 */
async function resumeWatch(label: string, client: KubeHttp, killed: ReplicaWatch): Promise<Resumed> {
  const before = significant(killed.reader.events);
  return resumeAfter(label, client, before, lastResourceVersion(before, killed.listed));
}

/** The same, for a client that got `before` and resumes from `from`. */
async function resumeAfter(label: string, client: KubeHttp, before: TimedEvent[], from: string): Promise<Resumed> {
  const statuses: number[] = [];
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const reader = await WatchReader.open(client, `${NAMESPACES_PATH}?watch=true&resourceVersion=${from}`).catch(() => undefined);
    statuses.push(reader?.status ?? 0);
    if (reader?.status === 200) return { label, from, before, reader, statuses };
    reader?.close();
    if (reader?.status === 410 || Date.now() > deadline) return { label, from, before, reader: undefined, statuses };
    await sleep(500);
  }
}

const resumedEvents = (r: Resumed) => [...r.before, ...(r.reader?.events ?? [])];
const goneOf = (r: Resumed) => r.statuses.filter((s) => s === 410).length + gone(r.reader?.events ?? []);

/** Waits until every reader holds `expected` (BOOKMARKs aside), then asserts it, and again a moment later (nothing more arrives). */
/** The watchers on the surviving replicas got exactly the oracle's events, on the stream they opened first. */
async function assertSurvivorsExact(d: Deployment, watches: readonly ReplicaWatch[], survivors: readonly number[], expected: string[]): Promise<void> {
  await assertAllEqual(
    survivors.map((i): [string, () => TimedEvent[]] => [`watcher on ${d.replicas[i]?.name}`, () => at(watches, i).reader.events]),
    expected,
  );
  for (const i of survivors) assert.not.ok(at(watches, i).reader.ended, `the watcher on ${d.replicas[i]?.name} never had to reconnect`);
}

async function assertAllEqual(readers: [string, () => TimedEvent[]][], expected: string[]): Promise<void> {
  await waitUntil(() => readers.every(([, events]) => summary(events()).length >= expected.length), 'every watcher has as many events as the oracle', SETTLE_MS).catch(() => undefined);
  await sleep(1_000);
  for (const [name, events] of readers) assert.equal(summary(events()), expected, `${name}: exactly the oracle's events, in order, once`);
}

/** What it got before and after resuming is exactly the oracle's events; on a 410, the message names what the log holds after `from`. */
async function assertResumed(r: Resumed, expected: string[], redis: RedisServer): Promise<void> {
  await waitUntil(() => summary(resumedEvents(r)).length >= expected.length || goneOf(r) > 0, `${r.label}: every event`, SETTLE_MS).catch(() => undefined);
  await sleep(1_000);
  const why = goneOf(r) > 0 ? `; the log after ${r.from}: ${(await logAfter(redis, r.from, 8)).join(' | ')}` : '';
  assert.equal(summary(resumedEvents(r)), expected, `${r.label}, resumed from ${r.from} after ${r.before.length} events (answers ${r.statuses.join(', ')}): exactly the oracle's events, in order, once${why}`);
}

interface LogLine {
  id: string;
  kind: string;
  type: string;
  resource: string;
  name: string;
  resourceVersion: string | undefined;
}

/** The first `count` log entries after position `from`. */
async function logEntries(redis: RedisServer, from: string, count: number): Promise<LogLine[]> {
  const raw = await redis.client('failover-check').xrange(LOG_KEY, `(${from.replace('.', '-')}`, '+', 'COUNT', count);
  return raw.map(([id, fields]) => {
    const stored = fields[fields.indexOf('e') + 1] ?? '';
    const e = JSON.parse(unseal(stored)?.value ?? '{}') as { kind?: string; type?: string; state?: string; resource?: { resource: string }; object?: KubeObject };
    const o = e.object?.metadata;
    return { id, kind: e.kind ?? '', type: e.type ?? e.state ?? '', resource: e.resource?.resource ?? '', name: o ? `${o.namespace ? `${o.namespace}/` : ''}${o.name}` : '', resourceVersion: o?.resourceVersion };
  });
}

const describeEntry = (l: LogLine) => `${l.id} ${l.kind} ${l.type} ${l.resource} ${l.name}${l.resourceVersion && `${l.resourceVersion}-0` !== l.id ? ` (object @${l.resourceVersion})` : ''}`.trim();

/** The first `count` log entries after position `from`, in short. */
async function logAfter(redis: RedisServer, from: string, count: number): Promise<string[]> {
  return (await logEntries(redis, from, count)).map(describeEntry);
}

/** The log holds no change of a namespace twice, nor out of its order (per object, resourceVersions only grow). */
async function assertLogInOrder(redis: RedisServer): Promise<void> {
  const last = new Map<string, LogLine>();
  const problems: string[] = [];
  for (const entry of await logEntries(redis, '0', 100_000)) {
    if (entry.kind !== 'change' || entry.resource !== 'namespaces' || !entry.name.startsWith(`${TENANT}-`)) continue;
    const before = last.get(entry.name);
    if (before && Number(entry.resourceVersion) <= Number(before.resourceVersion)) problems.push(`${describeEntry(entry)} after ${describeEntry(before)}`);
    last.set(entry.name, entry);
  }
  assert.equal(problems, [], 'no duplicate or out-of-order change in the log');
}

/** Watches: the oracle on the apiserver, and the owner's on each replica, from a list taken after the deployment settled. */
async function openWatches(ctx: Context, d: Deployment): Promise<{ oracle: WatchReader; watches: ReplicaWatch[] }> {
  const { reader: oracle } = await watchFromList(ctx.cp.admin, () => oracleList(ctx), `&labelSelector=${encodeURIComponent(`${TENANT_LABEL}=${TENANT}`)}`);
  const watches = await Promise.all(d.clients.map((c) => watchFromList(c, () => c.json<NamespaceList>('GET', NAMESPACES_PATH))));
  return { oracle, watches };
}

/** The oracle's events once it has every change of the load, checked against the load itself. */
async function oracleEvents(oracle: WatchReader, steps: Step[]): Promise<string[]> {
  const changes = steps.filter((s) => s.event);
  await waitUntil(() => significant(oracle.events).length >= changes.length, 'the oracle has every change', SETTLE_MS);
  await sleep(500);
  const labels = significant(oracle.events).map((e) => `${e.event.type} ${e.event.object.metadata?.name} ${e.event.object.metadata?.labels?.[STEP_LABEL]}`);
  assert.equal(labels, changes.map((s) => `${s.event} ${s.name} ${s.index}`), 'the oracle saw each change of the load once, in order');
  return summary(oracle.events);
}

function logsOf(d: Deployment, requests = false): string {
  return d.replicas.map((r) => `--- ${r.name} (pid ${r.pid}) ---\n${r.logs().filter((l) => requests || l.msg !== 'request').map((l) => JSON.stringify(l)).join('\n')}`).join('\n');
}

/**
 * Runs `body` on a fresh deployment; on failure prints the replicas' logs (requests aside), and with
 * FAILOVER_LOG_DIR set writes them all there in any case.
 */
async function withDeployment(ctx: Context, tag: string, body: (d: Deployment) => Promise<void>): Promise<void> {
  const d = await deploy(ctx);
  try {
    await body(d);
  } catch (err) {
    process.stderr.write(`\nreplica logs:\n${logsOf(d)}\n`);
    throw err;
  } finally {
    await d.stop();
    if (process.env.FAILOVER_LOG_DIR) writeFileSync(path.join(process.env.FAILOVER_LOG_DIR, `${tag}.log`), logsOf(d, true));
  }
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.namespaces = [`${TENANT}-base`];
  ctx.namespaceWatchersBefore = await namespaceWatchers(ctx.cp);
  ctx.tenant = await createTenant(ctx.cp.admin, { name: TENANT, owners: OWNERS, namespaces: [...ctx.namespaces] });
  ctx.owner = await ctx.cp.clientCertificate(OWNER);
});

test.after(async (ctx) => {
  if (ctx.tenant) await deleteTenant(ctx.cp.admin, TENANT);
  for (const name of ctx.namespaces ?? []) await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch(() => undefined);
});

test('leader SIGKILL: another replica leads within the lease ttl; every watcher gets exactly the oracle\'s events', async (ctx) => {
  await withDeployment(ctx, 'leader-sigkill', async (d) => {
    const leader = await leaderOf(d.replicas);
    const { oracle, watches } = await openWatches(ctx, d);
    const survivors = d.replicas.map((_, i) => i).filter((i) => i !== leader);
    const survivorReplicas = survivors.map((i) => at(d.replicas, i));
    const killed = at(watches, leader);
    const moveTo = at(d.clients, at(survivors, 0));
    const moveToName = at(d.replicas, at(survivors, 0)).name;
    const moved: Resumed[] = [];
    const track = (r: Resumed) => (moved.push(r), r);
    try {
      const fault = faultAt(8, () => at(d.replicas, leader).kill('SIGKILL'));
      const load = startLoad(ctx, 'leader', 24, 400, fault);
      const killedAt = await fault.ran;
      const leading = leaderOf(survivorReplicas, LEASE_TTL_MS + 5_000).then((i) => ({ index: survivors[i] ?? -1, after: secondsSince(killedAt) }));
      // The killed replica's client moves to a survivor as soon as its stream ends; another client that
      // had the same resourceVersion comes back once the load is over (well within --watch-history).
      await waitUntil(() => killed.reader.ended, 'the killed replica\'s watch ended', 15_000);
      const resumed = track(await resumeWatch(`the killed ${d.replicas[leader]?.name}'s watcher, moved to ${moveToName} at once`, moveTo, killed));
      const { index: newLeader, after: ledAfter } = await leading;
      await load.done;
      const later = track(await resumeWatch(`the killed ${d.replicas[leader]?.name}'s watcher, moved to ${moveToName} after the load`, moveTo, killed));

      const expected = await oracleEvents(oracle, load.steps);
      await assertSurvivorsExact(d, watches, survivors, expected);
      assert.is(await leaderOf(survivorReplicas), survivors.indexOf(newLeader), 'the same survivor still leads');
      await assertLogInOrder(d.redis);
      oracle.close();
      await eventually(() => namespaceWatchers(ctx.cp), (n) => n === ctx.namespaceWatchersBefore + 1, 'one upstream namespace watch again (the new leader\'s)', SETTLE_MS);

      const first = firstDeliveryAfter(killedAt, load.steps, survivors.map((i) => at(watches, i).reader));
      const goneCount = goneOf(resumed) + goneOf(later) + gone(watches.flatMap((w) => w.reader.events));
      console.log(
        `failover (leader SIGKILL): ${d.replicas[newLeader]?.name} leads ${ledAfter} s after the kill; first change after the kill (step ${first?.step.index}) delivered on a survivor ${first ? secondsSince(killedAt, first.deliveredAt) : '?'} s after the kill (${first ? secondsSince(first.step.sentAt, first.deliveredAt) : '?'} s after it was made); 410s: ${goneCount}; the killed replica's watcher resumed from ${resumed.from} after ${resumed.before.length} events (answers: at once ${resumed.statuses.join(', ')}, after the load ${later.statuses.join(', ')})`,
      );
      await assertResumed(resumed, expected, d.redis);
      await assertResumed(later, expected, d.redis);
    } finally {
      oracle.close();
      for (const w of watches) w.reader.close();
      for (const r of moved) r.reader?.close();
    }
  });
});

test('follower SIGKILL: the leader stays; every watcher gets exactly the oracle\'s events', async (ctx) => {
  await withDeployment(ctx, 'follower-sigkill', async (d) => {
    const leader = await leaderOf(d.replicas);
    const epoch = await d.redis.client('epoch').get(EPOCH_KEY);
    const follower = (leader + 1) % 3;
    const { oracle, watches } = await openWatches(ctx, d);
    const survivors = d.replicas.map((_, i) => i).filter((i) => i !== follower);
    const killed = at(watches, follower);
    // It moves to the other follower, which does not watch upstream either.
    const other = survivors.find((i) => i !== leader) ?? leader;
    const moveTo = at(d.clients, other);
    const moved: Resumed[] = [];
    const track = (r: Resumed) => (moved.push(r), r);
    try {
      const fault = faultAt(8, () => at(d.replicas, follower).kill('SIGKILL'));
      const load = startLoad(ctx, 'follower', 20, 400, fault);
      await fault.ran;
      await waitUntil(() => killed.reader.ended, 'the killed replica\'s watch ended', 15_000);
      const resumed = track(await resumeWatch(`the killed ${d.replicas[follower]?.name}'s watcher, moved to ${d.replicas[other]?.name} at once`, moveTo, killed));
      await load.done;
      const later = track(await resumeWatch(`the killed ${d.replicas[follower]?.name}'s watcher, moved to ${d.replicas[other]?.name} after the load`, moveTo, killed));

      const expected = await oracleEvents(oracle, load.steps);
      await assertSurvivorsExact(d, watches, survivors, expected);
      const survivorReplicas = survivors.map((i) => at(d.replicas, i));
      assert.is(survivors[await leaderOf(survivorReplicas)], leader, 'the leader did not change');
      assert.is(await d.redis.client('epoch').get(EPOCH_KEY), epoch, 'nor did the lease epoch');
      await assertLogInOrder(d.redis);
      oracle.close();
      assert.is(await namespaceWatchers(ctx.cp), ctx.namespaceWatchersBefore + 1, 'still one upstream namespace watch');
      const goneCount = goneOf(resumed) + goneOf(later) + gone(watches.flatMap((w) => w.reader.events));
      console.log(`failover (follower SIGKILL): leader ${d.replicas[leader]?.name} kept; 410s: ${goneCount}; the killed replica's watcher resumed from ${resumed.from} after ${resumed.before.length} events (answers: at once ${resumed.statuses.join(', ')}, after the load ${later.statuses.join(', ')})`);
      await assertResumed(resumed, expected, d.redis);
      await assertResumed(later, expected, d.redis);
    } finally {
      oracle.close();
      for (const w of watches) w.reader.close();
      for (const r of moved) r.reader?.close();
    }
  });
});

test('a stalled leader that wakes cannot append: it follows, and every watcher, its own too, gets exactly the oracle\'s events', async (ctx) => {
  await withDeployment(ctx, 'leader-sigstop', async (d) => {
    const leader = await leaderOf(d.replicas);
    const stalled = at(d.replicas, leader);
    const { oracle, watches } = await openWatches(ctx, d);
    const others = d.replicas.map((_, i) => i).filter((i) => i !== leader);
    const otherReplicas = others.map((i) => at(d.replicas, i));
    try {
      const fault = faultAt(6, () => stalled.kill('SIGSTOP'));
      const load = startLoad(ctx, 'stall', 28, 400, fault);
      const stoppedAt = await fault.ran;
      const newLeader = others[await leaderOf(otherReplicas, LEASE_TTL_MS + 5_000)] ?? -1;
      const ledAfter = secondsSince(stoppedAt);
      await sleep(Math.max(0, stoppedAt + 2 * LEASE_TTL_MS - Date.now()));
      const first = firstDeliveryAfter(stoppedAt, load.steps, others.map((i) => at(watches, i).reader));
      stalled.kill('SIGCONT');
      const wokeAt = Date.now();
      await eventually(() => stalled.metric('tenant_proxy_replica_role', { role: 'follower' }), (v) => v === 1, `${stalled.name} a follower after waking`, 15_000);
      assert.is(await stalled.metric('tenant_proxy_replica_role', { role: 'leader' }), 0, `${stalled.name} no longer leads`);
      await load.done;

      const expected = await oracleEvents(oracle, load.steps);
      await assertAllEqual(
        watches.map((w, i): [string, () => TimedEvent[]] => [`watcher on ${d.replicas[i]?.name}${i === leader ? ' (the stalled one)' : ''}`, () => w.reader.events]),
        expected,
      );
      for (const [i, w] of watches.entries()) assert.not.ok(w.reader.ended, `the watcher on ${d.replicas[i]?.name} never had to reconnect`);
      assert.is(await leaderOf(d.replicas), newLeader, `${d.replicas[newLeader]?.name} still leads`);
      await assertLogInOrder(d.redis);
      oracle.close();
      await eventually(() => namespaceWatchers(ctx.cp), (n) => n === ctx.namespaceWatchersBefore + 1, 'one upstream namespace watch (the woken replica let its own go)', SETTLE_MS);
      const goneCount = gone(watches.flatMap((w) => w.reader.events));
      console.log(
        `failover (leader SIGSTOP ${secondsSince(stoppedAt, wokeAt)} s): ${d.replicas[newLeader]?.name} leads ${ledAfter} s after the stop; first change after the stop (step ${first?.step.index}) delivered on another replica ${first ? secondsSince(stoppedAt, first.deliveredAt) : '?'} s after the stop; 410s: ${goneCount}`,
      );
    } finally {
      stalled.kill('SIGCONT');
      oracle.close();
      for (const w of watches) w.reader.close();
    }
  });
});

test('leader SIGKILL: a watch resumed from any resourceVersion a survivor handed out, before, during or after the failover, gets exactly the rest', async (ctx) => {
  // The owner's scope stays the same throughout (its namespaces exist before, the load binds another
  // user): what is checked is the resourceVersions handed out, not a tenancy change.
  const existing = ['a', 'b', 'c'].map((n) => `${TENANT}-resume-${n}`);
  for (const name of existing) {
    ctx.namespaces.push(name);
    await addTenantNamespace(ctx.cp.admin, ctx.tenant, name, OWNERS);
  }
  await withDeployment(ctx, 'resume-anywhere', async (d) => {
    const leader = await leaderOf(d.replicas);
    const { oracle, watches } = await openWatches(ctx, d);
    const survivors = d.replicas.map((_, i) => i).filter((i) => i !== leader);
    const [served, resumedOn] = survivors as [number, number];
    const moved: Resumed[] = [];
    try {
      const fault = faultAt(8, () => at(d.replicas, leader).kill('SIGKILL'));
      const load = startLoad(ctx, 'resume', 24, 400, fault, existing);
      await fault.ran;
      await load.done;
      const expected = await oracleEvents(oracle, load.steps);
      await assertAllEqual(
        survivors.map((i): [string, () => TimedEvent[]] => [`watcher on ${d.replicas[i]?.name}`, () => at(watches, i).reader.events]),
        expected,
      );
      await assertLogInOrder(d.redis);

      // A client of `served` that got its first k events resumes on the other survivor from the
      // resourceVersion of the k-th (the object's, as client-go does).
      const handedOut = significant(at(watches, served).reader.events);
      const client = at(d.clients, resumedOn);
      moved.push(...(await Promise.all(handedOut.map((e, k) => resumeAfter(`after event ${k + 1}`, client, handedOut.slice(0, k + 1), e.event.object.metadata?.resourceVersion ?? '')))));
      await waitUntil(() => moved.every((r) => summary(resumedEvents(r)).length >= expected.length || goneOf(r) > 0), 'every resumed watch has every event', SETTLE_MS).catch(() => undefined);
      await sleep(1_000);
      const wrong = moved.filter((r) => JSON.stringify(summary(resumedEvents(r))) !== JSON.stringify(expected));
      const describe = (r: Resumed) => {
        const got = summary(r.reader?.events ?? []);
        const rest = expected.slice(r.before.length);
        return `${r.label}, from ${r.from}: got ${got.length} events, expected ${rest.length}; extra ${JSON.stringify(got.filter((g) => !rest.includes(g)))}, missing ${JSON.stringify(rest.filter((x) => !got.includes(x)))}`;
      };
      const entries = (await logEntries(d.redis, at(watches, served).listed, 500)).filter((l) => l.resource === 'namespaces' || l.resource === 'rolebindings');
      const late = entries.filter((l) => l.resource === 'namespaces' && `${l.resourceVersion}-0` !== l.id);
      console.log(`failover (leader SIGKILL, resumed from every event): ${moved.length - wrong.length}/${moved.length} exact; 410s: ${moved.reduce((n, r) => n + goneOf(r), 0)}; namespace changes logged at a position other than their resourceVersion: ${late.length}`);
      assert.equal(wrong.map(describe), [], `every resume exact; the log: ${entries.map(describeEntry).join(' | ')}`);
    } finally {
      oracle.close();
      for (const w of watches) w.reader.close();
      for (const r of moved) r.reader?.close();
    }
  });
});

test.run();
