// Scenario replicas: fan-out through a replicated deployment — N tenant-proxy replicas sharing one Redis,
// watchers spread over them round robin (as a TCP load balancer does), the upstream changing the tenants'
// namespaces at controlled rates. Delivery latency on the leader and on the followers, upstream watch
// connections for the whole deployment, each replica's CPU and memory, Redis's CPU and memory, and the
// change log's append and tail lag (from the replicas' histograms). Upstream: replay (as fan-out).
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, heapBytes, type FleetReport } from '../fleet.ts';
import { bucketQuantile, cpuSeconds, machineBusySeconds, machineStealSeconds, percentiles, round, rssBytes, scrape, scrapeHistogram, type Figures } from '../harness.ts';
import { ReplicaSet, type Replica } from '../replica-set.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench, WATCHED_TYPES } from '../upstream.ts';
import { proxyRuntime, WATCH_PATH, type ProxyRuntime } from './fan-out.ts';

export interface ReplicasParams {
  replicas: number;
  tenants: number;
  watchersPerTenant: number;
  namespacesPerTenant: number;
  rates: number[];
  secondsPerRate: number;
  windowsPerRate: number;
  warmUpRate: number;
  loadProcessesPerReplica: number;
}

const APPEND = 'tenant_proxy_log_append_seconds';
const TAIL = 'tenant_proxy_log_tail_lag_seconds';
const DELIVERY_LAG = 'tenant_proxy_watch_delivery_lag_seconds';

/** The buckets of several replicas' histograms added up (pooling a role's replicas). */
function sumBuckets(maps: readonly (ReadonlyMap<number, number> | undefined)[]): Map<number, number> {
  const sum = new Map<number, number>();
  for (const map of maps) for (const [bound, count] of map ?? []) sum.set(bound, (sum.get(bound) ?? 0) + count);
  return sum;
}

interface Window {
  emitted: number;
  reports: FleetReport[];
  /** Each replica's CPU over the window, in cores. */
  cpu: number[];
  redisCpu: number;
  machineBusy: number;
  /** CPU time stolen by the hypervisor over the window, as a share of all cores. */
  machineSteal: number;
  appendP99Ms: number;
  tailP99Ms: number[];
  /** Each replica's GC pauses (ms per s) and event-loop delay over the window. */
  runtime: { gcMsPerS: number; loopDelayP99Ms: number; loopDelayMaxMs: number }[];
  /** Snapshots the leader wrote during the window. */
  snapshots: number;
}

function runtimeOver(before: ProxyRuntime | undefined, after: ProxyRuntime | undefined, seconds: number): Window['runtime'][number] {
  if (!before || !after) return { gcMsPerS: NaN, loopDelayP99Ms: NaN, loopDelayMaxMs: NaN };
  return { gcMsPerS: ((after.gcSeconds - before.gcSeconds) * 1000) / seconds, loopDelayP99Ms: after.loopDelayP99Ms, loopDelayMaxMs: after.loopDelayMaxMs };
}

const histograms = (replicas: readonly Replica[], name: string) => Promise.all(replicas.map((r) => scrapeHistogram(r.metricsPort ?? 0, name)));

