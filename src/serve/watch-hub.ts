// Every live watcher of the process: one shared ticker sends bookmarks to idle watchers that asked for
// them and ends watches at their deadline. (Moving watchers after a tenancy change is the views' job:
// views/followers.ts.)
import type { Position } from '../../streams/position.ts';
import type { Watcher } from './watcher.ts';

/** A bookmark at least this often on an idle watch (client-node 2.x gives up after 30 s of silence). */
export const BOOKMARK_IDLE_MS = 20_000;
/** The apiserver sends a last bookmark about 2 s before a watch's deadline. */
export const FINAL_BOOKMARK_LEAD_MS = 2_000;
const TICK_MS = 1_000;

export class WatchHub {
  readonly #watchers = new Set<Watcher>();
  readonly #clock: () => Position;
  readonly #timer: NodeJS.Timeout;

  constructor(clock: () => Position) {
    this.#clock = clock;
    this.#timer = setInterval(() => this.tick(Date.now()), TICK_MS);
    this.#timer.unref();
  }

  get size(): number {
    return this.#watchers.size;
  }

  /** Watchers stopped at a full socket, waiting for the client to read before they catch up. */
  get pausedCount(): number {
    let paused = 0;
    for (const watcher of this.#watchers) if (watcher.paused) paused++;
    return paused;
  }

  add(watcher: Watcher): void {
    this.#watchers.add(watcher);
  }

  remove(watcher: Watcher): void {
    this.#watchers.delete(watcher);
  }

  tick(now: number): void {
    const clockNow = this.#clock();
    for (const watcher of this.#watchers) watcher.tick(now, clockNow, BOOKMARK_IDLE_MS, FINAL_BOOKMARK_LEAD_MS);
  }

  /** Ends the watches `ending` picks, cleanly (their clients list and watch again). */
  closeWhere(ending: (watcher: Watcher) => boolean): void {
    for (const watcher of [...this.#watchers]) if (ending(watcher)) watcher.close();
  }

  /** Ends every watch cleanly (shutdown). */
  closeAll(): void {
    for (const watcher of [...this.#watchers]) watcher.close();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
