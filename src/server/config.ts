// Command-line flags and their environment variables: one table documents, parses and validates them.
// A flag beats its environment variable, which beats the default.

export interface Config {
  listen: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  certDir: string;
  clientCaFile: string;
  kubeconfig: string;
  context: string;
  ignoredUserGroups: string[];
  tokenCacheTtlMs: number;
  tokenNegativeCacheTtlMs: number;
  tokenCacheSize: number;
  accessReviewCacheTtlMs: number;
  upstreamTimeoutMs: number;
  watchHistoryMs: number;
  shutdownGracePeriodMs: number;
  tlsHandshakeTimeoutMs: number;
  requestHeaderTimeoutMs: number;
  clientIdleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  metricsListen: string;
  logLevel: string;
  redis: string;
  redisKeyPrefix: string;
  leaseTtlMs: number;
  replicaId: string;
  sharedAuthKeyFile: string;
  insecureUnsignedRedis: boolean;
}

/** A `switch` is true when named alone (`--flag`), or set with `--flag=true|false` (never the next argument). */
type Kind = 'string' | 'list' | 'duration' | 'integer' | 'switch';

interface FlagSpec {
  key: keyof Config;
  flag: string;
  kind: Kind;
  default: string;
  help: string;
}

const FLAGS: readonly FlagSpec[] = [
  { key: 'listen', flag: 'listen', kind: 'string', default: '0.0.0.0:9001', help: 'address:port of the HTTPS listener' },
  { key: 'tlsCertFile', flag: 'tls-cert-file', kind: 'string', default: '', help: 'serving certificate (PEM); reloaded when it changes. Without it a self-signed one is generated' },
  { key: 'tlsKeyFile', flag: 'tls-key-file', kind: 'string', default: '', help: 'serving key (PEM) for --tls-cert-file' },
  { key: 'certDir', flag: 'cert-dir', kind: 'string', default: '', help: 'where the generated self-signed CA and serving certificate are kept (default: ~/.cache/tenant-proxy/serving)' },
  { key: 'clientCaFile', flag: 'client-ca-file', kind: 'string', default: '', help: 'CA bundle verifying client certificates (default: the upstream cluster CA)' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: 'string', default: '', help: 'kubeconfig of the proxy itself; else the in-cluster service account, else $KUBECONFIG, else ~/.kube/config' },
  { key: 'context', flag: 'context', kind: 'string', default: '', help: 'kubeconfig context to use (default: the current one)' },
  { key: 'ignoredUserGroups', flag: 'ignored-user-groups', kind: 'list', default: 'system:masters', help: 'comma-separated groups whose members are always forwarded unfiltered' },
  { key: 'tokenCacheTtlMs', flag: 'token-cache-ttl', kind: 'duration', default: '2m', help: 'how long an accepted bearer token is trusted without a new TokenReview (never past a JWT expiry)' },
  { key: 'tokenNegativeCacheTtlMs', flag: 'token-negative-cache-ttl', kind: 'duration', default: '10s', help: 'how long a rejected bearer token stays rejected without a new TokenReview' },
  { key: 'tokenCacheSize', flag: 'token-cache-size', kind: 'integer', default: '10000', help: 'maximum number of cached TokenReview results' },
  { key: 'accessReviewCacheTtlMs', flag: 'access-review-cache-ttl', kind: 'duration', default: '1m', help: 'how long a SubjectAccessReview answer (impersonation checks) is cached' },
  { key: 'upstreamTimeoutMs', flag: 'upstream-timeout', kind: 'duration', default: '75s', help: 'time to wait for the API server to start answering before a 504' },
  { key: 'watchHistoryMs', flag: 'watch-history', kind: 'duration', default: '75s', help: 'how long watch events are kept for clients resuming from a resourceVersion (each tenant view also keeps its last 10, and at most 1,000); older resourceVersions get 410 Expired, as from the API server\'s watch cache' },
  { key: 'shutdownGracePeriodMs', flag: 'shutdown-grace-period', kind: 'duration', default: '30s', help: 'on SIGTERM, how long in-flight requests may take to finish' },
  { key: 'tlsHandshakeTimeoutMs', flag: 'tls-handshake-timeout', kind: 'duration', default: '30s', help: 'a client connection that has not completed its TLS handshake by then is closed (generous: thousands of watchers reconnecting at once queue their handshakes on one core)' },
  { key: 'requestHeaderTimeoutMs', flag: 'request-header-timeout', kind: 'duration', default: '30s', help: 'a client that has not sent a whole request head by then (counted from the connection, or from the first byte of a request on a kept-alive one) gets 408 and is disconnected' },
  { key: 'clientIdleTimeoutMs', flag: 'client-idle-timeout', kind: 'duration', default: '90s', help: 'a kept-alive connection with no request for this long is closed, and so is one that stops reading an answer served from the proxy\'s state (watches, exec and forwarded streams are never cut)' },
  { key: 'maxConnections', flag: 'max-connections', kind: 'integer', default: '20000', help: 'client connections open at once, an HTTP/2 session counting as one; past it new ones are closed at once. The same number bounds the requests open at once over HTTP/2, across all sessions (an HTTP/1.1 connection carries one at a time); past it a new one gets 429 with Retry-After. Both counted in tenant_proxy_client_connections_rejected_total (0: no limit). Each watch costs ~60 KiB' },
  { key: 'maxConnectionsPerAddress', flag: 'max-connections-per-address', kind: 'integer', default: '0', help: 'client connections open at once from one IP address (0: no limit, the default: behind a TCP load balancer every client shares its address)' },
  { key: 'metricsListen', flag: 'metrics-listen', kind: 'string', default: '0.0.0.0:9002', help: 'address:port of the plain-HTTP Prometheus /metrics listener ("" to disable)' },
  { key: 'redis', flag: 'redis', kind: 'string', default: '', help: 'redis:// or rediss:// URL (password in the URL) of the Redis that coordinates replicas: one upstream watch per type for the whole deployment, one change log so every replica hands out the same resourceVersions. Without it the proxy runs alone' },
  { key: 'redisKeyPrefix', flag: 'redis-key-prefix', kind: 'string', default: '{tenant-proxy}:', help: 'prefix of every Redis key of this deployment (a hash tag, so that a Redis Cluster keeps them in one slot)' },
  { key: 'leaseTtlMs', flag: 'lease-ttl', kind: 'duration', default: '15s', help: 'how long the leader\'s lease lasts without renewal (renewed every third of it): the longest a dead leader holds up the upstream watches' },
  { key: 'replicaId', flag: 'replica-id', kind: 'string', default: '', help: 'this replica\'s name in the lease and the logs (default: host name and pid)' },
  { key: 'sharedAuthKeyFile', flag: 'shared-auth-key-file', kind: 'string', default: '', help: 'with --redis: a file holding a secret of at least 32 bytes, the same for every replica; it signs the change log and snapshots in Redis (a replica refuses what does not verify), and TokenReview and impersonation SubjectAccessReview results are then shared through Redis, signed with it (whoever can write to Redis cannot choose who a token is). Required with --redis unless --insecure-unsigned-redis' },
  { key: 'insecureUnsignedRedis', flag: 'insecure-unsigned-redis', kind: 'switch', default: 'false', help: 'with --redis and no --shared-auth-key-file: start anyway, nothing signed. Whoever can write to Redis then decides what every replica serves, and which writes tenant-proxy performs for tenants with its own credentials; each replica reviews tokens for itself. For a Redis no one else can reach, in development' },
  { key: 'logLevel', flag: 'log-level', kind: 'string', default: 'info', help: 'pino log level: trace, debug, info, warn, error' },
];

