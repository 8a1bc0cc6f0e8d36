// A replica of the deployment's state, rebuilt from its change log: one store per type, a clock that
// takes the log's positions exactly, and the same Change stream the hub gives a single process. Every
// replica, the leader included, serves from this, so all of them hand out the same resourceVersion for
// the same event and a client can resume on any of them.
//
// With a SnapshotStore, a replica starts from the newest snapshot and reads the log after it, and when
// the log was trimmed past its position (a tail `gap`) it loads the newest snapshot again: what changed
// meanwhile reaches its views as the difference between what it held and the snapshot, all at the
// snapshot's position (as an upstream relist reaches a single process's views).
import { Subject, type Observable } from 'rxjs';
import type { ChangeEntry, ChangeLog, LogEntry, ProgressEntry } from './change-log.ts';
import type { Change } from './informer-hub.ts';
import { objectKey, type KubeObject } from './kube-object.ts';
import { performance } from 'node:perf_hooks';
import { comparePositions, EventClock, formatPosition, localTagOf, ZERO, type Position } from './position.ts';
import type { StreamLog } from './ports.ts';
import type { ReflectorEvent, ReflectorState } from './reflector.ts';
import { findStart, type StartPoint } from './replica-start.ts';
import { typeId, type ResourceType } from './resource-type.ts';
import { UNOBSERVED, type ReplicationObserver } from './replication-observer.ts';
import type { Snapshot, SnapshotStore, SnapshotSummary, SnapshotType } from './snapshot-store.ts';
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

  /** Takes a snapshot's content, state and resourceVersion; returns the difference from what it held, as changes at `position`. */
  load(snapshot: SnapshotType, position: Position): Change[] {
    const next = new Map(snapshot.objects.map((object) => [objectKey(object), object]));
    const changes: Change[] = [];
    const resource = snapshot.resource;
    for (const [key, previous] of this.#objects) if (!next.has(key)) changes.push({ type: 'DELETED', resource, object: previous, previous, position });
    for (const [key, object] of next) {
      const previous = this.#objects.get(key);
      if (!previous) changes.push({ type: 'ADDED', resource, object, previous, position });
      else if (previous.metadata.resourceVersion !== object.metadata.resourceVersion) changes.push({ type: 'MODIFIED', resource, object, previous, position });
    }
    this.#objects.clear();
    for (const [key, object] of next) this.#objects.set(key, object);
    this.#type = resource;
    this.#state = snapshot.state;
    this.resourceVersion = snapshot.resourceVersion;
    const rv = Number(snapshot.resourceVersion) || position.rv;
    for (const change of changes) {
      this.stats.events++;
      this.#events.next({ type: change.type, object: change.object, previous: change.previous, rv });
    }
    if (snapshot.state !== 'starting') this.#events.next({ type: 'SYNCED', rv });
    return changes;
  }

  /** What a snapshot holds of this type now. */
  snapshot(): SnapshotType {
    return { resource: this.#type, state: this.#state === 'stopped' ? 'starting' : this.#state, resourceVersion: this.resourceVersion, objects: [...this.#objects.values()] };
  }

  stop(): void {
    this.#events.complete();
  }
}

const RETRY_MS = 1_000;
const READ_PAGE = 1_000;
const MAX_UNREAD_STRETCHES = 16;
const MAX_RETRY_MS = 30_000;

export class LogReplica {
  readonly clock = new EventClock();
  readonly #log: ChangeLog;
  readonly #streamLog: StreamLog;
  readonly #stores = new Map<string, ReplicaStore>();
  readonly #changes = new Subject<Change>();
  readonly #snapshots: SnapshotStore | undefined;
  #abort: AbortController | undefined;
  /** The position of the last entry applied. */
  #position: Position = ZERO;
  #running: Promise<void> | undefined;
  /** The snapshot this replica last loaded (at start, or after a gap). */
  loaded: SnapshotSummary | undefined;
  /** Since when (performance.now()) reading the log has failed without a success in between. */
  #failingSince: number | undefined;
  /** The tags of this replica's local periods (position.ts): it alone can serve their positions. */
  readonly #ownTags = new Set<number>();
  /** Stretches of the log this replica did not read entry by entry (a local period, then one difference). */
  readonly #unread: { after: Position; through: Position | undefined }[] = [];
  /** `applied`: log entries read (snapshots not counted); `loads`: snapshots loaded; `gaps`: tails that found the log trimmed past this replica. */
  readonly stats = { applied: 0, loads: 0, gaps: 0 };

  readonly #observer: ReplicationObserver;

  /**
   * `snapshots`: where the replica starts from (and starts again after a gap); without it, from the log's
   * origin. `observer`: told of lag and log errors.
   */
  constructor(log: ChangeLog, streamLog: StreamLog, snapshots?: SnapshotStore, observer: ReplicationObserver = UNOBSERVED) {
    this.#log = log;
    this.#observer = observer;
    this.#streamLog = streamLog.child({ component: 'log-replica' });
    this.#snapshots = snapshots;
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

  /**
   * Follows the log until stopped: from `after` when given; otherwise from the oldest snapshot kept that
   * the log reaches back to when the replica has a SnapshotStore, else from the log's origin.
   */
  start(after?: Position): void {
    if (this.#running) return;
    const abort = new AbortController();
    this.#abort = abort;
    const snapshots = this.#snapshots;
    if (after !== undefined || !snapshots) {
      this.#position = after ?? ZERO;
      this.#running = this.#follow(abort.signal, snapshots);
    } else {
      this.#running = this.#startFromSnapshot(snapshots, 'start', abort.signal).then((started) => (started ? this.#follow(abort.signal, snapshots) : undefined));
    }
  }

  async #follow(signal: AbortSignal, snapshots: SnapshotStore | undefined): Promise<void> {
    while (!signal.aborted) {
      let gap: Position | undefined;
      for await (const event of this.#log.tail(this.#position, signal)) {
        if (event.kind === 'entries' || event.kind === 'idle') this.#failingSince = undefined;
        if (event.kind === 'entries') {
          this.stats.applied += event.entries.length;
          for (const entry of event.entries) this.apply(entry);
        } else if (event.kind === 'error') {
          this.#failingSince ??= performance.now();
          this.#observer.logError('tail');
          this.#streamLog.warn({ err: event.error.message, position: formatPosition(this.#position) }, 'reading the change log failed; retrying');
        } else if (event.kind === 'gap') {
          gap = event.trimmedThrough;
        }
      }
      if (gap === undefined || signal.aborted) return;
      this.stats.gaps++;
      // The log no longer reaches back to this replica's position: never serve the hole silently.
      const fields = { position: formatPosition(this.#position), trimmedThrough: formatPosition(gap) };
      if (!snapshots) {
        this.#streamLog.warn(fields, 'the change log was trimmed past this replica\'s position and there are no snapshots to start again from: it stops following the log');
        return;
      }
      this.#streamLog.warn(fields, 'the change log was trimmed past this replica\'s position: loading the newest snapshot; views get the difference at its position, and a watcher that would see a part of it is expired (410: its client lists again)');
      if (!(await this.#startFromSnapshot(snapshots, 'gap', signal))) return;
    }
  }

  /** How long reading the log has been failing (0 while it answers). */
  get failingForMs(): number {
    return this.#failingSince === undefined ? 0 : performance.now() - this.#failingSince;
  }

  /** Stops following the log, keeping its state (a degraded replica feeds it from its own informers). */
  async suspend(): Promise<void> {
    this.#abort?.abort();
    await this.#running;
    this.#running = undefined;
    this.#abort = undefined;
    this.#failingSince = undefined;
  }

  /** Follows the log again, after its position. */
  resume(): void {
    this.start(this.#position);
  }

  /** A local period begins at the replica's position: its positions carry `tag`, and the log after here goes unread. */
  beginLocal(tag: number): void {
    this.#ownTags.add(tag);
    this.#unread.push({ after: this.#position, through: undefined });
    if (this.#unread.length > MAX_UNREAD_STRETCHES) this.#unread.shift();
  }

  /** The local period ended: the replica took the log's state at `through` in one step. */
  endLocal(through: Position): void {
    const open = this.#unread[this.#unread.length - 1];
    if (open && open.through === undefined) open.through = through;
  }

  /**
   * Whether this replica can serve exactly from `position` on: an upstream revision (it means the same
   * everywhere), a position of the log that it read entry by entry, or one it handed out itself in a
   * local period. Anything else is answered 410 (the client relists), never with events taken for the
   * ones after it.
   */
  servable(position: Position): boolean {
    const tag = localTagOf(position);
    if (tag !== undefined) return this.#ownTags.has(tag);
    if (position.seq === 0) return true;
    return !this.#unread.some((s) => comparePositions(position, s.after) > 0 && (s.through === undefined || comparePositions(position, s.through) < 0));
  }

  /**
   * Moves to `position`, above every position the replica handed out, without a change: a leader that
   * starts the log again there (ChangeLog.reseed) from its own state.
   */
  jumpTo(position: Position): void {
    if (comparePositions(position, this.#position) <= 0) throw new Error(`cannot jump back from ${formatPosition(this.#position)} to ${formatPosition(position)}`);
    this.#position = position;
    this.clock.adopt(position);
    this.endLocal(position);
  }

  /**
   * Reads the log's state as of its top into this (fresh, unstarted) replica: the newest snapshot, then
   * the log after it. For a replica rejoining the log, which compares it with its own.
   */
  async readToTop(): Promise<{ ok: true } | { ok: false; error: Error }> {
    if (!this.#snapshots) return { ok: false, error: new Error('no snapshot store') };
    const found = await findStart(this.#log, this.#snapshots);
    if (!found.ok) return found;
    this.#take(found.start);
    for (;;) {
      const read = await this.#log.read(this.#position, READ_PAGE);
      if (!read.ok) return { ok: false, error: read.reason === 'trimmed' ? new Error(`the log was trimmed through ${formatPosition(read.trimmedThrough)} while being read`) : read.error };
      if (read.entries.length === 0) return { ok: true };
      for (const entry of read.entries) this.apply(entry);
    }
  }

  /** Finds where to start (retrying while the log or the snapshots cannot be read) and takes it; false once stopped. */
  async #startFromSnapshot(snapshots: SnapshotStore, why: 'start' | 'gap', signal: AbortSignal): Promise<boolean> {
    for (let wait = RETRY_MS; !signal.aborted; wait = Math.min(MAX_RETRY_MS, wait * 2)) {
      // Starting, the oldest snapshot kept: the changes since are this replica's watch history too.
      const found = await findStart(this.#log, snapshots, why === 'start' ? 'oldest' : 'newest');
      if (signal.aborted) return false;
      if (!found.ok) {
        this.#streamLog.warn({ why, err: found.error.message, retryInMs: wait }, 'cannot read the snapshots or the log bounds; retrying');
        await abortableSleep(wait, signal);
        continue;
      }
      const start = found.start;
      this.#take(start);
      if (start.kind === 'snapshot') {
        this.loaded = start.summary;
        this.stats.loads++;
        const objects = start.snapshot.types.reduce((sum, type) => sum + type.objects.length, 0);
        if (start.olderSkipped) this.#streamLog.warn({ why, skipped: start.olderSkipped }, 'could not load the oldest snapshot kept: starting from the newest, so watches cannot resume from before it here');
        this.#streamLog.info({ why, position: formatPosition(start.summary.position), objects, bytes: start.summary.bytes, ageSeconds: Math.round((Date.now() - start.summary.takenAt) / 1000) }, 'loaded a snapshot; reading the change log after it');
        return true;
      }
      if (start.missing) this.#streamLog.warn({ why, from: formatPosition(start.after), at: formatPosition(this.#position) }, `no snapshot covers the log's beginning (${start.missing}): reading the log from its beginning, so this replica lacks what was trimmed`);
      else this.#streamLog.info({ why }, 'reading the change log from its beginning (it was never trimmed)');
      return true;
    }
    return false;
  }

  /** Moves to a start point: the snapshot's state, or the log's beginning when it is ahead. */
  #take(start: StartPoint): void {
    if (start.kind === 'snapshot') this.restore(start.snapshot);
    else if (comparePositions(start.after, this.#position) > 0) {
      this.#position = start.after;
      this.clock.adopt(start.after);
    }
  }

  /**
   * Takes a snapshot's state when it is ahead of the replica's: stores (types the snapshot does not
   * hold are dropped, as an informer-set entry drops them), states, resourceVersions, the clock at its
   * position; the difference from what the replica held goes out on changes$ at that position.
   */
  restore(snapshot: Snapshot): void {
    if (comparePositions(snapshot.position, this.#position) <= 0) return;
    const listed = new Set(snapshot.types.map((type) => typeId(type.resource)));
    for (const [id, store] of this.#stores) {
      if (listed.has(id)) continue;
      store.stop();
      this.#stores.delete(id);
    }
    const changes = snapshot.types.flatMap((type) => this.#ensure(type.resource).load(type, snapshot.position));
    this.#position = snapshot.position;
    this.clock.adopt(snapshot.position);
    for (const change of changes) this.#changes.next({ ...change, restored: true });
  }

  /** The replica's state exactly at its position, taken in one go (stores change only on the event loop). */
  snapshot(): Snapshot {
    return { position: this.#position, types: this.stores().map((store) => store.snapshot()) };
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
        this.#changes.next({ type: entry.type, resource: entry.resource, object: entry.object, previous, position: entry.position, receivedAt: entry.recordedAt });
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

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
