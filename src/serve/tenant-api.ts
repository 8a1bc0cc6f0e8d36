// The tenant side of the proxy: decides, for an authenticated request, whether the proxy answers it
// from its own state (list/get/watch of a granted cluster-scoped kind; writes the tenant is granted;
// self access reviews) or forwards it unchanged. Users in ignored groups and users without any tenant
// access are always forwarded; so is anything outside a scope, so the user's own RBAC decides.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Identity } from '../basics/identity.ts';
import type { Logger } from '../basics/log.ts';
import { parseListOptions, type ListOptions } from '../query/list-options.ts';
import type { RequestInfo } from '../front/request-info.ts';
import { badRequest } from '../basics/status.ts';
import { identityKey } from '../tenancy/access-cache.ts';
import { isTenantUser, type Access, type TenantDirectory } from '../tenancy/directory.ts';
import { isVisible, scopeFor, type Scope } from '../tenancy/scope.ts';
import { servedKindOf } from '../kinds/registry.ts';
import type { Projections } from '../views/projections.ts';
import { kindId, typeId, type ResourceType, groupVersion } from '../../streams/resource-type.ts';
import type { TypeStore } from '../../streams/type-store.ts';
import type { EventClock, Position } from '../../streams/position.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { negotiate } from './media.ts';
import type { Printers } from './printers.ts';
import { ReadinessGate } from './readiness-gate.ts';
import { serveGet, serveList, startWatch, type ReadTarget } from './reads.ts';
import { nonCanonical, notAcceptable } from './served-errors.ts';
import type { ServedTypes } from './served-types.ts';
import { ListSnapshots } from './snapshots.ts';
import { WatchHub } from './watch-hub.ts';
import type { Watcher } from './watcher.ts';
import { httpWatchSink, WebSocketWatchSink } from './watch-sink.ts';
import { WebSocketWatches } from './websocket-watches.ts';
import { answerSelfAccessReview, answerSelfSubjectReview, augmentRulesReview, isSelfReview } from './self-reviews.ts';
import { performGrantedWrite } from './granted-writes.ts';
import { grantsWrite, writableThrough } from './write-grants.ts';
import type { Upstream } from '../basics/upstream.ts';
import { WriteFence } from './write-fence.ts';
import { dropWhenIdle, onResponseClose, sendHeadNow, type ClientRequest, type ClientResponse } from '../basics/client-http.ts';

export interface TenantApiDependencies {
  clock: EventClock;
  /** Whether a resourceVersion can be served exactly here (a replica cannot serve another's local ones). */
  servable: (position: Position) => boolean;
  projections: Projections;
  directory: TenantDirectory;
  served: ServedTypes;
  printers: Printers;
  store(type: ResourceType): TypeStore | undefined;
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
  /**
   * A served watch goes on after `handle` resolves: `onEnd` tells the listener (once) when its response
   * has closed. Nothing of the request's handling is kept meanwhile, only what the listener holds.
   */
  onEnd?: (listener: () => void) => void;
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

/**
 * A served watch's end for the request's caller: its response's close (the watcher ends with it). Made
 * here, not in the handler, so that the listener's closure holds these two and no frame of the handling.
 */
function watchEnd(watcher: Watcher, res: ClientResponse): (listener: () => void) => void {
  return (listener) => {
    if (watcher.closed) listener();
    else onResponseClose(res, listener);
  };
}

export class TenantApi {
  readonly #deps: TenantApiDependencies;
  readonly #snapshots = new ListSnapshots();
  readonly watchHub: WatchHub;
  readonly gate: ReadinessGate;
  readonly #webSockets = new WebSocketWatches();
  readonly #fence = new WriteFence();

  constructor(deps: TenantApiDependencies) {
    this.#deps = deps;
    this.watchHub = new WatchHub(() => deps.clock.now);
    this.gate = new ReadinessGate(deps.store, deps.tenancyTypes);
  }

  #accessOf(identity: Identity): Access {
    return this.#deps.projections.accessOf(identity);
  }

  #ignored(identity: Identity): boolean {
    return identity.groups.some((g) => this.#deps.ignoredGroups.includes(g));
  }

