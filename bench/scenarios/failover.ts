// Scenario failover: the leader of a replicated deployment is SIGKILLed while the upstream keeps changing
// namespaces. The survivors' watchers stay connected; the killed replica's watchers (half with client
// certificates, half with bearer tokens) reconnect to the survivors within a window with the last
// resourceVersion each saw — the cross-replica resume storm. Counted: when a survivor leads, when the
// first change made after the kill reaches a watcher, events lost or repeated per watcher (against what
// the upstream emitted for its tenant), reconnects, 410s, and the upstream requests and reviews the storm
// caused. Upstream: replay (it counts every request and knows what it emitted).
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, type FleetReport } from '../fleet.ts';
import { cpuSeconds, round, type Figures } from '../harness.ts';
import { ReplicaSet, type Replica } from '../replica-set.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench, WATCHED_TYPES, type BenchUpstream } from '../upstream.ts';
import { WATCH_PATH } from './fan-out.ts';

export interface FailoverParams {
  replicas: number;
  tenants: number;
  watchersPerTenant: number;
  /** Events per second the upstream emits throughout. */
  rate: number;
  leaseTtlSeconds: number;
  /** The window within which the killed replica's watchers reconnect. */
  stormSeconds: number;
  /** Share of the watchers using bearer tokens (the rest client certificates). */
  tokenShare: number;
  loadProcessesPerReplica: number;
}

const KILL_AFTER_MS = 3_000;
const SETTLE_MS = 3_000;

/** Changes each watcher should have seen, from what the upstream emitted per tenant since `before`. */
function expectedEvents(users: readonly string[], emitted: ReadonlyMap<string, number>, before: ReadonlyMap<string, number>, tenantOf: (user: string) => string): number {
  return users.reduce((sum, u) => sum + (emitted.get(tenantOf(u)) ?? 0) - (before.get(tenantOf(u)) ?? 0), 0);
}

async function untilUpstreamWatches(upstream: BenchUpstream, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (upstream.openWatches() < count) {
    if (Date.now() > deadline) throw new Error(`the new leader did not open ${count} upstream watches within ${timeoutMs} ms (${upstream.openWatches()})`);
    await sleep(50);
  }
}

