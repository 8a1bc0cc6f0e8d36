// Access reviews of tenant users. Tools (kubectl auth can-i, k9s, Lens, Headlamp) ask before they list;
// the apiserver would say no to what the proxy serves, so:
// - SelfSubjectAccessReview for get/list/watch of a kind the user's scope covers → allowed here;
//   anything else goes upstream as the user;
// - SelfSubjectRulesReview → the upstream answer for the user, plus the served kinds' read rules;
// - SelfSubjectReview (`kubectl auth whoami`, absent from 1.20) → the authenticated identity, for
//   everyone.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { upstreamRequestHeaders } from '../headers.ts';
import { effectiveGroups, type Identity } from '../identity.ts';
import type { RequestInfo } from '../request-info.ts';
import { StatusError } from '../status.ts';
import type { Scope } from '../tenancy/scope.ts';
import type { Upstream } from '../upstream.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { readSelfAccessReviewProtobuf } from './protobuf.ts';

const READ_VERBS = ['get', 'list', 'watch'];
const MAX_BODY_BYTES = 1 << 20;

export function isSelfReview(info: RequestInfo): boolean {
  if (info.verb !== 'create') return false;
  if (info.apiGroup === 'authentication.k8s.io') return info.resource === 'selfsubjectreviews';
  return info.apiGroup === 'authorization.k8s.io' && (info.resource === 'selfsubjectaccessreviews' || info.resource === 'selfsubjectrulesreviews');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new StatusError(413, '', 'Request entity too large: limit is 1048576');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, code: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return code;
}

export function answerSelfSubjectReview(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo): number {
  req.resume();
  const userInfo: Record<string, unknown> = { username: identity.user };
  if (identity.uid) userInfo.uid = identity.uid;
  userInfo.groups = effectiveGroups(identity.user, identity.groups);
  if (Object.keys(identity.extra).length > 0) userInfo.extra = identity.extra;
  return sendJson(res, 201, { kind: 'SelfSubjectReview', apiVersion: `authentication.k8s.io/${info.apiVersion}`, metadata: { creationTimestamp: null }, status: { userInfo } });
}

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

type ScopeOf = (group: string, version: string, resource: string) => Scope | undefined;

function parseReview(body: Buffer, contentType: string | undefined): { spec: { resourceAttributes?: ResourceAttributes }; json: boolean } | undefined {
  if ((contentType ?? '').includes('protobuf')) {
    const attributes = readSelfAccessReviewProtobuf(body);
    return attributes ? { spec: { resourceAttributes: attributes }, json: false } : undefined;
  }
  try {
    return { spec: (JSON.parse(body.toString('utf8')) as { spec?: { resourceAttributes?: ResourceAttributes } }).spec ?? {}, json: true };
  } catch {
    return undefined;
  }
}

export async function answerSelfAccessReview(req: IncomingMessage, res: ServerResponse, scopeOf: ScopeOf, visible: (scope: Scope, name: string) => boolean, upstream: Upstream, identity: Identity): Promise<{ code: number; route: 'local' | 'served' }> {
  const body = await readBody(req);
  const review = parseReview(body, req.headers['content-type']);
  const a = review?.spec.resourceAttributes;
  if (a && READ_VERBS.includes(a.verb ?? '') && !a.subresource) {
    const scope = scopeOf(a.group ?? '', a.version ?? '', a.resource ?? '');
    const clusterScoped = !a.namespace || (a.resource === 'namespaces' && a.group === '');
    // A named get is allowed only for an object in the view (else the GET itself would be 404).
    if (scope && clusterScoped && (!a.name || visible(scope, a.name))) {
      const spec = review?.json ? review.spec : { resourceAttributes: a };
      return { code: sendJson(res, 201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { allowed: true, reason: `tenant-proxy: ${a.resource} of the tenant's view` } }), route: 'local' };
    }
  }
  return { code: await relay(req, res, body, upstream, identity, undefined), route: 'served' };
}

export async function augmentRulesReview(req: IncomingMessage, res: ServerResponse, scopeOf: ScopeOf, served: ResourceType[], upstream: Upstream, identity: Identity): Promise<{ code: number; route: 'served' }> {
  const body = await readBody(req);
  const extraRules = served
    .filter((t) => scopeOf(t.group, t.version, t.resource) !== undefined)
    .map((t) => ({ verbs: READ_VERBS, apiGroups: [t.group], resources: [t.resource] }));
  return { code: await relay(req, res, body, upstream, identity, (answer) => {
    const status = (answer.status ??= {}) as { resourceRules?: unknown[] };
    status.resourceRules = [...(status.resourceRules ?? []), ...extraRules];
    return answer;
  }), route: 'served' };
}

/** Sends the review upstream as the user (asking for JSON), optionally rewriting the answer. */
function relay(req: IncomingMessage, res: ServerResponse, body: Buffer, upstream: Upstream, identity: Identity, rewrite: ((answer: Record<string, unknown>) => Record<string, unknown>) | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { ...upstreamRequestHeaders(req, identity), accept: 'application/json', 'content-length': body.length };
    upstream.requestOptions('POST', req.url ?? '/', headers).then((options) => {
      const upstreamReq = https.request(options, (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (c: Buffer) => chunks.push(c));
        upstreamRes.on('end', () => {
          const code = upstreamRes.statusCode ?? 502;
          let answer = Buffer.concat(chunks);
          if (rewrite && code === 201) answer = Buffer.from(JSON.stringify(rewrite(JSON.parse(answer.toString('utf8')) as Record<string, unknown>)));
          res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': answer.length });
          res.end(answer);
          resolve(code);
        });
        upstreamRes.on('error', reject);
      });
      upstreamReq.on('error', (err) => reject(new StatusError(502, 'BadGateway', `error trying to reach the API server: ${err.message}`)));
      upstreamReq.end(body);
    }, reject);
  });
}
