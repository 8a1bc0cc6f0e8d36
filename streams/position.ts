// Positions in the proxy's event order, written as resourceVersions.
//
// Upstream resourceVersions are etcd revisions: one global counter, but the proxy receives each
// resource type on its own watch, so events of different types can arrive out of revision order. The
// proxy orders every event it processes with a clock: an event newer than the clock takes its own
// revision (`"1234"`, exactly the upstream resourceVersion); an event that arrives late is placed just
// after the clock (`"1240.1"`, `"1240.2"`). Positions are strictly increasing in processing order, so a
// client resuming from any resourceVersion the proxy handed out misses nothing. resourceVersions are
// opaque to clients by API convention; upstream ones parse as positions with seq 0.

export interface Position {
  readonly rv: number;
  readonly seq: number;
}

export const ZERO: Position = { rv: 0, seq: 0 };

export function formatPosition(p: Position): string {
  return p.seq === 0 ? String(p.rv) : `${p.rv}.${p.seq}`;
}

/** Parses a resourceVersion; undefined when it is not one the proxy could have handed out. */
export function parsePosition(text: string): Position | undefined {
  const m = /^(\d{1,16})(?:\.(\d{1,16}))?$/.exec(text);
  if (!m) return undefined;
  return { rv: Number(m[1]), seq: Number(m[2] ?? 0) };
}

export function comparePositions(a: Position, b: Position): number {
  return a.rv !== b.rv ? a.rv - b.rv : a.seq - b.seq;
}

/**
 * Positions a replica hands out on its own while it cannot reach the shared change log (degraded). An
 * event that takes its own upstream revision keeps it (`"1234"`: a revision means the same on every
 * replica); one placed after the clock (`"1240.3"`) depends on the order this replica received its
 * watches in, so its seq carries a random tag of the period in multiples of LOCAL_SEQ_UNIT (a log's seqs
 * stay far below it): no other replica, nor this one once back on the log, takes it for a position of
 * the log. Order is kept within the period.
 */
export const LOCAL_SEQ_UNIT = 2 ** 24;
const MAX_LOCAL_TAG = 2 ** 28;

export function randomLocalTag(): number {
  return 1 + Math.floor(Math.random() * (MAX_LOCAL_TAG - 1));
}

export function localPosition(position: Position, tag: number): Position {
  if (position.seq === 0) return position;
  if (position.seq >= LOCAL_SEQ_UNIT) throw new Error(`position ${formatPosition(position)} has no room for a local tag`);
  return { rv: position.rv, seq: tag * LOCAL_SEQ_UNIT + position.seq };
}

/** The tag of the local period that handed `position` out; undefined for a position of the log. */
export function localTagOf(position: Position): number | undefined {
  return position.seq >= LOCAL_SEQ_UNIT ? Math.floor(position.seq / LOCAL_SEQ_UNIT) : undefined;
}

/** Assigns positions to processed events in processing order. */
export class EventClock {
  #now: Position = ZERO;
  /** Who waits for the clock to reach a position (few at a time: requests ahead of the informers). */
  readonly #waiters = new Set<{ position: Position; done: (reached: boolean) => void }>();

  get now(): Position {
    return this.#now;
  }

  /** The position of an event of upstream revision `rv`, processed now. */
  next(rv: number): Position {
    this.#now = rv > this.#now.rv ? { rv, seq: 0 } : { rv: this.#now.rv, seq: this.#now.seq + 1 };
    this.#release();
    return this.#now;
  }

  /** A bookmark or list of revision `rv`: moves the clock forward without an event. */
  advance(rv: number): void {
    if (rv > this.#now.rv) {
      this.#now = { rv, seq: 0 };
      this.#release();
    }
  }

  /**
   * Moves the clock to exactly `position` (a replica replaying the leader's log takes the leader's
   * positions); a position at or before the clock's is ignored.
   */
  adopt(position: Position): void {
    if (comparePositions(position, this.#now) <= 0) return;
    this.#now = position;
    this.#release();
  }

  /**
   * Moves the clock to `position`, backwards too: a replica leaving a local period takes the log's
   * position again (every resourceVersion of the period is refused from then on).
   */
  reset(position: Position): void {
    this.#now = position;
    this.#release();
  }

  /**
   * Resolves true once the clock has reached `position` (at once if it has), false after `timeoutMs`:
   * the watch cache's condition variable, not a poll.
   */
  waitFor(position: Position, timeoutMs: number): Promise<boolean> {
    if (comparePositions(position, this.#now) <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        position,
        done: (reached: boolean) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  #release(): void {
    if (this.#waiters.size === 0) return;
    for (const waiter of [...this.#waiters]) if (comparePositions(waiter.position, this.#now) <= 0) waiter.done(true);
  }
}
