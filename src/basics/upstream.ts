// The proxy's own connection to the API server: where it is, how to trust it, and the proxy's own
// credentials (client certificate, static token, rotating token file or a kubeconfig auth plugin).
// Precedence: --kubeconfig, then the in-cluster service account, then $KUBECONFIG, then ~/.kube/config.
//
// Every upstream request goes through one keep-alive https.Agent. The Authorization header is fetched
// per request from a source that follows rotation: in-cluster bound tokens are re-read when the file
// changes (they rotate hourly; keeping the first one kills the proxy after an hour).
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { homedir } from 'node:os';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { StatusError } from './status.ts';

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const AUTH_PLUGIN_REFRESH_MS = 10_000;
const TOKEN_FILE_STAT_INTERVAL_MS = 1_000;

export interface UpstreamOptions {
  kubeconfig?: string;
  context?: string;
  /** A directory standing for "/" when looking for the in-cluster service-account files (tests). */
  inClusterRoot?: string;
  env?: NodeJS.ProcessEnv;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class Upstream {
  readonly server: URL;
  readonly caPem: string | undefined;
  readonly agent: https.Agent;
  /** Where the credentials came from, for the start-up log. */
  readonly source: string;
  readonly #authorization: () => Promise<string | undefined>;

  constructor(server: URL, caPem: string | undefined, agent: https.Agent, authorization: () => Promise<string | undefined>, source: string) {
    this.server = server;
    this.caPem = caPem;
    this.agent = agent;
    this.#authorization = authorization;
    this.source = source;
  }

  /** The proxy's own Authorization header value, if it authenticates by token. */
  authorization(): Promise<string | undefined> {
    return this.#authorization();
  }

  /** Request options for a raw https.request to `path` with the proxy's credentials. */
  async requestOptions(method: string, path: string, headers: OutgoingHttpHeaders): Promise<https.RequestOptions> {
    const auth = await this.#authorization();
    const h: OutgoingHttpHeaders = { ...headers, host: this.server.host };
    if (auth) h.authorization = auth;
    return { protocol: 'https:', hostname: this.server.hostname, port: this.server.port || 443, method, path: this.server.pathname.replace(/\/$/, '') + path, headers: h, agent: this.agent };
  }

  /** A small JSON request with the proxy's own identity (reviews, probes). */
  json(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<UpstreamResponse> {
    return this.send(method, path, { body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)), contentType: 'application/json', timeoutMs });
  }

