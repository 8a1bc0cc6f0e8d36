// Every live watcher of the process: one shared ticker sends bookmarks to idle watchers that asked for
// them and ends watches at their deadline, and after a tenancy change each identity's watchers are
// moved to the view matching its new access (ADDED/DELETED for the difference, no reconnect).
import type { KubeObject } from '../../streams/kube-object.ts';
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
  readonly #moving: { watcher: Watcher; next: View | undefined; held: readonly KubeObject[] }[] = [];
  readonly #unsubscribe: () => void;

  constructor(projections: Projections, clock: () => Position) {
    this.#clock = clock;
    this.#timer = setInterval(() => this.tick(Date.now()), TICK_MS);
    this.#timer.unref();
    this.#unsubscribe = projections.onAccessChange({ prepare: () => this.#prepare(), commit: () => this.#commit() });
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

  setRescope(rescope: Rescope): void {
    this.#rescope = rescope;
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

  /** Before a tenancy change reaches the views: detach the watchers whose identity's view changes. */
  #prepare(): void {
    if (!this.#rescope) return;
    for (const watcher of this.#watchers) {
      if (watcher.closed) continue;
      const next = this.#rescope(watcher);
      if (next === watcher.view) continue;
      this.#moving.push({ watcher, next, held: watcher.detach() });
    }
  }

  /** After the views are updated: the moved watchers see the difference and follow their new views. */
  #commit(): void {
    const position = this.#clock();
    for (const { watcher, next, held } of this.#moving.splice(0)) {
      if (next === undefined) watcher.detachFromEverything(held, position);
      else watcher.attach(next, held, position);
    }
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
    this.#unsubscribe();
  }
}
