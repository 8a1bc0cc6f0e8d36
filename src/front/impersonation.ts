// Identity on the upstream hop. Every forwarded request carries Impersonate-* headers built from the
// authenticated identity. Impersonate-* headers sent by a client are honoured only when the caller may
// impersonate what it asks for (a SubjectAccessReview on verb `impersonate`, as the apiserver does,
// cached, and shared by the replicas under --redis); otherwise the request is refused with the
// apiserver's 403.
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { effectiveGroups, parseServiceAccount, type Identity } from '../basics/identity.ts';
import type { ProxyMetrics } from '../basics/metrics.ts';
import { StatusError, badRequest } from '../basics/status.ts';
import { field, SharedLevel, type SharedCacheContext } from '../basics/shared-cache.ts';
import { TtlCache } from '../basics/ttl-cache.ts';
import { parseUpstreamJson, type Upstream } from '../basics/upstream.ts';
import { headersDistinct, type ClientRequest } from '../basics/client-http.ts';

const EXTRA_PREFIX = 'impersonate-extra-';
const ACCESS_REVIEW_CACHE_SIZE = 10_000;

/** Headers that make the upstream request run as `identity`. Repeated headers stay separate lines. */
export function impersonationHeaders(identity: Identity): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'impersonate-user': identity.user };
  if (identity.groups.length > 0) headers['impersonate-group'] = [...identity.groups];
  if (identity.uid) headers['impersonate-uid'] = identity.uid;
  for (const [key, values] of Object.entries(identity.extra)) {
    if (values.length > 0) headers[EXTRA_PREFIX + encodeExtraKey(key)] = [...values];
  }
  return headers;
}

// The apiserver percent-decodes extra keys (url.PathEscape on the client side) and lowercases them.
function encodeExtraKey(key: string): string {
  return encodeURIComponent(key.toLowerCase()).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function isImpersonationHeader(name: string): boolean {
  return name.toLowerCase().startsWith('impersonate-');
}

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  name?: string;
  namespace?: string;
  subresource?: string;
}

/**
 * Asks the apiserver whether `identity` may do something (SubjectAccessReview), with a TTL cache; with a
 * shared store (--redis), a local miss asks the replicas' shared cache (keyed by the question's SHA-256)
 * before reviewing.
 */
export class AccessReviewer {
  readonly #upstream: Upstream;
  readonly #metrics: ProxyMetrics;
  readonly #ttlMs: number;
  readonly #cache: TtlCache<boolean>;
  readonly #shared: SharedLevel<boolean> | undefined;

  constructor(upstream: Upstream, metrics: ProxyMetrics, ttlMs: number, shared?: SharedCacheContext) {
    this.#upstream = upstream;
    this.#metrics = metrics;
    this.#ttlMs = ttlMs;
    this.#cache = new TtlCache(ACCESS_REVIEW_CACHE_SIZE);
    this.#shared = shared && new SharedLevel(shared, 'access', { encode: (allowed) => JSON.stringify({ allowed }), decode: decodeAllowed });
  }

  allowed(identity: Identity, attributes: ResourceAttributes): Promise<boolean> {
    const key = JSON.stringify([identity.user, identity.uid ?? '', identity.groups, identity.extra, attributes]);
    const review = async () => ({ value: await this.#review(identity, attributes), ttlMs: this.#ttlMs });
    const shared = this.#shared;
    return this.#cache.getOrCompute(key, shared ? () => shared.through(createHash('sha256').update(key).digest('hex'), review) : review);
  }

  async #review(identity: Identity, attributes: ResourceAttributes): Promise<boolean> {
    let response;
    try {
      response = await this.#upstream.json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: identity.user, uid: identity.uid, groups: identity.groups, extra: identity.extra, resourceAttributes: attributes },
      });
    } catch (err) {
      this.#metrics.accessReviews.inc({ result: 'error' });
      throw new StatusError(502, 'BadGateway', `unable to authorize the request: the API server is unreachable: ${(err as Error).message}`);
    }
    if (response.status !== 201 && response.status !== 200) {
      this.#metrics.accessReviews.inc({ result: 'error' });
      throw new StatusError(500, 'InternalError', `unable to authorize the request: SubjectAccessReview answered ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`);
    }
    const allowed = parseUpstreamJson<{ status?: { allowed?: boolean } }>(response, 'unable to authorize the request: SubjectAccessReview').status?.allowed === true;
    this.#metrics.accessReviews.inc({ result: allowed ? 'allowed' : 'denied' });
    return allowed;
  }
}

