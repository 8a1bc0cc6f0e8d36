// Scenario raw-floor (issue 17, "closer to the hardware"): what a bare Node server (no tenant-proxy;
// bench/load/raw-floor-server.ts) costs to write the same watch-event bytes to the same number of
// watches, over TLS (HTTP/1.1 chunks, one connection per watch) and over HTTP/2 (streams of one session
// per identity), read by the same load generators (bench/load/watchers.ts) with the same latency method
// as fan-out. Also the measurement every broadcast column shares (`measureBroadcast`): isolated
// broadcasts for latency, then a rate raised to about one core for the CPU per delivery at saturation.
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface, type Interface } from 'node:readline';
import { makeDataset } from '../dataset.ts';
import { Fleet, heapBytes } from '../fleet.ts';
import { makeIdentities, percentiles, round, rssBytes, startService, type Figures, type Identities } from '../harness.ts';
import type { FloorReply, FloorTransport } from '../load/raw-floor-server.ts';
import type { WatchTransport } from '../load/watchers.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ScenarioResult } from '../results.ts';
import { emitWindow, WATCH_PATH, type Emitter, type EmissionWindow } from './fan-out.ts';

/** How a broadcast column is driven. */
export interface BroadcastSizes {
  /** Broadcasts at BROADCAST_RATE for latency (one emission window of this many seconds). */
  broadcasts: number;
  saturationSeconds: number;
  /** The saturation rate's upper bound (small fleets would ask for thousands of events/s). */
  maxSaturationRate: number;
  loadProcesses: number;
  /**
   * Also a window at this rate, after the search: the CPU per delivery at the rate another writer
   * saturated at (the floor at the proxy's rate: the same work, where the searched rates can differ).
   */
  compareAtRate?: number;
}

export interface RawFloorParams extends BroadcastSizes {
  watches: number;
  /** HTTP/2: identities (one session each) the watches are spread over. */
  h2Identities: number;
}

/** One broadcast a second: each one's deliveries are over long before the next (≈ 0.2 s for 10,000 watches). */
export const BROADCAST_RATE = 1;

/** A running raw-floor server: its address, process and event schedule. */
export interface RawFloor extends Emitter {
  url: string;
  caPem: string;
  pid: number;
  /** Bytes of one event line, as of the last emission. */
  lineBytes(): number;
  stop(): Promise<void>;
}

/** `clientCaFile`: verify client certificates of this CA at the handshake, as tenant-proxy does. */
export async function startRawFloor(transport: FloorTransport, object: KubeObject, clientCaFile?: string): Promise<RawFloor> {
  const service = await startService(['bench/load/raw-floor-server.ts', '--transport', transport, '--object', JSON.stringify(object), ...(clientCaFile ? ['--client-ca-file', clientCaFile] : [])]);
  const { stdin, stdout } = service.child;
  if (!stdin || !stdout) throw new Error('raw floor: no stdio');
  const lines: Interface = createInterface({ input: stdout });
  let lineBytes = 0;
  const emit = (eventsPerSecond: number, durationMs: number): Promise<{ emitted: number; elapsedMs: number }> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw floor: no answer to emit')), durationMs + 60_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        const reply = JSON.parse(line) as FloorReply | { error: string };
        if ('error' in reply) return reject(new Error(`raw floor: ${reply.error}`));
        lineBytes = reply.lineBytes;
        resolve(reply);
      });
      stdin.write(`${JSON.stringify({ cmd: 'emit', eventsPerSecond, durationMs })}\n`);
    });
  return {
    url: String(service.ready.url),
    caPem: String(service.ready.caPem),
    pid: service.child.pid ?? 0,
    emit,
    lineBytes: () => lineBytes,
    stop: async () => {
      lines.close();
      stdin.end();
      await service.stop();
    },
  };
}

/** Deliveries a window should have brought (every event to every watch) that did not arrive, or arrived twice. */
const lost = (w: EmissionWindow, watches: number): number => Math.max(0, w.emitted * watches - (w.events - w.duplicates));
/** CPU µs of the process under test per delivered event and watch. */
const cpuPerDelivery = (w: EmissionWindow): number => (w.cpu * w.seconds * 1e6) / Math.max(1, w.samples.length);

/** Saturation windows at most, and the share of a core that counts as saturated. */
const SATURATION_STEPS = 3;
const SATURATED_SHARE = 0.85;

/** The writer's CPU over a window as a share of one core during the emission (its last deliveries spill into the +1 s). */
const busyShare = (w: EmissionWindow, sizes: BroadcastSizes): number => (w.cpu * w.seconds) / sizes.saturationSeconds;

/** At most this factor per raise: a writer that batches (HTTP/2 sessions) gets cheaper per delivery as the rate grows. */
const MAX_RAISE = 4;

/** The rate at which `usPerDelivery` fills one core, above `previous` (at most MAX_RAISE× it), within the cap. */
const nextRate = (cap: number, usPerDelivery: number, watches: number, previous: number): number => {
  const filling = Math.floor(1e6 / (usPerDelivery * watches));
  return Math.min(cap, previous > 0 ? previous * MAX_RAISE : cap, Math.max(previous + 1, filling));
};

