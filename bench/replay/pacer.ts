// A fixed emission schedule: event k (0-based) is due at start + k / rate, for every k whose due time
// falls within the duration. Each wake-up emits every event that is due by then, in one batch — so a late
// timer (a busy event loop, a long GC) is caught up at once instead of shifting every later event
// (no drift), and the count is exact: ceil(durationMs × rate / 1000).
//
// Timers have millisecond granularity: above ~1,000 events/s each wake-up emits several events.
// `minBatchIntervalMs` coarsens wake-ups further: fewer, larger batches — cheaper, burstier. The cost
// that matters is one TLS record + syscall per watcher socket per batch (the fan-out corks sockets for a
// batch). Replay process CPU, 2 cores shared with the reading client (bench/replay-cost.ts, 10 s runs):
//   50 watchers of every event, 2,000 events/s, batch interval 0 (≈ 2.2 events/batch): 0.57 core
//   the same, minBatchIntervalMs 5 (≈ 10 events/batch):                                  0.34 core
//   50 watchers of one tenant each (the forwarding baseline's kind), 2,000 events/s:      0.15 core
//   1 watcher of every event (the multiplexer's kind), 2,000 events/s:                    0.18 core
//   50 watchers of every event, 500 events/s (1 event/batch):                             0.49 core
// The emitted-at stamps are taken as each event is encoded, before the batch's flush: batching does not
// inflate the latency a client measures from them (by ≤ 0.5 ms for a 10-event batch).
import { performance } from 'node:perf_hooks';

export interface PaceOptions {
  eventsPerSecond: number;
  durationMs: number;
  minBatchIntervalMs?: number;
}

export interface PaceResult {
  emitted: number;
  /** From the schedule's start to the last batch emitted. */
  elapsedMs: number;
}

export interface Pacer {
  readonly done: Promise<PaceResult>;
  /** Ends the schedule early; `done` resolves with what was emitted. */
  stop(): void;
}

/** Runs `emitBatch(n)` on the schedule; it emits n events synchronously. */
export function pace(options: PaceOptions, emitBatch: (count: number) => void): Pacer {
  const { eventsPerSecond: rate, durationMs } = options;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`eventsPerSecond must be a positive number, got ${rate}`);
  if (!(durationMs >= 0) || !Number.isFinite(durationMs)) throw new Error(`durationMs must be a non-negative number, got ${durationMs}`);
  const minInterval = options.minBatchIntervalMs ?? 0;
  const total = Math.ceil((durationMs * rate) / 1000);
  const start = performance.now();
  let emitted = 0;
  let lastBatchAt = start;
  let timer: NodeJS.Timeout | undefined;
  let finish: (r: PaceResult) => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const done = new Promise<PaceResult>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const end = () => {
    clearTimeout(timer);
    timer = undefined;
    finish({ emitted, elapsedMs: lastBatchAt - start });
  };
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
    if (due > emitted) {
      const count = due - emitted;
      emitted = due;
      try {
        emitBatch(count);
      } catch (err) {
        clearTimeout(timer);
        return fail(err);
      }
      lastBatchAt = performance.now();
    }
    if (emitted >= total) return end();
    const nextDue = start + (emitted * 1000) / rate;
    const wakeAt = Math.max(nextDue, lastBatchAt + minInterval);
    timer = setTimeout(tick, Math.max(0, wakeAt - performance.now()));
  };
  if (total === 0) queueMicrotask(end);
  else tick();
  return { done, stop: end };
}
