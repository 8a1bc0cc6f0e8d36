// The clients following views (watchers), by identity: when a tenancy change alters what an identity
// sees, its followers are moved to the view of its new scope. In two phases around the change, so that
// a follower sees exactly the difference between what it held and its new view, never an intermediate
// state: `detachMoved` before the views apply the change, `reattach` after.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Position } from '../../streams/position.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import type { Identity } from '../basics/identity.ts';
import type { View, ViewListener } from './view.ts';

/** A client following the view of its identity's scope of one type. */
export interface ViewFollower extends ViewListener {
  /**
   * The identity's scope changed: `held` is what it had from its previous view; from now on it follows
   * `next`, and sends the difference as of `position`.
   */
  moved(next: View, held: readonly KubeObject[], position: Position): void;
  /** The identity sees nothing of the type any more: `held` is what it had. */
  lost(held: readonly KubeObject[], position: Position): void;
}

/** A follower's place: the view it follows now (it changes when the follower is moved). */
export interface Following {
  readonly view: View;
  stop(): void;
}

/** The view an identity should see of a type now; undefined when it sees nothing. */
export type ResolveView = (identity: Identity, type: ResourceType) => View | undefined;

class Entry implements Following {
  view: View;
  stopped = false;
  constructor(
    readonly identity: Identity,
    readonly follower: ViewFollower,
    view: View,
    readonly onStop: (entry: Entry) => void,
  ) {
    this.view = view;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.view.removeListener(this.follower);
    this.onStop(this);
  }
}

export class Followers {
  readonly #entries = new Set<Entry>();
  readonly #moving: { entry: Entry; next: View | undefined; held: readonly KubeObject[] }[] = [];

  get size(): number {
    return this.#entries.size;
  }

  follow(identity: Identity, view: View, follower: ViewFollower): Following {
    const entry = new Entry(identity, follower, view, (e) => this.#entries.delete(e));
    this.#entries.add(entry);
    view.addListener(follower);
    return entry;
  }

  /** Before a tenancy change reaches the views: detaches the followers whose identity's view changes. */
  detachMoved(resolve: ResolveView): void {
    for (const entry of this.#entries) {
      const next = resolve(entry.identity, entry.view.scope.type);
      if (next === entry.view) continue;
      entry.view.removeListener(entry.follower);
      this.#moving.push({ entry, next, held: entry.view.items() });
    }
  }

  /** After the views applied the change: the moved followers see the difference and follow their new views. */
  reattach(position: Position): void {
    for (const { entry, next, held } of this.#moving.splice(0)) {
      if (entry.stopped) continue;
      if (next === undefined) {
        entry.stop();
        entry.follower.lost(held, position);
        continue;
      }
      entry.view = next;
      entry.follower.moved(next, held, position);
      if (!entry.stopped) next.addListener(entry.follower);
    }
  }
}
