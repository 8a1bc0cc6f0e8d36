// Writes a tenant grant allows (Update: `kubectl cordon`, `kubectl label node`, `kubectl taint`; Delete)
// on an object in the tenant's view, performed with the proxy's own credentials and logged with the user.
//
// Update and patch: the parsed request (write-request.ts) is sent first as a server-side dry run, which
// yields the result the apiserver would store; that result is judged against the grant (write-policy.ts)
// and the state it was computed from, and then committed exactly: a PUT of that result, with its
// resourceVersion and the checked object's uid as preconditions (on a conflict, once more from the dry
// run). Delete: the checked object's uid is a precondition. A resourceVersion the client sent is
// honoured (its dry run conflicts); the proxy never invents one from its informer, which may lag.
import { filter, firstValueFrom, map, timeout } from 'rxjs';
import { resourceVersionOf, type KubeObject } from '../../streams/kube-object.ts';
import type { TypeStore } from '../../streams/type-store.ts';
import { qualifiedResource } from '../../streams/resource-type.ts';
import type { Identity } from '../basics/identity.ts';
import type { Logger } from '../basics/log.ts';
import type { RequestInfo } from '../front/request-info.ts';
import { StatusError, notFound } from '../basics/status.ts';
import { parseUpstreamJson, type Upstream, type UpstreamResponse } from '../basics/upstream.ts';
import { isPlainObject, upstreamUrl } from './own-requests.ts';
import { deleteViolation, updateViolations, type Violation, type WriteJudge } from './write-policy.ts';
import { parseWriteRequest, serializedBody, type WriteRequest } from './write-request.ts';
import type { ClientRequest, ClientResponse } from '../basics/client-http.ts';

const WRITE_TIMEOUT_MS = 60_000;
/** How long a write waits for the proxy's informer to reach the version the dry run was computed on. */
const INFORMER_CATCH_UP_MS = 3_000;
/** The verbs a granted write sends upstream as the proxy, with their methods (a dry run; `update` commits). */
export const METHODS = { update: 'PUT', patch: 'PATCH', delete: 'DELETE' } as const;

export interface GrantedWrite {
  req: ClientRequest;
  res: ClientResponse;
  identity: Identity;
  info: RequestInfo;
  /** The object whose visibility was checked (from the informer). */
  checked: KubeObject;
  /** Whether an object is in the view of a tenant granting this operation. */
  visible: (object: KubeObject) => boolean;
  judge: WriteJudge;
  store: TypeStore;
  upstream: Upstream;
  log: Logger;
}

export async function performGrantedWrite(write: GrantedWrite): Promise<number> {
  const parsed = await parseWriteRequest(write.req, write.info, write.judge.type);
  const answer = parsed.verb === 'delete' ? await deleteChecked(write, parsed) : await updateChecked(write, parsed);
  const { res, identity, info } = write;
  res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'content-length': answer.body.length });
  res.end(answer.body);
  write.log.info({ user: identity.user, groups: identity.groups, verb: info.verb, resource: info.resource, group: info.apiGroup, name: info.name, status: answer.status }, 'granted write performed as the proxy');
  return answer.status;
}

async function send(write: GrantedWrite, method: string, url: string, body: Buffer | undefined, contentType: string): Promise<UpstreamResponse> {
  // The apiserver names the field manager after the user agent when the client names none.
  const agent = userAgent(write.req);
  try {
    return await write.upstream.send(method, url, { body, contentType, timeoutMs: WRITE_TIMEOUT_MS, headers: agent ? { 'user-agent': agent } : {} });
  } catch (err) {
    throw new StatusError(502, 'BadGateway', `error trying to reach the API server: ${(err as Error).message}`);
  }
}

function userAgent(req: ClientRequest): string | undefined {
  const agent = req.headers['user-agent'];
  return agent && /^[\x20-\x7e]{1,256}$/.test(agent) ? agent : undefined;
}

function forbidden(write: GrantedWrite, violations: Violation[]): StatusError {
  const { info } = write;
  const what = `${qualifiedResource({ group: info.apiGroup, resource: info.resource })} "${info.name}"`;
  return new StatusError(403, 'Forbidden', `${what} is forbidden: tenant-proxy: the tenant's ${info.verb === 'delete' ? 'Delete' : 'Update'} grant does not cover this change: ${violations.map((v) => v.message).join('; ')}`, {
    name: info.name,
    group: info.apiGroup || undefined,
    kind: info.resource,
    causes: violations.map((v) => ({ reason: 'FieldValueForbidden', message: v.message, field: v.field })),
  });
}

