// Prometheus metrics of one proxy instance, in a registry of its own (tests run several proxies in one
// process; each must count only its own work): the request front door's and the listener's counters.
// Parts with state of their own register their gauges in the same registry (tenant-engine.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Server } from 'node:net';

/**
 * nodejs_eventloop_lag_* sample the loop every this many milliseconds and record whole intervals: a loop
 * that never stalls shows this value, and a stall is what exceeds it.
 */
export const EVENT_LOOP_SAMPLE_MS = 10;

/**
 * Default metrics that walk every handle or file descriptor of the process on each scrape: with 10,000
 * watch connections one scrape blocked the event loop for tens of milliseconds, delaying every watch
 * event meanwhile (bench/RESULTS.md). tenant_proxy_client_connections counts connections instead.
 */
const PER_HANDLE_METRICS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_requests', 'nodejs_active_requests_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds'];

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tenant_proxy_requests_total',
    help: 'Requests answered, by Kubernetes verb, how they were served (forwarded, served, local, rejected) and HTTP code',
    labelNames: ['verb', 'route', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'tenant_proxy_request_duration_seconds',
    help: 'Time from request to the end of the answer (watches excluded)',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tokenReviews = new Counter({
    name: 'tenant_proxy_token_reviews_total',
    help: 'TokenReviews sent upstream, by result (authenticated, rejected, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly accessReviews = new Counter({
    name: 'tenant_proxy_subject_access_reviews_total',
    help: 'SubjectAccessReviews sent upstream, by result (allowed, denied, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly sharedCache = new Counter({
    name: 'tenant_proxy_shared_cache_total',
    help: 'Lookups of the auth results shared through Redis (--redis), by cache (token, access) and result (hit, miss, invalid, error, timeout; write-error for a failed store). Anything but a hit is reviewed upstream',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  });
  readonly openUpgrades = new Gauge({
    name: 'tenant_proxy_upgraded_connections',
    help: 'Upgraded connections (exec, attach, port-forward, websockets) being relayed',
    registers: [this.registry],
  });
  readonly connectionsRejected = new Counter({
    name: 'tenant_proxy_client_connections_rejected_total',
    help: 'Client connections closed at once because a connection limit was reached (limit: --max-connections, address-limit: --max-connections-per-address), and HTTP/2 requests answered 429 because the open streams of all sessions reached --max-connections (stream-limit)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: 'tenant_proxy_client_errors_total',
    help: 'Client connections ended before a request could be handled: tls-handshake(-timeout), header-timeout (408), headers-too-large (431), malformed (400); and HTTP/2 sessions ended for flooding: http2-flood (frames waiting to be sent past nghttp2\'s bound), http2-settings-flood (SETTINGS frames past the bound per session)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamReady = new Gauge({
    name: 'tenant_proxy_upstream_ready',
    help: '1 while the API server answers its readiness probe',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      for (const name of PER_HANDLE_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** Open client connections of the listener (a counter the server keeps: no walk over sockets). */
  observeServer(server: Server): void {
    new Gauge({
      name: 'tenant_proxy_client_connections',
      help: 'Client connections open on the HTTPS listener (watches, upgraded streams, keep-alive)',
      registers: [this.registry],
      async collect() {
        this.set(await new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? NaN : count))));
      },
    });
  }

  /** Of those connections, the HTTP/2 sessions (each may carry many requests and watches), and their open requests. */
  observeHttp2Sessions(sessions: { readonly size: number; readonly openStreams: number }): void {
    new Gauge({
      name: 'tenant_proxy_http2_sessions',
      help: 'HTTP/2 sessions open on the HTTPS listener (the other client connections speak HTTP/1.1)',
      registers: [this.registry],
      collect() {
        this.set(sessions.size);
      },
    });
    new Gauge({
      name: 'tenant_proxy_http2_streams',
      help: 'HTTP/2 requests open across every session (bounded by --max-connections; past it a request gets 429)',
      registers: [this.registry],
      collect() {
        this.set(sessions.openStreams);
      },
    });
  }
}
