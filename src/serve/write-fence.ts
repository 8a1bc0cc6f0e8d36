// Read-your-writes for answers served from informers. A write the proxy forwarded (a tenant creating,
// labelling or deleting a namespace) is acknowledged by the apiserver slightly before its watch event
// reaches the proxy's informer. After such a write, reads of that type wait (bounded) until the
// informer has received a newer event, so `kubectl create ns x; kubectl get ns` shows x.
//
// Forwarded writes stream through unparsed (and may be protobuf; a DELETE's Status carries no
// resourceVersion), so the fence cannot wait for the write's own version: it waits for the informer's
// next event after the acknowledgement, told by the informer's event stream rather than polled.
import { filter, firstValueFrom, timeout } from 'rxjs';
import type { TypeStore } from '../../streams/type-store.ts';
import { typeId, type ResourceType } from '../../streams/resource-type.ts';

const MAX_WAIT_MS = 1_000;

export class WriteFence {
  readonly #pending = new Map<string, { events: number; at: number; next: Promise<unknown> }>();

  /** A write of `type` was acknowledged upstream just now. */
  note(type: ResourceType, store: TypeStore | undefined): void {
    if (!store) return;
    const next = firstValueFrom(store.events$.pipe(filter((e) => e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED'), timeout({ first: MAX_WAIT_MS }))).catch(() => undefined);
    this.#pending.set(typeId(type), { events: store.stats.events, at: Date.now(), next });
  }

  /** Waits until the informer has seen an event after the last acknowledged write (bounded). */
  async wait(type: ResourceType, store: TypeStore | undefined): Promise<void> {
    const id = typeId(type);
    const pending = this.#pending.get(id);
    if (!pending || !store) return;
    if (store.stats.events <= pending.events && Date.now() - pending.at < MAX_WAIT_MS) await pending.next;
    if (this.#pending.get(id) === pending) this.#pending.delete(id);
  }
}
