// Prometheus metrics of one proxy instance, in a registry of its own (tests run several proxies in one
// process; each must count only its own work).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  readonly openUpgrades = new Gauge({
    name: 'tenant_proxy_upgraded_connections',
    help: 'Upgraded connections (exec, attach, port-forward, websockets) being relayed',
    registers: [this.registry],
  });
  readonly upstreamReady = new Gauge({
    name: 'tenant_proxy_upstream_ready',
    help: '1 while the API server answers its readiness probe',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