/**
 * Broadcasts to every watch of `fleet` from `emitter`, `target` being the process that writes them:
 * one unrecorded warm-up broadcast, then `broadcasts` at BROADCAST_RATE (delivery p50/p99, each one's
 * deliveries all in that window), then the rate at which the CPU per delivery just measured fills one core,
 * raised again (up to SATURATION_STEPS windows, within the cap) while the writer stays under SATURATED_SHARE
 * of a core and nothing is lost: the last lossless window gives the CPU per delivery at saturation
 * (`first_lossy_rate`: the rate that lost deliveries, when one did).
 */
export async function measureBroadcast(emitter: Emitter, fleet: Fleet, target: Pick<Writer, 'pid' | 'metricsPort'>, watches: number, sizes: BroadcastSizes, label: string, log: (m: string) => void): Promise<Figures> {
  const f: Figures = {};
  await emitWindow(emitter, fleet, target, BROADCAST_RATE, 1);
  const b = await emitWindow(emitter, fleet, target, BROADCAST_RATE, sizes.broadcasts);
  const p = percentiles(b.samples);
  f.broadcasts = { value: b.emitted, unit: 'events' };
  f.broadcast_p50 = { value: round(p.p50), unit: 'ms' };
  f.broadcast_p99 = { value: round(p.p99), unit: 'ms' };
  f.broadcast_max = { value: round(p.max), unit: 'ms' };
  f.broadcast_deliveries = { value: p.count, unit: 'events' };
  f.broadcast_lost = { value: lost(b, watches), unit: 'events' };
  f.cpu_per_delivery_at_broadcast_rate = { value: round(cpuPerDelivery(b), 1), unit: 'µs' };
  log(`${label}: ${b.emitted} broadcasts to ${watches} watches: p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms, ${p.count} deliveries, ${round(cpuPerDelivery(b), 1)} µs CPU per delivery`);
  // Raised until the writer is busy ≥ SATURATED_SHARE of a core over the emission, or deliveries are lost
  // (the readers, or the writer, fell behind: the previous lossless window is kept), or the cap or steps end.
  let rate = nextRate(sizes.maxSaturationRate, cpuPerDelivery(b), watches, 0);
  let s = await emitWindow(emitter, fleet, target, rate, sizes.saturationSeconds);
  for (let step = 1; step < SATURATION_STEPS && lost(s, watches) === 0 && busyShare(s, sizes) < SATURATED_SHARE && rate < sizes.maxSaturationRate; step++) {
    log(`${label} at ${rate} events/s: ${round(busyShare(s, sizes) * 100, 0)} % of a core, raising the rate`);
    const next = nextRate(sizes.maxSaturationRate, cpuPerDelivery(s), watches, rate);
    const w = await emitWindow(emitter, fleet, target, next, sizes.saturationSeconds);
    if (lost(w, watches) > 0) {
      f.first_lossy_rate = { value: next, unit: 'events/s' };
      log(`${label} at ${next} events/s: ${lost(w, watches)} deliveries lost (${round(busyShare(w, sizes) * 100, 0)} % of a core); keeping ${rate} events/s`);
      break;
    }
    [rate, s] = [next, w];
  }
  const sp = percentiles(s.samples);
  f.saturation_rate = { value: rate, unit: 'events/s' };
  f.cpu_at_saturation = { value: round(busyShare(s, sizes) * 100, 0), unit: '% of a core' };
  f.cpu_per_delivery = { value: round(cpuPerDelivery(s), 1), unit: 'µs' };
  f.deliveries_at_saturation = { value: sp.count, unit: 'events' };
  f.lost_at_saturation = { value: lost(s, watches), unit: 'events' };
  f.p99_at_saturation = { value: round(sp.p99), unit: 'ms' };
  f.machine_busy_at_saturation = { value: round(s.machineBusy * 100, 0), unit: '% of all cores' };
  f.client_loop_delay_max_at_saturation = { value: round(s.clientLoopDelayMaxMs, 1), unit: 'ms' };
  log(`${label} at ${rate} events/s for ${sizes.saturationSeconds} s: ${round(busyShare(s, sizes) * 100, 0)} % of a core, ${round(cpuPerDelivery(s), 1)} µs per delivery, p99 ${round(sp.p99)} ms, lost ${lost(s, watches)}`);
  if (sizes.compareAtRate !== undefined) {
    const c = await emitWindow(emitter, fleet, target, sizes.compareAtRate, sizes.saturationSeconds);
    f.compared_rate = { value: sizes.compareAtRate, unit: 'events/s' };
    f.cpu_per_delivery_at_compared_rate = { value: round(cpuPerDelivery(c), 1), unit: 'µs' };
    f.lost_at_compared_rate = { value: lost(c, watches), unit: 'events' };
    log(`${label} at the compared rate, ${sizes.compareAtRate} events/s: ${round(cpuPerDelivery(c), 1)} µs per delivery, lost ${lost(c, watches)}`);
  }
  return f;
}

