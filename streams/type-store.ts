// What the layers above read of one resource type's objects, whoever keeps them: a Reflector (a single
// process, or the leader's own informer) or a replica of the deployment's change log.
import type { Observable } from 'rxjs';
import type { KubeObject } from './kube-object.ts';
import type { ReflectorEvent, ReflectorState } from './reflector.ts';
import type { ResourceType } from './resource-type.ts';

export interface TypeStore {
  readonly type: ResourceType;
  /** `synced` once a complete list is held; `absent` when the API server does not serve the type. */
  readonly state: ReflectorState;
  get(key: string): KubeObject | undefined;
  list(): IterableIterator<KubeObject>;
  /** Every change and progress, after the store is updated. */
  readonly events$: Observable<ReflectorEvent>;
  readonly stats: { readonly events: number };
}
