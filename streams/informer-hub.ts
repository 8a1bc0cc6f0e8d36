// The process's shared upstream informers: one Reflector per resource type, whatever the number of
// clients, merged into one ordered stream of changes stamped with positions from one EventClock.
//
// Order: reflectors emit synchronously from their sockets' data handlers, so changes$ delivers one
// change at a time, fully processed by every subscriber before the next — a total order across types.
// Types named only by clusterResources rules, and Tenant versions converted by a webhook, are acquired
// and released (reference counted): their reflector starts with the first use and stops with the last.
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { ProgressState } from './change-log.ts';
import { upstreamRevision } from './upstream-revision.ts';
import type { RequestSource, StreamLog } from './ports.ts';
import type { KubeObject } from './kube-object.ts';
import { EventClock, type Position } from './position.ts';
import { Reflector, type ChangeType } from './reflector.ts';
import { typeId, type ResourceType } from './resource-type.ts';

export interface Change {
  type: ChangeType;
  resource: ResourceType;
  object: KubeObject;
  previous: KubeObject | undefined;
  position: Position;
  /**
   * A replica loaded a snapshot at `position`: this is part of the difference from what it held, not an
   * event of the log (what came before `position` cannot be replayed from the changes seen).
   */
  restored?: true;
  /**
   * When the change reached the deployment (epoch ms): this process's informer, or on a replica the
   * leader's as its log entry says. Watch delivery lag is measured from it.
   */
  receivedAt?: number;
}

/**
 * Upstream progress without a change: a bookmark or a (re)list moved the clock (`bookmark`, `synced`),
 * or the API server does not serve the type (`absent`).
 */
export interface Progress {
  resource: ResourceType;
  position: Position;
  state: ProgressState;
}

interface Entry {
  reflector: Reflector;
  subscription: Subscription;
  references: number;
  permanent: boolean;
}

export class InformerHub {
  readonly clock = new EventClock();
  readonly #upstream: RequestSource;
  readonly #log: StreamLog;
  readonly #entries = new Map<string, Entry>();
  readonly #changes = new Subject<Change>();
  readonly #progress = new Subject<Progress>();
  readonly #informers = new Subject<ResourceType[]>();
  /** Whether reflectors run: a replica that does not lead keeps its informer set but watches nothing. */
  #running: boolean;

  /** `running: false`: informers are registered but start only when `setRunning(true)` (a follower). */
  constructor(upstream: RequestSource, log: StreamLog, options: { running?: boolean } = {}) {
    this.#upstream = upstream;
    this.#log = log;
    this.#running = options.running ?? true;
  }

  /** The set of watched types, each time it changes (what a follower must know to mirror the leader). */
  get informers$(): Observable<ResourceType[]> {
    return this.#informers.asObservable();
  }

  /** The apiserver's current revision (a quorum read): at or above every revision any informer saw. */
  upstreamRevision(): Promise<number> {
    return upstreamRevision(this.#upstream);
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Starts every registered informer (this replica leads), or stops them (it no longer does; each is
   * replaced by a fresh, unstarted one, so that leading again lists anew).
   */
  setRunning(running: boolean): void {
    if (running === this.#running) return;
    this.#running = running;
    for (const [id, entry] of this.#entries) {
      if (running) {
        entry.reflector.start();
        continue;
      }
      entry.subscription.unsubscribe();
      entry.reflector.stop();
      const fresh = this.#newEntry(entry.reflector.type, entry.permanent);
      fresh.references = entry.references;
      this.#entries.set(id, fresh);
    }
    if (running) this.#informers.next(this.#types());
  }

  #types(): ResourceType[] {
    return [...this.#entries.values()].map((e) => e.reflector.type);
  }

  get changes$(): Observable<Change> {
    return this.#changes.asObservable();
  }

  get progress$(): Observable<Progress> {
    return this.#progress.asObservable();
  }

  /** Starts (once) the informer of a type the proxy always needs. */
  ensure(type: ResourceType): Reflector {
    return this.#entry(type, true).reflector;
  }

  /** Takes a reference on a type's informer, starting it if needed. */
  acquire(type: ResourceType): Reflector {
    const entry = this.#entry(type, false);
    entry.references++;
    return entry.reflector;
  }

  /** Drops a reference; the informer stops when no rule and no permanent use needs it. */
  release(type: ResourceType): void {
    const id = typeId(type);
    const entry = this.#entries.get(id);
    if (!entry) return;
    entry.references = Math.max(0, entry.references - 1);
    if (entry.references === 0 && !entry.permanent) {
      entry.subscription.unsubscribe();
      entry.reflector.stop();
      this.#entries.delete(id);
      this.#log.info({ resource: id }, 'informer stopped: nothing needs it any more');
      if (this.#running) this.#informers.next(this.#types());
    }
  }

  reflector(type: Pick<ResourceType, 'group' | 'resource'> & Partial<Pick<ResourceType, 'version' | 'converted'>>): Reflector | undefined {
    return this.#entries.get(typeId(type))?.reflector;
  }

  reflectors(): Reflector[] {
    return [...this.#entries.values()].map((e) => e.reflector);
  }

  #entry(type: ResourceType, permanent: boolean): Entry {
    const id = typeId(type);
    const existing = this.#entries.get(id);
    if (existing) {
      existing.permanent ||= permanent;
      return existing;
    }
    const entry = this.#newEntry(type, permanent);
    this.#entries.set(id, entry);
    if (this.#running) {
      // Followers learn the new type before its first event.
      this.#informers.next(this.#types());
      entry.reflector.start();
    }
    return entry;
  }

  #newEntry(type: ResourceType, permanent: boolean): Entry {
    const reflector = new Reflector(type, this.#upstream, this.#log);
    const subscription = reflector.events$.subscribe((event) => {
      if (event.type === 'BOOKMARK' || event.type === 'SYNCED' || event.type === 'ABSENT') {
        this.clock.advance(event.rv);
        this.#progress.next({ resource: reflector.type, position: this.clock.now, state: event.type === 'BOOKMARK' ? 'bookmark' : event.type === 'SYNCED' ? 'synced' : 'absent' });
        return;
      }
      this.#changes.next({ type: event.type, resource: reflector.type, object: event.object, previous: event.previous, position: this.clock.next(event.rv), receivedAt: Date.now() });
    });
    return { reflector, subscription, references: 0, permanent };
  }

  stop(): void {
    for (const entry of this.#entries.values()) {
      entry.subscription.unsubscribe();
      entry.reflector.stop();
    }
    this.#entries.clear();
    this.#changes.complete();
    this.#progress.complete();
    this.#informers.complete();
  }
}