export async function replicasFanOut(params: ReplicasParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: params.namespacesPerTenant, nodes: 10, storageClasses: 4 });
  const figures: Record<'leader' | 'followers' | 'deployment', Figures> = { leader: {}, followers: {}, deployment: {} };
  const notes: string[] = [];
  const set = await ReplicaSet.start(upstream.kubeconfig, ids.caFile, params.replicas).catch(async (err: unknown) => {
    await upstream.stop();
    throw err;
  });
  const fleets: Fleet[] = [];
  try {
    const leader = await set.leader();
    const followers = set.replicas.filter((r) => r !== leader);
    const n = set.replicas.length;
    log(`replicas: ${set.replicas.map((r) => r.name).join(', ')}; ${leader.name} leads`);
    const roles = (pick: (k: number) => number, combine: 'sum' | 'mean' = 'sum') => {
      const l = pick(set.replicas.indexOf(leader));
      const fs = followers.map((f) => pick(set.replicas.indexOf(f)));
      const total = fs.reduce((a, b) => a + b, 0);
      return { leader: l, followers: combine === 'sum' ? total : total / Math.max(1, fs.length) };
    };
    // What applying the changes costs each replica with no watcher to deliver to: the per-event part of
    // the CPU, apart from the per-delivery part (the capacity model needs both).
    for (const rate of params.rates) {
      const cpu0 = set.replicas.map((r) => cpuSeconds(r.pid));
      const t0 = performance.now();
      await upstream.emit(rate, params.secondsPerRate * 1000);
      await sleep(1_000);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = roles((k) => (cpuSeconds(set.replicas[k]?.pid ?? 0) - (cpu0[k] ?? 0)) / seconds, 'mean');
      figures.leader[`cpu_without_watchers_at_${rate}`] = { value: round(cpu.leader * 100, 1), unit: '% of a core' };
      figures.followers[`cpu_without_watchers_at_${rate}`] = { value: round(cpu.followers * 100, 1), unit: '% of a core each' };
    }
    await sleep(1_000);
    const rss0 = set.replicas.map((r) => rssBytes(r.pid));
    const heap0 = await Promise.all(set.replicas.map((r) => heapBytes(r)));
    const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
    const shares = set.spread(watcherUsers);
    log(`opening ${watcherUsers.length} watches over ${n} replicas`);
    const opened = await Promise.all(set.replicas.map((r, k) => Fleet.open(r, ids, shares[k] ?? [], params.loadProcessesPerReplica, WATCH_PATH)));
    for (const o of opened) fleets.push(o.fleet);
    const failed = opened.reduce((sum, o) => sum + o.failed, 0);
    if (failed > 0) notes.push(`${failed} watches failed to open (${opened.find((o) => o.firstError)?.firstError ?? ''})`);
    await sleep(2_000);
    const heap1 = await Promise.all(set.replicas.map((r) => heapBytes(r)));
    const perWatcher = (k: number, before: number, after: number) => (after - before) / 1024 / Math.max(1, opened[k]?.opened ?? 0);
    const rssPer = roles((k) => perWatcher(k, rss0[k] ?? 0, rssBytes(set.replicas[k]?.pid ?? 0)), 'mean');
    const heapPer = roles((k) => perWatcher(k, heap0[k] ?? 0, heap1[k] ?? 0), 'mean');
    const connected = roles((k) => opened[k]?.opened ?? 0, 'mean');
    figures.leader.watchers_connected = { value: connected.leader, unit: 'watches' };
    figures.followers.watchers_connected = { value: round(connected.followers, 0), unit: 'watches each' };
    figures.leader.rss_per_watcher = { value: round(rssPer.leader, 1), unit: 'KiB' };
    figures.followers.rss_per_watcher = { value: round(rssPer.followers, 1), unit: 'KiB' };
    figures.leader.heap_per_watcher = { value: round(heapPer.leader, 2), unit: 'KiB' };
    figures.followers.heap_per_watcher = { value: round(heapPer.followers, 2), unit: 'KiB' };
    figures.deployment.upstream_watch_connections = { value: upstream.openWatches(), unit: 'connections' };
    figures.deployment.watchers_connected = { value: opened.reduce((sum, o) => sum + o.opened, 0), unit: 'watches' };

    const emitWindow = async (rate: number): Promise<Window> => {
      for (const f of fleets) f.reset();
      const runtime0 = await Promise.all(set.replicas.map((r) => proxyRuntime(r)));
      const snapshots0 = await scrape(leader.metricsPort ?? 0, 'tenant_proxy_snapshot_writes_total');
      const [append0, tail0] = [await histograms([leader], APPEND), await histograms(set.replicas, TAIL)];
      const cpu0 = set.replicas.map((r) => cpuSeconds(r.pid));
      const redis0 = await set.redisFigures();
      const busy0 = machineBusySeconds();
      const steal0 = machineStealSeconds();
      const t0 = performance.now();
      const { emitted } = await upstream.emit(rate, params.secondsPerRate * 1000);
      await sleep(1_000);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = set.replicas.map((r, k) => (cpuSeconds(r.pid) - (cpu0[k] ?? 0)) / seconds);
      const redisCpu = ((await set.redisFigures()).cpuSeconds - redis0.cpuSeconds) / seconds;
      const machineBusy = (machineBusySeconds() - busy0) / seconds / cpus().length;
      const machineSteal = (machineStealSeconds() - steal0) / seconds / cpus().length;
      const reports = await Promise.all(fleets.map((f) => f.report()));
      const runtime1 = await Promise.all(set.replicas.map((r) => proxyRuntime(r)));
      const runtime = set.replicas.map((_, k) => runtimeOver(runtime0[k], runtime1[k], seconds));
      const [append1, tail1] = [await histograms([leader], APPEND), await histograms(set.replicas, TAIL)];
      const appendP99Ms = bucketQuantile(append0[0] ?? new Map(), append1[0] ?? new Map(), 0.99) * 1000;
      const tailP99Ms = set.replicas.map((_, k) => bucketQuantile(tail0[k] ?? new Map(), tail1[k] ?? new Map(), 0.99) * 1000);
      const snapshots = (await scrape(leader.metricsPort ?? 0, 'tenant_proxy_snapshot_writes_total')) - snapshots0;
      return { emitted, reports, cpu, redisCpu, machineBusy, machineSteal, appendP99Ms, tailP99Ms, runtime, snapshots };
    };

    const first = await emitWindow(params.warmUpRate);
    log(`first emission @ ${params.warmUpRate}/s: p99 ${round(percentiles(first.reports.flatMap((r) => r.samples)).p99)} ms`);
    for (const rate of params.rates) {
      const windows: Window[] = [];
      const lag0 = await histograms(set.replicas, DELIVERY_LAG);
      for (let i = 0; i < params.windowsPerRate; i++) {
        const w = await emitWindow(rate);
        windows.push(w);
        const expected = w.emitted * params.watchersPerTenant;
        const arrived = w.reports.reduce((sum, r) => sum + r.samples.length, 0);
        if (arrived < expected) notes.push(`at ${rate}/s, window ${i + 1}: ${arrived} of ${expected} expected deliveries arrived within the window (+1 s)`);
        log(`@ ${rate}/s window ${i + 1}: leader p99 ${round(percentiles(w.reports[set.replicas.indexOf(leader)]?.samples ?? []).p99)} ms, followers p99 ${round(percentiles(followers.flatMap((f) => w.reports[set.replicas.indexOf(f)]?.samples ?? [])).p99)} ms, cpu ${w.cpu.map((c) => `${round(c * 100, 0)}%`).join('/')}, redis ${round(w.redisCpu * 100, 1)}%, steal ${round(w.machineSteal * 100, 1)}%, replica loop delay max ${w.runtime.map((r) => round(r.loopDelayMaxMs, 0)).join('/')} ms, GC ${w.runtime.map((r) => round(r.gcMsPerS, 1)).join('/')} ms/s, client loop delay max ${w.reports.map((r) => round(r.loopDelayMaxMs, 0)).join('/')} ms, snapshots written ${w.snapshots}`);
      }
      const lag1 = await histograms(set.replicas, DELIVERY_LAG);
      const samplesOf = (rs: readonly Replica[]) => windows.flatMap((w) => rs.flatMap((r) => w.reports[set.replicas.indexOf(r)]?.samples ?? []));
      const mean = (pick: (w: Window) => number) => windows.reduce((sum, w) => sum + pick(w), 0) / windows.length;
      const worst = (pick: (w: Window) => number) => Math.max(...windows.map(pick));
      for (const [column, rs] of [['leader', [leader]], ['followers', followers]] as const) {
        const p = percentiles(samplesOf(rs));
        const f = figures[column];
        f[`p50_at_${rate}`] = { value: round(p.p50), unit: 'ms' };
        f[`p99_at_${rate}`] = { value: round(p.p99), unit: 'ms' };
        f[`max_at_${rate}`] = { value: round(p.max), unit: 'ms' };
        const windowP99 = windows.map((w) => percentiles(rs.flatMap((r) => w.reports[set.replicas.indexOf(r)]?.samples ?? [])).p99);
        f[`p99_best_window_at_${rate}`] = { value: round(Math.min(...windowP99)), unit: 'ms' };
        f[`p99_worst_window_at_${rate}`] = { value: round(Math.max(...windowP99)), unit: 'ms' };
        f[`deliveries_at_${rate}`] = { value: p.count, unit: 'events' };
        const indexes = rs.map((r) => set.replicas.indexOf(r));
        f[`cpu_at_${rate}`] = { value: round((mean((w) => indexes.reduce((sum, k) => sum + (w.cpu[k] ?? 0), 0)) / indexes.length) * 100, 0), unit: '% of a core each' };
        const lagBefore = sumBuckets(indexes.map((k) => lag0[k]));
        const lagAfter = sumBuckets(indexes.map((k) => lag1[k]));
        f[`delivery_lag_p50_at_${rate}`] = { value: round(bucketQuantile(lagBefore, lagAfter, 0.5) * 1000, 1), unit: 'ms (bucket bound)' };
        f[`delivery_lag_p99_at_${rate}`] = { value: round(bucketQuantile(lagBefore, lagAfter, 0.99) * 1000, 1), unit: 'ms (bucket bound)' };
        f[`log_tail_lag_p99_at_${rate}`] = { value: round(worst((w) => Math.max(...indexes.map((k) => w.tailP99Ms[k] ?? NaN))), 1), unit: 'ms (bucket bound)' };
        f[`gc_pauses_at_${rate}`] = { value: round(mean((w) => indexes.reduce((sum, k) => sum + (w.runtime[k]?.gcMsPerS ?? NaN), 0) / indexes.length), 1), unit: 'ms per s' };
        f[`loop_delay_max_at_${rate}`] = { value: round(worst((w) => Math.max(...indexes.map((k) => w.runtime[k]?.loopDelayMaxMs ?? NaN))), 1), unit: 'ms' };
        f[`client_loop_delay_max_at_${rate}`] = { value: round(worst((w) => Math.max(...indexes.map((k) => w.reports[k]?.loopDelayMaxMs ?? NaN))), 1), unit: 'ms' };
      }
      figures.leader[`log_append_p99_at_${rate}`] = { value: round(worst((w) => w.appendP99Ms), 1), unit: 'ms (bucket bound)' };
      figures.deployment[`redis_cpu_at_${rate}`] = { value: round(mean((w) => w.redisCpu) * 100, 1), unit: '% of a core' };
      figures.deployment[`machine_busy_at_${rate}`] = { value: round(mean((w) => w.machineBusy) * 100, 0), unit: '% of all cores' };
      figures.deployment[`machine_steal_at_${rate}`] = { value: round(mean((w) => w.machineSteal) * 100, 1), unit: '% of all cores' };
      figures.deployment[`events_at_${rate}`] = { value: windows.reduce((sum, w) => sum + w.emitted, 0), unit: 'events' };
    }
    const redis = await set.redisFigures();
    const logFigures = await set.logFigures();
    figures.deployment.redis_used_memory = { value: round(redis.usedMemoryBytes / 2 ** 20, 1), unit: 'MiB' };
    figures.deployment.redis_rss = { value: round(redis.rssBytes / 2 ** 20, 1), unit: 'MiB' };
    figures.deployment.log_entries = { value: logFigures.entries, unit: 'entries' };
    figures.deployment.log_bytes_per_entry = { value: round(logFigures.bytes / Math.max(1, logFigures.entries), 0), unit: 'B' };
    figures.leader.rss_total = { value: round(rssBytes(leader.pid) / 2 ** 20, 0), unit: 'MiB' };
    figures.followers.rss_total = { value: round(followers.reduce((sum, f) => sum + rssBytes(f.pid), 0) / Math.max(1, followers.length) / 2 ** 20, 0), unit: 'MiB each' };
    figures.deployment.upstream_watch_connections_after = { value: upstream.openWatches(), unit: 'connections' };
  } finally {
    await Promise.all(fleets.map((f) => f.close()));
    await set.stop();
    await upstream.stop();
  }
  return {
    scenario: 'replicas',
    upstream: 'replay',
    upstreamWhy: 'as fan-out: kube-apiserver and etcd cannot write 500 namespace changes per second on these 2 cores beside three replicas, Redis and the load generators',
    params: { ...params, resourceTypes: WATCHED_TYPES },
    figures,
    columns: [
      { key: 'leader', heading: 'leader' },
      { key: 'followers', heading: `followers (mean of ${params.replicas - 1}; latencies pooled)` },
      { key: 'deployment', heading: 'deployment' },
    ],
    notes,
  };
}
