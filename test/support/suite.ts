// uvu's suite, with hooks that report their errors: uvu swallows an error thrown in a before/after hook
// (the suite's tests just do not run), so print it and mark the process failed.
import { suite as uvuSuite, type Test } from 'uvu';

type Hook<T> = (context: T) => void | Promise<void>;

/**
 * After a suite's after hook: if the process is still alive a few seconds later (test/run.ts kills it after 5 s
 * and fails the file), say what holds it open, so a leak names its culprit.
 */
function reportWhatStaysOpen(): void {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    process.stderr.write(`\nstill open 3 s after the last test: ${open.join(', ') || 'nothing'}\n`);
  }, 3_000).unref();
}

export function suite<T extends object = Record<string, never>>(name: string, state?: T): Test<T> {
  const s = uvuSuite<T>(name, state);
  const guard = (kind: string, fn: Hook<T>): Hook<T> => async (context) => {
    try {
      await fn(context);
    } catch (err) {
      process.stderr.write(`\n✘ ${kind} hook of "${name}" failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
      throw err;
    } finally {
      if (kind === 'after') reportWhatStaysOpen();
    }
  };
  const before = s.before;
  const after = s.after;
  const wrapped = Object.assign((fn: Hook<T>) => before(guard('before', fn)), { each: (fn: Hook<T>) => before.each(guard('before each', fn)) });
  const wrappedAfter = Object.assign((fn: Hook<T>) => after(guard('after', fn)), { each: (fn: Hook<T>) => after.each(guard('after each', fn)) });
  return Object.assign(s, { before: wrapped, after: wrappedAfter }) as Test<T>;
}
