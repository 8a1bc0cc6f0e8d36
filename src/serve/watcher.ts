// One client's watch on a view: filters the view's events through the client's selectors (turning
// MODIFIED into ADDED/DELETED when an object crosses them, as the apiserver's cacher does), encodes them
// (JSON event bytes shared through views/encoder.ts; Tables carry per-watcher column definitions and a
// fresh Age), and writes them.
//
// Backpressure: a watcher never buffers events of its own. When its socket is full it stops writing and
// remembers its position; on drain it catches up from the view's history. If the history no longer
// reaches back that far (noticed on drain, or by the hub's ticker while it is still stalled), it gets
// an ERROR 410 Expired and the stream ends; a client that does not even read that is disconnected after
// a grace period. Memory per slow client stays bounded by its socket buffer, and one slow client never
// delays the others.
import { labelsOf, type KubeObject } from '../../streams/kube-object.ts';
import { comparePositions, formatPosition, type Position } from '../../streams/position.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import type { FieldSelector } from '../query/field-selector.ts';
import type { LabelSelector } from '../query/label-selector.ts';
import type { TablePrinter } from '../table/printers.ts';
import type { IncludeObject } from '../table/table.ts';
import { failure } from '../basics/status.ts';
import { atVersion, deletedAt, eventBytes, sharedEvent, type EventBytes } from '../views/encoder.ts';
import { bookmarkEvent, tableEvent } from './encoding.ts';
import type { Following, ViewFollower } from '../views/followers.ts';
import type { View, ViewEvent } from '../views/view.ts';
import type { WatchSink } from './watch-sink.ts';

export interface WatcherOptions {
  type: ResourceType;
  apiVersion: string;
  /** Table printer when the client asked for Tables. */
  printer: TablePrinter | undefined;
  includeObject: IncludeObject;
  labelSelector: LabelSelector;
  fieldSelector: FieldSelector;
  bookmarks: boolean;
  deadlineMs: number;
}

/** How long a client that stopped reading gets to take its final ERROR event before it is dropped. */
const SLOW_CLIENT_GRACE_MS = 10_000;

type Emitted = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject };

export class Watcher implements ViewFollower {
  readonly options: WatcherOptions;
  readonly #sink: WatchSink;
  readonly #following: Following;
  #position: Position;
  #paused = false;
  #closed = false;
  #sentColumns = false;
  lastWriteAt = Date.now();
  #finalBookmarkSent = false;
  /** Events are delivered once the initial events or the history replay are written. */
  #started = false;
  readonly #onClosed: (w: Watcher) => void;

  /**
   * `follow` makes the watcher a follower of its identity's view (events are delivered once it starts;
   * Projections moves it when the identity's access changes).
   */
  constructor(follow: (follower: ViewFollower) => Following, sink: WatchSink, options: WatcherOptions, position: Position, onClosed: (w: Watcher) => void) {
    this.#sink = sink;
    this.options = options;
    this.#position = position;
    this.#onClosed = onClosed;
    this.#following = follow(this);
    sink.onDrain(() => this.#catchUp());
    sink.onClose(() => this.close());
  }

  get #view(): View {
    return this.#following.view;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  passes(object: KubeObject | undefined): boolean {
    return object !== undefined && this.options.labelSelector.matches(labelsOf(object)) && this.options.fieldSelector.matches(object);
  }

  /** Starts with ADDED for every current object (resourceVersion "" / "0" / sendInitialEvents). */
  startWithInitialEvents(endBookmark: boolean, bookmarkPosition: Position): void {
    for (const object of this.#view.items()) if (this.passes(object)) this.#write({ type: 'ADDED', object });
    if (endBookmark) this.#writeBookmark(bookmarkPosition, { 'k8s.io/initial-events-end': 'true' });
    this.#started = true;
  }

  /** Starts from a resourceVersion: replays the view's history after it, or answers 410. */
  startFrom(position: Position): void {
    const history = this.#view.log.since(position);
    if (!history.ok) {
      this.expire(`too old resource version: ${formatPosition(position)} (${formatPosition(history.oldest)})`);
      return;
    }
    this.#deliverAll(history.events);
    this.#started = true;
  }

  deliver(view: View, events: readonly ViewEvent[]): void {
    if (!this.#started || view !== this.#view || this.#closed || this.#paused) return;
    this.#deliverAll(events);
  }

  #deliverAll(events: readonly ViewEvent[]): void {
    // One change can yield several events at the same position (a recompute): compare with where the
    // watcher stood before this batch, not with the batch's own first event.
    const after = this.#position;
    let restoredAt: Position | undefined;
    for (const event of events) {
      if (comparePositions(event.position, after) <= 0) continue;
      // Once the socket is full, finish the current position (history resumes after a position, never
      // inside one) and leave the rest to the catch-up on drain: a long catch-up is not buffered at once.
      if (this.#paused && comparePositions(event.position, this.#position) > 0) break;
      this.#position = event.position;
      const emitted = this.#filter(event);
      if (emitted && event.restored) {
        restoredAt = event.position;
        break;
      }
      if (emitted) this.#write(emitted);
    }
    if (restoredAt) this.expire(`the changes up to ${formatPosition(restoredAt)} reached this replica as one difference (it took its state from a snapshot of the change log), not one by one`);
  }

  #filter(event: ViewEvent): Emitted | undefined {
    switch (event.type) {
      case 'ADDED':
        return this.passes(event.object) ? { type: 'ADDED', object: event.object } : undefined;
      case 'DELETED':
        return this.passes(event.previous ?? event.object) ? { type: 'DELETED', object: event.object } : undefined;
      case 'MODIFIED': {
        const now = this.passes(event.object);
        const before = this.passes(event.previous);
        if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: event.object };
        if (before && event.previous) return { type: 'DELETED', object: deletedAt(event.previous, event.object.metadata.resourceVersion ?? '') };
        return undefined;
      }
    }
  }