  /**
   * One request with the proxy's own identity, answered whole (bounded by the apiserver's own answers:
   * objects, Status, reviews). `headers` are added as given (e.g. impersonation).
   */
  async send(method: string, path: string, options: { body?: Buffer; contentType?: string; timeoutMs?: number; headers?: OutgoingHttpHeaders } = {}): Promise<UpstreamResponse> {
    const { body, timeoutMs = 15_000 } = options;
    const requestOptions = await this.requestOptions(method, path, {
      accept: 'application/json',
      ...options.headers,
      ...(body ? { 'content-type': options.contentType ?? 'application/json', 'content-length': body.length } : {}),
    });
    return new Promise((resolve, reject) => {
      const req = https.request(requestOptions, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new UpstreamTimeoutError(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export class UpstreamTimeoutError extends Error {}

/**
 * The one way the proxy reads an upstream answer's JSON: what is not JSON (a broken or impostor
 * upstream, a proxy in between answering HTML) becomes a 502 naming what was being read, never an
 * exception thrown wherever the parse happened to run.
 */
export function parseUpstreamJson<T>(response: Pick<UpstreamResponse, 'status' | 'body'>, what: string): T {
  try {
    return JSON.parse(response.body.toString('utf8')) as T;
  } catch (err) {
    const shown = response.body.subarray(0, 120).toString('utf8').replace(/\s+/g, ' ');
    throw new StatusError(502, 'BadGateway', `${what}: the API server answered ${response.status} with a body that is not JSON (${(err as Error).message}): ${JSON.stringify(shown)}`);
  }
}

/** Resolves the upstream API server and the proxy's credentials, in the documented precedence. */
export async function loadUpstream(options: UpstreamOptions = {}): Promise<Upstream> {
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  let source: string;
  const inClusterRoot = (options.inClusterRoot ?? '').replace(/\/$/, '');
  const inClusterDir = inClusterRoot + IN_CLUSTER_DIR;
  if (options.kubeconfig) {
    kc.loadFromFile(options.kubeconfig);
    source = `kubeconfig ${options.kubeconfig}`;
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(path.join(inClusterDir, 'token'))) {
    kc.loadFromCluster(inClusterRoot);
    // client-node reads the service host and port from process.env: take them from `env` instead.
    const host = env.KUBERNETES_SERVICE_HOST;
    const server = `https://${isIPv6(host) ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || '443'}`;
    kc.clusters = kc.clusters.map((c) => ({ ...c, server }));
    source = `in-cluster service account (${inClusterDir})`;
  } else if (env.KUBECONFIG) {
    for (const file of env.KUBECONFIG.split(path.delimiter).filter(Boolean)) {
      if (existsSync(file)) {
        kc.loadFromFile(file);
        break;
      }
    }
    source = `$KUBECONFIG ${env.KUBECONFIG}`;
  } else {
    const file = path.join(homedir(), '.kube/config');
    if (!existsSync(file)) throw new Error('no upstream credentials: pass --kubeconfig, run in a cluster, or set $KUBECONFIG / ~/.kube/config');
    kc.loadFromFile(file);
    source = `kubeconfig ${file}`;
  }
  if (options.context) kc.setCurrentContext(options.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${source}: no current cluster`);
  const server = new URL(cluster.server);
  if (server.protocol !== 'https:') throw new Error(`${source}: upstream ${cluster.server} is not HTTPS`);

  const tls: https.RequestOptions & { headers?: Record<string, string> } = { headers: {} };
  await kc.applyToHTTPSOptions(tls);
  const caPem = tls.ca === undefined ? undefined : Buffer.isBuffer(tls.ca) ? tls.ca.toString('utf8') : String(tls.ca);
  const agent = new https.Agent({
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: tls.rejectUnauthorized,
    servername: cluster.tlsServerName,
    keepAlive: true,
    maxSockets: Infinity,
    maxFreeSockets: 256,
    scheduling: 'lifo',
  });

  const user = kc.getCurrentUser();
  const tokenFile = (user?.authProvider as { name?: string; config?: { tokenFile?: string } } | undefined)?.config?.tokenFile;
  let authorization: () => Promise<string | undefined>;
  if (tokenFile) {
    const source = new TokenFileSource(tokenFile);
    authorization = async () => `Bearer ${source.token()}`;
  } else if (user?.exec || user?.authProvider) {
    authorization = refreshingPluginAuthorization(kc);
  } else {
    const header = tls.headers?.Authorization ?? tls.headers?.authorization;
    authorization = async () => header;
  }
  return new Upstream(server, caPem, agent, authorization, source);
}

/** A bearer token kept in a file that is replaced when it rotates: re-read whenever it changes. */
export class TokenFileSource {
  readonly #file: string;
  #token = '';
  #stamp = '';
  #checkedAt = 0;

  constructor(file: string) {
    this.#file = file;
    this.#reload();
  }

  token(): string {
    const now = Date.now();
    if (now - this.#checkedAt >= TOKEN_FILE_STAT_INTERVAL_MS) {
      this.#checkedAt = now;
      this.#reload();
    }
    return this.#token;
  }

  #reload(): void {
    try {
      const st = statSync(this.#file);
      const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (stamp === this.#stamp) return;
      const token = readFileSync(this.#file, 'utf8').trim();
      if (token) {
        this.#token = token;
        this.#stamp = stamp;
      }
    } catch (err) {
      // Kubelet swaps the file through a symlink; a read between unlink and link fails once. Keep the
      // previous token until the next check, but never start without one.
      if (!this.#token) throw new Error(`cannot read token file ${this.#file}: ${(err as Error).message}`);
    }
  }
}

function refreshingPluginAuthorization(kc: KubeConfig): () => Promise<string | undefined> {
  let cached: { value: string | undefined; at: number } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < AUTH_PLUGIN_REFRESH_MS) return cached.value;
    const opts: https.RequestOptions & { headers: Record<string, string> } = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    cached = { value: opts.headers.Authorization ?? opts.headers.authorization, at: Date.now() };
    return cached.value;
  };
}
