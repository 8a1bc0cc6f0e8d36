// What a hub processes, as log entries in the hub's order: changes, per-type progress and the informer
// set, each with its own position (entries that do not move the clock take the next seq, so positions
// and order stay one). The leader appends them to the shared change log (log-recorder.ts); a degraded
// replica applies them to its own replica (local-recorder.ts).
import type { Subscription } from 'rxjs';
import type { LogEntry, ProgressState } from './change-log.ts';
import type { InformerHub } from './informer-hub.ts';
import { comparePositions, type Position } from './position.ts';
import type { ResourceType } from './resource-type.ts';

export interface HubEntries {
  subscriptions: Subscription[];
  /** Records the informer set again at the clock's position (after the clock was moved forward). */
  mark(): void;
}

export function hubEntries(hub: InformerHub, next: (entry: LogEntry) => void): HubEntries {
  let last: Position = hub.clock.now;
  const positionAfterLast = (position: Position): Position => (comparePositions(position, last) > 0 ? position : hub.clock.next(hub.clock.now.rv));
  const emit = (entry: LogEntry) => {
    last = entry.position;
    next(entry);
  };
  const subscriptions = [
    hub.changes$.subscribe((change) => {
      const resourceVersion = hub.reflector(change.resource)?.resourceVersion ?? String(change.position.rv);
      emit({ kind: 'change', position: change.position, resource: change.resource, type: change.type, object: change.object, resourceVersion, recordedAt: change.receivedAt ?? Date.now() });
    }),
    hub.progress$.subscribe((progress) => {
      const resourceVersion = hub.reflector(progress.resource)?.resourceVersion ?? '';
      emit({ kind: 'progress', position: positionAfterLast(progress.position), resource: progress.resource, state: progress.state satisfies ProgressState, resourceVersion });
    }),
    hub.informers$.subscribe((resources: ResourceType[]) => {
      emit({ kind: 'informers', position: positionAfterLast(hub.clock.now), resources });
    }),
  ];
  const mark = () => emit({ kind: 'informers', position: positionAfterLast(hub.clock.now), resources: hub.reflectors().map((r) => r.type) });
  return { subscriptions, mark };
}