  #write(event: Emitted): void {
    const object = atVersion(event.object, this.options.apiVersion);
    let bytes: EventBytes;
    if (this.options.printer) {
      bytes = tableEvent(event.type, this.options.printer, object, this.options.includeObject, !this.#sentColumns, Date.now());
      this.#sentColumns = true;
    } else {
      bytes = sharedEvent(event.type, object);
    }
    this.#send(bytes);
  }

  #send(bytes: EventBytes): void {
    this.lastWriteAt = Date.now();
    if (!this.#sink.write(bytes)) this.#paused = true;
  }

  #catchUp(): void {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    const history = this.#view.log.since(this.#position);
    if (!history.ok) {
      this.expire(`too old resource version: ${formatPosition(this.#position)} (${formatPosition(history.oldest)})`);
      return;
    }
    this.#deliverAll(history.events);
  }

  #writeBookmark(position: Position, annotations?: Record<string, string>): void {
    this.#send(bookmarkEvent(this.options.type, this.options.apiVersion, formatPosition(position), annotations));
  }

  /** Called every second: bookmarks for idle watchers that asked for them, and the deadline. */
  tick(now: number, clockNow: Position, bookmarkIdleMs: number, finalBookmarkLeadMs: number): void {
    if (this.#closed) return;
    if (now >= this.options.deadlineMs) {
      this.close();
      return;
    }
    if (this.#paused) {
      // Stalled past what the view's history can replay: it can never catch up.
      if (comparePositions(this.#view.log.completeAfter, this.#position) > 0) {
        this.expire(`too old resource version: ${formatPosition(this.#position)} (${formatPosition(this.#view.log.completeAfter)})`);
        const sink = this.#sink;
        setTimeout(() => sink.destroy(), SLOW_CLIENT_GRACE_MS).unref();
      }
      return;
    }
    if (!this.options.bookmarks) return;
    const nearDeadline = this.options.deadlineMs - now <= finalBookmarkLeadMs;
    if (now - this.lastWriteAt >= bookmarkIdleMs || (nearDeadline && !this.#finalBookmarkSent)) {
      if (nearDeadline) this.#finalBookmarkSent = true;
      // Every event of this view up to the clock has been delivered: the clock is a safe resume point.
      if (comparePositions(clockNow, this.#position) > 0) this.#position = clockNow;
      this.#writeBookmark(this.#position);
    }
  }

  /**
   * The identity's access changed: the client sees the difference between what it held and the new view
   * (as DELETED at `position`, ADDED, MODIFIED), then follows the new view's history after its latest event.
   */
  moved(next: View, held: readonly KubeObject[], position: Position): void {
    if (this.#closed) return;
    const rv = formatPosition(position);
    const key = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata.name ?? ''));
    const heldByKey = new Map(held.filter((o) => this.passes(o)).map((o) => [key(o), o]));
    for (const [k, object] of heldByKey) {
      const now = next.get(k);
      if (now === undefined || !this.passes(now)) this.#write({ type: 'DELETED', object: deletedAt(object, rv) });
    }
    for (const object of next.items()) {
      if (!this.passes(object)) continue;
      const before = heldByKey.get(key(object));
      if (before === undefined) this.#write({ type: 'ADDED', object });
      else if (before !== object) this.#write({ type: 'MODIFIED', object });
    }
    this.#position = next.position;
  }

  /** The identity lost its access: DELETED for everything it held, then the stream ends. */
  lost(held: readonly KubeObject[], position: Position): void {
    if (this.#closed) return;
    const rv = formatPosition(position);
    for (const object of held) if (this.passes(object)) this.#write({ type: 'DELETED', object: deletedAt(object, rv) });
    this.close();
  }

  /** Ends the stream with an ERROR event carrying 410 Expired (the client relists). */
  expire(message: string): void {
    const status = failure(410, 'Expired', message);
    this.#sink.write(eventBytes('ERROR', JSON.stringify(status)));
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#following.stop();
    this.#sink.end();
    this.#onClosed(this);
  }
}
