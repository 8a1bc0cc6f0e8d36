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
/** Redis runs commands on one thread. */
const REDIS_CORE = 1;
/** Snapshots Redis keeps (the newest and the one before, while a replica may still be reading it). */
const SNAPSHOTS_KEPT = 2;

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

export function capacityModel(newest: ReadonlyMap<string, StoredResult>): string[] {
  const run = newest.get('replicas');
  if (!run) return [];
  const value = (column: string, name: string): number => (run.figures[column]?.[name] as Figure | undefined)?.value ?? NaN;
  const rates = (run.params.rates as number[] | undefined) ?? [];
  const rate = Math.max(...rates);
  const replicas = Number(run.params.replicas);
  const seconds = Number(run.params.secondsPerRate) * Number(run.params.windowsPerRate);
  // Per follower: deliveries per second it made and the share of a core it used doing so.
  const followerDeliveriesPerS = value('followers', `deliveries_at_${rate}`) / seconds / Math.max(1, replicas - 1);
  const followerCores = value('followers', `cpu_at_${rate}`) / 100;
  const leaderDeliveriesPerS = value('leader', `deliveries_at_${rate}`) / seconds;
  const leaderCores = value('leader', `cpu_at_${rate}`) / 100;
  const cpuPerDeliveryUs = (followerCores / followerDeliveriesPerS) * 1e6;
  const leaderExtraCores = leaderCores - (leaderDeliveriesPerS * cpuPerDeliveryUs) / 1e6;
  const rssPerWatcherKiB = value('followers', 'rss_per_watcher');
  const baseRssMiB = value('followers', 'rss_total') - (value('followers', 'watchers_connected') * rssPerWatcherKiB) / 1024;
  const redisCorePerEventPerReplica = value('deployment', `redis_cpu_at_${rate}`) / 100 / rate / replicas;
  const bytesPerEntry = value('deployment', 'log_bytes_per_entry');
  const coldStart = newest.get('replica-cold-start');
  const snapshotMiB = coldStart?.figures.leader?.snapshot_bytes?.value ?? NaN;
  const snapshotNamespaces = fmt(Number(coldStart?.params.tenants) * Number(coldStart?.params.namespacesPerTenant));

  const deliveriesPerS = TARGET.eventsPerSecond * (TARGET.watchers / TARGET.tenants);
  // A replica loaded as the followers were at `rate` keeps their measured latency: size by that load.
  const byCpu = Math.ceil(deliveriesPerS / followerDeliveriesPerS);
  const byMemory = Math.ceil(TARGET.watchers / ((REPLICA_MEMORY_LIMIT_MIB - baseRssMiB) * 1024 / rssPerWatcherKiB));
  const byConnections = Math.ceil(TARGET.watchers / MAX_CONNECTIONS);
  const needed = Math.max(byCpu, byMemory, byConnections) + 1; // one more: the leader's own work, and a failure
  const redisCores = redisCorePerEventPerReplica * TARGET.eventsPerSecond * needed;
  const redisLogMiB = (bytesPerEntry * TARGET.eventsPerSecond * WATCH_HISTORY_S) / 2 ** 20;
  const replicasAtRedisLimit = Math.floor(REDIS_CORE / (redisCorePerEventPerReplica * TARGET.eventsPerSecond));
  const limits = [
    { what: 'replica CPU (deliveries)', replicas: byCpu },
    { what: 'replica memory (watchers × RSS per watcher)', replicas: byMemory },
    { what: 'connections per replica (--max-connections)', replicas: byConnections },
  ].sort((a, b) => b.replicas - a.replicas);

  return [
    '## Capacity model',
    '',
    `Computed by bench/capacity.ts from the newest \`replicas\` run (${run.date}, commit ${run.commit}) at ${rate} events/s${Number.isFinite(snapshotMiB) ? ' and the newest `replica-cold-start` run' : ''}. Target: ${fmt(TARGET.watchers)} watchers at ${fmt(TARGET.eventsPerSecond)} events/s, shaped like the benchmark (${fmt(TARGET.tenants)} tenants, each change seen by its tenant's watchers: ${fmt(TARGET.watchers / TARGET.tenants)}), so ${fmt(deliveriesPerS)} deliveries/s.`,
    '',
    '| input (measured) | value |',
    '|---|---|',
    `| follower: deliveries per second, CPU | ${fmt(followerDeliveriesPerS)} /s at ${fmt(followerCores * 100)} % of a core |`,
    `| CPU per delivery, all-in (tail, decode, projections, writes) | ${fmt(cpuPerDeliveryUs, 1)} µs |`,
    `| leader: CPU beyond its own deliveries (upstream informers, log appends) | ${fmt(leaderExtraCores * 100)} % of a core |`,
    `| memory per watcher (follower RSS) | ${fmt(rssPerWatcherKiB, 1)} KiB; base RSS ${fmt(baseRssMiB)} MiB |`,
    `| Redis CPU per event per replica reading the log | ${fmt(redisCorePerEventPerReplica * 1e6, 2)} µs |`,
    `| change log bytes per entry in Redis | ${fmt(bytesPerEntry)} B |`,
    `| snapshot at ${snapshotNamespaces} namespaces | ${fmt(snapshotMiB, 1)} MiB |`,
    '',
    `- **Replicas:** by CPU ${byCpu}, by memory (${fmt(REPLICA_MEMORY_LIMIT_MIB)} MiB limit) ${byMemory}, by connections ${byConnections}; with one more for the leader's own work and for a failure: **${needed} replicas** (${fmt(TARGET.watchers / needed)} watchers each).`,
    `- **Redis:** ${fmt(redisCores * 100)} % of a core for ${needed} replicas tailing ${fmt(TARGET.eventsPerSecond)} events/s (its commands run on one thread: it saturates at about ${fmt(replicasAtRedisLimit)} replicas at this rate); memory ≈ ${fmt(redisLogMiB)} MiB of log (${WATCH_HISTORY_S} s of history) + ${SNAPSHOTS_KEPT} snapshots (${fmt(SNAPSHOTS_KEPT * snapshotMiB, 1)} MiB at ${snapshotNamespaces} namespaces).`,
    `- **First bottleneck:** ${limits[0]?.what}. Every replica applies every change (its projections of all tenants) and only the delivery work divides among replicas, so at much higher event rates the per-event share grows and adding replicas helps less; Redis's CPU grows with replicas × events, the next limit after that.`,
    '- Assumptions: CPU per delivery measured at this run\'s ratio of deliveries to events per replica (about watchers per tenant ÷ replicas); with more watchers per tenant the per-event share of each delivery shrinks, so the CPU figure is conservative. Cores here are shared by the replicas, Redis, the upstream and the load generators.',
    '',
  ];
}
