// An in-memory stand-in for the shared informers: stores per resource type and one ordered change
// stream with upstream-like resourceVersions. For fast tests of the projection logic and for benchmarks
// that need no HTTP.
import { Subject, type Observable } from 'rxjs';
import type { Change } from './informer-hub.ts';
import { objectKey, type KubeObject } from './kube-object.ts';
import { EventClock } from './position.ts';
import type { ChangeType } from './reflector.ts';
import { typeId, type ResourceType } from './resource-type.ts';

export class MemoryStore {
  readonly objects = new Map<string, KubeObject>();

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  list(): IterableIterator<KubeObject> {
    return this.objects.values();
  }

  get size(): number {
    return this.objects.size;
  }
}

export class MemorySource {
  readonly clock = new EventClock();
  readonly #changes = new Subject<Change>();
  readonly #stores = new Map<string, MemoryStore>();
  #revision = 0;

  get changes$(): Observable<Change> {
    return this.#changes.asObservable();
  }

  store(type: ResourceType): MemoryStore {
    let store = this.#stores.get(typeId(type));
    if (!store) this.#stores.set(typeId(type), (store = new MemoryStore()));
    return store;
  }

  get revision(): number {
    return this.#revision;
  }

  /** Creates, replaces or deletes an object, stamping the next resourceVersion, and emits the change. */
  apply(resource: ResourceType, type: ChangeType, object: KubeObject): KubeObject {
    const store = this.store(resource);
    const key = objectKey(object);
    const previous = store.get(key);
    const rv = ++this.#revision;
    const stamped: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } };
    if (type === 'DELETED') store.objects.delete(key);
    else store.objects.set(key, stamped);
    const effective: ChangeType = type === 'DELETED' ? 'DELETED' : previous ? 'MODIFIED' : 'ADDED';
    this.#changes.next({ type: effective, resource, object: stamped, previous, position: this.clock.next(rv) });
    return stamped;
  }

  /**
   * Sends an object's current state once more, at the clock's next position (late, as its revision is
   * behind the clock): what an upstream watch restarted from an older revision delivers.
   */
  redeliver(resource: ResourceType, key: string): void {
    const object = this.store(resource).get(key);
    if (!object) throw new Error(`nothing to deliver again: ${key} is not held`);
    this.#changes.next({ type: 'MODIFIED', resource, object, previous: object, position: this.clock.next(Number(object.metadata.resourceVersion)) });
  }

  /** Moves upstream progress without a change (a bookmark). */
  bookmark(): void {
    this.clock.advance(++this.#revision);
  }
}
