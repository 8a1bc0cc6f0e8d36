// Composes the proxy: the HTTPS listener, authentication, impersonation, forwarding, upgrades, health,
// metrics, per-request logs and graceful shutdown. This file decides *where* a request goes; each
// mechanism lives in its own module.
import { setMaxListeners } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Authenticator } from '../front/authenticate.ts';
import { parseHostPort, type Config } from './config.ts';
import { forward } from '../front/forward.ts';
import type { Identity } from '../basics/identity.ts';
import { AccessReviewer, resolveImpersonation } from '../front/impersonation.ts';
import { guardListener, listenerOptions } from './client-connections.ts';
import { Http2Sessions, http2Options } from './http2-sessions.ts';
import { isHttp2, type ClientRequest, type ClientResponse } from '../basics/client-http.ts';
import { loggedUrl, type Logger } from '../basics/log.ts';
import { readinessAnswer, type ReadinessCheck } from './readiness.ts';
import { ProxyMetrics } from '../basics/metrics.ts';
import { parseRequestInfo, type RequestInfo } from '../front/request-info.ts';
import { ServingTls, defaultServingHosts } from './serving-tls.ts';
import { StatusError, sendStatus, toStatus } from '../basics/status.ts';
import { relayUpgrade, rejectUpgrade } from '../front/upgrade.ts';
import type { Upstream } from '../basics/upstream.ts';
import { UpstreamProbe } from './upstream-probe.ts';
import { TenantEngine } from './tenant-engine.ts';
import type { Outcome } from '../serve/tenant-api.ts';
import type { Redis } from 'ioredis';
import { connectRedis, deploymentSigner, replicationThrough, sharedCacheThrough } from './redis-connection.ts';
import type { SharedCacheContext } from '../basics/shared-cache.ts';
import { statusBody } from '../serve/served-errors.ts';

const LOCAL_HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);
/** Node's default (511) overflows when 10,000 watchers reconnect within seconds; the kernel caps it at somaxconn. */
const LISTEN_BACKLOG = 4096;

export interface ProxyDependencies {
  upstream: Upstream;
  log: Logger;
  metrics?: ProxyMetrics;
}

type Route = 'forwarded' | 'local' | 'rejected' | 'served' | 'granted-write';

/** The log line of one request (an upgrade's is built where it is answered). */
interface RequestLine {
  user: string | undefined;
  groups: readonly string[] | undefined;
  verb: string;
  method: string | undefined;
  path: string;
  http: string;
  status: number;
  durationMs: number;
  route: Route;
}

export class TenantProxy {
  readonly config: Config;
  readonly upstream: Upstream;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
  readonly probe: UpstreamProbe;
  readonly engine: TenantEngine;
  readonly #authenticator: Authenticator;
  readonly #reviewer: AccessReviewer;
  readonly #tls: ServingTls;
  readonly #server: http2.Http2SecureServer;
  readonly #sessions: Http2Sessions;
  #metricsServer: http.Server | undefined;
  readonly #shutdown = new AbortController();
  readonly #upgrades = new Set<Duplex>();
  readonly #redis: Redis | undefined;
  readonly #sharedCacheRedis: Redis | undefined;
  #inFlight = 0;
  /** Told when the last in-flight request ends (shutdown waits for it). */
  #drained: (() => void) | undefined;