function conflict(write: GrantedWrite, message: string): StatusError {
  const { info } = write;
  return new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource({ group: info.apiGroup, resource: info.resource })} "${info.name}": ${message}`, { name: info.name, group: info.apiGroup || undefined, kind: info.resource });
}

async function deleteChecked(write: GrantedWrite, parsed: WriteRequest): Promise<UpstreamResponse> {
  const violation = deleteViolation(write.judge, write.checked);
  if (violation) throw forbidden(write, [violation]);
  const uid = write.checked.metadata.uid;
  const options = isPlainObject(parsed.body) ? parsed.body : {};
  const given = isPlainObject(options.preconditions) ? options.preconditions : {};
  if (given.uid !== undefined && given.uid !== uid) throw conflict(write, `Precondition failed: UID in precondition: ${String(given.uid)}, UID in object meta: ${uid ?? ''}`);
  const body = { ...options, kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { ...given, uid } };
  return send(write, 'DELETE', parsed.url, Buffer.from(JSON.stringify(body)), 'application/json');
}

async function updateChecked(write: GrantedWrite, parsed: WriteRequest): Promise<UpstreamResponse> {
  const clientDryRun = write.info.query.getAll('dryRun').length > 0;
  const dryRunUrl = clientDryRun ? parsed.url : `${parsed.url}${parsed.url.includes('?') ? '&' : '?'}dryRun=All`;
  for (let attempt = 0; ; attempt++) {
    const dry = await send(write, METHODS[parsed.verb], dryRunUrl, serializedBody(parsed), parsed.contentType);
    if (dry.status < 200 || dry.status > 299) return dry;
    const after = parseUpstreamJson<KubeObject>(dry, `dry run of ${write.info.verb} ${write.info.name}`);
    // A different object under the same name (deleted and re-created, or one server-side apply would
    // create): not the one whose visibility was checked.
    if (after.metadata?.uid !== write.checked.metadata.uid) throw conflict(write, 'the object was deleted or replaced since it was checked; retry');
    const before = await stateAt(write, after.metadata.resourceVersion ?? '');
    if (!write.visible(before)) throw notFound(write.info.resource, write.info.apiGroup, write.info.name);
    const violations = updateViolations(write.judge, before, after);
    if (violations.length > 0) throw forbidden(write, violations);
    if (clientDryRun) return dry;
    const commitUrl = upstreamUrl({ ...write.info, verb: 'update' });
    const committed = await send(write, 'PUT', commitUrl, Buffer.from(JSON.stringify(after)), 'application/json');
    if (committed.status !== 409 || attempt > 0) return committed;
  }
}

/**
 * The object as the proxy's informer holds it at `resourceVersion` (the version a dry run was computed
 * on): the informer's copy at once when it is there, else once the informer has caught up.
 */
async function stateAt(write: GrantedWrite, resourceVersion: string): Promise<KubeObject> {
  const name = write.info.name;
  const target = Number(resourceVersion);
  if (write.checked.metadata.resourceVersion === resourceVersion) return write.checked;
  const current = write.store.get(name);
  const reached = (o: KubeObject | undefined) => o !== undefined && resourceVersionOf(o) >= target;
  if (reached(current)) return exactly(write, current as KubeObject, resourceVersion);
  try {
    const object = await firstValueFrom(
      write.store.events$.pipe(
        map(() => write.store.get(name)),
        filter(reached),
        timeout({ first: INFORMER_CATCH_UP_MS }),
      ),
    );
    return exactly(write, object as KubeObject, resourceVersion);
  } catch {
    throw new StatusError(504, 'Timeout', `tenant-proxy has not yet seen version ${resourceVersion} of ${write.info.resource} "${name}"; retry`, { retryAfterSeconds: 1 });
  }
}

function exactly(write: GrantedWrite, object: KubeObject, resourceVersion: string): KubeObject {
  if (object.metadata.resourceVersion !== resourceVersion) throw conflict(write, 'the object changed while the write was checked; retry');
  return object;
}
