// Knows whether the API server answers: probes its /readyz on an interval with the proxy's own
// credentials. The proxy is ready only while the last probe succeeded.
import type { Logger } from '../basics/log.ts';
import type { ProxyMetrics } from '../basics/metrics.ts';
import type { Upstream } from '../basics/upstream.ts';

const PROBE_INTERVAL_MS = 5_000;
const PROBE_TIMEOUT_MS = 3_000;

export class UpstreamProbe {
  readonly #upstream: Upstream;
  readonly #log: Logger;
  readonly #metrics: ProxyMetrics;
  #ready = false;
  #lastError = 'not probed yet';
  #timer: NodeJS.Timeout | undefined;

  constructor(upstream: Upstream, log: Logger, metrics: ProxyMetrics) {
    this.#upstream = upstream;
    this.#log = log;
    this.#metrics = metrics;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get lastError(): string {
    return this.#lastError;
  }

  /** Probes once now (so start-up knows at once), then on an interval. */
  async start(): Promise<void> {
    await this.probe();
    this.#timer = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
    this.#timer.unref();
  }

  async probe(): Promise<boolean> {
    let ok = false;
    try {
      const r = await this.#upstream.json('GET', '/readyz', undefined, PROBE_TIMEOUT_MS);
      ok = r.status === 200;
      this.#lastError = ok ? '' : `/readyz answered ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`;
    } catch (err) {
      this.#lastError = (err as Error).message;
    }
    if (ok !== this.#ready) {
      if (ok) this.#log.info({ upstream: this.#upstream.server.href }, 'upstream ready');
      else this.#log.warn({ upstream: this.#upstream.server.href, error: this.#lastError }, 'upstream not ready');
    }
    this.#ready = ok;
    this.#metrics.upstreamReady.set(ok ? 1 : 0);
    return ok;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
