// Per-tenant projections of the shared change stream: keeps the TenantDirectory current, creates views
// on demand (one per distinct Scope, shared by every identity with that scope), routes each upstream
// change only to the views it can affect, and recomputes the views whose selection changed when a
// tenant, a namespace's tenant or a binding changed.
//
// Routing index, by each kind's visibility rule (kinds/registry.ts): for kinds routed by tenant
// (namespaces, tenants, persistent volumes) a change can only affect views that hold the object, views
// of its tenant(s), views listing it as a member namespace, and views with clusterResources rules; other
// kinds (nodes, classes) are checked against every view of the kind.
// After a tenancy change, followers (watchers) whose identity's scope changed are moved to their new
// view (followers.ts), and access listeners are told. A Tenant version converted by a webhook has views
// of its own (its own informer's objects), routed and indexed as Tenants; only the storage version's
// objects feed the directory.
import type { Subscription } from 'rxjs';
import type { Change } from '../../streams/informer-hub.ts';
import { objectKey, type KubeObject } from '../../streams/kube-object.ts';
import { comparePositions, type EventClock, type Position } from '../../streams/position.ts';
import { GLOBAL_PROXY_SETTINGS, NAMESPACES, PERSISTENT_VOLUME_CLAIMS, PROXY_SETTINGS, ROLE_BINDINGS, TENANTS, kindId, typeId, type ResourceType } from '../../streams/resource-type.ts';
import type { Observable } from 'rxjs';
import type { Identity } from '../basics/identity.ts';
import { AccessCache } from '../tenancy/access-cache.ts';
import { routedByTenant, servedKindOf, type VisibilityRule } from '../kinds/registry.ts';
import { TENANT_LABEL, type GlobalProxySettings, type ProxySetting, type RoleBinding, type Tenant } from '../tenancy/capsule.ts';
import type { Access, TenantDirectory } from '../tenancy/directory.ts';
import { claimTenant, scopeFor, type Scope } from '../tenancy/scope.ts';
import { compactEvent, releaseRevived } from './compacted.ts';
import { listBodiesCached } from './encoder.ts';
import { Followers, type Following, type ViewFollower } from './followers.ts';
import { RecentChanges } from './recent-changes.ts';
import { View, VIEW_HISTORY_KEPT, type ObjectSource } from './view.ts';

export interface ChangeSource {
  readonly clock: EventClock;
  readonly changes$: Observable<Change>;
  store(type: ResourceType): ObjectSource | undefined;
}

/** Told after a change that may have altered what identities can see (tenancy objects, bindings). */
export type AccessListener = () => void;

const NAMESPACES_ID = typeId(NAMESPACES);
const TENANTS_ID = typeId(TENANTS);
const CLAIMS_ID = typeId(PERSISTENT_VOLUME_CLAIMS);
/** How the objects of a type map to tenants; undefined for types served only through rules. */
const visibilityOf = (type: ResourceType): VisibilityRule['by'] | undefined => servedKindOf(type)?.visibility.by;

/** Views unused this long, with no watcher, are dropped. */
const VIEW_IDLE_MS = 10 * 60_000;

export class Projections {
  readonly #source: ChangeSource;
  readonly #directory: TenantDirectory;
  readonly #views = new Map<string, View>();
  readonly #byType = new Map<string, Set<View>>();
  /** Views of namespaces, tenants and PVs by the tenants and member namespaces they select by. */
  readonly #byTenant = new Map<string, Set<View>>();
  readonly #byMember = new Map<string, Set<View>>();
  readonly #withRules = new Set<View>();
  readonly #accessListeners = new Set<AccessListener>();
  readonly #access: AccessCache;
  readonly #followers = new Followers();
  readonly #recent: RecentChanges;
  /** The last change that may have altered what some identity sees: history before it cannot be rebuilt exactly. */
  #lastAccessChange: Position;
  #lastNamespaceCreated: Position;
  readonly #subscription: Subscription;

  constructor(source: ChangeSource, directory: TenantDirectory) {
    this.#source = source;
    this.#directory = directory;
    this.#access = new AccessCache(directory);
    this.#recent = new RecentChanges(source.clock.now);
    this.#lastAccessChange = source.clock.now;
    this.#lastNamespaceCreated = source.clock.now;
    this.#subscription = source.changes$.subscribe((change) => this.#onChange(change));
  }

