// The leader's log trimming: the log keeps at least the watch history (in time: the log's own time
// index maps it to positions) and always reaches back to the oldest snapshot kept, since a replica
// starting, or starting again after a gap, replays from a snapshot. With no snapshot kept it does not
// trim at all: a replica starting then has only the log.
import type { ChangeLog } from './change-log.ts';
import type { Leadership } from './leadership.ts';
import { formatPosition, type Position } from './position.ts';
import type { StreamLog } from './ports.ts';
import { oldestKeptPosition, type SnapshotStore } from './snapshot-store.ts';

export class LogTrimmer {
  readonly #log: ChangeLog;
  readonly #snapshots: SnapshotStore;
  readonly #leadership: Leadership;
  readonly #streamLog: StreamLog;
  readonly #keepMs: number;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | undefined;
  #trimming = false;
  trimmedThrough: Position | undefined;
  /** `trims`: trims that dropped something; `failed`: trims the log refused or could not do. */
  readonly stats = { trims: 0, failed: 0 };

  constructor(log: ChangeLog, snapshots: SnapshotStore, leadership: Leadership, streamLog: StreamLog, options: { keepMs: number; everyMs: number }) {
    this.#log = log;
    this.#snapshots = snapshots;
    this.#leadership = leadership;
    this.#streamLog = streamLog.child({ component: 'log-trimmer' });
    this.#keepMs = options.keepMs;
    this.#everyMs = options.everyMs;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.trim(), this.#everyMs);
    this.#timer.unref();
  }

  /** One trim; the position trimmed through afterwards (undefined when nothing ever was). */
  async trim(): Promise<Position | undefined> {
    const token = this.#leadership.token();
    if (this.#trimming || !token) return this.trimmedThrough;
    this.#trimming = true;
    try {
      const kept = await this.#snapshots.kept();
      if (!kept.ok) {
        this.stats.failed++;
        this.#streamLog.warn({ err: kept.error.message }, 'cannot list the snapshots kept: not trimming the log');
        return this.trimmedThrough;
      }
      const notAfter = oldestKeptPosition(kept.snapshots);
      if (!notAfter) return this.trimmedThrough;
      const result = await this.#log.trim(token, { keepMs: this.#keepMs, notAfter });
      if (!result.ok) {
        this.stats.failed++;
        this.#streamLog.warn({ why: result.reason === 'unavailable' ? result.error.message : `${result.reason}: ${result.detail}` }, 'trimming the change log failed');
        return this.trimmedThrough;
      }
      if (result.trimmedThrough && formatPosition(result.trimmedThrough) !== (this.trimmedThrough && formatPosition(this.trimmedThrough))) {
        this.stats.trims++;
        this.#streamLog.debug({ trimmedThrough: formatPosition(result.trimmedThrough), notAfter: formatPosition(notAfter) }, 'change log trimmed');
      }
      this.trimmedThrough = result.trimmedThrough;
      return this.trimmedThrough;
    } finally {
      this.#trimming = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
