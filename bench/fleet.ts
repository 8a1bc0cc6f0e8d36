// The two proxies under test, and a fleet of watchers spread over load-generator processes.
import { performance } from 'node:perf_hooks';
import { LoadProcess, percentiles, scrape, startService, startTenantProxy, type Identities } from './harness.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Reply, WatchSpec, WatchTransport } from './load/watchers.ts';
import { userToken } from './replay/reviews.ts';

export type ProxyKind = 'multiplexer' | 'forwarding';

export interface ProxyTarget {
  kind: ProxyKind;
  url: string;
  caPem: string;
  pid: number;
  /** tenant-proxy's metrics port (the forwarding baseline has none). */
  metricsPort: number | undefined;
  readyMs: number;
  stop(): Promise<void>;
}

export async function startTarget(kind: ProxyKind, upstreamKubeconfig: string, ids: Identities, tenantsByUser: Record<string, string[]>): Promise<ProxyTarget> {
  if (kind === 'multiplexer') {
    const p = await startTenantProxy(upstreamKubeconfig, ids.caFile);
    return { kind, url: p.url, caPem: p.caPem, pid: p.child.pid ?? 0, metricsPort: p.metricsPort, readyMs: p.readyMs, stop: p.stop };
  }
  const configFile = path.join(mkdtempSync(path.join(tmpdir(), 'forwarding-')), 'config.json');
  writeFileSync(configFile, JSON.stringify({ upstreamKubeconfig, clientCaFile: ids.caFile, tenantsByUser }));
  const started = performance.now();
  const service = await startService(['bench/forwarding-proxy.ts', configFile]);
  return { kind, url: String(service.ready.url), caPem: String(service.ready.caPem), pid: service.child.pid ?? 0, metricsPort: undefined, readyMs: performance.now() - started, stop: service.stop };
}

/** Heap used by a tenant-proxy (from its metrics), or undefined for the baseline. */
export async function heapBytes(target: Pick<ProxyTarget, 'metricsPort'>): Promise<number | undefined> {
  return target.metricsPort === undefined ? undefined : scrape(target.metricsPort, 'nodejs_heap_size_used_bytes');
}

export interface FleetReport {
  samples: number[];
  events: number;
  /** Events at or below a resourceVersion the watcher had already seen of that object. */
  duplicates: number;
  bookmarks: number;
  errors: number;
  ended: number;
  expired: number;
  stalled: number;
  stalledEnded: number;
  /** Wall-clock ms of the first delivery of an event emitted at or after the mark; -1 if none. */
  firstDeliveryAfterMark: number;
  /** The worst load generator's event-loop delay p99 and max over the window. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Watchers over `processes` load generators, one per entry of `users`. */
export class Fleet {
  readonly #processes: LoadProcess<Reply>[];
  readonly size: number;

  private constructor(processes: LoadProcess<Reply>[], size: number) {
    this.#processes = processes;
    this.size = size;
  }

