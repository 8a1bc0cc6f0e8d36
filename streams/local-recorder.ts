// A degraded replica's stand-in for the shared change log: while it cannot reach Redis it runs its own
// upstream informers and applies what its hub processes straight to its replica, at local positions
// (position.ts: tagged with this period), so that its views and watchers go on exactly and no
// resourceVersion of the period can be taken for one of the log.
import type { Subscription } from 'rxjs';
import { hubEntries } from './hub-entries.ts';
import type { InformerHub } from './informer-hub.ts';
import type { LogReplica } from './log-replica.ts';
import { localPosition } from './position.ts';

export class LocalRecorder {
  readonly #subscriptions: Subscription[];

  constructor(hub: InformerHub, replica: LogReplica, tag: number) {
    this.#subscriptions = hubEntries(hub, (entry) => replica.apply({ ...entry, position: localPosition(entry.position, tag) })).subscriptions;
  }

  stop(): void {
    for (const s of this.#subscriptions) s.unsubscribe();
  }
}
