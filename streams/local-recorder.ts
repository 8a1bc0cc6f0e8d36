// A degraded replica's stand-in for the shared change log: while it cannot reach Redis it runs its own
// upstream informers and applies what its hub processes straight to its replica, at local positions
// (position.ts: tagged with this period), so that its views and watchers go on exactly and no
// resourceVersion of the period can be taken for one of the log.
import type { Subscription } from 'rxjs';
import type { LogEntry } from './change-log.ts';
import { hubEntries } from './hub-entries.ts';
import type { InformerHub } from './informer-hub.ts';
import type { LogReplica } from './log-replica.ts';
import { localPosition } from './position.ts';

export class LocalRecorder {
  readonly #subscriptions: Subscription[];
  readonly #replica: LogReplica;
  readonly #tag: number;
  /** Entries held back instead of applied (see hold()). */
  #held: LogEntry[] | undefined;

  constructor(hub: InformerHub, replica: LogReplica, tag: number) {
    this.#replica = replica;
    this.#tag = tag;
    this.#subscriptions = hubEntries(hub, (entry) => (this.#held ? this.#held.push(entry) : this.#apply(entry))).subscriptions;
  }

  /**
   * Holds what the hub processes back instead of applying it, so that the replica hands out no new
   * position: a replica about to rejoin waits for the log to get past its last one.
   */
  hold(): void {
    this.#held ??= [];
  }

  get holding(): boolean {
    return this.#held !== undefined;
  }

  /** Applies what was held, in order, and goes on applying. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const entry of held) this.#apply(entry);
  }

  /** Stops; what is held is dropped (the replica takes the log's state instead). */
  stop(): void {
    this.#held = undefined;
    for (const s of this.#subscriptions) s.unsubscribe();
  }

  #apply(entry: LogEntry): void {
    this.#replica.apply({ ...entry, position: localPosition(entry.position, this.#tag) });
  }
}
