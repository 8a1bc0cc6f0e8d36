// Scenario 1, fan-out: tenants × watchers concurrent watches of namespaces, the upstream changing the
// tenants' namespaces at controlled rates; delivery latency, proxy CPU and memory per watcher, and the
// upstream watch connections each proxy needs. Upstream: the replay upstream (kube-apiserver + etcd on
// these 2 cores, next to the proxy and 10,000 client connections, cannot produce 2,000 events/s).
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, heapBytes, startTarget, type ProxyKind, type ProxyTarget } from '../fleet.ts';
import { cpuSeconds, machineBusySeconds, percentiles, round, rssBytes, scrape, type Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench, WATCHED_TYPES } from '../upstream.ts';

/** Seconds the proxy has spent in GC pauses so far (NaN for the baseline, which has no metrics). */
async function gcSeconds(target: ProxyTarget): Promise<number> {
  return target.metricsPort === undefined ? NaN : scrape(target.metricsPort, 'nodejs_gc_duration_seconds_sum');
}

export interface FanOutParams {
  tenants: number;
  watchersPerTenant: number;
  namespacesPerTenant: number;
  rates: number[];
  secondsPerRate: number;
  loadProcesses: number;
  proxies: ProxyKind[];
  /** Chunked HTTP, or websockets (the multiplexer only: the baseline has no websocket watches). */
  transport: 'http' | 'websocket';
}

export const WATCH_PATH = '/api/v1/namespaces?watch=true';

export async function fanOut(params: FanOutParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: params.namespacesPerTenant, nodes: 10, storageClasses: 4 });
  const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
  const notes: string[] = [];
  try {
    for (const kind of params.transport === 'websocket' ? params.proxies.filter((p) => p === 'multiplexer') : params.proxies) {
      const f = figures[kind];
      const target = await startTarget(kind, upstream.kubeconfig, ids, tenantsByUser);
      const watchesBefore = upstream.openWatches();
      await sleep(1_000);
      const rss0 = rssBytes(target.pid);
      const heap0 = await heapBytes(target);
      const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
      log(`${kind}: opening ${watcherUsers.length} watches`);
      const { fleet, opened, failed, ms, firstError } = await Fleet.open(target, ids, watcherUsers, params.loadProcesses, WATCH_PATH, params.transport);
      if (failed > 0) notes.push(`${kind}: ${failed} watches failed to open (${firstError ?? ''})`);
      try {
        await sleep(2_000);
        const rss1 = rssBytes(target.pid);
        const heap1 = await heapBytes(target);
        f.watchers_connected = { value: opened, unit: 'watches' };
        f.connect_time = { value: round(ms / 1000, 1), unit: 's' };
        f.upstream_watch_connections = { value: kind === 'multiplexer' ? upstream.openWatches() : upstream.openWatches() - watchesBefore, unit: 'connections' };
        f.rss_per_watcher = { value: round((rss1 - rss0) / 1024 / Math.max(1, opened), 1), unit: 'KiB' };
        if (heap0 !== undefined && heap1 !== undefined) f.heap_per_watcher = { value: round((heap1 - heap0) / 1024 / Math.max(1, opened), 2), unit: 'KiB' };
        f.rss_total = { value: round(rss1 / 2 ** 20, 0), unit: 'MiB' };
        for (const rate of params.rates) {
          fleet.reset();
          const gc0 = await gcSeconds(target);
          const cpu0 = cpuSeconds(target.pid);
          const busy0 = machineBusySeconds();
          const t0 = performance.now();
          const { emitted } = await upstream.emit(rate, params.secondsPerRate * 1000);
          await sleep(1_000);
          const window = (performance.now() - t0) / 1000;
          const cpu = (cpuSeconds(target.pid) - cpu0) / window;
          const machineBusy = (machineBusySeconds() - busy0) / window / cpus().length;
          const report = await fleet.report();
          const gc = (await gcSeconds(target)) - gc0;

          const p = percentiles(report.samples);
          f[`p50_at_${rate}`] = { value: round(p.p50), unit: 'ms' };
          f[`p99_at_${rate}`] = { value: round(p.p99), unit: 'ms' };
          f[`max_at_${rate}`] = { value: round(p.max), unit: 'ms' };
          f[`cpu_at_${rate}`] = { value: round(cpu * 100, 0), unit: '% of a core' };
          if (Number.isFinite(gc)) f[`proxy_gc_pauses_at_${rate}`] = { value: round((gc * 1000) / window, 1), unit: 'ms per s' };
          f[`client_loop_delay_p99_at_${rate}`] = { value: round(report.loopDelayP99Ms, 1), unit: 'ms' };
          f[`client_loop_delay_max_at_${rate}`] = { value: round(report.loopDelayMaxMs, 1), unit: 'ms' };
          f[`machine_busy_at_${rate}`] = { value: round(machineBusy * 100, 0), unit: '% of all cores' };
          f[`deliveries_at_${rate}`] = { value: p.count, unit: 'events' };
          const expected = emitted * params.watchersPerTenant;
          if (p.count < expected) notes.push(`${kind} at ${rate}/s: ${p.count} of ${expected} expected deliveries arrived within the window (+1 s)`);
          log(`${kind} @ ${rate}/s: p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms, max ${round(p.max)} ms, cpu ${round(cpu * 100, 0)}%`);
        }
      } finally {
        await fleet.close();
        await target.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
  return {
    scenario: params.transport === 'websocket' ? 'fan-out-websocket' : 'fan-out',
    upstream: 'replay',
    upstreamWhy: 'kube-apiserver and etcd cannot write 2,000 namespace changes per second on these 2 cores beside the proxy and the load generators',
    params: { ...params, resourceTypes: WATCHED_TYPES },
    figures,
    notes,
  };
}
