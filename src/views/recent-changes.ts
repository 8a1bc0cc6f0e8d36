// The last changes of every type, in order, with the time each arrived: what lets a view created late
// (or on a replica that never served its scope) extend its history back to a client's resourceVersion.
import type { Change } from '../../streams/informer-hub.ts';
import { comparePositions, type Position } from '../../streams/position.ts';
import { compactChange } from './compacted.ts';

/** Changes kept at most, whatever their age (the time bound is --watch-history, applied by the engine). */
export const RECENT_CHANGES_CAPACITY = 50_000;

export class RecentChanges {
  readonly #changes: Change[] = [];
  readonly #arrivedAt: number[] = [];
  readonly #capacity: number;
  /** The oldest this many changes are compacted (views/compacted.ts). */
  #compacted = 0;
  /** Every change after this position is held. */
  #completeAfter: Position;
  /**
   * Changes placed after the clock had passed their revision, at a later revision: object
   * resourceVersion → position. (One placed at its own revision, `"476.1"` for an object at 476, is left
   * out: the clock stood at 476 before it, so a list may have handed `"476"` out without it.)
   */
  readonly #late = new Map<number, Position>();

  /** `completeAfter`: where the changes begin (the clock when the first one can arrive). */
  constructor(completeAfter: Position, capacity = RECENT_CHANGES_CAPACITY) {
    this.#completeAfter = completeAfter;
    this.#capacity = capacity;
  }

  get completeAfter(): Position {
    return this.#completeAfter;
  }

  get length(): number {
    return this.#changes.length;
  }

  append(change: Change): void {
    const revision = Number(change.object.metadata.resourceVersion);
    if (Number.isSafeInteger(revision) && change.position.rv > revision && !isRedelivery(change)) this.#late.set(revision, change.position);
    this.#changes.push(change);
    this.#arrivedAt.push(Date.now());
    // Dropped in slices of a tenth: a shift of the whole array on every change would cost O(capacity) each.
    if (this.#changes.length > this.#capacity + this.#capacity / 10) this.#dropOldest(this.#changes.length - this.#capacity);
  }

  /** Nothing before `position` can be replayed any more (a replica loaded a snapshot there). */
  restartAt(position: Position): void {
    this.#late.clear();
    this.#changes.length = 0;
    this.#arrivedAt.length = 0;
    this.#compacted = 0;
    if (comparePositions(position, this.#completeAfter) > 0) this.#completeAfter = position;
  }

  expireBefore(cutoffMs: number): void {
    let drop = 0;
    while (drop < this.#arrivedAt.length && (this.#arrivedAt[drop] ?? Infinity) < cutoffMs) drop++;
    if (drop > 0) this.#dropOldest(drop);
  }

  /** Keeps the changes that arrived before `cutoffMs` compacted (their objects as JSON). */
  compactBefore(cutoffMs: number): void {
    while (this.#compacted < this.#changes.length && (this.#arrivedAt[this.#compacted] ?? Infinity) < cutoffMs) {
      this.#changes[this.#compacted] = compactChange(this.#changes[this.#compacted] as Change);
      this.#compacted++;
    }
  }

  #dropOldest(count: number): void {
    const last = this.#changes[count - 1];
    if (last) {
      this.#completeAfter = last.position;
      // A late change's entry goes with the change (reading the dropped changes' objects would parse them).
      for (const [revision, position] of this.#late) if (comparePositions(position, last.position) <= 0) this.#late.delete(revision);
    }
    this.#changes.splice(0, count);
    this.#arrivedAt.splice(0, count);
    this.#compacted = Math.max(0, this.#compacted - count);
  }

  /**
   * Where a client resuming from `position` stands. A watch event carries its object's upstream
   * resourceVersion; a change that arrived after the clock had passed that revision was placed later
   * (`"477.1"` for an object at 476), so a client resuming from `"476"` has seen the change at 477.1.
   */
  resumePoint(position: Position): Position {
    return position.seq === 0 ? (this.#late.get(position.rv) ?? position) : position;
  }

  /** The changes after `position`, oldest first; undefined when they are no longer all held. */
  since(position: Position): readonly Change[] | undefined {
    if (comparePositions(position, this.#completeAfter) < 0) return undefined;
    let lo = 0;
    let hi = this.#changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (comparePositions((this.#changes[mid] as Change).position, position) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.#changes.slice(lo);
  }
}

/**
 * A state the replica held already, delivered again: an upstream watch restarted from an older revision
 * than the replica had read (a new leader's) sends it once more. A client holding its resourceVersion
 * got it at its first delivery, so it must not move the resume point past the changes in between.
 */
function isRedelivery(change: Change): boolean {
  if (change.type === 'DELETED') return change.previous === undefined;
  return change.previous !== undefined && change.previous.metadata.resourceVersion === change.object.metadata.resourceVersion;
}
