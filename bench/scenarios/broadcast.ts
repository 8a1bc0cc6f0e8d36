// Scenario broadcast (issue 17): one change every watcher sees — the storage class every tenant of the
// dataset may use (one class in the cluster: each tenant's `storageClasses.allowed` holds it) — through
// tenant-proxy to N watches of storage classes (one TLS connection each, as their tenant's owner), and the
// same event bytes from a bare Node TLS server to the same N watches in the same run (the raw floor,
// bench/scenarios/raw-floor.ts). Measured the same way for both (`measureBroadcast`): delivery p50/p99 of
// isolated broadcasts, then the CPU per delivery at about one core. The targets are printed as
// met / not met lines in the result's notes, never asserted.
import { setTimeout as sleep } from 'node:timers/promises';
import { STORAGE_CLASSES } from '../../streams/resource-type.ts';
import { Fleet, heapBytes, startTarget } from '../fleet.ts';
import { round, rssBytes, type Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench } from '../upstream.ts';
import { BROADCAST_RATE, measureBroadcast, measureRawFloor, type BroadcastSizes } from './raw-floor.ts';

export interface BroadcastParams extends BroadcastSizes {
  tenants: number;
  watchersPerTenant: number;
}

const CLASS_WATCH_PATH = '/apis/storage.k8s.io/v1/storageclasses?watch=true';
/** Issue 17's targets. */
const MAX_CPU_PER_DELIVERY_US = 26;
const MIN_SHARE_OF_FLOOR = 0.7;
const MAX_P99_OVER_FLOOR = 1.25;

export const BROADCAST_COLUMNS = [
  { key: 'proxy', heading: 'tenant-proxy (HTTP/1.1, one TLS connection per watch)' },
  { key: 'floor', heading: 'raw floor: bare TLS server, same bytes, same watches' },
];

/** The targets as met / not met lines. */
export function broadcastTargets(proxy: Figures, floor: Figures): string[] {
  const line = (ok: boolean | undefined, text: string) => `${ok === undefined ? '–' : ok ? '✔ met' : '✘ missed'}: ${text}`;
  const [cpu, floorCpu] = [proxy.cpu_per_delivery?.value, floor.cpu_per_delivery?.value];
  const share = cpu === undefined || floorCpu === undefined ? undefined : floorCpu / cpu;
  const [p99, floorP99] = [proxy.broadcast_p99?.value, floor.broadcast_p99?.value];
  const n = proxy.watchers_connected?.value;
  const lost = (proxy.broadcast_lost?.value ?? NaN) + (proxy.lost_at_saturation?.value ?? NaN);
  return [
    line(cpu === undefined ? undefined : cpu <= MAX_CPU_PER_DELIVERY_US, `delivery CPU per event per watcher at saturation ≤ ${MAX_CPU_PER_DELIVERY_US} µs (${cpu} µs at ${proxy.saturation_rate?.value} events/s, ${proxy.cpu_at_saturation?.value} % of a core; raw floor ${floorCpu} µs)`),
    line(share === undefined || !Number.isFinite(share) ? undefined : share >= MIN_SHARE_OF_FLOOR, `≥ ${MIN_SHARE_OF_FLOOR * 100} % of the raw floor's efficiency (floor µs ÷ proxy µs = ${share === undefined ? share : round(share * 100, 0)} %)`),
    line(p99 === undefined || floorP99 === undefined ? undefined : p99 <= MAX_P99_OVER_FLOOR * floorP99, `broadcast to ${n} watchers: delivery p99 ≤ ${MAX_P99_OVER_FLOOR}× the raw floor's (${p99} ms vs ${floorP99} ms: ×${p99 === undefined || floorP99 === undefined ? undefined : round(p99 / floorP99)}; p50 ${proxy.broadcast_p50?.value} vs ${floor.broadcast_p50?.value} ms)`),
    line(Number.isNaN(lost) ? undefined : lost === 0, `every broadcast reached every watcher through the proxy (lost ${proxy.broadcast_lost?.value} of isolated broadcasts, ${proxy.lost_at_saturation?.value} at saturation)`),
  ];
}

export async function broadcast(params: BroadcastParams, log: (m: string) => void): Promise<ScenarioResult> {
  // One storage class: every tenant's allowed list is that class, so each of its changes reaches every watch.
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: 1, nodes: 10, storageClasses: 1 });
  const [storageClass] = upstream.dataset.storageClasses;
  const className = storageClass?.metadata.name;
  if (!storageClass || !className) throw new Error('broadcast: the dataset has no storage class');
  const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
  const figures: Record<string, Figures> = {};
  const notes: string[] = [];
  try {
    const target = await startTarget('multiplexer', upstream.kubeconfig, ids, tenantsByUser);
    try {
      await sleep(1_000);
      const [rss0, heap0] = [rssBytes(target.pid), await heapBytes(target)];
      log(`proxy: opening ${watcherUsers.length} watches of storage classes`);
      const { fleet, opened, failed, connections, ms, firstError } = await Fleet.open(target, ids, watcherUsers, params.loadProcesses, CLASS_WATCH_PATH);
      if (failed > 0) notes.push(`proxy: ${failed} watches failed to open (${firstError ?? ''})`);
      try {
        await sleep(2_000);
        const [rss1, heap1] = [rssBytes(target.pid), await heapBytes(target)];
        const emitter = { emit: (rate: number, durationMs: number) => upstream.broadcast(STORAGE_CLASSES, className, rate, durationMs) };
        figures.proxy = {
          watchers_connected: { value: opened, unit: 'watches' },
          client_connections: { value: connections, unit: 'connections' },
          connect_time: { value: round(ms / 1000, 1), unit: 's' },
          rss_per_watcher: { value: round((rss1 - rss0) / 1024 / Math.max(1, opened), 1), unit: 'KiB' },
          ...(heap0 === undefined || heap1 === undefined ? {} : { heap_per_watcher: { value: round((heap1 - heap0) / 1024 / Math.max(1, opened), 2), unit: 'KiB' } }),
          rss_total: { value: round(rss1 / 2 ** 20, 0), unit: 'MiB' },
          ...(await measureBroadcast(emitter, fleet, target, opened, params, 'proxy', log)),
        };
      } finally {
        await fleet.close();
      }
    } finally {
      await target.stop();
    }
    figures.floor = await measureRawFloor('tls', storageClass, ids, watcherUsers, params, 'floor', log, notes);
  } finally {
    await upstream.stop();
  }
  const targets = broadcastTargets(figures.proxy ?? {}, figures.floor ?? {});
  for (const t of targets) log(t);
  return {
    scenario: 'broadcast',
    upstream: 'replay',
    upstreamWhy: 'as fan-out: the saturation rate (events/s × 10,000 watches) is beyond what kube-apiserver and etcd write on these cores beside the proxy and the watchers',
    params: { ...params, broadcastRate: BROADCAST_RATE, watchPath: CLASS_WATCH_PATH },
    figures,
    columns: BROADCAST_COLUMNS,
    notes: [...targets, ...notes],
  };
}