  /**
   * Serves the request if it is the proxy's to answer. Resolves undefined when it must be forwarded.
   */
  async handle(req: ClientRequest, res: ClientResponse, identity: Identity, info: RequestInfo): Promise<Outcome | undefined> {
    if (!info.isResourceRequest || this.#ignored(identity)) return undefined;
    // Who is a tenant user is unknown until the tenancy informers have synced: never guess (a
    // forwarded owner would get the apiserver's Forbidden).
    const readVerb = info.verb === 'get' || info.verb === 'list' || info.verb === 'watch';
    const served = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if ((served && readVerb) || (isSelfReview(info) && info.resource !== 'selfsubjectreviews')) this.gate.check(served);
    if (!info.canonical && this.#mayAnswer(identity, info, served)) throw nonCanonical();
    if (isSelfReview(info)) return this.#selfReview(req, res, identity, info);
    const target = this.#target(identity, info);
    if (!target) return undefined;
    const { type, scope } = target;
    if (info.subresource !== '' || (!readVerb && !grantsWrite(target.access, type, info.verb))) return undefined;
    this.gate.check(type);
    if (!readVerb) {
      const store = this.#deps.store(type);
      const writable = writableThrough(target.access, type, info.verb, store?.get(info.name), this.#deps.directory);
      if (!writable || !store) return undefined; // not theirs to write: forwarded, their RBAC answers
      const code = await performGrantedWrite({
        req,
        res,
        identity,
        info,
        checked: writable.object,
        visible: (object) => isVisible(writable.scope, object, this.#deps.directory),
        judge: { type, ownTenants: new Set(target.access.tenants.keys()), directory: this.#deps.directory },
        store,
        upstream: this.#deps.upstream,
        log: this.#deps.log,
      });
      this.noteWrite(info, code);
      return { code, route: 'granted-write' };
    }
    return this.#read(req, res, identity, info, type, scope);
  }

  /**
   * Whether the proxy may answer or perform this request itself rather than forward it: a self review,
   * or a served type asked by a tenant user. Such a request must have a canonical path.
   */
  #mayAnswer(identity: Identity, info: RequestInfo, served: ResourceType | undefined): boolean {
    if (isSelfReview(info) && info.resource === 'selfsubjectreviews') return true;
    return (served !== undefined || isSelfReview(info)) && isTenantUser(this.#accessOf(identity));
  }

  #target(identity: Identity, info: RequestInfo): { type: ResourceType; scope: Scope; access: Access } | undefined {
    const type = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (!type) return undefined;
    // Cluster-scoped only; namespaces appear with namespace = their own name.
    if (info.namespace !== '' && !(servedKindOf(type)?.visibility.by === 'namespace' && info.namespace === info.name)) return undefined;
    const access = this.#accessOf(identity);
    if (!isTenantUser(access)) return undefined;
    const scope = scopeFor(type, access);
    return scope ? { type, scope, access } : undefined;
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
    if (type) this.#fence.note(type, this.#deps.store(type));
  }

  async #read(req: ClientRequest, res: ClientResponse, identity: Identity, info: RequestInfo, type: ResourceType, scope: Scope): Promise<Outcome> {
    const media = negotiate(req.headers.accept);
    await this.#fence.wait(type, this.#deps.store(type));
    if (media.kind === 'not-acceptable') throw notAcceptable(type, req.headers.accept);
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
    if (info.verb !== 'watch') dropWhenIdle(res, this.#deps.clientIdleTimeoutMs);
    if (info.verb === 'get') {
      return { code: await serveGet(res, target, info.name, options.resourceVersion, this.#deps.clock, (name) => this.#getOnly(scope, name)), route: 'served' };
    }
    const extendHistory = (position: Position) => this.#deps.projections.extendHistory(view, position);
    const servable = this.#deps.servable;
    if (info.verb === 'list') return { code: await serveList(res, { target, options, clock: this.#deps.clock, snapshots: this.#snapshots, caller: identityKey(identity), extendHistory, servable }), route: 'served' };
    const accept = () => {
      sendHeadNow(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
      return httpWatchSink(res);
    };
    const watcher = await startWatch({ target, options, accept, follow: (f) => this.#deps.projections.follow(identity, view, f), extendHistory, servable, resumePoint: (p) => this.#deps.projections.resumePoint(p), hub: this.watchHub, clock: this.#deps.clock });
    return { code: 200, route: 'served', onEnd: watchEnd(watcher, res) };
  }

  /** Objects a Get-only clusterResources rule lets the identity read by name, though not list. */
  #getOnly(scope: Scope, name: string): KubeObject | undefined {
    if (!scope.rules.some((r) => r.get && !r.list)) return undefined;
    const object = this.#deps.store(scope.type)?.get(name);
    return object && isVisible(scope, object, this.#deps.directory, 'get') ? object : undefined;
  }

  /** A websocket watch of a served type: handled here (true), or to be relayed upstream (false). */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity, info: RequestInfo): Promise<boolean> {
    if (info.verb !== 'watch' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || this.#ignored(identity)) return false;
    const served = this.#deps.served.resolve(info.apiGroup, info.apiVersion, info.resource);
    if (served) this.gate.check(served);
    if (!info.canonical && this.#mayAnswer(identity, info, served)) throw nonCanonical();
    const target = this.#target(identity, info);
    if (!target || info.subresource !== '') return false;
    const options = namedWatch(parseListOptions(info.query, target.type.group, target.type.resource), info);
    const view = this.#deps.projections.view(target.scope);
    const readTarget: ReadTarget = { type: target.type, apiVersion: groupVersion({ group: target.type.group, version: info.apiVersion }), view, printer: undefined, includeObject: 'Metadata' };
    const accept = async () => new WebSocketWatchSink(await this.#webSockets.accept(req, socket, head));
    await startWatch({ target: readTarget, options, accept, follow: (f) => this.#deps.projections.follow(identity, view, f), extendHistory: (p) => this.#deps.projections.extendHistory(view, p), servable: this.#deps.servable, resumePoint: (p) => this.#deps.projections.resumePoint(p), hub: this.watchHub, clock: this.#deps.clock });
    return true;
  }

  async #selfReview(req: ClientRequest, res: ClientResponse, identity: Identity, info: RequestInfo): Promise<Outcome | undefined> {
    if (info.resource === 'selfsubjectreviews') return { code: await answerSelfSubjectReview(req, res, identity, info), route: 'local' };
    const access = this.#accessOf(identity);
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
    this.#webSockets.close();
  }
}
