// The leader's snapshots: every `intervalMs`, or sooner once `maxEntries` log entries were read since
// the last one, it writes its replica's state (exactly the state after every log entry up to the
// replica's position: taken synchronously, and stores change only on the event loop) to the store.
import type { LogReplica } from './log-replica.ts';
import type { Leadership } from './leadership.ts';
import { comparePositions, formatPosition, ZERO, type Position } from './position.ts';
import type { StreamLog } from './ports.ts';
import type { SnapshotStore, SnapshotSummary } from './snapshot-store.ts';

export interface SnapshotPolicy {
  intervalMs: number;
  maxEntries: number;
  /** How often the entry count is looked at. */
  checkMs: number;
}

/**
 * Half the watch history, within 1 s .. 60 s: with two snapshots kept, the oldest is about one watch
 * history old, so the log is held about as long as --watch-history asks and no longer.
 */
export function snapshotPolicyFor(watchHistoryMs: number): SnapshotPolicy {
  const intervalMs = Math.min(60_000, Math.max(1_000, watchHistoryMs / 2));
  return { intervalMs, maxEntries: 50_000, checkMs: Math.min(1_000, intervalMs) };
}

export class SnapshotWriter {
  readonly #replica: LogReplica;
  readonly #store: SnapshotStore;
  readonly #leadership: Leadership;
  readonly #streamLog: StreamLog;
  readonly #policy: SnapshotPolicy;
  #timer: NodeJS.Timeout | undefined;
  #writing = false;
  #lastAt = 0;
  #lastAppliedCount = 0;
  #lastPosition: Position | undefined;
  /** The last snapshot written, and how long taking (synchronously) and writing it took. */
  last: { summary: SnapshotSummary; takeMs: number; writeMs: number } | undefined;
  readonly stats = { written: 0, failed: 0 };

  constructor(replica: LogReplica, store: SnapshotStore, leadership: Leadership, streamLog: StreamLog, policy: SnapshotPolicy) {
    this.#replica = replica;
    this.#store = store;
    this.#leadership = leadership;
    this.#streamLog = streamLog.child({ component: 'snapshot-writer' });
    this.#policy = policy;
  }

  /** Writes one now, then on the policy's schedule. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#policy.checkMs);
    this.#timer.unref();
    void this.write();
  }

  async #tick(): Promise<void> {
    const due = Date.now() - this.#lastAt >= this.#policy.intervalMs || this.#replica.stats.applied - this.#lastAppliedCount >= this.#policy.maxEntries;
    if (due) await this.write();
  }

  /** Writes a snapshot unless one is being written or the replica has not moved since the last one (or at all). */
  async write(): Promise<SnapshotSummary | undefined> {
    const token = this.#leadership.token();
    const position = this.#replica.position;
    // Nothing read yet, or nothing new: a replica starts as well from the log, or from the last snapshot.
    if (this.#writing || !token || comparePositions(position, ZERO) === 0 || (this.#lastPosition && comparePositions(position, this.#lastPosition) === 0)) return undefined;
    this.#writing = true;
    try {
      const started = performance.now();
      const appliedCount = this.#replica.stats.applied;
      const snapshot = this.#replica.snapshot();
      const takeMs = performance.now() - started;
      const result = await this.#store.write(token, snapshot);
      const writeMs = performance.now() - started - takeMs;
      this.#lastAt = Date.now();
      if (!result.ok) {
        this.stats.failed++;
        const why = result.reason === 'unavailable' ? result.error.message : `${result.reason}: ${result.detail}`;
        this.#streamLog.warn({ position: formatPosition(position), why }, 'writing a snapshot failed; the next one is tried at the next interval');
        return undefined;
      }
      this.stats.written++;
      this.#lastAppliedCount = appliedCount;
      this.#lastPosition = position;
      this.last = { summary: result.summary, takeMs, writeMs };
      const objects = snapshot.types.reduce((sum, type) => sum + type.objects.length, 0);
      this.#streamLog.debug({ position: formatPosition(position), objects, bytes: result.summary.bytes, pages: result.summary.pages, takeMs: Math.round(takeMs), writeMs: Math.round(writeMs) }, 'snapshot written');
      return result.summary;
    } finally {
      this.#writing = false;
    }
  }

  /** The replica's count of log entries read when the last snapshot was taken. */
  get appliedAtLastSnapshot(): number {
    return this.#lastAppliedCount;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
