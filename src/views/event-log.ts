// A view's bounded history of watch events, keyed by position: what lets a watcher resume from a
// resourceVersion, and a paused (slow) watcher catch up. Kept behind an interface so that a shared log
// (Redis Streams, for several replicas) can stand in for the in-memory ring.
import { comparePositions, type Position } from '../../streams/position.ts';

export interface LoggedEvent {
  readonly position: Position;
}

export type Since<E> = { ok: true; events: readonly E[] } | { ok: false; oldest: Position };

export interface EventLog<E extends LoggedEvent> {
  /** History is complete for every position after this one. */
  readonly completeAfter: Position;
  /** Events held. */
  readonly length: number;
  append(event: E): void;
  /**
   * Forgets events appended before `cutoffMs` (epoch ms), keeping the last `keep` whatever their age;
   * returns how many were forgotten. Resuming from before them then answers 410 Expired.
   */
  expireBefore(cutoffMs: number, keep: number): number;
  /** The events after `position`, or the oldest resumable position when `position` is too old. */
  since(position: Position): Since<E>;
  /**
   * Puts in front of the history the events that led to it from `completeAfter` (oldest first, each at
   * or before the current `completeAfter`), when there is room; returns whether it did.
   */
  backfill(events: readonly E[], completeAfter: Position): boolean;
  /**
   * Replaces each event appended before `cutoffMs` by `compact(event)`, once (a history keeps its older
   * events in a cheaper form); returns how many it replaced.
   */
  compactBefore(cutoffMs: number, compact: (event: E) => E): number;
}

/** Slots a ring starts with; it doubles up to its capacity (most views of a tenant hold a few events). */
const INITIAL_SLOTS = 16;

/**
 * A ring of at most `capacity` events, with the time each was appended. Appends are O(1) (amortized while
 * the ring grows); `since` is a binary search plus a copy of the answer. Memory: one reference and one
 * number per slot (events are shared with every watcher and view).
 */
export class MemoryEventLog<E extends LoggedEvent> implements EventLog<E> {
  readonly #capacity: number;
  #ring: (E | undefined)[];
  #appendedAt: Float64Array;
  readonly #now: () => number;
  #start = 0;
  #length = 0;
  /** The oldest this many events went through compactBefore. */
  #compacted = 0;
  #completeAfter: Position;

  constructor(capacity: number, completeAfter: Position, now: () => number = Date.now) {
    this.#capacity = Math.max(1, capacity);
    this.#ring = new Array<E | undefined>(Math.min(INITIAL_SLOTS, this.#capacity));
    this.#appendedAt = new Float64Array(this.#ring.length);
    this.#completeAfter = completeAfter;
    this.#now = now;
  }

  get completeAfter(): Position {
    return this.#completeAfter;
  }

  get length(): number {
    return this.#length;
  }

  append(event: E): void {
    if (this.#length === this.#ring.length) {
      if (this.#ring.length < this.#capacity) this.#grow(this.#length + 1);
      else this.#evictOldest();
    }
    const slot = (this.#start + this.#length) % this.#ring.length;
    this.#ring[slot] = event;
    this.#appendedAt[slot] = this.#now();
    this.#length++;
  }

  expireBefore(cutoffMs: number, keep: number): number {
    let expired = 0;
    while (this.#length > keep && (this.#appendedAt[this.#start] ?? Infinity) < cutoffMs) {
      this.#evictOldest();
      expired++;
    }
    return expired;
  }

  compactBefore(cutoffMs: number, compact: (event: E) => E): number {
    let replaced = 0;
    while (this.#compacted < this.#length) {
      const slot = (this.#start + this.#compacted) % this.#ring.length;
      if ((this.#appendedAt[slot] ?? Infinity) >= cutoffMs) break;
      this.#ring[slot] = compact(this.#ring[slot] as E);
      this.#compacted++;
      replaced++;
    }
    return replaced;
  }

  backfill(events: readonly E[], completeAfter: Position): boolean {
    if (comparePositions(completeAfter, this.#completeAfter) >= 0) return true;
    if (this.#length + events.length > this.#capacity) return false;
    if (this.#length + events.length > this.#ring.length) this.#grow(this.#length + events.length);
    if (events.some((e) => comparePositions(e.position, this.#completeAfter) > 0 || comparePositions(e.position, completeAfter) <= 0)) return false;
    const at = this.#now();
    for (let i = events.length - 1; i >= 0; i--) {
      this.#start = (this.#start - 1 + this.#ring.length) % this.#ring.length;
      this.#ring[this.#start] = events[i];
      this.#appendedAt[this.#start] = at;
      this.#length++;
    }
    this.#completeAfter = completeAfter;
    // The events put in front are not compacted: the next compactBefore walks the history again.
    this.#compacted = 0;
    return true;
  }

  /** A larger ring (at least `slots`, at most the capacity) holding the same events, oldest at slot 0. */
  #grow(slots: number): void {
    const size = Math.min(this.#capacity, Math.max(slots, this.#ring.length * 2));
    const ring = new Array<E | undefined>(size);
    const appendedAt = new Float64Array(size);
    for (let i = 0; i < this.#length; i++) {
      const slot = (this.#start + i) % this.#ring.length;
      ring[i] = this.#ring[slot];
      appendedAt[i] = this.#appendedAt[slot] ?? 0;
    }
    this.#ring = ring;
    this.#appendedAt = appendedAt;
    this.#start = 0;
  }

  #evictOldest(): void {
    const evicted = this.#ring[this.#start];
    if (evicted) this.#completeAfter = evicted.position;
    this.#ring[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#ring.length;
    this.#length--;
    if (this.#compacted > 0) this.#compacted--;
  }

  #at(i: number): E {
    return this.#ring[(this.#start + i) % this.#ring.length] as E;
  }

  since(position: Position): Since<E> {
    if (comparePositions(position, this.#completeAfter) < 0) return { ok: false, oldest: this.#completeAfter };
    let lo = 0;
    let hi = this.#length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (comparePositions(this.#at(mid).position, position) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const events: E[] = [];
    for (let i = lo; i < this.#length; i++) events.push(this.#at(i));
    return { ok: true, events };
  }
}