function decodeAllowed(json: unknown): boolean | undefined {
  const allowed = field(json, 'allowed');
  return typeof allowed === 'boolean' ? allowed : undefined;
}

interface RequestedImpersonation {
  user?: string;
  groups: string[];
  uid?: string;
  extra: Record<string, string[]>;
}

/**
 * Whether any header asks for impersonation, read from the raw headers: Node keeps the object
 * `headersDistinct` builds for as long as the request lives, which for a watch is its whole life.
 */
function asksImpersonation(req: ClientRequest): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (isImpersonationHeader(raw[i] ?? '')) return true;
  return false;
}

function requestedImpersonation(req: ClientRequest): RequestedImpersonation | undefined {
  if (!asksImpersonation(req)) return undefined;
  const requested: RequestedImpersonation = { groups: [], extra: {} };
  let any = false;
  for (const [name, values] of Object.entries(headersDistinct(req))) {
    if (!values || !isImpersonationHeader(name)) continue;
    any = true;
    if (name === 'impersonate-user') requested.user = values[0];
    else if (name === 'impersonate-group') requested.groups.push(...values);
    else if (name === 'impersonate-uid') requested.uid = values[0];
    else if (name.startsWith(EXTRA_PREFIX)) {
      const key = decodeURIComponent(name.slice(EXTRA_PREFIX.length)).toLowerCase();
      (requested.extra[key] ??= []).push(...values);
    }
  }
  return any ? requested : undefined;
}

/**
 * The identity a request runs as: the caller's own, or the one its Impersonate-* headers ask for when
 * the caller is allowed every part of it.
 */
export async function resolveImpersonation(req: ClientRequest, caller: Identity, reviewer: AccessReviewer): Promise<Identity> {
  const requested = requestedImpersonation(req);
  if (!requested) return caller;
  if (!requested.user) {
    throw badRequest(`requested impersonation of ${requested.groups.length ? 'groups' : requested.uid ? 'a uid' : 'extra attributes'} without impersonating a user`);
  }
  const checks: { attributes: ResourceAttributes; what: string; name: string }[] = [];
  const sa = parseServiceAccount(requested.user);
  checks.push(
    sa
      ? { attributes: { verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name }, what: 'serviceaccounts', name: sa.name }
      : { attributes: { verb: 'impersonate', group: '', resource: 'users', name: requested.user }, what: 'users', name: requested.user },
  );
  for (const group of requested.groups) checks.push({ attributes: { verb: 'impersonate', group: '', resource: 'groups', name: group }, what: 'groups', name: group });
  for (const [key, values] of Object.entries(requested.extra)) {
    for (const value of values) {
      checks.push({ attributes: { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: value }, what: 'userextras', name: value });
    }
  }
  if (requested.uid) checks.push({ attributes: { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: requested.uid }, what: 'uids', name: requested.uid });

  for (const check of checks) {
    if (!(await reviewer.allowed(caller, check.attributes))) throw impersonationForbidden(caller, check.attributes, check.name);
  }
  return { user: requested.user, uid: requested.uid, groups: effectiveGroups(requested.user, requested.groups), extra: requested.extra };
}

function impersonationForbidden(caller: Identity, a: ResourceAttributes, name: string): StatusError {
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return new StatusError(403, 'Forbidden', `${qualified} "${name}" is forbidden: User "${caller.user}" cannot impersonate resource "${resource}" in API group "${a.group}" ${scope}`, {
    name,
    group: a.group || undefined,
    kind: a.resource,
  });
}
