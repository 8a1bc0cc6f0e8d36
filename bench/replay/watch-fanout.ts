// Every open watch of the replay upstream, and the delivery of each change to the watches it concerns.
//
// Owns: watcher registration (indexed by the value of one label, the tenant label, when the watch's
// selector pins it — so a change visits only its tenant's watches plus the unindexed ones), per-watcher
// label/field filtering with the watch cache's old/new rule (in→in MODIFIED, out→in ADDED, in→out
// DELETED), replay from the type's history, bookmarks, deadlines. Does not own the objects or the
// history (the ReplayUpstream passes them in: one product MemoryEventLog per type, src/views/event-log.ts)
// nor the bytes (the product's encoder, src/views/encoder.ts: each change's frame is built once).
//
// Not the product's Watcher (src/serve/watcher.ts): that one follows an identity's view and moves
// between views; this one plays kube-apiserver's watch of one type, with the apiserver's semantics
// (resume after a resourceVersion, ERROR 410 Expired, bookmarks, timeoutSeconds) and its own buffer limit.
//
// Ordering: a watcher gets its type's events in revision order; `position` is the last revision it has
// been offered. Everything runs on the event loop, so a catch-up and live delivery never interleave.
//
// Writes: frames go straight to the response's socket (the response head was flushed by the caller), so
// each event costs one socket.write per watcher. Inside `batch()` every touched socket is corked and
// uncorked once at the end: the events of one emission tick leave as one TLS record per socket.
//
// Backpressure (a slow proxy): a watcher never queues events. Once more than WATCH_BUFFER_LIMIT_BYTES wait
// in its socket's userland buffer (the kernel's buffers being full), the watcher stops taking live events
// and remembers its position; on `drain` it replays what it missed from the type's history, in order,
// until caught up or full again. Memory per slow watcher is bounded by that limit plus one frame (and
// the kernel's socket buffers). If the history no longer reaches back to its position, it gets the
// apiserver's ERROR 410 Expired event and the stream ends — the client relists, as it would against
// kube-apiserver. Nothing is ever dropped silently: a watcher gets every change, late, or a 410.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { KubeObject } from '../../streams/kube-object.ts';
import { groupVersion, qualifiedResource, typeId, type ResourceType } from '../../streams/resource-type.ts';
import type { Position } from '../../streams/position.ts';
import { failure } from '../../src/basics/status.ts';
import type { LabelSelector } from '../../src/query/label-selector.ts';
import { bookmarkEvent } from '../../src/serve/encoding.ts';
import { deletedAt, eventBytes, sharedEvent } from '../../src/views/encoder.ts';
import type { EventLog, LoggedEvent } from '../../src/views/event-log.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change of the replay's cluster, as its type's history keeps it. */
export interface ReplayEvent extends LoggedEvent {
  /** `{ rv: revision, seq: 0 }`: the replay's revisions are etcd's, one global counter, never a seq. */
  readonly position: Position;
  readonly type: ChangeType;
  readonly object: KubeObject;
  /** The object before this change (undefined for ADDED). */
  readonly previous: KubeObject | undefined;
  /** `{"type":…,"object":…}\n` framed as one HTTP chunk, encoded once, shared by every watcher. */
  readonly frame: Buffer;
}

/** The frame of a change, built once for every watcher (see ReplayEvent.frame). */
export function changeFrame(type: ChangeType, object: KubeObject): Buffer {
  // Not through the encoder's per-object cache (sharedEvent): a WeakMap entry per change costs the GC
  // more than it saves, the object being in no other event.
  return eventBytes(type, JSON.stringify(object)).chunk;
}

export interface WatchSpec {
  type: ResourceType;
  /** The client's label selector: used to index the watcher, and to filter. */
  labels: LabelSelector;
  /** The whole filter (labels, fields, namespace); undefined = everything. */
  match: ((object: KubeObject) => boolean) | undefined;
  bookmarks: boolean;
  timeoutMs: number;
  /** Resume after this revision; undefined = start with ADDED for every current object. */
  after: number | undefined;
}

export interface FanoutStats {
  writes: number;
  bytes: number;
  bookmarks: number;
  expired: number;
  opened: number;
}

/** What the fan-out reads from the upstream: current revision, objects and history of a type. */
export interface FanoutSource {
  revision(): number;
  objects(type: ResourceType): readonly KubeObject[];
  history(type: ResourceType): EventLog<ReplayEvent>;
}

class Watcher {
  readonly spec: WatchSpec;
  readonly socket: Socket;
  readonly res: ServerResponse;
  position = 0;
  /** The socket is full: live events are skipped and replayed from history on drain. */
  blocked = false;
  corked = false;
  ended = false;
  /** The synthetic ADDED events still to send (watch from resourceVersion 0). */
  backlog: { items: readonly KubeObject[]; next: number } | undefined;
  indexValues: readonly string[] | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Removed when the watch ends: a keep-alive socket outlives it. */
  onDrain: (() => void) | undefined;