  get directory(): TenantDirectory {
    return this.#directory;
  }

  get viewCount(): number {
    return this.#views.size;
  }

  /** The view of `scope`, created from the current state on first use. */
  view(scope: Scope): View {
    let view = this.#views.get(scope.key);
    if (!view) {
      const store = this.#source.store(scope.type);
      view = new View(scope, this.#directory, store ? this.#candidatesOf(scope, store) : [], this.#source.clock.now);
      this.#views.set(scope.key, view);
      let set = this.#byType.get(typeId(scope.type));
      if (!set) this.#byType.set(typeId(scope.type), (set = new Set()));
      set.add(view);
      this.#index(view, true);
    }
    view.lastUsedAt = Date.now();
    return view;
  }

  views(): IterableIterator<View> {
    return this.#views.values();
  }

  /** What `identity` may see now. */
  accessOf(identity: Identity): Access {
    return this.#access.of(identity);
  }

  /** The view `identity` sees of `type` now; undefined when its access does not cover the type. */
  viewFor(identity: Identity, type: ResourceType): View | undefined {
    const scope = scopeFor(type, this.accessOf(identity));
    return scope ? this.view(scope) : undefined;
  }

  /**
   * `follower` gets `view`'s events from now on, and is moved to another view (or told it lost access)
   * when `identity`'s scope of the type changes, until it stops.
   */
  follow(identity: Identity, view: View, follower: ViewFollower): Following {
    return this.#followers.follow(identity, view, follower);
  }

  /** Where a client resuming from `position` (a resourceVersion it got) stands: see RecentChanges.resumePoint. */
  resumePoint(position: Position): Position {
    return this.#recent.resumePoint(position);
  }

  /**
   * Extends `view`'s history back to `position` (a client resuming from before the view existed here: a
   * view created late, or on a replica that never served its scope), by replaying the recent changes of
   * its type from the objects' state at `position`. Only where that is exact: every change since
   * `position` still held, and none that altered what identities see (the directory now is then the
   * directory at every point since). Returns whether the history now reaches back to `position`.
   */
  extendHistory(view: View, position: Position): boolean {
    const target = view.log.completeAfter;
    if (comparePositions(position, target) >= 0) return true;
    if (comparePositions(position, this.#lastAccessChange) < 0) return false;
    if (visibilityOf(view.scope.type) !== 'namespace' && comparePositions(position, this.#lastNamespaceCreated) < 0) return false;
    const since = this.#recent.since(position);
    const store = this.#source.store(view.scope.type);
    if (!since || !store) return false;
    const id = typeId(view.scope.type);
    const ofType = since.filter((c) => typeId(c.resource) === id);
    // The type's objects as they were at `position`: what the first change after it found.
    const then = new Map<string, KubeObject>();
    for (const object of store.list()) then.set(objectKey(object), object);
    const undone = new Set<string>();
    for (const change of ofType) {
      const key = objectKey(change.object);
      if (undone.has(key)) continue;
      undone.add(key);
      if (change.previous) then.set(key, change.previous);
      else then.delete(key);
    }
    const stateThen: ObjectSource = { list: () => then.values(), get: (key) => then.get(key) };
    const replay = new View(view.scope, this.#directory, this.#candidatesOf(view.scope, stateThen), position);
    for (const change of ofType) {
      if (comparePositions(change.position, target) > 0) break;
      replay.apply(change.type, change.object, change.position);
    }
    const events = replay.log.since(position);
    return events.ok && view.log.backfill(events.events, position);
  }

  /** Clients following views. */
  get followerCount(): number {
    return this.#followers.size;
  }

  onAccessChange(listener: AccessListener): () => void {
    this.#accessListeners.add(listener);
    return () => this.#accessListeners.delete(listener);
  }

  /** Drops idle views without listeners; returns how many. */
  collectIdle(now = Date.now()): number {
    let dropped = 0;
    for (const [key, view] of this.#views) {
      if (view.listenerCount > 0 || now - view.lastUsedAt < VIEW_IDLE_MS) continue;
      this.#views.delete(key);
      this.#byType.get(typeId(view.scope.type))?.delete(view);
      this.#index(view, false);
      dropped++;
    }
    return dropped;
  }

  /** Forgets view history from before `cutoffMs` (epoch ms); returns how many events were dropped. */
  expireHistory(cutoffMs: number): number {
    this.#recent.expireBefore(cutoffMs);
    let expired = 0;
    for (const view of this.#views.values()) expired += view.log.expireBefore(cutoffMs, VIEW_HISTORY_KEPT);
    return expired;
  }

  /** Keeps the history from before `cutoffMs` compacted (views/compacted.ts), and lets go of revived objects. */
  compactHistory(cutoffMs: number): void {
    this.#recent.compactBefore(cutoffMs);
    for (const view of this.#views.values()) view.log.compactBefore(cutoffMs, compactEvent);
    releaseRevived();
  }

  /** Watch events held in the views' histories (what most of the memory beyond the objects is). */
  get historyLength(): number {
    let length = 0;
    for (const view of this.#views.values()) length += view.log.length;
    return length;
  }

  /** Serialized list bodies cached by the views (each view keeps a bounded few). */
  get listCacheEntries(): number {
    let entries = 0;
    for (const view of this.#views.values()) entries += listBodiesCached(view);
    return entries;
  }

  stop(): void {
    this.#subscription.unsubscribe();
  }

  #onChange(change: Change): void {
    if (change.restored) {
      this.#recent.restartAt(change.position);
      this.#lastAccessChange = change.position;
    } else {
      this.#recent.append(change);
    }
    const id = typeId(change.resource);
    const current = change.type === 'DELETED' ? undefined : change.object;
    let touched: Set<string> | undefined;
    switch (id) {
      case TENANTS_ID:
        touched = this.#directory.setTenant(change.object.metadata.name ?? '', current as Tenant | undefined);
        break;
      case NAMESPACES_ID:
        touched = this.#directory.setNamespace(change.object.metadata.name ?? '', current);
        break;
      case typeId(PROXY_SETTINGS):
        touched = this.#directory.setProxySetting(objectKey(change.object), current as ProxySetting | undefined);
        break;
      case typeId(GLOBAL_PROXY_SETTINGS):
        touched = this.#directory.setGlobalProxySettings(change.object.metadata.name ?? '', current as GlobalProxySettings | undefined);
        break;
      case typeId(ROLE_BINDINGS):
        touched = this.#directory.setRoleBinding(objectKey(change.object), current as RoleBinding | undefined);
        break;
      case CLAIMS_ID: {
        // Claims change which volumes their namespace's tenant sees, nothing else: no access change.
        const { namespace = '', name = '' } = change.object.metadata;
        const claimed = this.#directory.setClaim(namespace, name, current?.metadata.uid ?? (current ? '' : undefined));
        if (claimed.size > 0) {
          this.#lastAccessChange = change.position;
          this.#recompute(CLAIMS_ID, claimed, change);
        }
        return;
      }
    }
    // Who sees what may have changed (owners, settings, bindings; a namespace joining or leaving a
    // tenant changes member namespaces and ProxySetting validity). Watchers whose view changes are
    // detached before the views apply the change and re-attached after, so that they see exactly the
    // difference between what they held and their new view — never an intermediate state.
    const accessMayChange = touched !== undefined && (id !== NAMESPACES_ID || touched.size > 0);
    if (accessMayChange || (touched !== undefined && touched.size > 0)) {
      // A namespace created into a tenant had no state before: namespace views replay it exactly; kinds
      // that see it through the directory (volumes bound in it) do not.
      if (id === NAMESPACES_ID && change.previous === undefined) this.#lastNamespaceCreated = change.position;
      else this.#lastAccessChange = change.position;
    }
    if (accessMayChange) this.#followers.detachMoved((identity, type) => this.viewFor(identity, type));
    // Incremental: the views of the changed object's own type that it can affect.
    for (const view of this.#candidates(id, change, touched)) view.apply(change.type, change.object, change.position, change.restored === true);
    // What a scope selects by may have changed: a tenant's spec or status, a namespace's tenant.
    if (touched !== undefined && touched.size > 0 && (id === TENANTS_ID || id === NAMESPACES_ID)) this.#recompute(id, touched, change);
    if (accessMayChange) {
      this.#followers.reattach(this.#source.clock.now);
      for (const listener of this.#accessListeners) listener();
    }
  }

  /**
   * The objects a scope may select: for namespaces and tenants without rules, only its tenants' (and
   * member) objects, through the directory's index — building a tenant's view costs its own size, not
   * the cluster's. Everything otherwise.
   */
  #candidatesOf(scope: Scope, store: ObjectSource): Iterable<KubeObject> {
    const visibility = visibilityOf(scope.type);
    if (scope.rules.length > 0 || (visibility !== 'namespace' && visibility !== 'tenant')) return store.list();
    const names = new Set<string>(scope.members);
    if (visibility === 'tenant') for (const t of scope.tenants) names.add(t);
    else for (const t of scope.tenants) for (const ns of this.#directory.namespacesOf(t)) names.add(ns);
    const objects: KubeObject[] = [];
    for (const name of names) {
      const object = store.get(name);
      if (object) objects.push(object);
    }
    return objects;
  }

  #index(view: View, add: boolean): void {
    const update = (index: Map<string, Set<View>>, key: string) => {
      let set = index.get(key);
      if (add) {
        if (!set) index.set(key, (set = new Set()));
        set.add(view);
      } else if (set) {
        set.delete(view);
        if (set.size === 0) index.delete(key);
      }
    };
    for (const t of view.scope.tenants) update(this.#byTenant, t);
    for (const m of view.scope.members) update(this.#byMember, m);
    if (view.scope.rules.length > 0) {
      if (add) this.#withRules.add(view);
      else this.#withRules.delete(view);
    }
  }

  /**
   * The views a change of `id` can affect. Kinds routed by tenant: views of the object's tenant
   * before or after (labels, claim namespace, and the namespace → tenant mapping before and after, which
   * `touched` holds), of its name as a member namespace, and views with rules. Other kinds: all views.
   */
  #candidates(id: string, change: Change, touched: Set<string> | undefined): Iterable<View> {
    const views = this.#byType.get(id);
    if (!views || views.size === 0) return [];
    const visibility = visibilityOf(change.resource);
    if (!visibility || !routedByTenant(visibility)) return views;
    const tenants = new Set<string>(touched ?? []);
    for (const object of [change.object, change.previous]) if (object) for (const t of this.#tenantsOf(visibility, object)) tenants.add(t);
    const result = new Set<View>();
    const add = (set: Set<View> | undefined) => {
      for (const view of set ?? []) if (typeId(view.scope.type) === id) result.add(view);
    };
    for (const t of tenants) add(this.#byTenant.get(t));
    if (visibility === 'namespace') add(this.#byMember.get(change.object.metadata.name ?? ''));
    add(this.#withRules);
    return result;
  }

  #tenantsOf(visibility: VisibilityRule['by'], object: KubeObject): string[] {
    if (visibility === 'tenant') return [object.metadata.name ?? ''];
    if (visibility === 'namespace') {
      const t = [this.#directory.tenantOfNamespace(object.metadata.name), object.metadata.labels?.[TENANT_LABEL]];
      return t.filter((x): x is string => x !== undefined);
    }
    return [object.metadata.labels?.[TENANT_LABEL], claimTenant(object, this.#directory)].filter((x): x is string => x !== undefined);
  }

  /** Full re-evaluation of the views whose selection depends on the touched tenants. */
  #recompute(changedType: string, touched: Set<string>, change: Change): void {
    for (const view of this.#views.values()) {
      const id = typeId(view.scope.type);
      const visibility = visibilityOf(view.scope.type);
      // A namespace change was already applied incrementally to namespace views; a tenant change to
      // tenant views. Everything else that depends on a touched tenant is re-evaluated; a namespace's
      // or a claim's change moves only volumes (bound through claims in the namespace).
      if (id === changedType && (visibility === 'namespace' || visibility === 'tenant')) continue;
      if ((changedType === NAMESPACES_ID || changedType === CLAIMS_ID) && visibility !== 'volume') continue;
      if (!view.scope.tenants.some((t) => touched.has(t)) && !(visibility === 'namespace' && view.scope.members.length > 0)) continue;
      const store = this.#source.store(view.scope.type);
      if (store) view.recompute(this.#candidatesOf(view.scope, store), store, change.position, change.restored === true);
    }
  }
}
