// Scenario 1, fan-out: tenants × watchers concurrent watches of namespaces, the upstream changing the
// tenants' namespaces at controlled rates; delivery latency, proxy CPU and memory per watcher, and the
// upstream watch connections each proxy needs. Upstream: the replay upstream (kube-apiserver + etcd on
// these 2 cores, next to the proxy and 10,000 client connections, cannot produce 2,000 events/s).
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, heapBytes, startTarget, type ProxyKind, type ProxyTarget } from '../fleet.ts';
import { cpuSeconds, machineBusySeconds, percentiles, round, rssBytes, scrape, scrapeMany, type Figures, type Identities } from '../harness.ts';
import type { WatchTransport } from '../load/watchers.ts';
import { EVENT_LOOP_SAMPLE_MS } from '../../src/basics/metrics.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench, WATCHED_TYPES, type ReplayBench } from '../upstream.ts';

export interface ProxyRuntime {
  /** Seconds spent in GC pauses since the start. */
  gcSeconds: number;
  /** The proxy's event-loop delay since the previous scrape (prom-client resets it on each scrape). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** The proxy's own view of its pauses (undefined for the baseline, which has no metrics). */
export async function proxyRuntime(target: Pick<ProxyTarget, 'metricsPort'>): Promise<ProxyRuntime | undefined> {
  if (target.metricsPort === undefined) return undefined;
  const m = await scrapeMany(target.metricsPort, ['nodejs_gc_duration_seconds_sum', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']);
  const delayMs = (seconds: number | undefined) => Math.max(0, (seconds ?? NaN) * 1000 - EVENT_LOOP_SAMPLE_MS);
  return { gcSeconds: m.nodejs_gc_duration_seconds_sum ?? NaN, loopDelayP99Ms: delayMs(m.nodejs_eventloop_lag_p99_seconds), loopDelayMaxMs: delayMs(m.nodejs_eventloop_lag_max_seconds) };
}

/** V8's old generation in use (where a watch's long-lived objects end up), from the proxy's metrics. */
async function oldSpaceBytes(target: Pick<ProxyTarget, 'metricsPort'>): Promise<number | undefined> {
  return target.metricsPort === undefined ? undefined : scrape(target.metricsPort, 'nodejs_heap_space_size_used_bytes', { space: 'old' });
}

/** The sizes of a fan-out: tenants and their watches, the emission rates and windows, the load generators. */
export interface FanOutSizes {
  tenants: number;
  watchersPerTenant: number;
  namespacesPerTenant: number;
  rates: number[];
  secondsPerRate: number;
  /** Emission windows per rate; their samples are pooled. */
  windowsPerRate: number;
  /** Issue 17's tenant-scoped target: tenant-proxy's windows at this rate are at least `targetWindows`, judged by the worst. */
  targetRate?: number;
  targetWindows?: number;
  /** Rate of the unrecorded-as-steady-state first emission after the watchers connected. */
  warmUpRate: number;
  loadProcesses: number;
}

export interface FanOutParams extends FanOutSizes {
  proxies: ProxyKind[];
  /** Chunked HTTP, or websockets (the multiplexer only: the baseline has no websocket watches). */
  transport: 'http' | 'websocket';
}

export const WATCH_PATH = '/api/v1/namespaces?watch=true';

export interface EmissionWindow {
  emitted: number;
  /** The window's length: the emission, then 1 s for the last deliveries. */
  seconds: number;
  /** Events the watchers parsed within the window (+1 s), and those of them already seen. */
  events: number;
  duplicates: number;
  /** Delivery latencies (ms) of every event the watchers parsed within the window (+1 s). */
  samples: number[];
  /** The proxy's CPU over the window, in cores. */
  cpu: number;
  /** All processes' CPU over the window, as a share of all cores. */
  machineBusy: number;
  proxy: { gcMsPerS: number; loopDelayP99Ms: number; loopDelayMaxMs: number } | undefined;
  clientLoopDelayP99Ms: number;
  clientLoopDelayMaxMs: number;
}

/** What emits the events of a window: the bench upstream, or a server standing in for the proxy (bench/load/raw-floor-server.ts). */
export type Emitter = Pick<ReplayBench['upstream'], 'emit'>;

/** One emission at `rate` for `seconds`, and what the watchers, the proxy (or raw server: `target`) and the machine did meanwhile. */
export async function emitWindow(upstream: Emitter, fleet: Fleet, target: Pick<ProxyTarget, 'pid' | 'metricsPort'>, rate: number, seconds: number): Promise<EmissionWindow> {
  fleet.reset();
  const runtime0 = await proxyRuntime(target);
  const cpu0 = cpuSeconds(target.pid);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const { emitted } = await upstream.emit(rate, seconds * 1000);
  await sleep(1_000);
  const window = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(target.pid) - cpu0) / window;
  const machineBusy = (machineBusySeconds() - busy0) / window / cpus().length;
  const report = await fleet.report();
  const runtime = await proxyRuntime(target);
  const proxy = runtime && runtime0 ? { gcMsPerS: ((runtime.gcSeconds - runtime0.gcSeconds) * 1000) / window, loopDelayP99Ms: runtime.loopDelayP99Ms, loopDelayMaxMs: runtime.loopDelayMaxMs } : undefined;
  return { emitted, seconds: window, events: report.events, duplicates: report.duplicates, samples: report.samples, cpu, machineBusy, proxy, clientLoopDelayP99Ms: report.loopDelayP99Ms, clientLoopDelayMaxMs: report.loopDelayMaxMs };
}

/**
 * One proxy under fan-out: opens `load.watchersPerTenant` watches per tenant owner in `users`, measures the
 * memory they cost, then the deliveries of each emission window. The caller starts and stops the target.
 */
export async function measureFanOut(upstream: ReplayBench['upstream'], target: ProxyTarget, ids: Identities, users: readonly string[], load: FanOutSizes & { transport: WatchTransport }, label: string, log: (m: string) => void, notes: string[]): Promise<Figures> {
  const f: Figures = {};
  const watchesBefore = upstream.openWatches();
  await sleep(1_000);
  const rss0 = rssBytes(target.pid);
  const heap0 = await heapBytes(target);
  const old0 = await oldSpaceBytes(target);
  const watcherUsers = users.flatMap((u) => Array.from({ length: load.watchersPerTenant }, () => u));
  log(`${label}: opening ${watcherUsers.length} watches`);
  const { fleet, opened, failed, connections, ms, firstError } = await Fleet.open(target, ids, watcherUsers, load.loadProcesses, WATCH_PATH, load.transport);
  if (failed > 0) notes.push(`${label}: ${failed} watches failed to open (${firstError ?? ''})`);
  try {
    await sleep(2_000);
    const rss1 = rssBytes(target.pid);
    const heap1 = await heapBytes(target);
    const old1 = await oldSpaceBytes(target);
    f.watchers_connected = { value: opened, unit: 'watches' };
    f.client_connections = { value: connections, unit: 'connections' };
    f.connect_time = { value: round(ms / 1000, 1), unit: 's' };
    f.upstream_watch_connections = { value: target.kind === 'multiplexer' ? upstream.openWatches() : upstream.openWatches() - watchesBefore, unit: 'connections' };
    f.rss_per_watcher = { value: round((rss1 - rss0) / 1024 / Math.max(1, opened), 1), unit: 'KiB' };
    if (heap0 !== undefined && heap1 !== undefined) f.heap_per_watcher = { value: round((heap1 - heap0) / 1024 / Math.max(1, opened), 2), unit: 'KiB' };
    if (old0 !== undefined && old1 !== undefined) f.old_space_per_watcher = { value: round((old1 - old0) / 1024 / Math.max(1, opened), 2), unit: 'KiB' };
    f.rss_total = { value: round(rss1 / 2 ** 20, 0), unit: 'MiB' };
    if (target.metricsPort !== undefined) {
      // What one Prometheus scrape costs with every watcher connected (the proxy's loop is busy meanwhile).
      const scrapeStarted = performance.now();
      await proxyRuntime(target);
      f.metrics_scrape_time = { value: round(performance.now() - scrapeStarted, 1), unit: 'ms' };
    }
    // The first emission after thousands of connections meets the proxy's post-connect garbage
    // collection and cold code paths (the clients' too): a transient, reported apart from the
    // steady state the rates below measure.
    const first = await emitWindow(upstream, fleet, target, load.warmUpRate, load.secondsPerRate);
    const firstLatency = percentiles(first.samples);
    f[`first_emission_p99_at_${load.warmUpRate}`] = { value: round(firstLatency.p99), unit: 'ms' };
    f[`first_emission_max_at_${load.warmUpRate}`] = { value: round(firstLatency.max), unit: 'ms' };
    log(`${label} first emission @ ${load.warmUpRate}/s: p99 ${round(firstLatency.p99)} ms, max ${round(firstLatency.max)} ms`);
    for (const rate of load.rates) {
      const windows: EmissionWindow[] = [];
      const count = rate === load.targetRate && target.kind === 'multiplexer' ? Math.max(load.windowsPerRate, load.targetWindows ?? 0) : load.windowsPerRate;
      for (let i = 0; i < count; i++) {
        const w = await emitWindow(upstream, fleet, target, rate, load.secondsPerRate);
        windows.push(w);
        const expected = w.emitted * load.watchersPerTenant;
        if (w.samples.length < expected) notes.push(`${label} at ${rate}/s, window ${i + 1}: ${w.samples.length} of ${expected} expected deliveries arrived within the window (+1 s)`);
        const wp = percentiles(w.samples);
        log(`${label} @ ${rate}/s window ${i + 1}: p50 ${round(wp.p50)} ms, p99 ${round(wp.p99)} ms, max ${round(wp.max)} ms, cpu ${round(w.cpu * 100, 0)}%`);
      }
      const p = percentiles(windows.flatMap((w) => w.samples));
      const mean = (pick: (w: EmissionWindow) => number) => windows.reduce((sum, w) => sum + pick(w), 0) / windows.length;
      const worst = (pick: (w: EmissionWindow) => number) => Math.max(...windows.map(pick));
      const total = (pick: (w: EmissionWindow) => number) => windows.reduce((sum, w) => sum + pick(w), 0);
      f[`p50_at_${rate}`] = { value: round(p.p50), unit: 'ms' };
      f[`p99_at_${rate}`] = { value: round(p.p99), unit: 'ms' };
      f[`max_at_${rate}`] = { value: round(p.max), unit: 'ms' };
      if (windows.length > 1) f[`p99_worst_window_at_${rate}`] = { value: round(worst((w) => percentiles(w.samples).p99)), unit: 'ms' };
      f[`cpu_at_${rate}`] = { value: round(mean((w) => w.cpu) * 100, 0), unit: '% of a core' };
      if (windows.every((w) => w.proxy)) {
        f[`proxy_gc_pauses_at_${rate}`] = { value: round(mean((w) => w.proxy?.gcMsPerS ?? NaN), 1), unit: 'ms per s' };
        f[`proxy_loop_delay_p99_at_${rate}`] = { value: round(worst((w) => w.proxy?.loopDelayP99Ms ?? NaN), 1), unit: 'ms' };
        f[`proxy_loop_delay_max_at_${rate}`] = { value: round(worst((w) => w.proxy?.loopDelayMaxMs ?? NaN), 1), unit: 'ms' };
      }
      f[`client_loop_delay_p99_at_${rate}`] = { value: round(worst((w) => w.clientLoopDelayP99Ms), 1), unit: 'ms' };
      f[`client_loop_delay_max_at_${rate}`] = { value: round(worst((w) => w.clientLoopDelayMaxMs), 1), unit: 'ms' };
      f[`machine_busy_at_${rate}`] = { value: round(mean((w) => w.machineBusy) * 100, 0), unit: '% of all cores' };
      f[`deliveries_at_${rate}`] = { value: p.count, unit: 'events' };
      // Lost: expected deliveries (each change reaches its tenant's watchers) that did not arrive within
      // the window (+1 s); duplicated: events at or below a resourceVersion the watcher had already seen.
      f[`lost_at_${rate}`] = { value: total((w) => Math.max(0, w.emitted * load.watchersPerTenant - (w.events - w.duplicates))), unit: 'events' };
      f[`duplicated_at_${rate}`] = { value: total((w) => w.duplicates), unit: 'events' };
      log(`${label} @ ${rate}/s over ${windows.length} window(s): p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms, max ${round(p.max)} ms`);
    }
  } finally {
    await fleet.close();
  }
  return f;
}

export async function fanOut(params: FanOutParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: params.namespacesPerTenant, nodes: 10, storageClasses: 4 });
  const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
  const notes: string[] = [];
  try {
    for (const kind of params.transport === 'websocket' ? params.proxies.filter((p) => p === 'multiplexer') : params.proxies) {
      const target = await startTarget(kind, upstream.kubeconfig, ids, tenantsByUser);
      try {
        figures[kind] = await measureFanOut(upstream, target, ids, users, params, kind, log, notes);
      } finally {
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
