// Every live watcher of the process: one shared ticker sends bookmarks to idle watchers that asked for
// them and ends watches at their deadline, and after a tenancy change each identity's watchers are
// moved to the view matching its new access (ADDED/DELETED for the difference, no reconnect).
import type { Position } from '../../streams/position.ts';
import type { Projections } from '../views/projections.ts';
import type { View } from '../views/view.ts';
import type { Watcher } from './watcher.ts';

/** A bookmark at least this often on an idle watch (client-node 2.x gives up after 30 s of silence). */
export const BOOKMARK_IDLE_MS = 20_000;
/** The apiserver sends a last bookmark about 2 s before a watch's deadline. */
export const FINAL_BOOKMARK_LEAD_MS = 2_000;
const TICK_MS = 1_000;

/** Re-resolves the view a watcher's identity should now see; undefined when it sees nothing any more. */
export type Rescope = (watcher: Watcher) => View | undefined;

export class WatchHub {
  readonly #watchers = new Set<Watcher>();
  readonly #clock: () => Position;
  readonly #timer: NodeJS.Timeout;
  #rescope: Rescope | undefined;
  readonly #unsubscribe: () => void;

  constructor(projections: Projections, clock: () => Position) {
    this.#clock = clock;
    this.#timer = setInterval(() => this.tick(Date.now()), TICK_MS);
    this.#timer.unref();
    this.#unsubscribe = projections.onAccessChange(() => this.#reassign());
  }

  get size(): number {
    return this.#watchers.size;
  }

  setRescope(rescope: Rescope): void {
    this.#rescope = rescope;
  }

  add(watcher: Watcher): void {
    this.#watchers.add(watcher);
  }

  remove(watcher: Watcher): void {
    this.#watchers.delete(watcher);
  }

  watchers(): IterableIterator<Watcher> {
    return this.#watchers.values();
  }

  tick(now: number): void {
    const clockNow = this.#clock();
    for (const watcher of this.#watchers) watcher.tick(now, clockNow, BOOKMARK_IDLE_MS, FINAL_BOOKMARK_LEAD_MS);
  }

  #reassign(): void {
    if (!this.#rescope) return;
    const position = this.#clock();
    for (const watcher of [...this.#watchers]) {
      const next = this.#rescope(watcher);
      if (next === undefined) {
        watcher.migrateToNothing(position);
        continue;
      }
      if (next !== watcher.view) watcher.migrate(next, position);
    }
  }

  /** Ends every watch cleanly (shutdown). */
  closeAll(): void {
    for (const watcher of [...this.#watchers]) watcher.close();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
  }
}
