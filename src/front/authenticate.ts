// Authenticates each caller, in order: a TLS client certificate verified against the client CA
// (user = CN, groups = O), else a bearer token (Authorization header, or the websocket subprotocol
// `base64url.bearer.authorization.k8s.io.<token>`) checked by a TokenReview upstream, else 401.
//
// TokenReview results are cached by the token's hash, positive and negative alike, bounded in size and
// never past a JWT's own expiry; concurrent requests with one token share one review. An empty or
// malformed credential is rejected, never treated as anonymous. Upstream failures are not cached.
// With a shared store (--redis) a local miss asks the replicas' shared cache before reviewing, and a
// review's outcome (never the token) is shared for the same TTL: a client moving between replicas
// costs no further review.
import { createHash, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { Identity } from '../basics/identity.ts';
import type { ProxyMetrics } from '../basics/metrics.ts';
import { StatusError, unauthorized } from '../basics/status.ts';
import { field, isStringArray, SharedLevel, type SharedCacheContext } from '../basics/shared-cache.ts';
import { TtlCache } from '../basics/ttl-cache.ts';
import { parseUpstreamJson, type Upstream } from '../basics/upstream.ts';
import { tlsSocketOf, type ClientRequest } from '../basics/client-http.ts';

export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

export interface AuthenticatorOptions {
  upstream: Upstream;
  metrics: ProxyMetrics;
  tokenCacheTtlMs: number;
  tokenNegativeCacheTtlMs: number;
  tokenCacheSize: number;
  /** The client CA bundle in force now (it is reloaded when its file changes). */
  clientCa?: () => ClientCa;
  /** The replicas' shared cache of review outcomes (--redis). */
  shared?: SharedCacheContext;
  now?: () => number;
}

/** The CA certificates that verify client certificates, and a number that changes when they do. */
export interface ClientCa {
  generation: number;
  certificates: readonly X509Certificate[];
}

type Review = { ok: true; identity: Identity } | { ok: false; reason: string };

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  error?: string;
}

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #cache: TtlCache<Review>;
  readonly #shared: SharedLevel<Review> | undefined;
  readonly #now: () => number;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#cache = new TtlCache(options.tokenCacheSize, this.#now);
    this.#shared = options.shared && new SharedLevel(options.shared, 'token', { encode: encodeReview, decode: decodeReview });
  }

  async authenticate(req: ClientRequest): Promise<Identity> {
    const fromCertificate = this.#certificateIdentity(tlsSocketOf(req));
    if (fromCertificate) return fromCertificate;
    const token = bearerToken(req);
    if (token === undefined) throw unauthorized();
    const key = createHash('sha256').update(token).digest('hex');
    const review = await this.#cache.getOrCompute(key, () => (this.#shared ? this.#shared.through(key, () => this.#review(token)) : this.#review(token)));
    if (!review.ok) throw unauthorized();
    return review.identity;
  }

  async #review(token: string): Promise<{ value: Review; ttlMs: number }> {
    const { upstream, metrics } = this.#options;
    let response;
    try {
      response = await upstream.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      });
    } catch (err) {
      metrics.tokenReviews.inc({ result: 'error' });
      throw new StatusError(502, 'BadGateway', `unable to authenticate the request: the API server is unreachable: ${(err as Error).message}`);
    }
    if (response.status !== 201 && response.status !== 200) {
      metrics.tokenReviews.inc({ result: 'error' });
      const code = response.status >= 500 ? 502 : 500;
      throw new StatusError(code, code === 502 ? 'BadGateway' : 'InternalError', `unable to authenticate the request: TokenReview answered ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`);
    }
    const status = parseUpstreamJson<{ status?: TokenReviewStatus }>(response, 'unable to authenticate the request: TokenReview').status ?? {};
    if (!status.authenticated || !status.user?.username) {
      metrics.tokenReviews.inc({ result: 'rejected' });
      return { value: { ok: false, reason: status.error ?? 'not authenticated' }, ttlMs: this.#options.tokenNegativeCacheTtlMs };
    }
    metrics.tokenReviews.inc({ result: 'authenticated' });
    const identity: Identity = {
      user: status.user.username,
      uid: status.user.uid || undefined,
      groups: status.user.groups ?? [],
      extra: status.user.extra ?? {},
    };
    const ttl = Math.min(this.#options.tokenCacheTtlMs, jwtLifetimeMs(token, this.#now()));
    return { value: { ok: true, identity }, ttlMs: ttl };
  }

  /**
   * The identity of the connection's client certificate, checked on every request as the apiserver
   * checks it: still within its validity, and still issued by the client CA in force (a reload may have
   * removed its CA since the handshake). A certificate that fails is a 401, never a fall-through to a
   * bearer token.
   */
  #certificateIdentity(socket: TLSSocket): Identity | undefined {
    let peer = peerOfSocket.get(socket);
    if (peer === undefined) {
      peer = readPeer(socket);
      peerOfSocket.set(socket, peer);
    }
    if (!peer) return undefined;
    const now = this.#now();
    if (now < peer.validFromMs || now > peer.validToMs) throw unauthorized();
    const ca = this.#options.clientCa?.();
    if (ca && ca.generation !== peer.checkedGeneration) {
      if (!issuedByAny(peerChain(peer.socket), ca.certificates)) throw unauthorized();
      peer.checkedGeneration = ca.generation;
    }
    return peer.identity;
  }
}

