// A replica of the deployment's state, rebuilt from its change log: one store per type, a clock that
// takes the log's positions exactly, and the same Change stream the hub gives a single process. Every
// replica, the leader included, serves from this, so all of them hand out the same resourceVersion for
// the same event and a client can resume on any of them.
import { Subject, type Observable } from 'rxjs';
import type { ChangeEntry, ChangeLog, LogEntry, ProgressEntry } from './change-log.ts';
import type { Change } from './informer-hub.ts';
import { objectKey, type KubeObject } from './kube-object.ts';
import { comparePositions, EventClock, formatPosition, ZERO, type Position } from './position.ts';
import type { StreamLog } from './ports.ts';
import type { ReflectorEvent, ReflectorState } from './reflector.ts';
import { typeId, type ResourceType } from './resource-type.ts';
import { UNOBSERVED, type ReplicationObserver } from './replication-observer.ts';
import type { TypeStore } from './type-store.ts';

export class ReplicaStore implements TypeStore {
  #type: ResourceType;
  #state: ReflectorState = 'starting';
  readonly #objects = new Map<string, KubeObject>();
  readonly #events = new Subject<ReflectorEvent>();
  /** The type's upstream resourceVersion as of the last entry applied. */
  resourceVersion = '';
  readonly stats = { events: 0 };

  constructor(type: ResourceType) {
    this.#type = type;
  }

  get type(): ResourceType {
    return this.#type;
  }

  get state(): ReflectorState {
    return this.#state;
  }

  get events$(): Observable<ReflectorEvent> {
    return this.#events.asObservable();
  }

  get size(): number {
    return this.#objects.size;
  }

  get(key: string): KubeObject | undefined {
    return this.#objects.get(key);
  }

  list(): IterableIterator<KubeObject> {
    return this.#objects.values();
  }

  /** Applies a change; returns the object's previous state. */
  applyChange(entry: ChangeEntry): KubeObject | undefined {
    const key = objectKey(entry.object);
    const previous = this.#objects.get(key);
    if (entry.type === 'DELETED') this.#objects.delete(key);
    else this.#objects.set(key, entry.object);
    this.#type = entry.resource;
    this.resourceVersion = entry.resourceVersion;
    this.stats.events++;
    this.#events.next({ type: entry.type, object: entry.object, previous, rv: Number(entry.resourceVersion) || entry.position.rv });
    return previous;
  }

  applyProgress(entry: ProgressEntry): void {
    this.#type = entry.resource;
    this.resourceVersion = entry.resourceVersion;
    if (entry.state === 'absent') this.#state = 'absent';
    else if (entry.state === 'synced') this.#state = 'synced';
    this.#events.next({ type: entry.state === 'bookmark' ? 'BOOKMARK' : 'SYNCED', rv: Number(entry.resourceVersion) || entry.position.rv });
  }

  stop(): void {
    this.#events.complete();
  }
}

export class LogReplica {
  readonly clock = new EventClock();
  readonly #log: ChangeLog;
  readonly #streamLog: StreamLog;
  readonly #stores = new Map<string, ReplicaStore>();
  readonly #changes = new Subject<Change>();
  #abort: AbortController | undefined;
  /** The position of the last entry applied. */
  #position: Position = ZERO;
  #running: Promise<void> | undefined;

  readonly #observer: ReplicationObserver;

  constructor(log: ChangeLog, streamLog: StreamLog, observer: ReplicationObserver = UNOBSERVED) {
    this.#log = log;
    this.#observer = observer;
    this.#streamLog = streamLog.child({ component: 'log-replica' });
  }

  get changes$(): Observable<Change> {
    return this.#changes.asObservable();
  }

  get position(): Position {
    return this.#position;
  }

  store(type: Pick<ResourceType, 'group' | 'resource'> & Partial<Pick<ResourceType, 'version' | 'converted'>>): ReplicaStore | undefined {
    return this.#stores.get(typeId(type));
  }

  stores(): ReplicaStore[] {
    return [...this.#stores.values()];
  }

  /** Follows the log from `after` (the origin, or a snapshot's position) until stopped. */
  start(after: Position = ZERO): void {
    if (this.#running) return;
    this.#position = after;
    const abort = new AbortController();
    this.#abort = abort;
    this.#running = this.#follow(abort.signal);
  }

  async #follow(signal: AbortSignal): Promise<void> {
    for await (const event of this.#log.tail(this.#position, signal)) {
      if (event.kind === 'entries') {
        for (const entry of event.entries) this.apply(entry);
      } else if (event.kind === 'error') {
        this.#observer.logError('tail');
        this.#streamLog.warn({ err: event.error.message, position: formatPosition(this.#position) }, 'reading the change log failed; retrying');
      } else {
        // The log no longer reaches back to this replica's position: what it serves from here on could
        // miss changes. Reloading from a snapshot is the failover work; until then, say it loudly.
        this.#streamLog.warn({ position: formatPosition(this.#position), trimmedThrough: formatPosition(event.trimmedThrough) }, 'the change log was trimmed past this replica\'s position');
        return;
      }
    }
  }

  /** Applies one entry of the log, in order (entries at or before the replica's position are skipped). */
  apply(entry: LogEntry): void {
    if (comparePositions(entry.position, this.#position) <= 0) return;
    this.#position = entry.position;
    switch (entry.kind) {
      case 'informers': {
        const listed = new Set(entry.resources.map((r) => typeId(r)));
        for (const resource of entry.resources) this.#ensure(resource);
        for (const [id, store] of this.#stores) {
          if (listed.has(id)) continue;
          store.stop();
          this.#stores.delete(id);
        }
        this.clock.adopt(entry.position);
        return;
      }
      case 'progress':
        this.#ensure(entry.resource).applyProgress(entry);
        this.clock.adopt(entry.position);
        return;
      case 'change': {
        const store = this.#ensure(entry.resource);
        const previous = store.applyChange(entry);
        if (entry.recordedAt !== undefined) this.#observer.applied(Math.max(0, Date.now() - entry.recordedAt) / 1000);
        this.clock.adopt(entry.position);
        this.#changes.next({ type: entry.type, resource: entry.resource, object: entry.object, previous, position: entry.position });
      }
    }
  }

  #ensure(type: ResourceType): ReplicaStore {
    const id = typeId(type);
    let store = this.#stores.get(id);
    if (!store) this.#stores.set(id, (store = new ReplicaStore(type)));
    return store;
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#running;
    for (const store of this.#stores.values()) store.stop();
    this.#changes.complete();
  }
}
