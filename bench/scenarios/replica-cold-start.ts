// Scenario replica-cold-start: a replica joining a deployment whose Redis already holds the state (the
// leader's snapshot and change log) starts from Redis, not from the upstream. Measured at 10,000
// namespaces / 1,000 tenants: its time to ready and memory then, the upstream requests its start caused
// (lists, watches and reviews), beside the leader's own start, which listed everything upstream.
import { setTimeout as sleep } from 'node:timers/promises';
import { heapBytes } from '../fleet.ts';
import { makeIdentities, round, rssBytes, scrape, type Figures } from '../harness.ts';
import { ReplicaSet, type Replica } from '../replica-set.ts';
import type { ScenarioResult } from '../results.ts';
import { startBenchUpstream } from '../upstream.ts';

export interface ColdStartParams {
  tenants: number;
  namespacesPerTenant: number;
  nodes: number;
}

const SNAPSHOT_TIMEOUT_MS = 120_000;

async function firstSnapshot(leader: Replica): Promise<void> {
  const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS;
  while ((await scrape(leader.metricsPort ?? 0, 'tenant_proxy_snapshot_writes_total')) < 1) {
    if (Date.now() > deadline) throw new Error(`the leader wrote no snapshot within ${SNAPSHOT_TIMEOUT_MS} ms`);
    await sleep(100);
  }
}

async function memoryFigures(r: Replica, f: Figures): Promise<void> {
  f.rss_at_ready = { value: round(rssBytes(r.pid) / 2 ** 20, 0), unit: 'MiB' };
  const heap = await heapBytes(r);
  if (heap !== undefined) f.heap_at_ready = { value: round(heap / 2 ** 20, 0), unit: 'MiB' };
}

export async function replicaColdStart(params: ColdStartParams, log: (m: string) => void): Promise<ScenarioResult> {
  const upstream = await startBenchUpstream({ ...params, storageClasses: 8 });
  const figures: Record<'leader' | 'joining', Figures> = { leader: {}, joining: {} };
  const ids = await makeIdentities([]);
  const set = await ReplicaSet.start(upstream.kubeconfig, ids.caFile, 1).catch(async (err: unknown) => {
    await upstream.stop();
    throw err;
  });
  try {
    const leader = await set.leader();
    figures.leader.time_to_ready = { value: round(leader.readyMs / 1000, 2), unit: 's' };
    figures.leader.upstream_list_watch = { value: upstream.requestCount(), unit: 'requests' };
    await firstSnapshot(leader);
    figures.leader.snapshot_bytes = { value: round((await scrape(leader.metricsPort ?? 0, 'tenant_proxy_snapshot_bytes')) / 2 ** 20, 1), unit: 'MiB' };
    await memoryFigures(leader, figures.leader);
    const [requests0, reviews0] = [upstream.requestCount(), upstream.reviewCount()];
    log(`the leader is ready in ${figures.leader.time_to_ready.value} s and wrote its snapshot; a second replica starts`);
    const joining = await set.add('r2');
    await sleep(500);
    figures.joining.time_to_ready = { value: round(joining.readyMs / 1000, 2), unit: 's' };
    figures.joining.upstream_list_watch = { value: upstream.requestCount() - requests0, unit: 'requests' };
    figures.joining.upstream_reviews = { value: upstream.reviewCount() - reviews0, unit: 'requests' };
    figures.joining.snapshot_loads = { value: await scrape(joining.metricsPort ?? 0, 'tenant_proxy_snapshot_loads_total'), unit: 'snapshots' };
    // One tail-lag observation per entry applied: with the log never trimmed yet (a young deployment),
    // a starting replica reads it from its beginning rather than loading the snapshot.
    figures.joining.log_entries_read = { value: await scrape(joining.metricsPort ?? 0, 'tenant_proxy_log_tail_lag_seconds_count'), unit: 'entries' };
    await memoryFigures(joining, figures.joining);
    log(`the joining replica is ready in ${figures.joining.time_to_ready.value} s after ${figures.joining.upstream_list_watch.value} upstream list/watch requests`);
  } finally {
    await set.stop();
    await upstream.stop();
  }
  return {
    scenario: 'replica-cold-start',
    upstream: 'replay',
    upstreamWhy: 'large lists at once without minutes of seeding, and it counts every request',
    params: { ...params },
    figures,
    columns: [
      { key: 'leader', heading: 'first replica (lists upstream, leads)' },
      { key: 'joining', heading: 'joining replica (from Redis)' },
    ],
    notes: [
      'Upstream requests of the leader count from its start (one list and one watch per resource type); the joining replica\'s from its start to ready + 0.5 s.',
      'Since 5cc3891 a starting replica takes the oldest snapshot kept that the log reaches back to, or the log\'s beginning while the log was never trimmed (as here, seconds after the leader\'s start): its watch history then reaches back that far. `snapshot_loads` and `log_entries_read` say which it took.',
    ],
  };
}