export function envName(flag: string): string {
  return `TENANT_PROXY_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export function helpText(): string {
  const lines = ['Usage: tenant-proxy [flags]', '', 'Every flag can also be set by its environment variable.', ''];
  for (const f of FLAGS) {
    const value = f.kind === 'switch' ? '' : ` <${f.kind === 'string' ? 'value' : f.kind}>`;
    lines.push(`  --${f.flag}${value}   (${envName(f.flag)})`);
    lines.push(`      ${f.help}${f.default && f.kind !== 'switch' ? ` [default: ${f.default}]` : ''}`);
  }
  lines.push('', 'Durations: 500ms, 30s, 5m, 1h.', '  --help   print this text');
  return lines.join('\n');
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}": use e.g. 500ms, 30s, 5m, 1h`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export type ParseResult = { kind: 'help' } | { kind: 'config'; config: Config };

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new Error(`unknown flag --${name} (see --help)`);
    const value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : spec.kind === 'switch' ? 'true' : argv[++i];
    if (value === undefined) throw new Error(`flag --${name} needs a value`);
    given.set(name, value);
  }
  const config: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const raw = given.get(f.flag) ?? env[envName(f.flag)] ?? f.default;
    try {
      config[f.key] = convert(f, raw);
    } catch (err) {
      throw new Error(`--${f.flag}: ${(err as Error).message}`);
    }
  }
  const result = config as unknown as Config;
  if (!!result.tlsCertFile !== !!result.tlsKeyFile) throw new Error('--tls-cert-file and --tls-key-file go together');
  if (result.redis && !result.sharedAuthKeyFile && !result.insecureUnsignedRedis) {
    throw new Error('--redis needs --shared-auth-key-file: the change log and snapshots in Redis decide what every replica serves and which writes tenant-proxy performs with its own credentials, so they are signed with the deployment\'s key (give every replica the same file). To run on an unsigned Redis no one else can reach, say so with --insecure-unsigned-redis');
  }
  return { kind: 'config', config: result };
}

function convert(f: FlagSpec, raw: string): unknown {
  switch (f.kind) {
    case 'string':
      return raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'duration':
      return parseDuration(raw);
    case 'integer': {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new Error(`"${raw}" is not a non-negative integer`);
      return n;
    }
    case 'switch':
      if (raw !== 'true' && raw !== 'false') throw new Error(`"${raw}" is neither true nor false`);
      return raw === 'true';
  }
}

/** Splits "host:port" (IPv6 in brackets) for net.listen. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`invalid address "${address}": want host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}