  constructor(spec: WatchSpec, socket: Socket, res: ServerResponse) {
    this.spec = spec;
    this.socket = socket;
    this.res = res;
  }
}

interface TypeWatchers {
  all: Set<Watcher>;
  unindexed: Set<Watcher>;
  byLabel: Map<string, Set<Watcher>>;
}

const NONE: ReadonlySet<Watcher> = new Set();
/**
 * Userland bytes a watcher's socket may hold before the watcher is skipped (≈ 100 namespace events). Never
 * below the socket's high-water mark (16 KiB on Node 20): write() has then reported false, so `drain` is due.
 */
const WATCH_BUFFER_LIMIT_BYTES = 64 * 1024;

export class WatchFanout {
  readonly stats: FanoutStats = { writes: 0, bytes: 0, bookmarks: 0, expired: 0, opened: 0 };
  readonly #source: FanoutSource;
  readonly #indexLabel: string;
  readonly #byType = new Map<string, TypeWatchers>();
  readonly #corked: Watcher[] = [];
  readonly #ticker: NodeJS.Timeout;
  #batchDepth = 0;

  constructor(source: FanoutSource, indexLabel: string, bookmarkIntervalMs: number) {
    this.#source = source;
    this.#indexLabel = indexLabel;
    this.#ticker = setInterval(() => this.#bookmarks(), bookmarkIntervalMs);
    this.#ticker.unref();
  }

