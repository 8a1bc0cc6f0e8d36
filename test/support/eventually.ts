// Bounded polling for tests against state that converges (the proxy answers from informers, so an
// upstream change shows through it a moment later).
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `condition` holds; throws, naming `what`, after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Calls `probe` until `accept` holds for its result; returns that result. On timeout throws with the
 * last result, so a failing test shows what it saw.
 */
export async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what}; last: ${JSON.stringify(value).slice(0, 2_000)}`);
    await sleep(intervalMs);
  }
}
