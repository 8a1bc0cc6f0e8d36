// History entries past their first seconds, with their objects kept as JSON instead of parsed trees.
//
// Why: a watch history holds every object version of the last --watch-history (37,500 at 500 changes/s
// for 75 s); parsed, each is ~20 heap objects, and with its encoder forms ~40, all of which every major
// collection marks. The versions the stores hold are current; what only history holds is superseded.
// Kept as their JSON, a superseded version is one string (the encoder's own, shared while the version is
// current), and the parsed tree and its forms are collected.
//
// Reading an entry's object parses it again (a client resuming or catching up, a view extending its
// history: rare paths) and keeps it until the next sweep releases it, so one catch-up parses each
// object once. A revived object is a copy: equal, not identical, to what the entry held.
import type { Change } from '../../streams/informer-hub.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Position } from '../../streams/position.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import type { ChangeType } from '../../streams/reflector.ts';
import { objectJson } from './encoder.ts';
import type { ViewEvent } from './view.ts';

/** Entries whose objects were parsed again since the last sweep. */
const revived = new Set<CompactedObjects>();

/** Lets go of the objects parsed again since the last call (called by the history sweep). */
export function releaseRevived(): void {
  for (const entry of revived) entry.release();
  revived.clear();
}

/** Entries holding parsed objects right now after a revival (tests check that a sweep releases them). */
export function revivedCount(): number {
  return revived.size;
}

abstract class CompactedObjects {
  readonly #json: string;
  readonly #previousJson: string | undefined;
  /** The entry held one object as both (a deletion carrying the last state itself): so do its revivals. */
  readonly #previousIsObject: boolean;
  #object: KubeObject | undefined;
  #previous: KubeObject | undefined;

  constructor(object: KubeObject, previous: KubeObject | undefined) {
    this.#json = objectJson(object);
    this.#previousIsObject = previous === object;
    this.#previousJson = previous === undefined || this.#previousIsObject ? undefined : objectJson(previous);
  }

  get object(): KubeObject {
    if (this.#object === undefined) {
      this.#object = JSON.parse(this.#json) as KubeObject;
      revived.add(this);
    }
    return this.#object;
  }

  get previous(): KubeObject | undefined {
    if (this.#previousIsObject) return this.object;
    if (this.#previousJson === undefined) return undefined;
    if (this.#previous === undefined) {
      this.#previous = JSON.parse(this.#previousJson) as KubeObject;
      revived.add(this);
    }
    return this.#previous;
  }

  release(): void {
    this.#object = undefined;
    this.#previous = undefined;
  }
}

export class CompactedEvent extends CompactedObjects implements ViewEvent {
  readonly position: Position;
  readonly type: ChangeType;
  readonly restored?: true;

  constructor(event: ViewEvent) {
    super(event.object, event.previous);
    this.position = event.position;
    this.type = event.type;
    if (event.restored) this.restored = true;
  }
}

export class CompactedChange extends CompactedObjects implements Change {
  readonly type: ChangeType;
  readonly resource: ResourceType;
  readonly position: Position;
  readonly restored?: true;

  constructor(change: Change) {
    super(change.object, change.previous);
    this.type = change.type;
    this.resource = change.resource;
    this.position = change.position;
    if (change.restored) this.restored = true;
  }
}

export const compactEvent = (event: ViewEvent): ViewEvent => (event instanceof CompactedEvent ? event : new CompactedEvent(event));
export const compactChange = (change: Change): Change => (change instanceof CompactedChange ? change : new CompactedChange(change));
