// The leader's half of replication: everything its hub processes (changes, progress, the informer
// set) is appended, in the hub's order, to the deployment's change log, fenced by the lease token.
// Nothing is delivered to views from here: every replica, the leader included, serves what it reads
// back from the log (log-replica.ts), so the leader never hands out a position the log does not hold.
import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import type { ChangeLog, LogEntry } from './change-log.ts';
import { hubEntries } from './hub-entries.ts';
import type { InformerHub } from './informer-hub.ts';
import type { Leadership } from './leadership.ts';
import { formatPosition, ZERO, type Position } from './position.ts';
import type { StreamLog } from './ports.ts';
import { UNOBSERVED, type ReplicationObserver } from './replication-observer.ts';

/** Entries per append: one round trip carries many (a relist, a burst), without building huge commands. */
const MAX_BATCH = 500;
const RETRY_MS = 200;

export interface RecorderFailure {
  reason: 'deposed' | 'behind' | 'invalid';
  detail: string;
}

export class LogRecorder {
  readonly #log: ChangeLog;
  readonly #leadership: Leadership;
  readonly #streamLog: StreamLog;
  readonly #onFailure: (failure: RecorderFailure) => void;
  readonly #subscriptions: Subscription[] = [];
  readonly #mark: () => void;
  readonly #hub: InformerHub;
  #pending: LogEntry[] = [];
  /** When each pending entry was queued (same order as #pending). */
  #queuedAt: number[] = [];
  readonly #observer: ReplicationObserver;
  #flushing = false;
  #stopped = false;
  /** Queues without appending until released (a leader starting the log again appends after its reseed). */
  #held: boolean;
  readonly stats = { appended: 0, batches: 0, retries: 0 };

  /**
   * `onFailure`: the log refused the leader's appends (another leader, or it is behind the log).
   * `held`: queue what the hub processes from now on, appending nothing until release().
   */
  constructor(hub: InformerHub, log: ChangeLog, leadership: Leadership, streamLog: StreamLog, onFailure: (failure: RecorderFailure) => void, observer: ReplicationObserver = UNOBSERVED, held = false) {
    this.#held = held;
    this.#observer = observer;
    this.#log = log;
    this.#leadership = leadership;
    this.#streamLog = streamLog.child({ component: 'log-recorder' });
    this.#onFailure = onFailure;
    const entries = hubEntries(hub, (entry) => this.#queue(entry));
    this.#subscriptions.push(...entries.subscriptions);
    this.#mark = entries.mark;
    this.#hub = hub;
  }

  /** Moves the log forward to `position` (above positions handed out elsewhere) with an entry there. */
  moveAbove(position: Position): void {
    this.#hub.clock.adopt(position);
    this.#mark();
  }

  /** Appends what was queued while held, and everything after it. */
  release(): void {
    this.#held = false;
    this.#scheduleFlush();
  }

  /** Stops recording; returns what it had queued and not appended, in order. */
  abandon(): LogEntry[] {
    const pending = this.#pending;
    this.#pending = [];
    this.#queuedAt = [];
    this.stop();
    return pending;
  }

  #queue(entry: LogEntry): void {
    if (this.#stopped) return;
    this.#pending.push(entry);
    this.#queuedAt.push(performance.now());
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (!this.#flushing && !this.#held && this.#pending.length > 0) {
      this.#flushing = true;
      // Everything one socket read produced goes in one append.
      setImmediate(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0 && !this.#stopped) {
      const token = this.#leadership.token();
      if (!token) {
        this.#fail({ reason: 'deposed', detail: 'the lease is no longer held' });
        break;
      }
      const batch = this.#pending.slice(0, MAX_BATCH);
      const result = await this.#log.append(token, batch);
      if (result.ok) {
        this.#pending.splice(0, batch.length);
        const [queuedAt = performance.now()] = this.#queuedAt.splice(0, batch.length);
        this.#observer.appended(batch.length, (performance.now() - queuedAt) / 1000);
        this.stats.appended += batch.length;
        this.stats.batches++;
        continue;
      }
      if (result.reason === 'unavailable') {
        // Order matters more than latency: the same batch again, until Redis answers or the lease goes.
        this.stats.retries++;
        this.#observer.logError('append');
        this.#streamLog.warn({ err: result.error.message, pending: this.#pending.length }, 'appending to the change log failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      const detail = result.reason === 'behind' ? `the log's top is ${formatPosition(result.top)}, past ${formatPosition(batch[0]?.position ?? ZERO)}` : result.detail;
      this.#fail({ reason: result.reason, detail });
    }
    this.#flushing = false;
  }

  #fail(failure: RecorderFailure): void {
    this.#streamLog.warn({ ...failure, dropped: this.#pending.length }, 'the change log refused the leader\'s appends');
    this.#pending = [];
    this.#queuedAt = [];
    this.stop();
    this.#onFailure(failure);
  }

  stop(): void {
    this.#stopped = true;
    for (const s of this.#subscriptions) s.unsubscribe();
  }
}
