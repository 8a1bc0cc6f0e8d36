// Read-your-writes for answers served from informers. A write the proxy forwarded (a tenant creating,
// labelling or deleting a namespace) is acknowledged by the apiserver slightly before its watch event
// reaches the proxy's informer. After such a write, reads of that type wait (bounded) until the
// informer has received a newer event, so `kubectl create ns x; kubectl get ns` shows x.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Reflector } from '../../streams/reflector.ts';
import { typeId, type ResourceType } from '../../streams/resource-type.ts';

const MAX_WAIT_MS = 1_000;
const POLL_MS = 5;

export class WriteFence {
  readonly #pending = new Map<string, { events: number; at: number }>();

  /** A write of `type` was acknowledged upstream just now. */
  note(type: ResourceType, reflector: Reflector | undefined): void {
    if (reflector) this.#pending.set(typeId(type), { events: reflector.stats.events, at: Date.now() });
  }

  /** Waits until the informer has seen an event after the last acknowledged write (bounded). */
  async wait(type: ResourceType, reflector: Reflector | undefined): Promise<void> {
    const id = typeId(type);
    const pending = this.#pending.get(id);
    if (!pending || !reflector) return;
    while (reflector.stats.events <= pending.events && Date.now() - pending.at < MAX_WAIT_MS) await sleep(POLL_MS);
    if (this.#pending.get(id) === pending) this.#pending.delete(id);
  }
}