  /** Starts a watch on a response whose 200 head has been flushed. */
  open(spec: WatchSpec, req: IncomingMessage, res: ServerResponse): void {
    const w = new Watcher(spec, req.socket, res);
    this.stats.opened++;
    w.position = spec.after ?? this.#source.revision();
    if (spec.after === undefined) w.backlog = { items: this.#source.objects(spec.type).slice(), next: 0 };
    const requirement = spec.labels.requirements.find((r) => r.key === this.#indexLabel && (r.operator === '=' || r.operator === '==' || r.operator === 'in'));
    w.indexValues = requirement ? [...new Set(requirement.values)] : undefined;
    const group = this.#group(spec.type);
    group.all.add(w);
    if (w.indexValues) for (const v of w.indexValues) this.#indexSet(group, v).add(w);
    else group.unindexed.add(w);
    w.timer = setTimeout(() => this.#finish(w), spec.timeoutMs);
    res.on('close', () => this.#remove(w));
    w.onDrain = () => {
      if (w.blocked && !w.ended) this.#catchUp(w);
    };
    w.socket.on('drain', w.onDrain);
    this.#catchUp(w);
  }

  /** Runs `fn` with every socket it writes to corked, and flushes them all once at the end. */
  batch<T>(fn: () => T): T {
    this.#batchDepth++;
    try {
      return fn();
    } finally {
      if (--this.#batchDepth === 0) {
        for (const w of this.#corked) {
          w.corked = false;
          w.socket.uncork();
        }
        this.#corked.length = 0;
      }
    }
  }

  /** Delivers one change (already in its type's history) to the watchers it concerns. */
  publish(event: ReplayEvent, type: ResourceType): void {
    const group = this.#byType.get(typeId(type));
    if (!group) return;
    this.batch(() => {
      for (const w of group.unindexed) this.#offer(w, event);
      if (group.byLabel.size === 0) return;
      const now = event.object.metadata.labels?.[this.#indexLabel];
      const before = event.previous?.metadata.labels?.[this.#indexLabel];
      if (now !== undefined) for (const w of group.byLabel.get(now) ?? NONE) this.#offer(w, event);
      if (before !== undefined && before !== now) for (const w of group.byLabel.get(before) ?? NONE) this.#offer(w, event);
    });
  }

  /** Open watches. */
  get size(): number {
    let n = 0;
    for (const g of this.#byType.values()) n += g.all.size;
    return n;
  }

  openByResource(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.#byType.values()) {
      const first = g.all.values().next().value as Watcher | undefined;
      if (first) out[qualifiedResource(first.spec.type)] = g.all.size;
    }
    return out;
  }

  get blocked(): number {
    let n = 0;
    for (const g of this.#byType.values()) for (const w of g.all) if (w.blocked) n++;
    return n;
  }

  /** Ends every watch at an event boundary (a clean end of stream, as at a deadline). */
  closeAll(): void {
    clearInterval(this.#ticker);
    for (const g of [...this.#byType.values()]) for (const w of [...g.all]) this.#finish(w, false);
  }

  #offer(w: Watcher, event: ReplayEvent): void {
    if (w.blocked || event.position.rv <= w.position) return;
    w.position = event.position.rv;
    const frame = this.#frameFor(w, event);
    if (frame && !this.#write(w, frame)) w.blocked = true;
  }

  /** Sends what the watcher has not been offered yet: its backlog, then history after its position. */
  #catchUp(w: Watcher): void {
    w.blocked = false;
    this.batch(() => {
      const backlog = w.backlog;
      if (backlog) {
        const match = w.spec.match;
        while (backlog.next < backlog.items.length) {
          const item = backlog.items[backlog.next++];
          if (!item || (match && !match(item))) continue;
          // The synthetic ADDED of a watch from resourceVersion 0: the encoder's, shared by every such watcher.
          if (!this.#write(w, sharedEvent('ADDED', item).chunk)) {
            w.blocked = true;
            return;
          }
        }
        w.backlog = undefined;
      }
      const history = this.#source.history(w.spec.type).since({ rv: w.position, seq: 0 });
      if (!history.ok) {
        this.stats.expired++;
        // The watch cache's answer to a resourceVersion older than its history (HTTP 200, then this).
        const status = failure(410, 'Expired', `too old resource version: ${w.position} (${history.oldest.rv})`);
        this.#write(w, eventBytes('ERROR', JSON.stringify(status)).chunk);
        this.#finish(w, false);
        return;
      }
      for (const event of history.events) {
        w.position = event.position.rv;
        const frame = this.#frameFor(w, event);
        if (frame && !this.#write(w, frame)) {
          w.blocked = true;
          return;
        }
      }
    });
  }

  /** The frame this watcher gets for `event` (the shared one, or ADDED/DELETED when crossing its filter). */
  #frameFor(w: Watcher, event: ReplayEvent): Buffer | undefined {
    const match = w.spec.match;
    if (!match) return event.frame;
    const now = match(event.object);
    if (event.type !== 'MODIFIED') return now ? event.frame : undefined;
    const before = event.previous !== undefined && match(event.previous);
    if (now && before) return event.frame;
    if (!now && !before) return undefined;
    // Crossing the selection: ADDED, or DELETED with the last state it had at this change's revision (the
    // watch cache's rule); the encoder keeps one copy and one frame per object for every such watcher.
    if (now) return sharedEvent('ADDED', event.object).chunk;
    return sharedEvent('DELETED', deletedAt(event.previous as KubeObject, String(event.position.rv))).chunk;
  }

  /** Writes; false when the watcher must stop until its socket drains. */
  #write(w: Watcher, frame: Buffer): boolean {
    if (w.ended || w.socket.destroyed) return true;
    if (this.#batchDepth > 0 && !w.corked) {
      w.socket.cork();
      w.corked = true;
      this.#corked.push(w);
    }
    this.stats.writes++;
    this.stats.bytes += frame.length;
    w.socket.write(frame);
    return w.socket.writableLength < Math.max(WATCH_BUFFER_LIMIT_BYTES, w.socket.writableHighWaterMark);
  }

  #bookmarks(): void {
    const revision = this.#source.revision();
    for (const g of this.#byType.values()) {
      let frame: Buffer | undefined;
      for (const w of g.all) {
        if (!w.spec.bookmarks || w.blocked || w.backlog || w.ended) continue;
        frame ??= bookmarkFrame(w.spec.type, revision);
        w.position = Math.max(w.position, revision);
        this.stats.bookmarks++;
        this.#write(w, frame);
      }
    }
  }

  /** Ends the stream cleanly (terminal chunk; the connection stays usable). */
  #finish(w: Watcher, finalBookmark = true): void {
    if (w.ended) return;
    if (finalBookmark && w.spec.bookmarks && !w.blocked && !w.backlog) {
      const revision = this.#source.revision();
      this.stats.bookmarks++;
      this.#write(w, bookmarkFrame(w.spec.type, revision));
    }
    this.#remove(w);
    w.res.end();
  }

  #remove(w: Watcher): void {
    if (w.ended) return;
    w.ended = true;
    clearTimeout(w.timer);
    if (w.onDrain) w.socket.off('drain', w.onDrain);
    const group = this.#byType.get(typeId(w.spec.type));
    if (!group) return;
    group.all.delete(w);
    group.unindexed.delete(w);
    for (const v of w.indexValues ?? []) {
      const set = group.byLabel.get(v);
      set?.delete(w);
      if (set?.size === 0) group.byLabel.delete(v);
    }
    if (group.all.size === 0) this.#byType.delete(typeId(w.spec.type));
  }

  #group(type: ResourceType): TypeWatchers {
    const id = typeId(type);
    let group = this.#byType.get(id);
    if (!group) this.#byType.set(id, (group = { all: new Set(), unindexed: new Set(), byLabel: new Map() }));
    return group;
  }

  #indexSet(group: TypeWatchers, value: string): Set<Watcher> {
    let set = group.byLabel.get(value);
    if (!set) group.byLabel.set(value, (set = new Set()));
    return set;
  }
}

function bookmarkFrame(type: ResourceType, revision: number): Buffer {
  return bookmarkEvent(type, groupVersion(type), String(revision)).chunk;
}
