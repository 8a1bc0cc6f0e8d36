// The ChangeLog in one process's memory: the single-process deployment's log, and the reference the
// Redis log is held to by the same conformance suite (test/support/change-log-conformance.ts).
import { batchProblem, sameToken, type AppendResult, type ChangeLog, type LeaderToken, type LogBounds, type LogEntry, type ReadResult, type TailEvent, type TrimRequest, type TrimResult } from './change-log.ts';
import { comparePositions, type Position } from './position.ts';

const TAIL_PAGE = 1000;

interface Held {
  entry: LogEntry;
  appendedAt: number;
}

export interface MemoryChangeLogOptions {
  /** The current lease holder (in one process: whoever the process says leads). */
  leaseHolder: () => LeaderToken | undefined;
  now?: () => number;
}

export class MemoryChangeLog implements ChangeLog {
  readonly #leaseHolder: () => LeaderToken | undefined;
  readonly #now: () => number;
  /** Oldest first; trimming drops a prefix (an index offset would avoid the copy; trims are rare). */
  #held: Held[] = [];
  #top: Position | undefined;
  #trimmedThrough: Position | undefined;
  #floor: Position | undefined;
  readonly #appended = new Set<() => void>();

  constructor(options: MemoryChangeLogOptions) {
    this.#leaseHolder = options.leaseHolder;
    this.#now = options.now ?? Date.now;
  }

  async append(token: LeaderToken, entries: readonly LogEntry[]): Promise<AppendResult> {
    const deposed = this.#deposed(token);
    if (deposed) return deposed;
    const problem = batchProblem(entries);
    const first = entries[0];
    const last = entries[entries.length - 1];
    if (problem || !first || !last) return { ok: false, reason: 'invalid', detail: problem ?? 'an empty batch' };
    if (this.#top && comparePositions(first.position, this.#top) <= 0) return { ok: false, reason: 'behind', top: this.#top };
    const appendedAt = this.#now();
    for (const entry of entries) this.#held.push({ entry, appendedAt });
    this.#top = last.position;
    for (const wake of [...this.#appended]) wake();
    return { ok: true, top: last.position };
  }

  async read(after: Position, count: number): Promise<ReadResult> {
    if (this.#trimmedThrough && comparePositions(after, this.#trimmedThrough) < 0) return { ok: false, reason: 'trimmed', trimmedThrough: this.#trimmedThrough };
    const start = this.#firstAfter(after);
    return { ok: true, entries: this.#held.slice(start, start + count).map((h) => h.entry) };
  }

  async *tail(after: Position, signal: AbortSignal): AsyncIterable<TailEvent> {
    let cursor = after;
    while (!signal.aborted) {
      const result = await this.read(cursor, TAIL_PAGE);
      if (!result.ok) {
        if (result.reason === 'trimmed') yield { kind: 'gap', trimmedThrough: result.trimmedThrough };
        else yield { kind: 'error', error: result.error };
        return;
      }
      const last = result.entries[result.entries.length - 1];
      if (last) {
        cursor = last.position;
        yield { kind: 'entries', entries: result.entries };
        continue;
      }
      // An append may have landed while the (empty) read was awaited: its wake-up went to nobody.
      if (this.#top && comparePositions(this.#top, cursor) > 0) continue;
      await this.#nextAppend(signal);
    }
  }

  async bounds(): Promise<{ ok: true; bounds: LogBounds }> {
    return { ok: true, bounds: { first: this.#held[0]?.entry.position, last: this.#held[this.#held.length - 1]?.entry.position, top: this.#top, trimmedThrough: this.#trimmedThrough, floor: this.#floor } };
  }

  async reseed(token: LeaderToken, through: Position): Promise<{ ok: true } | { ok: false; reason: 'deposed'; detail: string }> {
    const deposed = this.#deposed(token);
    if (deposed) return deposed;
    this.#held = this.#held.filter((held) => comparePositions(held.entry.position, through) > 0);
    if (!this.#trimmedThrough || comparePositions(this.#trimmedThrough, through) < 0) this.#trimmedThrough = through;
    return { ok: true };
  }

  async raiseFloor(position: Position): Promise<{ ok: true; floor: Position }> {
    if (!this.#floor || comparePositions(this.#floor, position) < 0) this.#floor = position;
    return { ok: true, floor: this.#floor };
  }

  async trim(token: LeaderToken, request: TrimRequest): Promise<TrimResult> {
    const deposed = this.#deposed(token);
    if (deposed) return deposed;
    const cutoff = this.#now() - request.keepMs;
    let drop = 0;
    for (const held of this.#held) {
      if (held.appendedAt >= cutoff) break;
      if (request.notAfter && comparePositions(held.entry.position, request.notAfter) > 0) break;
      drop++;
    }
    const lastDropped = this.#held[drop - 1];
    if (lastDropped) {
      this.#trimmedThrough = lastDropped.entry.position;
      this.#held = this.#held.slice(drop);
    }
    return { ok: true, trimmedThrough: this.#trimmedThrough };
  }

  #deposed(token: LeaderToken): { ok: false; reason: 'deposed'; detail: string } | undefined {
    const holder = this.#leaseHolder();
    if (sameToken(holder, token)) return undefined;
    return { ok: false, reason: 'deposed', detail: holder ? `the lease is held by ${holder.holder} at epoch ${holder.epoch}` : 'nobody holds the lease' };
  }

  /** Index of the first entry after `position` (binary search: positions increase along the log). */
  #firstAfter(position: Position): number {
    let low = 0;
    let high = this.#held.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const held = this.#held[middle];
      if (held && comparePositions(held.entry.position, position) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #nextAppend(signal: AbortSignal): Promise<void> {
    // Aborted while the read was awaited: its 'abort' event has fired already.
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#appended.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#appended.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
