// The capacity model in bench/RESULTS.md: replicas and Redis needed for a target load, computed from the
// newest stored `replicas`, `failover` and `replica-cold-start` results (never typed in by hand), with
// every input named. Two cores cannot show where a large deployment saturates; this says it on paper.
import type { Figure } from './harness.ts';
import type { StoredResult } from './results.ts';

const TARGET = { watchers: 100_000, eventsPerSecond: 1_000, tenants: 1_000 };
/** The deployment's limits (deploy/tenant-proxy.yaml, --max-connections, --watch-history). */
const REPLICA_MEMORY_LIMIT_MIB = 2_048;
const MAX_CONNECTIONS = 20_000;
const WATCH_HISTORY_S = 75;
/** The share of a core a replica is planned to use. */
const REPLICA_CPU_BUDGET = 0.5;
/** Redis runs commands on one thread. */
const REDIS_CORE = 1;
/** Snapshots Redis keeps (the newest and the one before, while a replica may still be reading it). */
const SNAPSHOTS_KEPT = 2;

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

export function capacityModel(newest: ReadonlyMap<string, StoredResult>): string[] {
  const run = newest.get('replicas');
  if (!run) return [];
  const value = (column: string, name: string): number => (run.figures[column]?.[name] as Figure | undefined)?.value ?? NaN;
  const rates = [...((run.params.rates as number[] | undefined) ?? [])].sort((a, b) => a - b);
  const rate = rates[rates.length - 1] ?? NaN;
  const low = rates[0] ?? NaN;
  const replicas = Number(run.params.replicas);
  const seconds = Number(run.params.secondsPerRate) * Number(run.params.windowsPerRate);
  // Per follower at the highest rate: deliveries per second, and its CPU with and without watchers.
  const deliveriesPerS = value('followers', `deliveries_at_${rate}`) / seconds / Math.max(1, replicas - 1);
  const coresWithout = value('followers', `cpu_without_watchers_at_${rate}`) / 100;
  const coresWith = value('followers', `cpu_at_${rate}`) / 100;
  const perEventUs = (coresWithout / rate) * 1e6;
  const perDeliveryUs = ((coresWith - coresWithout) / deliveriesPerS) * 1e6;
  const leaderExtraPerEventUs = ((value('leader', `cpu_without_watchers_at_${rate}`) / 100 - coresWithout) / rate) * 1e6;
  const rssPerWatcherKiB = value('followers', 'rss_per_watcher');
  const baseRssMiB = value('followers', 'rss_total') - (value('followers', 'watchers_connected') * rssPerWatcherKiB) / 1024;
  // Redis: the part that grows with events (from the two rates), per replica reading the log; the rest is fixed.
  const redisAt = (r: number) => value('deployment', `redis_cpu_at_${r}`) / 100;
  const redisPerEventPerReplicaUs = ((redisAt(rate) - redisAt(low)) / (rate - low) / replicas) * 1e6;
  const redisFixedCores = redisAt(low) - (redisPerEventPerReplicaUs / 1e6) * low * replicas;
  const bytesPerEntry = value('deployment', 'log_bytes_per_entry');
  const coldStart = newest.get('replica-cold-start');
  const snapshotMiB = coldStart?.figures.leader?.snapshot_bytes?.value ?? NaN;
  const snapshotNamespaces = fmt(Number(coldStart?.params.tenants) * Number(coldStart?.params.namespacesPerTenant));

  const targetDeliveriesPerS = TARGET.eventsPerSecond * (TARGET.watchers / TARGET.tenants);
  const eventCores = (perEventUs / 1e6) * TARGET.eventsPerSecond;
  const deliveryBudget = REPLICA_CPU_BUDGET - eventCores;
  const byCpu = deliveryBudget > 0 ? Math.ceil(((perDeliveryUs / 1e6) * targetDeliveriesPerS) / deliveryBudget) : Infinity;
  const byMemory = Math.ceil(TARGET.watchers / (((REPLICA_MEMORY_LIMIT_MIB - baseRssMiB) * 1024) / rssPerWatcherKiB));
  const byConnections = Math.ceil(TARGET.watchers / MAX_CONNECTIONS);
  const needed = Math.max(byCpu, byMemory, byConnections) + 1; // one more, so that losing one keeps the load
  const redisCores = redisFixedCores + (redisPerEventPerReplicaUs / 1e6) * TARGET.eventsPerSecond * needed;
  const redisLogMiB = (bytesPerEntry * TARGET.eventsPerSecond * WATCH_HISTORY_S) / 2 ** 20;
  const replicasAtRedisLimit = Math.floor((REDIS_CORE - redisFixedCores) / ((redisPerEventPerReplicaUs / 1e6) * TARGET.eventsPerSecond));
  const eventsPerSAtReplicaLimit = REPLICA_CPU_BUDGET / (perEventUs / 1e6);
  const limits = [
    { what: 'replica CPU (deliveries)', replicas: byCpu },
    { what: 'replica memory (watchers × RSS per watcher)', replicas: byMemory },
    { what: 'connections per replica (--max-connections)', replicas: byConnections },
  ].sort((a, b) => b.replicas - a.replicas);

  return [
    '## Capacity model',
    '',
    `Computed by bench/capacity.ts from the newest \`replicas\` run (${run.date}, commit ${run.commit}) at ${low} and ${rate} events/s${coldStart ? ' and the newest `replica-cold-start` run' : ''}. Target: ${fmt(TARGET.watchers)} watchers at ${fmt(TARGET.eventsPerSecond)} events/s, shaped like the benchmark (${fmt(TARGET.tenants)} tenants, each change seen by its tenant's watchers, ${fmt(TARGET.watchers / TARGET.tenants)} of them): ${fmt(targetDeliveriesPerS)} deliveries/s. A replica is given ${fmt(REPLICA_CPU_BUDGET * 100)} % of a core (Node serves on one thread; the rest is headroom for GC and bursts).`,
    '',
    '| input (measured, per follower unless said) | value |',
    '|---|---|',
    `| CPU per change applied, with no watcher (log tail, decode, every tenant's projections) | ${fmt(perEventUs, 1)} µs (${fmt(coresWithout * 100, 1)} % of a core at ${rate}/s) |`,
    `| CPU per delivery (with watchers − without, ÷ ${fmt(deliveriesPerS)} deliveries/s) | ${fmt(perDeliveryUs, 1)} µs |`,
    `| leader: CPU per change beyond a follower's (upstream informers, log appends) | ${fmt(leaderExtraPerEventUs, 1)} µs |`,
    `| memory per watcher (RSS) | ${fmt(rssPerWatcherKiB, 1)} KiB; base RSS ${fmt(baseRssMiB)} MiB |`,
    `| Redis CPU per change per replica reading the log (between ${low} and ${rate}/s); fixed | ${fmt(redisPerEventPerReplicaUs, 1)} µs; ${fmt(redisFixedCores * 100, 1)} % of a core |`,
    `| change log bytes per entry in Redis | ${fmt(bytesPerEntry)} B |`,
    `| snapshot at ${snapshotNamespaces} namespaces | ${fmt(snapshotMiB, 1)} MiB |`,
    '',
    `- **Replicas:** applying ${fmt(TARGET.eventsPerSecond)} changes/s takes ${fmt(eventCores * 100)} % of a core on every replica, whatever its watchers; the rest of the budget delivers. By CPU ${byCpu}, by memory (${fmt(REPLICA_MEMORY_LIMIT_MIB)} MiB limit) ${byMemory}, by connections ${byConnections}; with one more so that losing one keeps the load: **${needed} replicas** (${fmt(TARGET.watchers / needed)} watchers each).`,
    `- **Redis:** ${fmt(redisCores * 100)} % of a core for ${needed} replicas reading ${fmt(TARGET.eventsPerSecond)} changes/s (its commands run on one thread: at this rate it saturates at about ${fmt(replicasAtRedisLimit)} replicas); memory ≈ ${fmt(redisLogMiB)} MiB of log (${WATCH_HISTORY_S} s of history) + ${SNAPSHOTS_KEPT} snapshots (${fmt(SNAPSHOTS_KEPT * snapshotMiB, 1)} MiB at ${snapshotNamespaces} namespaces).`,
    `- **First bottleneck:** ${limits[0]?.what} at this target. Past it, the per-change work every replica repeats: at about ${fmt(eventsPerSAtReplicaLimit)} changes/s it fills a replica's budget by itself, and adding replicas no longer helps; then Redis, whose CPU grows with replicas × changes.`,
    '- How far to trust it: linear in changes and deliveries, measured at one shape (3.3 deliveries per change per replica) on 2 shared cores (replicas, Redis, the upstream and the load generators together); the Redis per-change cost includes its per-read overhead at these rates, which batching amortizes at higher ones, so it is an upper bound.',
    '',
  ];
}
