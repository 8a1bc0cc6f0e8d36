// The tenant side of the proxy: decides, for an authenticated request, whether the proxy answers it
// from its own state (list/get/watch of a granted cluster-scoped kind; writes the tenant is granted;
// self access reviews) or forwards it unchanged. Users in ignored groups and users without any tenant
// access are always forwarded; so is anything outside a scope, so the user's own RBAC decides.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BEARER_PROTOCOL_PREFIX } from '../authenticate.ts';
import type { Identity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { parseListOptions, type ListOptions } from '../query/list-options.ts';
import type { RequestInfo } from '../request-info.ts';
import { badRequest, StatusError, type Status } from '../status.ts';
import { isTenantUser, type Access, type TenantDirectory } from '../tenancy/directory.ts';
import { GRANTED_KINDS, isVisible, scopeFor, type Scope } from '../tenancy/scope.ts';
import type { Projections } from '../views/projections.ts';
import type { View } from '../views/view.ts';
import { kindId, typeId, type ResourceType, groupVersion } from '../../streams/resource-type.ts';
import type { Reflector } from '../../streams/reflector.ts';
import type { EventClock } from '../../streams/position.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { acceptsPlainJson, negotiate } from './media.ts';
import type { Printers } from './printers.ts';
import { serveGet, serveList, startWatch, type ReadTarget } from './reads.ts';
import type { ServedTypes } from './served-types.ts';
import { ListSnapshots } from './snapshots.ts';
import { WatchHub } from './watch-hub.ts';
import { HttpWatchSink, WebSocketWatchSink } from './watch-sink.ts';
import type { Watcher } from './watcher.ts';
import { answerSelfAccessReview, answerSelfSubjectReview, augmentRulesReview, isSelfReview } from './self-reviews.ts';
import { performGrantedWrite } from './granted-writes.ts';
import type { Upstream } from '../upstream.ts';
import { WriteFence } from './write-fence.ts';

export interface TenantApiDependencies {
  clock: EventClock;
  projections: Projections;
  directory: TenantDirectory;
  served: ServedTypes;
  printers: Printers;
  reflector(type: ResourceType): Reflector | undefined;
  /** Types that must be synced before any tenant request is answered. */
  tenancyTypes: readonly ResourceType[];
  ignoredGroups: readonly string[];
  /** A served list or get whose client stops reading for this long is cut (watches never are). */
  clientIdleTimeoutMs: number;
  upstream: Upstream;
  log: Logger;
}

/** What the proxy did with a request it handled itself. */
export interface Outcome {
  code: number;
  route: 'served' | 'granted-write' | 'local';
}

const ACCESS_CACHE_SIZE = 10_000;
const WEBSOCKET_MAX_PAYLOAD_BYTES = 4 * 1024;

function nonCanonical(): StatusError {
  return badRequest('the request path is not canonical (an empty, "." or ".." segment, a percent escape, "\\", "#" or ";" before the subresource, or a trailing "/"): tenant-proxy answers and performs requests only at the exact path of the object they name');
}
const NOT_ACCEPTABLE = '406: Not Acceptable';

/**
 * The apiserver's two 406 texts: a generic one for built-in kinds asked for a media type it has no
 * serializer for, and the list of its media types otherwise (custom resources, unknown `as=`,
 * protobuf Tables — and, here, protobuf, which the proxy does not serve).
 */
function notAcceptableMessage(type: ResourceType, accept: string | undefined): string {
  const a = accept ?? '';
  if (!type.custom && !a.includes('protobuf') && !a.includes('as=')) return NOT_ACCEPTABLE;
  return 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf';
}

/**
 * A watch of one object by path (`/api/v1/watch/namespaces/x`, or a websocket on it): the apiserver
 * watches with `metadata.name=x`, and refuses a field selector naming another object.
 */
function namedWatch(options: ListOptions, info: RequestInfo): ListOptions {
  if (info.verb !== 'watch' || !info.name || options.fieldSelector.exactName === info.name) return options;
  if (!options.fieldSelector.empty) throw badRequest('fieldSelector metadata.name doesn\'t match requested name');
  const name = info.name;
  return { ...options, fieldSelector: { ...options.fieldSelector, empty: false, exactName: name, matches: (o: { metadata?: { name?: string } }) => o.metadata?.name === name } as ListOptions['fieldSelector'] };
}

export class TenantApi {
  readonly #deps: TenantApiDependencies;
  readonly #snapshots = new ListSnapshots();
  readonly watchHub: WatchHub;
  readonly #access = new Map<string, { version: number; access: Access }>();
  readonly #wss = new WebSocketServer({
    noServer: true,
    // A watch client has nothing to say: its messages are read and dropped, and a large one closes it.
    maxPayload: WEBSOCKET_MAX_PAYLOAD_BYTES,
    handleProtocols: (protocols) => [...protocols].find((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX)) ?? false,
  });
  /** Pending websocket handshakes: how to fail each when `ws` refuses it. */
  readonly #handshakes = new Map<Duplex, (message: string) => void>();
  readonly #watcherIdentity = new WeakMap<Watcher, Identity>();
  readonly #fence = new WriteFence();

  constructor(deps: TenantApiDependencies) {
    this.#deps = deps;
    this.#wss.on('wsClientError', (err: Error, socket: Duplex) => this.#handshakes.get(socket)?.(err.message));
    this.watchHub = new WatchHub(deps.projections, () => deps.clock.now);
    this.watchHub.setRescope((watcher) => {
      const identity = this.#watcherIdentity.get(watcher);
      if (!identity) return watcher.view;
      const scope = scopeFor(watcher.view.scope.type, this.accessOf(identity));
      return scope ? deps.projections.view(scope) : undefined;
    });
  }

  identityKey(identity: Identity): string {
    return JSON.stringify([identity.user, [...identity.groups].sort()]);
  }

  accessOf(identity: Identity): Access {
    const key = this.identityKey(identity);
    const version = this.#deps.directory.version;
    const cached = this.#access.get(key);
    if (cached && cached.version === version) return cached.access;
    const access = this.#deps.directory.accessOf(identity);
    if (this.#access.size >= ACCESS_CACHE_SIZE) this.#access.clear();
    this.#access.set(key, { version, access });
    return access;
  }

  #ignored(identity: Identity): boolean {
    return identity.groups.some((g) => this.#deps.ignoredGroups.includes(g));
  }

  /** Ready when every informer a tenant answer depends on has listed once (absent CRDs count as empty). */
  ready(type?: ResourceType): boolean {
    const types = type ? [...this.#deps.tenancyTypes, type] : this.#deps.tenancyTypes;
    return types.every((t) => {
      const state = this.#deps.reflector(t)?.state;
      return state === 'synced' || state === 'absent';
    });
  }

  #notReady(): StatusError {
    return new StatusError(429, 'TooManyRequests', 'tenant-proxy is still loading the cluster state; retry shortly', { retryAfterSeconds: 1 });
  }

  /**
   * Serves the request if it is the proxy's to answer. Resolves undefined when it must be forwarded.
   */
  async handle(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo): Promise<Outcome | undefined> {
    if (!info.isResourceRequest || this.#ignored(identity)) return undefined;
    // Who is a tenant user is unknown until the tenancy informers have synced: never guess (a
    // forwarded owner would get the apiserver's Forbidden).
    const readVerb = info.verb === 'get' || info.verb === 'list' || info.verb === 'watch';
    const served = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (((served && readVerb) || (isSelfReview(info) && info.resource !== 'selfsubjectreviews')) && !this.ready(served)) throw this.#notReady();
    if (!info.canonical && this.#mayAnswer(identity, info, served)) throw nonCanonical();
    if (isSelfReview(info)) return this.#selfReview(req, res, identity, info);
    const target = this.#target(identity, info);
    if (!target) return undefined;
    const { type, scope } = target;
    if (info.subresource !== '' || (!readVerb && !this.#grantedWrite(target.access, type, info.verb))) return undefined;
    if (!this.ready(type)) throw this.#notReady();
    if (!readVerb) {
      const writable = this.#writable(target.access, type, info);
      if (!writable) return undefined; // not theirs to write: forwarded, their RBAC answers
      const reflector = this.#deps.reflector(type);
      if (!reflector) return undefined;
      const code = await performGrantedWrite({
        req,
        res,
        identity,
        info,
        checked: writable.object,
        visible: (object) => isVisible(writable.scope, object, this.#deps.directory),
        judge: { type, ownTenants: new Set(target.access.tenants.keys()), directory: this.#deps.directory },
        reflector,
        upstream: this.#deps.upstream,
        log: this.#deps.log,
      });
      this.noteWrite(info, code);
      return { code, route: 'granted-write' };
    }
    return { code: await this.#read(req, res, identity, info, type, scope), route: 'served' };
  }

  /**
   * Whether the proxy may answer or perform this request itself rather than forward it: a self review,
   * or a served type asked by a tenant user. Such a request must have a canonical path.
   */
  #mayAnswer(identity: Identity, info: RequestInfo, served: ResourceType | undefined): boolean {
    if (isSelfReview(info) && info.resource === 'selfsubjectreviews') return true;
    return (served !== undefined || isSelfReview(info)) && isTenantUser(this.accessOf(identity));
  }

  #target(identity: Identity, info: RequestInfo): { type: ResourceType; scope: Scope; access: Access } | undefined {
    const type = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (!type) return undefined;
    // Cluster-scoped only; namespaces appear with namespace = their own name.
    if (info.namespace !== '' && !(typeId(type) === '/namespaces' && info.namespace === info.name)) return undefined;
    const access = this.accessOf(identity);
    if (!isTenantUser(access)) return undefined;
    const scope = scopeFor(type, access);
    return scope ? { type, scope, access } : undefined;
  }

  #grantedWrite(access: Access, type: ResourceType, verb: string): boolean {
    const kind = GRANTED_KINDS[typeId(type)];
    if (!kind) return false;
    const operation = verb === 'update' || verb === 'patch' ? 'Update' : verb === 'delete' ? 'Delete' : undefined;
    if (!operation) return false;
    return [...access.tenants.values()].some((grants) => grants.get(kind)?.has(operation));
  }

  /**
   * Ends the watches of `kind` whose version is now answered from another informer (a CRD switched
   * between conversion None and Webhook) or no longer served, as the apiserver ends them when a CRD's
   * versions change: the client lists and watches again, and gets the objects of the right informer.
   */
  endWatchesServedElsewhere(kind: ResourceType): void {
    this.watchHub.closeWhere(({ options: { type, apiVersion } }) => {
      if (kindId(type) !== kindId(kind)) return false;
      const now = this.#deps.served.resolve(type.group, apiVersion.slice(apiVersion.indexOf('/') + 1), type.resource);
      return now === undefined || typeId(now) !== typeId(type);
    });
  }

  /** The proxy forwarded a write that succeeded: reads of a watched type wait for its event. */
  noteWrite(info: RequestInfo, code: number): void {
    if (code < 200 || code > 299 || !['create', 'update', 'patch', 'delete', 'deletecollection'].includes(info.verb)) return;
    const type = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (type) this.#fence.note(type, this.#deps.reflector(type));
  }

  /**
   * A write is the proxy's to perform only on an object visible through a tenant that grants this very
   * operation on the kind (never through another tenant's List grant or a read-only rule).
   */
  #writable(access: Access, type: ResourceType, info: RequestInfo): { object: KubeObject; scope: Scope } | undefined {
    const kind = GRANTED_KINDS[typeId(type)];
    const operation = info.verb === 'delete' ? 'Delete' : 'Update';
    const tenants = [...access.tenants].filter(([, grants]) => kind !== undefined && grants.get(kind)?.has(operation)).map(([t]) => t);
    const object = this.#deps.reflector(type)?.get(info.name);
    const scope: Scope = { type, tenants, members: [], rules: [], key: '' };
    return tenants.length > 0 && object !== undefined && isVisible(scope, object, this.#deps.directory) ? { object, scope } : undefined;
  }

  async #read(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo, type: ResourceType, scope: Scope): Promise<number> {
    const media = negotiate(req.headers.accept);
    await this.#fence.wait(type, this.#deps.reflector(type));
    if (media.kind === 'not-acceptable') throw new StatusError(406, 'NotAcceptable', notAcceptableMessage(type, req.headers.accept));
    const view = this.#deps.projections.view(scope);
    const options = namedWatch(parseListOptions(info.query, type.group, type.resource, { table: media.kind === 'table' }), info);
    const target: ReadTarget = {
      type,
      apiVersion: groupVersion({ group: type.group, version: info.apiVersion }),
      view,
      printer: media.kind === 'table' ? this.#deps.printers.printer(type, info.apiVersion) : undefined,
      includeObject: options.includeObject === '' ? 'Metadata' : options.includeObject,
    };
    // The answer is a shared buffer: a client that stops reading holds no copy, but must not hold its
    // connection forever either.
    if (info.verb !== 'watch') res.setTimeout(this.#deps.clientIdleTimeoutMs);
    if (info.verb === 'get') {
      return serveGet(res, target, info.name, options.resourceVersion, this.#deps.clock, (name) => this.#getOnly(scope, name));
    }
    if (info.verb === 'list') return serveList(res, target, options, this.#deps.clock, this.#snapshots, this.identityKey(identity));
    const accept = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      return new HttpWatchSink(res);
    };
    const watcher = await startWatch({ target, options, accept, hub: this.watchHub, clock: this.#deps.clock });
    this.#watcherIdentity.set(watcher, identity);
    await new Promise<void>((resolve) => (watcher.closed ? resolve() : res.once('close', () => resolve())));
    watcher.close();
    return 200;
  }

  /** Objects a Get-only clusterResources rule lets the identity read by name, though not list. */
  #getOnly(scope: Scope, name: string): KubeObject | undefined {
    if (!scope.rules.some((r) => r.get && !r.list)) return undefined;
    const object = this.#deps.reflector(scope.type)?.get(name);
    return object && isVisible(scope, object, this.#deps.directory, 'get') ? object : undefined;
  }

  /** A websocket watch of a served type: handled here (true), or to be relayed upstream (false). */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity, info: RequestInfo): Promise<boolean> {
    if (info.verb !== 'watch' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || this.#ignored(identity)) return false;
    const served = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (served && !this.ready(served)) throw this.#notReady();
    if (!info.canonical && this.#mayAnswer(identity, info, served)) throw nonCanonical();
    const target = this.#target(identity, info);
    if (!target || info.subresource !== '') return false;
    const options = namedWatch(parseListOptions(info.query, target.type.group, target.type.resource), info);
    const view: View = this.#deps.projections.view(target.scope);
    const readTarget: ReadTarget = { type: target.type, apiVersion: groupVersion({ group: target.type.group, version: info.apiVersion }), view, printer: undefined, includeObject: 'Metadata' };
    const accept = async () => new WebSocketWatchSink(await this.#acceptWebSocket(req, socket, head));
    const watcher = await startWatch({ target: readTarget, options, accept, hub: this.watchHub, clock: this.#deps.clock });
    this.#watcherIdentity.set(watcher, identity);
    return true;
  }

  /**
   * Completes the websocket handshake, or rejects with the Status to answer: `ws` refuses bad handshakes
   * (method, key, version, protocol header) through `wsClientError` without ever calling back, and a
   * client may go away before the handshake completes.
   */
  #acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const settle = (err: StatusError | undefined, ws?: WebSocket) => {
        this.#handshakes.delete(socket);
        socket.off('close', onClose);
        if (ws) resolve(ws);
        else reject(err);
      };
      const onClose = () => settle(new StatusError(499, '', 'the client closed the connection during the websocket handshake'));
      socket.once('close', onClose);
      this.#handshakes.set(socket, (message) => settle(new StatusError(message === 'Invalid HTTP method' ? 405 : 400, message === 'Invalid HTTP method' ? 'MethodNotAllowed' : 'BadRequest', `websocket handshake refused: ${message}`)));
      this.#wss.handleUpgrade(req, socket, head, (ws) => settle(undefined, ws));
    });
  }

  async #selfReview(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo): Promise<Outcome | undefined> {
    if (info.resource === 'selfsubjectreviews') return { code: await answerSelfSubjectReview(req, res, identity, info), route: 'local' };
    const access = this.accessOf(identity);
    if (!isTenantUser(access)) return undefined;
    const scopeOf = (group: string, version: string, resource: string) => {
      const type = this.#deps.served.resolve(group, version || this.#versionOf(group, resource), resource);
      return type ? scopeFor(type, access) : undefined;
    };
    const visible = (scope: Scope, name: string) => this.#deps.projections.view(scope).has(name);
    if (info.resource === 'selfsubjectaccessreviews') return answerSelfAccessReview(req, res, info, scopeOf, visible, this.#deps.upstream, identity);
    if (info.resource === 'selfsubjectrulesreviews') return augmentRulesReview(req, res, info, scopeOf, [...this.#deps.served.all()], this.#deps.upstream, identity);
    return undefined;
  }

  #versionOf(group: string, resource: string): string {
    for (const t of this.#deps.served.all()) if (t.group === group && t.resource === resource) return this.#deps.served.versionsOf(t)[0] ?? t.version;
    return '';
  }

  close(): void {
    this.watchHub.closeAll();
    this.watchHub.stop();
    for (const client of this.#wss.clients) client.terminate();
  }

  /** Error answers of served requests: compact JSON, or indented when the client cannot take JSON. */
  static statusBody(status: Status, accept: string | undefined): string {
    if (acceptsPlainJson(accept)) return `${JSON.stringify(status)}\n`;
    // The apiserver's fallback encoder: indented, no final newline; its generic 406 carries empty details.
    const shown = status.message === NOT_ACCEPTABLE ? { kind: status.kind, apiVersion: status.apiVersion, metadata: {}, status: status.status, message: status.message, reason: status.reason, details: {}, code: 406 } : status;
    return JSON.stringify(shown, null, 2);
  }
}