  private constructor(config: Config, deps: ProxyDependencies, tls: ServingTls) {
    this.config = config;
    this.upstream = deps.upstream;
    this.log = deps.log;
    this.metrics = deps.metrics ?? new ProxyMetrics();
    this.probe = new UpstreamProbe(this.upstream, this.log, this.metrics);
    this.#redis = config.redis ? connectRedis(config, this.log) : undefined;
    const signer = this.#redis ? deploymentSigner(config, this.log) : undefined;
    const replication = this.#redis ? replicationThrough(this.#redis, config, this.log, signer) : undefined;
    const sharedCache = this.#redis && signer ? sharedCacheThrough(this.#redis, config, signer, this.log) : undefined;
    this.#sharedCacheRedis = sharedCache?.connection;
    const shared: SharedCacheContext | undefined = sharedCache && { store: sharedCache.store, metrics: this.metrics, log: this.log };
    this.engine = new TenantEngine(this.upstream, this.log, { ignoredGroups: config.ignoredUserGroups, watchHistoryMs: config.watchHistoryMs, clientIdleTimeoutMs: config.clientIdleTimeoutMs, replication }, this.metrics.registry);
    this.#authenticator = new Authenticator({
      upstream: this.upstream,
      metrics: this.metrics,
      tokenCacheTtlMs: config.tokenCacheTtlMs,
      tokenNegativeCacheTtlMs: config.tokenNegativeCacheTtlMs,
      tokenCacheSize: config.tokenCacheSize,
      clientCa: () => tls.clientCa,
      shared,
    });
    // Every in-flight forward listens for shutdown: thousands at once are expected, not a leak.
    setMaxListeners(0, this.#shutdown.signal);
    this.#reviewer = new AccessReviewer(this.upstream, this.metrics, config.accessReviewCacheTtlMs, shared);
    this.#tls = tls;
    // HTTP/2 for clients that offer it (ALPN h2), HTTP/1.1 for the others and for every upgrade.
    this.#server = http2.createSecureServer({
      ...tls.context,
      requestCert: tls.verifiesClientCertificates,
      rejectUnauthorized: false,
      noDelay: true,
      keepAlive: true,
      ...listenerOptions(config),
      ...http2Options(),
    });
    this.#sessions = new Http2Sessions(this.#server, {
      idleTimeoutMs: config.clientIdleTimeoutMs,
      maxOpenStreams: config.maxConnections,
      onFlood: (cause) => this.metrics.clientErrors.inc({ reason: `http2-${cause}` }),
    });
    guardListener(this.#server, config, this.metrics, this.log);
    this.metrics.observeServer(this.#server);
    this.metrics.observeHttp2Sessions(this.#sessions);
    this.#server.on('request', (req: ClientRequest, res: ClientResponse) => void this.#handle(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#handleUpgrade(req, socket, head));
  }

  static async create(config: Config, deps: ProxyDependencies): Promise<TenantProxy> {
    const { host } = parseHostPort(config.listen);
    const tls = await ServingTls.load(
      {
        tlsCertFile: config.tlsCertFile,
        tlsKeyFile: config.tlsKeyFile,
        certDir: config.certDir,
        clientCaFile: config.clientCaFile,
        clusterCaPem: deps.upstream.caPem,
        hosts: defaultServingHosts(host),
      },
      deps.log,
    );
    return new TenantProxy(config, deps, tls);
  }

  /** CA file of the generated serving certificate, when no --tls-cert-file was given. */
  get servingCaFile(): string | undefined {
    return this.#tls.generatedCaFile;
  }

  async start(): Promise<{ port: number; metricsPort: number | undefined }> {
    await this.probe.start();
    this.engine.start();
    const { host, port } = parseHostPort(this.config.listen);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      // A deep accept queue: thousands of watchers reconnect at once after a network blip or a restart.
      this.#server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    this.#tls.watch(this.#server);
    const actualPort = (this.#server.address() as AddressInfo).port;
    let metricsPort: number | undefined;
    if (this.config.metricsListen) {
      const m = parseHostPort(this.config.metricsListen);
      this.#metricsServer = http.createServer((req, res) => void this.#handleMetrics(req, res));
      await new Promise<void>((resolve, reject) => {
        this.#metricsServer?.once('error', reject);
        this.#metricsServer?.listen(m.port, m.host, () => resolve());
      });
      metricsPort = (this.#metricsServer.address() as AddressInfo).port;
    }
    this.log.info({ listen: `${host}:${actualPort}`, metricsPort, upstream: this.upstream.server.href, credentials: this.upstream.source }, 'tenant-proxy listening');
    return { port: actualPort, metricsPort };
  }

  /** Ready while the upstream answers and the tenant state is loaded. */
  get ready(): boolean {
    return this.probe.ready && this.engine.synced && !this.#shutdown.signal.aborted;
  }

  async #handle(req: ClientRequest, res: ClientResponse): Promise<void> {
    const started = performance.now();
    const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    let identity: Identity | undefined;
    let route: Route = 'forwarded';
    let code: number;
    let onEnd: Outcome['onEnd'];
    this.#inFlight++;
    try {
      // Health answers take no stream for long: a saturated proxy still says how it is.
      if (LOCAL_HEALTH_PATHS.has(info.path)) {
        route = 'local';
        code = this.#answerHealth(info, res, false);
      } else {
        if (isHttp2(req) && !this.#sessions.admitStream(req.stream)) {
          this.metrics.connectionsRejected.inc({ reason: 'stream-limit' });
          throw new StatusError(429, 'TooManyRequests', `too many requests open over HTTP/2 at once: tenant-proxy serves at most ${this.config.maxConnections} (--max-connections); retry shortly`, { retryAfterSeconds: 1 });
        }
        const caller = await this.#authenticator.authenticate(req);
        identity = await resolveImpersonation(req, caller, this.#reviewer);
        const outcome = await this.engine.api.handle(req, res, identity, info);
        if (outcome) {
          route = outcome.route;
          code = outcome.code;
          onEnd = outcome.onEnd;
        } else {
          code = await forward(req, res, identity, { upstream: this.upstream, timeoutMs: this.config.upstreamTimeoutMs, shutdown: this.#shutdown.signal, watch: info.verb === 'watch' });
          this.engine.api.noteWrite(info, code);
        }
      }
    } catch (err) {
      // forward() answers its own failures; what is thrown after authentication comes from serving.
      route = identity === undefined ? 'rejected' : 'served';
      const status = toStatus(err);
      if (!(err instanceof StatusError)) this.log.error({ err, path: info.path }, 'request failed');
      sendStatus(res, status, {}, identity ? statusBody(status, req.headers.accept) : `${JSON.stringify(status)}\n`);
      code = status.code;
    }
    const line: RequestLine = { user: identity?.user, groups: identity?.groups, verb: info.verb, method: req.method, path: loggedUrl(req.url ?? '/'), http: req.httpVersion, status: code, durationMs: 0, route };
    // A served watch is in flight, and logged, until it ends; only the line waits for it, not this frame.
    if (onEnd) onEnd(() => this.#requestEnded(line, started));
    else this.#requestEnded(line, started);
  }

  #requestEnded(line: RequestLine, started: number): void {
    if (--this.#inFlight === 0) this.#drained?.();
    const seconds = (performance.now() - started) / 1000;
    this.metrics.requests.inc({ verb: line.verb, route: line.route, code: String(line.status) });
    if (line.verb !== 'watch') this.metrics.requestDuration.observe({ route: line.route }, seconds);
    line.durationMs = Math.round(seconds * 1000);
    this.log.info(line, 'request');
  }

  readinessChecks(): ReadinessCheck[] {
    return [
      { name: 'upstream', ok: this.probe.ready, reason: this.probe.lastError },
      ...this.engine.readinessChecks(),
      { name: 'shutdown', ok: !this.#shutdown.signal.aborted, reason: 'shutting down' },
    ];
  }

  /** `showReasons`: the operator's listener; the public one withholds upstream error text. */
  #answerHealth(info: RequestInfo, res: ClientResponse, showReasons: boolean): number {
    const answer = info.path === '/readyz' ? readinessAnswer(this.readinessChecks(), { verbose: info.query.has('verbose'), showReasons }) : { code: 200, body: 'ok' };
    res.writeHead(answer.code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache, private' });
    res.end(answer.body);
    return answer.code;
  }

  async #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = performance.now();
    const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    let identity: Identity | undefined;
    let code: number;
    let route: Route = 'forwarded';
    this.#upgrades.add(socket);
    socket.once('close', () => this.#upgrades.delete(socket));
    try {
      if (this.#shutdown.signal.aborted) throw new StatusError(503, 'ServiceUnavailable', 'the proxy is shutting down');
      const caller = await this.#authenticator.authenticate(req);
      identity = await resolveImpersonation(req, caller, this.#reviewer);
      if (await this.engine.api.handleUpgrade(req, socket, head, identity, info)) {
        route = 'served';
        code = 101;
      } else code = await relayUpgrade(req, socket, head, identity, this.upstream, () => {
        this.metrics.openUpgrades.inc();
        return () => this.metrics.openUpgrades.dec();
      });
    } catch (err) {
      route = 'rejected';
      const status = toStatus(err);
      rejectUpgrade(socket, status);
      code = status.code;
    }
    const seconds = (performance.now() - started) / 1000;
    this.metrics.requests.inc({ verb: info.verb, route, code: String(code) });
    this.log.info({ user: identity?.user, groups: identity?.groups, verb: info.verb, method: req.method, path: loggedUrl(req.url ?? '/'), upgrade: req.headers.upgrade, status: code, durationMs: Math.round(seconds * 1000), route }, 'request');
  }

  async #handleMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    if (info.path === '/metrics') {
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body);
    } else if (LOCAL_HEALTH_PATHS.has(info.path)) {
      this.#answerHealth(info, res, true);
    } else {
      res.writeHead(404).end();
    }
  }

  /**
   * Graceful stop: readiness fails at once, no new connections are accepted, watches end cleanly at an
   * event boundary, in-flight requests get `graceMs` to finish; then every connection is closed.
   */
  async shutdown(graceMs = this.config.shutdownGracePeriodMs): Promise<void> {
    if (this.#shutdown.signal.aborted) return;
    this.log.info({ inFlight: this.#inFlight, upgrades: this.#upgrades.size, http2Sessions: this.#sessions.size }, 'shutting down');
    this.#shutdown.abort();
    this.probe.stop();
    this.engine.api.close();
    this.#tls.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#sessions.closeGracefully();
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (this.#drained = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    this.#sessions.destroyAll();
    for (const socket of this.#upgrades) socket.destroy();
    await closed;
    if (this.#metricsServer) {
      this.#metricsServer.closeAllConnections();
      await new Promise<void>((resolve) => this.#metricsServer?.close(() => resolve()));
    }
    await this.engine.stop();
    await this.#redis?.quit().catch((err: Error) => this.log.warn({ err: err.message }, 'closing the Redis connection failed'));
    await this.#sharedCacheRedis?.quit().catch((err: Error) => this.log.warn({ err: err.message }, 'closing the shared-cache Redis connection failed'));
    this.upstream.close();
    this.log.info('stopped');
  }
}
