// The bounded watch history of one resource type: the last `capacity` changes, in revision order, each
// with its encoded watch frame, so that a watch resuming from a resourceVersion (or a watcher catching up
// after its socket drained) replays exactly what it missed — or learns it is too late (410 Expired).
//
// Owns: retention and lookup by revision. Revisions are global (all types share one counter), so a
// type's history has gaps: `floor` is the newest revision whose successors of this type are all kept;
// a watch from any revision ≥ floor misses nothing, an older one gets "too old resource version".
import type { KubeObject } from '../../streams/kube-object.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReplayEvent {
  readonly rv: number;
  readonly type: ChangeType;
  readonly object: KubeObject;
  /** The object before this change (undefined for ADDED). */
  readonly previous: KubeObject | undefined;
  /** `{"type":…,"object":…}\n` framed as one HTTP chunk, encoded once, shared by every watcher. */
  readonly frame: Buffer;
}

export class EventRing {
  readonly capacity: number;
  readonly #slots: (ReplayEvent | undefined)[];
  /** Index of the oldest event. */
  #head = 0;
  #size = 0;
  #floor: number;

  constructor(capacity: number, floor: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`history capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#slots = new Array<ReplayEvent | undefined>(capacity);
    this.#floor = floor;
  }

  get floor(): number {
    return this.#floor;
  }

  get size(): number {
    return this.#size;
  }

  push(event: ReplayEvent): void {
    if (this.#size === this.capacity) {
      const evicted = this.#slots[this.#head];
      if (evicted) this.#floor = evicted.rv;
      this.#slots[this.#head] = event;
      this.#head = (this.#head + 1) % this.capacity;
    } else {
      this.#slots[(this.#head + this.#size) % this.capacity] = event;
      this.#size++;
    }
  }

  /** The i-th oldest retained event. */
  at(i: number): ReplayEvent | undefined {
    return i < 0 || i >= this.#size ? undefined : this.#slots[(this.#head + i) % this.capacity];
  }

  /** Logical index of the first retained event newer than `rv` (size when none). */
  indexAfter(rv: number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.at(mid)?.rv ?? Infinity) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