/** What a shared entry holds: the outcome only (the rejection's reason stays with the replica that reviewed). */
function encodeReview(review: Review): string {
  if (!review.ok) return JSON.stringify({ authenticated: false });
  const { user, uid, groups, extra } = review.identity;
  return JSON.stringify({ authenticated: true, user, uid, groups, extra });
}

function decodeReview(json: unknown): Review | undefined {
  const authenticated = field(json, 'authenticated');
  if (authenticated === false) return { ok: false, reason: 'rejected by a review on another replica' };
  const [user, uid, groups, extra] = ['user', 'uid', 'groups', 'extra'].map((name) => field(json, name));
  if (authenticated !== true || typeof user !== 'string' || !user || (uid !== undefined && typeof uid !== 'string') || !isStringArray(groups)) return undefined;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra) || !Object.values(extra).every(isStringArray)) return undefined;
  return { ok: true, identity: { user, uid: uid || undefined, groups, extra: extra as Record<string, string[]> } };
}

interface Peer {
  identity: Identity;
  validFromMs: number;
  validToMs: number;
  socket: TLSSocket;
  /** The client CA generation the chain was last verified against (the handshake's: 0). */
  checkedGeneration: number;
}

// A keep-alive connection carries many requests with one certificate: parse it once, check it each time.
const peerOfSocket = new WeakMap<TLSSocket, Peer | null>();

/** What a certificate says of its holder: a function of the certificate's bytes alone. */
type Holder = Pick<Peer, 'identity' | 'validFromMs' | 'validToMs'>;

// Every connection a kubeconfig opens presents the same certificate, and reading one into an object costs
// more than its TLS handshake's share of the main thread: a reconnect storm is thousands a second. So a
// certificate is read once, found again by the SHA-256 of its bytes, and kept no longer than it is valid.
const holderOfCertificate = new TtlCache<Holder>(10_000);

function readPeer(socket: TLSSocket): Peer | null {
  if (typeof socket.getPeerX509Certificate !== 'function' || !socket.authorized) return null;
  const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
  if (fingerprint === undefined) return null;
  let holder = holderOfCertificate.get(fingerprint);
  if (holder === undefined) {
    const read = readHolder(socket);
    if (!read) return null;
    holderOfCertificate.set(fingerprint, read, read.validToMs - Date.now());
    holder = read;
  }
  return { ...holder, socket, checkedGeneration: 0 };
}

function readHolder(socket: TLSSocket): Holder | null {
  const certificate = socket.getPeerCertificate();
  const subject = certificate.subject as unknown as Record<string, string | string[] | undefined> | undefined;
  const cn = first(subject?.CN);
  if (!cn) return null;
  return { identity: { user: cn, groups: all(subject?.O), extra: {} }, validFromMs: Date.parse(certificate.valid_from), validToMs: Date.parse(certificate.valid_to) };
}

/**
 * The client's certificate and the intermediates it sent, leaf first: parsed only when a CA reload asks
 * for a new check (thousands of connections a second must not each pay for X.509 parsing).
 */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
  }
  return chain;
}

/** Some certificate of the chain is signed by one of the CAs (the chain itself was verified at the handshake). */
function issuedByAny(chain: readonly X509Certificate[], cas: readonly X509Certificate[]): boolean {
  return chain.some((cert) => cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)));
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function all(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * The bearer token of a request, or undefined when it carries none. A present but empty or malformed
 * credential is an error, so that it can never fall through to "no credentials".
 */
export function bearerToken(req: ClientRequest): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer +([^\s]+) *$/i.exec(header);
    if (!m || !m[1]) throw unauthorized();
    return m[1];
  }
  // As the apiserver's websocket ProtocolAuthenticator: websocket upgrades only, exactly one token
  // subprotocol, unpadded base64url of valid UTF-8, and at least one other subprotocol to answer with.
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols === undefined || !isWebSocketRequest(req)) return undefined;
  const offered = protocols.split(',').map((s) => s.trim());
  const tokens = offered.filter((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (tokens.length === 0) return undefined;
  if (tokens.length > 1 || tokens.length === offered.length) throw unauthorized();
  const encoded = (tokens[0] ?? '').slice(BEARER_PROTOCOL_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded) || encoded.length % 4 === 1) throw unauthorized();
  let token: string;
  try {
    token = UTF8.decode(Buffer.from(encoded, 'base64url'));
  } catch {
    throw unauthorized();
  }
  if (!token || /\s/.test(token)) throw unauthorized();
  return token;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** wsstream.IsWebSocketRequest: `Upgrade: websocket` and a Connection header naming upgrade. */
function isWebSocketRequest(req: ClientRequest): boolean {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  return (req.headers.connection ?? '').toLowerCase().includes('upgrade');
}

/** Time until a JWT's `exp`, or Infinity for opaque tokens (no expiry to respect). */
export function jwtLifetimeMs(token: string, now: number): number {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return Infinity;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 - now : Infinity;
  } catch {
    return Infinity;
  }
}