  /**
   * `tokenShare`: the fraction of watchers (every n-th) authenticating with a bearer token instead of their
   * certificate. Watchers are dealt to the processes round robin; over HTTP/2, identity by identity, so that
   * all the watches of one identity are streams of one session. `connections`: TLS connections to the proxy.
   */
  static async open(target: Pick<ProxyTarget, 'url' | 'caPem'>, ids: Pick<Identities, 'certs'>, users: readonly string[], processes: number, path: string, transport: WatchTransport = 'http', listFirst = false, tokenShare = 0): Promise<{ fleet: Fleet; opened: number; failed: number; connections: number; ms: number; firstError?: string }> {
    const loads = Array.from({ length: Math.max(1, Math.min(processes, users.length)) }, () => new LoadProcess<Reply>('bench/load/watchers.ts'));
    const shares: WatchSpec[][] = loads.map(() => []);
    const identityOrder = new Map<string, number>();
    users.forEach((user, watcher) => {
      if (!identityOrder.has(user)) identityOrder.set(user, identityOrder.size);
      const slot = transport === 'http2' ? (identityOrder.get(user) ?? 0) : watcher;
      const cert = ids.certs.get(user);
      if (!cert) throw new Error(`no certificate for ${user}`);
      const token = tokenShare > 0 && watcher % Math.round(1 / tokenShare) === 0 ? userToken(user) : undefined;
      shares[slot % loads.length]?.push({ certPem: cert.certPem, keyPem: cert.keyPem, path, token });
    });
    const started = performance.now();
    const replies = await Promise.all(loads.map((l, i) => l.request({ cmd: 'open', url: target.url, caPem: target.caPem, watchers: shares[i], concurrency: 64, transport, listFirst }, 'opened', 600_000)));
    const opened = replies.reduce((n, r) => n + r.opened, 0);
    const failed = replies.reduce((n, r) => n + r.failed, 0);
    const connections = replies.reduce((n, r) => n + r.connections, 0);
    return { fleet: new Fleet(loads, users.length), opened, failed, connections, ms: performance.now() - started, firstError: replies.find((r) => r.firstError)?.firstError };
  }

  reset(): void {
    for (const l of this.#processes) l.send({ cmd: 'reset' });
  }

  /** From now on, reports say when the first event emitted at or after `at` (wall-clock ms) arrived. */
  mark(at: number): void {
    for (const l of this.#processes) l.send({ cmd: 'mark', at });
  }

  async report(): Promise<FleetReport> {
    const replies = await Promise.all(this.#processes.map((l) => l.request({ cmd: 'report' }, 'report')));
    const merged: FleetReport = { samples: [], events: 0, duplicates: 0, bookmarks: 0, errors: 0, ended: 0, expired: 0, stalled: 0, stalledEnded: 0, firstDeliveryAfterMark: -1, loopDelayP99Ms: 0, loopDelayMaxMs: 0 };
    for (const r of replies) {
      for (const s of r.samples) merged.samples.push(s);
      merged.events += r.events;
      merged.duplicates += r.duplicates;
      if (r.firstDeliveryAfterMark >= 0 && (merged.firstDeliveryAfterMark < 0 || r.firstDeliveryAfterMark < merged.firstDeliveryAfterMark)) merged.firstDeliveryAfterMark = r.firstDeliveryAfterMark;
      merged.bookmarks += r.bookmarks;
      merged.errors += r.errors;
      merged.ended += r.ended;
      merged.expired += r.expired;
      merged.stalled += r.stalled;
      merged.stalledEnded += r.stalledEnded;
      merged.loopDelayP99Ms = Math.max(merged.loopDelayP99Ms, r.loopDelayP99Ms);
      merged.loopDelayMaxMs = Math.max(merged.loopDelayMaxMs, r.loopDelayMaxMs);
    }
    return merged;
  }

  stall(fraction: number): void {
    for (const l of this.#processes) l.send({ cmd: 'stall', fraction });
  }

  /** Every watch (or only those whose connection ended) reconnects within `windowMs`, to its own proxy or round robin over `urls`. */
  async reconnect(windowMs: number, options: { urls?: string[]; onlyEnded?: boolean } = {}): Promise<{ reconnected: number; failed: number; ms: number; firstError?: string }> {
    const started = performance.now();
    const replies = await Promise.all(this.#processes.map((l) => l.request({ cmd: 'reconnect', windowMs, ...options }, 'reconnected', 600_000)));
    return { reconnected: replies.reduce((n, r) => n + r.reconnected, 0), failed: replies.reduce((n, r) => n + r.failed, 0), ms: performance.now() - started, firstError: replies.find((r) => r.firstError)?.firstError };
  }

  async close(): Promise<void> {
    await Promise.all(this.#processes.map((l) => l.request({ cmd: 'close' }, 'closed', 30_000).catch(() => undefined)));
    await Promise.all(this.#processes.map((l) => l.stop()));
  }
}

export { percentiles };
