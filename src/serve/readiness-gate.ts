// Tenant answers wait for the informers they depend on: until those have listed once, who is a tenant
// user is unknown (a forwarded owner would get the apiserver's Forbidden), so requests the proxy would
// answer get 429 with Retry-After instead of a guess.
import type { TypeStore } from '../../streams/type-store.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { StatusError } from '../basics/status.ts';

export class ReadinessGate {
  readonly #store: (type: ResourceType) => TypeStore | undefined;
  readonly #tenancyTypes: readonly ResourceType[];

  /** `tenancyTypes`: what every tenant answer depends on. */
  constructor(store: (type: ResourceType) => TypeStore | undefined, tenancyTypes: readonly ResourceType[]) {
    this.#store = store;
    this.#tenancyTypes = tenancyTypes;
  }

  /** Whether the tenancy informers (and `type`'s) have listed once; an absent CRD counts as empty. */
  ready(type?: ResourceType): boolean {
    const types = type ? [...this.#tenancyTypes, type] : this.#tenancyTypes;
    return types.every((t) => {
      const state = this.#store(t)?.state;
      return state === 'synced' || state === 'absent';
    });
  }

  /** Throws the 429 to answer while not ready. */
  check(type?: ResourceType): void {
    if (!this.ready(type)) throw new StatusError(429, 'TooManyRequests', 'tenant-proxy is still loading the cluster state; retry shortly', { retryAfterSeconds: 1 });
  }
}
