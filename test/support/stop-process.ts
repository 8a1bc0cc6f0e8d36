// Stops a child process: SIGTERM, then SIGKILL if it has not exited within the grace period.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  // The grace timer is cancelled once the child exits: left running, it would hold this process open.
  const patience = new AbortController();
  const stopped = await Promise.race([exited.then(() => true), sleep(graceMs, undefined, { signal: patience.signal }).then(() => false, () => true)]);
  patience.abort();
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}