/** A process writing watch events (tenant-proxy or a raw floor): its address, pid and metrics port (tenant-proxy's). */
export interface Writer {
  url: string;
  caPem: string;
  pid: number;
  metricsPort: number | undefined;
}

/**
 * One watch per entry of `users` (of that identity) opened on `writer` from `processes` load generators, and
 * what they cost it: RSS (and, with metrics, V8 heap) after − before, per watch. The caller closes the fleet.
 */
export async function openMeasured(writer: Writer, ids: Parameters<typeof Fleet.open>[1], users: readonly string[], processes: number, watchPath: string, transport: WatchTransport, label: string, log: (m: string) => void, notes: string[]): Promise<{ fleet: Fleet; opened: number; figures: Figures }> {
  await sleep(1_000);
  const [rss0, heap0] = [rssBytes(writer.pid), await heapBytes(writer)];
  log(`${label}: opening ${users.length} watches`);
  const { fleet, opened, failed, connections, ms, firstError } = await Fleet.open(writer, ids, users, processes, watchPath, transport);
  if (failed > 0) notes.push(`${label}: ${failed} watches failed to open (${firstError ?? ''})`);
  await sleep(2_000);
  const [rss1, heap1] = [rssBytes(writer.pid), await heapBytes(writer)];
  const perWatch = (before: number, after: number) => round((after - before) / 1024 / Math.max(1, opened), 2);
  const figures: Figures = {
    watchers_connected: { value: opened, unit: 'watches' },
    client_connections: { value: connections, unit: 'connections' },
    connect_time: { value: round(ms / 1000, 1), unit: 's' },
    rss_per_watcher: { value: perWatch(rss0, rss1), unit: 'KiB' },
    ...(heap0 === undefined || heap1 === undefined ? {} : { heap_per_watcher: { value: perWatch(heap0, heap1), unit: 'KiB' } }),
    rss_total: { value: round(rss1 / 2 ** 20, 0), unit: 'MiB' },
  };
  return { fleet, opened, figures };
}

/**
 * A raw-floor server of `transport` writing `object`'s changes to one watch per entry of `users`: memory per
 * watch, then the broadcast measurement. `verifyClients`: the watches' client certificates are asked for and
 * verified, as tenant-proxy does.
 */
export async function measureRawFloor(transport: FloorTransport, verifyClients: boolean, object: KubeObject, ids: Identities, users: readonly string[], sizes: BroadcastSizes, label: string, log: (m: string) => void, notes: string[]): Promise<Figures> {
  const floor = await startRawFloor(transport, object, verifyClients ? ids.caFile : undefined);
  try {
    const writer = { ...floor, metricsPort: undefined };
    const { fleet, opened, figures } = await openMeasured(writer, ids, users, sizes.loadProcesses, WATCH_PATH, transport === 'h2' ? 'http2' : 'http', label, log, notes);
    try {
      return { ...figures, ...(await measureBroadcast(floor, fleet, writer, opened, sizes, label, log)), event_line_bytes: { value: floor.lineBytes(), unit: 'bytes' } };
    } finally {
      await fleet.close();
    }
  } finally {
    await floor.stop();
  }
}

/** The floor's columns: how it serves and whether it verifies the clients' certificates (tenant-proxy does). */
export const RAW_FLOOR_COLUMNS: { key: string; heading: string; transport: FloorTransport; verifyClients: boolean }[] = [
  { key: 'tls', heading: 'bare TLS server (HTTP/1.1 chunks, one connection per watch)', transport: 'tls', verifyClients: false },
  { key: 'tls-client-certs', heading: 'the same, verifying client certificates as tenant-proxy does', transport: 'tls', verifyClients: true },
  { key: 'h2', heading: 'bare HTTP/2 server (streams of one session per identity)', transport: 'h2', verifyClients: false },
];

export async function rawFloor(params: RawFloorParams, log: (m: string) => void): Promise<ScenarioResult> {
  // The event fan-out writes: a tenant namespace of the bench dataset, changed.
  const [namespace] = makeDataset({ tenants: 1, namespacesPerTenant: 1, nodes: 0, storageClasses: 0 }).namespaces;
  if (!namespace) throw new Error('raw floor: the dataset has no namespace');
  const identities = Array.from({ length: Math.max(1, Math.min(params.h2Identities, params.watches)) }, (_, i) => `floor-user-${i}`);
  const users = Array.from({ length: params.watches }, (_, w) => identities[w % identities.length] ?? '');
  const ids = await makeIdentities(identities);
  const figures: Record<string, Figures> = {};
  const notes: string[] = [];
  for (const { key, transport, verifyClients } of RAW_FLOOR_COLUMNS) figures[key] = await measureRawFloor(transport, verifyClients, namespace, ids, users, params, key, log, notes);
  return {
    scenario: 'raw-floor',
    upstream: 'replay',
    upstreamWhy: 'no upstream: a bare Node server writes the events itself, the floor the proxy is compared with',
    params: { ...params, broadcastRate: BROADCAST_RATE },
    figures,
    columns: RAW_FLOOR_COLUMNS.map(({ key, heading }) => ({ key, heading })),
    notes,
  };
}
