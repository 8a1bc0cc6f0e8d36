// Follows the CustomResourceDefinitions of the Capsule kinds the proxy reads (Tenant, ProxySetting,
// GlobalProxySettings) through the CRD informer: which versions the cluster serves, which one it stores,
// and how it converts. Each kind's informer watches the *storage* version (with Capsule's structural
// schemas the apiserver prunes objects to the requested version's schema; the stored shape is the
// complete one), and is retargeted in place when an upgrade changes it; a kind whose CRD is installed
// later is listed at once instead of at the next slow retry. Tenants are served at every served
// version when the CRD converts with `None` (the objects differ only in apiVersion); with a conversion
// webhook only the storage version is served from the informer, other versions are forwarded.
import { filter, type Observable, type Subscription } from 'rxjs';
import type { Change } from '../../streams/informer-hub.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Reflector } from '../../streams/reflector.ts';
import { CUSTOM_RESOURCE_DEFINITIONS, GLOBAL_PROXY_SETTINGS, PROXY_SETTINGS, TENANTS, qualifiedResource, typeId, type ResourceType } from '../../streams/resource-type.ts';
import type { Logger } from '../log.ts';

/** The Capsule kinds the proxy watches, by CRD name. */
const WATCHED: ReadonlyMap<string, ResourceType> = new Map([TENANTS, PROXY_SETTINGS, GLOBAL_PROXY_SETTINGS].map((t) => [qualifiedResource(t), t]));

interface CrdVersion {
  name?: string;
  served?: boolean;
  storage?: boolean;
}

interface Crd extends KubeObject {
  spec?: { versions?: CrdVersion[]; conversion?: { strategy?: string } };
}

/** What a CRD says about its versions. */
export interface CrdVersions {
  storage: string | undefined;
  served: string[];
  /** `None` (objects differ only in apiVersion) or `Webhook`. */
  conversion: string;
}

export function crdVersions(crd: Crd): CrdVersions {
  const versions = crd.spec?.versions ?? [];
  return {
    storage: versions.find((v) => v.storage)?.name,
    served: versions.filter((v) => v.served && v.name).map((v) => v.name as string),
    conversion: crd.spec?.conversion?.strategy ?? 'None',
  };
}

export class CapsuleCrds {
  readonly #reflector: (type: ResourceType) => Reflector | undefined;
  readonly #serveTenantsAt: (versions: string[]) => void;
  readonly #log: Logger;
  readonly #subscription: Subscription;

  /** `serveTenantsAt`: told the versions Tenants may be answered at from the one informer. */
  constructor(changes$: Observable<Change>, reflector: (type: ResourceType) => Reflector | undefined, serveTenantsAt: (versions: string[]) => void, log: Logger) {
    this.#reflector = reflector;
    this.#serveTenantsAt = serveTenantsAt;
    this.#log = log;
    const crds = typeId(CUSTOM_RESOURCE_DEFINITIONS);
    this.#subscription = changes$.pipe(filter((c) => typeId(c.resource) === crds && WATCHED.has(c.object.metadata.name ?? ''))).subscribe((c) => this.#apply(c));
  }

  #apply(change: Change): void {
    const type = WATCHED.get(change.object.metadata.name ?? '') as ResourceType;
    if (change.type === 'DELETED') {
      if (typeId(type) === typeId(TENANTS)) this.#serveTenantsAt([TENANTS.version]);
      return;
    }
    const { storage, served, conversion } = crdVersions(change.object as Crd);
    const reflector = this.#reflector(type);
    if (!storage || !reflector) return;
    // Retargeted to the storage version, or woken from a wait (absent, or failing since the CRD was
    // deleted): the kind is served now, list it now.
    if (reflector.type.version !== storage) reflector.retarget({ ...type, version: storage });
    else reflector.wake();
    if (typeId(type) === typeId(TENANTS)) {
      const versions = conversion === 'None' ? served : [storage];
      this.#serveTenantsAt(versions);
      this.#log.info({ storage, served, conversion, servedByProxy: versions }, 'Tenant CRD versions');
    }
  }

  stop(): void {
    this.#subscription.unsubscribe();
  }
}
