// Access reviews of tenant users. Tools (kubectl auth can-i, k9s, Lens, Headlamp) ask before they list;
// the apiserver would say no to what the proxy serves, so:
// - SelfSubjectAccessReview for get/list/watch of a kind the user's scope covers → allowed here;
//   anything else goes upstream as the user;
// - SelfSubjectRulesReview → the upstream answer for the user, plus the served kinds' read rules;
// - SelfSubjectReview (`kubectl auth whoami`, absent from 1.20) → the authenticated identity, for
//   everyone.
import { effectiveGroups, type Identity } from '../basics/identity.ts';
import { impersonationHeaders } from '../front/impersonation.ts';
import type { RequestInfo } from '../front/request-info.ts';
import { badRequest, StatusError } from '../basics/status.ts';
import type { Scope } from '../tenancy/scope.ts';
import { parseUpstreamJson, type Upstream } from '../basics/upstream.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { isPlainObject, mediaTypeOf, parseYamlBody, readRequestBody, upstreamUrl } from './own-requests.ts';
import { readSelfAccessReviewProtobuf } from './protobuf.ts';
import type { ClientRequest, ClientResponse } from '../basics/client-http.ts';

const READ_VERBS = ['get', 'list', 'watch'];
const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const REVIEW_KINDS: Record<string, string> = { selfsubjectaccessreviews: 'SelfSubjectAccessReview', selfsubjectrulesreviews: 'SelfSubjectRulesReview', selfsubjectreviews: 'SelfSubjectReview' };

export function isSelfReview(info: RequestInfo): boolean {
  if (info.verb !== 'create') return false;
  if (info.apiGroup === 'authentication.k8s.io') return info.resource === 'selfsubjectreviews';
  return info.apiGroup === 'authorization.k8s.io' && (info.resource === 'selfsubjectaccessreviews' || info.resource === 'selfsubjectrulesreviews');
}

/**
 * A review's body, read and checked as the apiserver decodes a create: JSON (or nothing but a content
 * type it knows), else 415; JSON that does not parse to an object, 400. Protobuf stays bytes.
 */
async function readReview(req: ClientRequest, info: RequestInfo): Promise<{ body: Buffer; protobuf: boolean; json: Record<string, unknown> | undefined }> {
  const body = await readRequestBody(req);
  const mediaType = mediaTypeOf(req.headers['content-type']) || 'application/json';
  if (mediaType === PROTOBUF) return { body, protobuf: true, json: undefined };
  if (mediaType !== 'application/json' && mediaType !== 'application/yaml') {
    throw new StatusError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf');
  }
  const unrecognized = (reason: string) => badRequest(`the object provided is unrecognized (must be of type ${REVIEW_KINDS[info.resource] ?? 'Review'}): couldn't get version/kind; ${reason}`);
  let json: unknown;
  try {
    json = mediaType === 'application/yaml' ? parseYamlBody(body, 'yaml') : JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw unrecognized(`json parse error: ${(err as Error).message}`);
  }
  if (!isPlainObject(json)) throw unrecognized('json parse error: the body is not an object');
  return { body, protobuf: false, json };
}

function sendJson(res: ClientResponse, code: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return code;
}

export async function answerSelfSubjectReview(req: ClientRequest, res: ClientResponse, identity: Identity, info: RequestInfo): Promise<number> {
  await readReview(req, info);
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

type Review = Awaited<ReturnType<typeof readReview>>;

function attributesOf(review: Review): ResourceAttributes | undefined {
  if (review.protobuf) return readSelfAccessReviewProtobuf(review.body);
  const spec = review.json?.spec;
  const attributes = isPlainObject(spec) ? spec.resourceAttributes : undefined;
  return isPlainObject(attributes) ? (attributes as ResourceAttributes) : undefined;
}

export async function answerSelfAccessReview(req: ClientRequest, res: ClientResponse, info: RequestInfo, scopeOf: ScopeOf, visible: (scope: Scope, name: string) => boolean, upstream: Upstream, identity: Identity): Promise<{ code: number; route: 'local' | 'served' }> {
  const review = await readReview(req, info);
  const a = attributesOf(review);
  if (a && READ_VERBS.includes(a.verb ?? '') && !a.subresource) {
    const scope = scopeOf(a.group ?? '', a.version ?? '', a.resource ?? '');
    const clusterScoped = !a.namespace || (a.resource === 'namespaces' && a.group === '');
    // A named get is allowed only for an object in the view (else the GET itself would be 404).
    if (scope && clusterScoped && (!a.name || visible(scope, a.name))) {
      const spec = review.json ? review.json.spec : { resourceAttributes: a };
      return { code: sendJson(res, 201, { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: { allowed: true, reason: `tenant-proxy: ${a.resource} of the tenant's view` } }), route: 'local' };
    }
  }
  return { code: await relay(res, info, review, upstream, identity, undefined), route: 'served' };
}

export async function augmentRulesReview(req: ClientRequest, res: ClientResponse, info: RequestInfo, scopeOf: ScopeOf, served: ResourceType[], upstream: Upstream, identity: Identity): Promise<{ code: number; route: 'served' }> {
  const review = await readReview(req, info);
  const extraRules = served
    .filter((t) => scopeOf(t.group, '', t.resource) !== undefined)
    .map((t) => ({ verbs: READ_VERBS, apiGroups: [t.group], resources: [t.resource] }));
  return { code: await relay(res, info, review, upstream, identity, (answer) => {
    const status = (answer.status ??= {}) as { resourceRules?: unknown[] };
    status.resourceRules = [...(status.resourceRules ?? []), ...extraRules];
    return answer;
  }), route: 'served' };
}

/**
 * Sends the review upstream as the user, at the rebuilt URL, asking for JSON, and answers with the result
 * (rewritten when asked). A JSON review is sent as parsed; a protobuf one as its bytes (it is the user's
 * own question, asked as the user).
 */
async function relay(res: ClientResponse, info: RequestInfo, review: Review, upstream: Upstream, identity: Identity, rewrite: ((answer: Record<string, unknown>) => Record<string, unknown>) | undefined): Promise<number> {
  let answer;
  try {
    answer = await upstream.send('POST', upstreamUrl(info), {
      body: review.protobuf ? review.body : Buffer.from(JSON.stringify(review.json)),
      contentType: review.protobuf ? PROTOBUF : 'application/json',
      headers: impersonationHeaders(identity),
    });
  } catch (err) {
    throw new StatusError(502, 'BadGateway', `error trying to reach the API server: ${(err as Error).message}`);
  }
  let body = answer.body;
  if (rewrite && answer.status === 201) body = Buffer.from(JSON.stringify(rewrite(parseUpstreamJson<Record<string, unknown>>(answer, `${REVIEW_KINDS[info.resource] ?? 'review'} for ${identity.user}`))));
  res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': body.length });
  res.end(body);
  return answer.status;
}