export async function failover(params: FailoverParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: 10, nodes: 10, storageClasses: 4 });
  const tenantOf = (user: string) => tenantsByUser[user]?.[0] ?? '';
  const figures: Record<'survivors' | 'resumed' | 'deployment', Figures> = { survivors: {}, resumed: {}, deployment: {} };
  const notes: string[] = [];
  const set = await ReplicaSet.start(upstream.kubeconfig, ids.caFile, params.replicas, `${params.leaseTtlSeconds}s`).catch(async (err: unknown) => {
    await upstream.stop();
    throw err;
  });
  const fleets: Fleet[] = [];
  try {
    const leader = await set.leader();
    const survivors = set.replicas.filter((r) => r !== leader);
    const n = set.replicas.length;
    const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
    const shares = set.spread(watcherUsers);
    log(`${leader.name} leads; opening ${watcherUsers.length} watches (list, then watch) over ${n} replicas`);
    const opened = await Promise.all(set.replicas.map((r, k) => Fleet.open(r, ids, shares[k] ?? [], params.loadProcessesPerReplica, `${WATCH_PATH}&allowWatchBookmarks=true`, 'http', true, params.tokenShare)));
    for (const o of opened) fleets.push(o.fleet);
    const failedToOpen = opened.reduce((sum, o) => sum + o.failed, 0);
    if (failedToOpen > 0) notes.push(`${failedToOpen} watches failed to open (${opened.find((o) => o.firstError)?.firstError ?? ''})`);
    await upstream.emit(200, 2_000);
    await sleep(1_000);

    const fleetOf = (r: Replica) => fleets[set.replicas.indexOf(r)];
    const killedFleet = fleetOf(leader);
    const survivorFleets = survivors.map(fleetOf).filter((f): f is Fleet => f !== undefined);
    if (!killedFleet) throw new Error('no fleet for the leader');
    for (const f of fleets) f.reset();
    const before = upstream.emittedByTenant();
    const emissionMs = KILL_AFTER_MS + (params.leaseTtlSeconds + params.stormSeconds) * 1000 + 3 * SETTLE_MS;
    log(`emitting ${params.rate}/s for ${emissionMs / 1000} s; killing ${leader.name} after ${KILL_AFTER_MS / 1000} s`);
    const emission = upstream.emit(params.rate, emissionMs);
    await sleep(KILL_AFTER_MS);
    const killedAt = performance.timeOrigin + performance.now();
    leader.kill();
    for (const f of fleets) f.mark(killedAt);
    const newLeader = await set.leader(params.leaseTtlSeconds * 1000 + 30_000, survivors);
    const newLeaderMs = performance.timeOrigin + performance.now() - killedAt;
    log(`${newLeader.name} leads ${round(newLeaderMs / 1000, 2)} s after the kill`);
    await untilUpstreamWatches(upstream, WATCHED_TYPES, 30_000);
    await sleep(SETTLE_MS);

    const [requests0, reviews0] = [upstream.requestCount(), upstream.reviewCount()];
    const cpu0 = survivors.map((r) => cpuSeconds(r.pid));
    log(`the killed replica's ${opened[set.replicas.indexOf(leader)]?.opened ?? 0} watchers reconnect to ${survivors.map((r) => r.name).join(', ')} within ${params.stormSeconds} s`);
    const storm = await killedFleet.reconnect(params.stormSeconds * 1000, { urls: survivors.map((r) => r.url), onlyEnded: true });
    if (storm.failed > 0) notes.push(`${storm.failed} watches failed to reconnect (first: ${storm.firstError ?? 'no message'})`);
    await sleep(SETTLE_MS);
    const [stormRequests, stormReviews] = [upstream.requestCount() - requests0, upstream.reviewCount() - reviews0];
    const stormCpu = survivors.reduce((sum, r, k) => sum + cpuSeconds(r.pid) - (cpu0[k] ?? 0), 0);
    await emission;
    await sleep(2_000);

    const emitted = upstream.emittedByTenant();
    const report = async (f: Fleet, k: number): Promise<FleetReport & { expected: number }> => ({ ...(await f.report()), expected: expectedEvents(shares[k] ?? [], emitted, before, tenantOf) });
    const survivorReports = await Promise.all(survivors.map((r) => report(fleetOf(r) as Fleet, set.replicas.indexOf(r))));
    const killedReport = await report(killedFleet, set.replicas.indexOf(leader));
    const sum = (rs: readonly (FleetReport & { expected: number })[], pick: (r: FleetReport & { expected: number }) => number) => rs.reduce((s, r) => s + pick(r), 0);
    const firstAfterKill = Math.min(...survivorReports.map((r) => r.firstDeliveryAfterMark).filter((t) => t >= 0));

    const s = figures.survivors;
    s.watchers = { value: survivors.reduce((a, r) => a + (opened[set.replicas.indexOf(r)]?.opened ?? 0), 0), unit: 'watches' };
    s.first_event_after_kill = { value: round((firstAfterKill - killedAt) / 1000, 2), unit: 's after the kill' };
    s.events_expected = { value: sum(survivorReports, (r) => r.expected), unit: 'events' };
    s.events_received = { value: sum(survivorReports, (r) => r.events - r.duplicates), unit: 'events (distinct)' };
    s.events_lost = { value: sum(survivorReports, (r) => r.expected - (r.events - r.duplicates)), unit: 'events' };
    s.events_repeated = { value: sum(survivorReports, (r) => r.duplicates), unit: 'events' };
    s.reconnects = { value: sum(survivorReports, (r) => r.ended), unit: 'watches' };
    s.expired_410 = { value: sum(survivorReports, (r) => r.expired), unit: 'watches' };
    s.errors = { value: sum(survivorReports, (r) => r.errors), unit: 'events' };

    const r = figures.resumed;
    r.watchers = { value: opened[set.replicas.indexOf(leader)]?.opened ?? 0, unit: 'watches' };
    r.with_bearer_tokens = { value: Math.round((shares[set.replicas.indexOf(leader)]?.length ?? 0) * params.tokenShare), unit: 'watches (about)' };
    r.reestablished = { value: storm.reconnected, unit: 'watches' };
    r.failed_to_reconnect = { value: storm.failed, unit: 'watches' };
    r.storm_duration = { value: round(storm.ms / 1000, 2), unit: 's' };
    r.events_expected = { value: killedReport.expected, unit: 'events' };
    r.events_received = { value: killedReport.events - killedReport.duplicates, unit: 'events (distinct)' };
    r.events_lost = { value: killedReport.expected - (killedReport.events - killedReport.duplicates), unit: 'events' };
    r.events_repeated = { value: killedReport.duplicates, unit: 'events' };
    r.expired_410 = { value: killedReport.expired, unit: 'watches' };

    const d = figures.deployment;
    d.lease_ttl = { value: params.leaseTtlSeconds, unit: 's' };
    d.new_leader_after = { value: round(newLeaderMs / 1000, 2), unit: 's after the kill' };
    d.upstream_watch_connections_after = { value: upstream.openWatches(), unit: 'connections' };
    d.storm_upstream_list_watch = { value: stormRequests, unit: 'requests' };
    d.storm_upstream_reviews = { value: stormReviews, unit: 'requests' };
    d.storm_survivors_cpu = { value: round(stormCpu, 2), unit: 'CPU s' };
    log(`first event after the kill: ${s.first_event_after_kill.value} s; lost ${s.events_lost.value}/${r.events_lost.value}, repeated ${s.events_repeated.value}/${r.events_repeated.value}; storm: ${stormRequests} upstream list/watch, ${stormReviews} reviews, ${killedReport.expired} × 410`);
  } finally {
    await Promise.all(fleets.map((f) => f.close()));
    await set.stop();
    await upstream.stop();
  }
  return {
    scenario: 'failover',
    upstream: 'replay',
    upstreamWhy: 'it counts every list, watch and review a proxy asks for, and what it emitted for each tenant',
    params: { ...params },
    figures,
    columns: [
      { key: 'survivors', heading: "surviving replicas' watchers" },
      { key: 'resumed', heading: "the killed leader's watchers, resumed on the survivors" },
      { key: 'deployment', heading: 'deployment' },
    ],
    notes,
  };
}
