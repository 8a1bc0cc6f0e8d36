// One tenant view of one resource type: the objects a Scope selects, kept current from the shared
// change stream, with a bounded history of the watch events it produced. Its list bodies are cached by
// the encoder (views/encoder.ts), which the view tells of every change.
//
// An upstream change is turned into at most one view event by comparing membership before and after
// (as the apiserver's cacher does for a filter): in → in = MODIFIED, out → in = ADDED, in → out =
// DELETED carrying the last visible state at the event's resourceVersion. recompute() re-evaluates every
// object when what the scope selects by changed (a tenant's spec, a namespace's tenant). Listeners get
// each batch synchronously; they must not block.
import { objectKey, type KubeObject } from '../../streams/kube-object.ts';
import { formatPosition, type Position } from '../../streams/position.ts';
import type { ChangeType } from '../../streams/reflector.ts';
import type { TenantDirectory } from '../tenancy/directory.ts';
import { isVisible, type Scope } from '../tenancy/scope.ts';
import { deletedAt, forgetListBodies } from './encoder.ts';
import { MemoryEventLog, type EventLog } from './event-log.ts';

export interface ViewEvent {
  readonly position: Position;
  readonly type: ChangeType;
  readonly object: KubeObject;
  /** The state before, for MODIFIED (client-side filters need it). */
  readonly previous: KubeObject | undefined;
  /**
   * Part of a difference the replica took in one step (it reloaded its state from a snapshot, or rejoined
   * the log): the changes before it are not known one by one, so a watcher that would see it is expired.
   */
  readonly restored?: true;
}

export interface ViewListener {
  deliver(view: View, events: readonly ViewEvent[]): void;
}

export interface ObjectSource {
  list(): Iterable<KubeObject>;
  get(key: string): KubeObject | undefined;
}

/**
 * A view's history: the events of the last `--watch-history` (trimmed by the engine), at most this many;
 * the apiserver keeps at least 100 per type.
 */
export const VIEW_HISTORY_CAPACITY = 1_000;
/** Events a view keeps whatever their age, so that the watchers of a quiet tenant can still resume. */
export const VIEW_HISTORY_KEPT = 10;

export class View {
  readonly scope: Scope;
  readonly log: EventLog<ViewEvent>;
  /** Followers are added and removed by Projections, which moves them when their identity's access changes. */
  readonly #listeners = new Set<ViewListener>();
  readonly #directory: TenantDirectory;
  readonly #visible = new Map<string, KubeObject>();
  #position: Position;
  #sorted: KubeObject[] | undefined;
  lastUsedAt = Date.now();

  /** `candidates`: every object of the type that may be visible (all of them, or what an index narrows). */
  constructor(scope: Scope, directory: TenantDirectory, candidates: Iterable<KubeObject>, position: Position, capacity = VIEW_HISTORY_CAPACITY) {
    this.scope = scope;
    this.#directory = directory;
    this.#position = position;
    this.log = new MemoryEventLog<ViewEvent>(capacity, position);
    for (const object of candidates) if (isVisible(scope, object, directory)) this.#visible.set(objectKey(object), object);
  }

  /** The position of this view's latest event (or of its creation). */
  get position(): Position {
    return this.#position;
  }

  get size(): number {
    return this.#visible.size;
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  addListener(listener: ViewListener): void {
    this.#listeners.add(listener);
  }

  removeListener(listener: ViewListener): void {
    this.#listeners.delete(listener);
  }

  has(key: string): boolean {
    return this.#visible.has(key);
  }

  get(key: string): KubeObject | undefined {
    return this.#visible.get(key);
  }

  /** Visible objects sorted by key (the apiserver's list order), shared until the next change. */
  items(): readonly KubeObject[] {
    this.#sorted ??= [...this.#visible.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
    return this.#sorted;
  }

  /** Applies one upstream change of this view's type. */
  apply(type: ChangeType, object: KubeObject, position: Position, restored = false): void {
    const event = this.#transition(objectKey(object), type === 'DELETED' ? undefined : object, object, position, restored);
    if (event) this.#publish([event]);
  }

  /**
   * Re-evaluates the objects that may be visible (what the scope selects by has changed): `candidates`,
   * and whatever the view holds now, looked up in `source`.
   */
  recompute(candidates: Iterable<KubeObject>, source: ObjectSource, position: Position, restored = false): void {
    const events: ViewEvent[] = [];
    const seen = new Set<string>();
    for (const object of candidates) {
      const key = objectKey(object);
      seen.add(key);
      const event = this.#transition(key, object, object, position, restored);
      if (event) events.push(event);
    }
    for (const key of [...this.#visible.keys()]) {
      if (seen.has(key)) continue;
      const current = source.get(key);
      const event = this.#transition(key, current, current ?? (this.#visible.get(key) as KubeObject), position, restored);
      if (event) events.push(event);
    }
    if (events.length > 0) this.#publish(events);
  }

  /**
   * current: the object's state now (undefined when deleted upstream); final: what a DELETED carries
   * when the object was deleted upstream.
   */
  #transition(key: string, current: KubeObject | undefined, final: KubeObject, position: Position, restored: boolean): ViewEvent | undefined {
    const event = this.#change(key, current, final, position);
    return event && restored ? { ...event, restored: true } : event;
  }

  #change(key: string, current: KubeObject | undefined, final: KubeObject, position: Position): ViewEvent | undefined {
    const before = this.#visible.get(key);
    const now = current !== undefined && isVisible(this.scope, current, this.#directory);
    if (now && current) {
      if (before === current) return undefined;
      if (before !== undefined && sameState(before, current)) {
        // The same upstream state again (a leader's watch restarted from an older revision than the
        // followers had read): not a change a watcher should see twice.
        this.#visible.set(key, current);
        return undefined;
      }
      this.#visible.set(key, current);
      return { position, type: before ? 'MODIFIED' : 'ADDED', object: current, previous: before };
    }
    if (!before) return undefined;
    this.#visible.delete(key);
    const object = current === undefined && final !== before ? final : deletedAt(before, formatPosition(position));
    return { position, type: 'DELETED', object, previous: before };
  }

  #publish(events: ViewEvent[]): void {
    this.#sorted = undefined;
    forgetListBodies(this);
    for (const event of events) this.log.append(event);
    this.#position = events[events.length - 1]?.position ?? this.#position;
    for (const listener of this.#listeners) listener.deliver(this, events);
  }
}

/** Same resourceVersion and the same content (a converted version may change content at one resourceVersion). */
function sameState(a: KubeObject, b: KubeObject): boolean {
  return a.metadata.resourceVersion !== undefined && a.metadata.resourceVersion === b.metadata.resourceVersion && JSON.stringify(a) === JSON.stringify(b);
}
