// Follows the CustomResourceDefinitions of the Capsule kinds the proxy reads (Tenant, ProxySetting,
// GlobalProxySettings) through the CRD informer: which versions the cluster serves, which one it stores,
// and how it converts. Each kind's informer watches the *storage* version (with Capsule's structural
// schemas the apiserver prunes objects to the requested version's schema; the stored shape is the
// complete one), and is retargeted in place when an upgrade changes it; a kind whose CRD is installed
// later is listed at once instead of at the next slow retry. Tenants are served at every served
// version: with conversion `None` from the storage informer (the objects differ only in apiVersion);
// with a conversion webhook each other served version gets an informer of its own (a `converted` type:
// the apiserver converts its objects through the webhook), acquired and released on the hub as the CRD
// changes — one more upstream watch per such version. Only the storage version feeds the directory.
import { filter, type Observable, type Subscription } from 'rxjs';
import type { Change, InformerHub } from '../../streams/informer-hub.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { CUSTOM_RESOURCE_DEFINITIONS, GLOBAL_PROXY_SETTINGS, PROXY_SETTINGS, TENANTS, qualifiedResource, typeId, type ResourceType } from '../../streams/resource-type.ts';
import type { Logger } from '../basics/log.ts';

/** When, after a Tenant CRD change, converted informers list again (see #relistConvertedSoon). */
const CRD_SETTLE_MS = [2_000, 10_000];

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

/** The Tenant versions the webhook converts: every served one but the storage version. */
export function convertedTenantTypes({ storage, served, conversion }: CrdVersions): ResourceType[] {
  if (conversion !== 'Webhook') return [];
  return served.filter((v) => v !== storage).map((version) => ({ ...TENANTS, version, converted: true }));
}

/** Told the versions Tenants are served at, and which of them are answered from their own informers. */
export type ServeTenantsAt = (versions: string[], converted: readonly ResourceType[]) => void;

export class CapsuleCrds {
  readonly #informers: Pick<InformerHub, 'reflector' | 'acquire' | 'release'>;
  readonly #serveTenantsAt: ServeTenantsAt;
  readonly #log: Logger;
  readonly #subscription: Subscription;
  /** The converted Tenant versions whose informers this holds, by typeId. */
  readonly #converted = new Map<string, ResourceType>();
  #settle: NodeJS.Timeout[] = [];

  constructor(changes$: Observable<Change>, informers: Pick<InformerHub, 'reflector' | 'acquire' | 'release'>, serveTenantsAt: ServeTenantsAt, log: Logger) {
    this.#informers = informers;
    this.#serveTenantsAt = serveTenantsAt;
    this.#log = log;
    const crds = typeId(CUSTOM_RESOURCE_DEFINITIONS);
    this.#subscription = changes$.pipe(filter((c) => typeId(c.resource) === crds && WATCHED.has(c.object.metadata.name ?? ''))).subscribe((c) => this.#apply(c));
  }

  #apply(change: Change): void {
    const type = WATCHED.get(change.object.metadata.name ?? '') as ResourceType;
    const isTenants = typeId(type) === typeId(TENANTS);
    if (change.type === 'DELETED') {
      if (isTenants) this.#serveTenants([TENANTS.version], []);
      return;
    }
    const versions = crdVersions(change.object as Crd);
    const { storage, served, conversion } = versions;
    const reflector = this.#informers.reflector(type);
    if (!storage || !reflector) return;
    // Retargeted to the storage version, or woken from a wait (absent, or failing since the CRD was
    // deleted): the kind is served now, list it now.
    if (reflector.type.version !== storage) reflector.retarget({ ...type, version: storage });
    else reflector.wake();
    if (!isTenants) return;
    const converted = convertedTenantTypes(versions);
    this.#serveTenants(served, converted);
    this.#relistConvertedSoon();
    this.#log.info({ storage, served, conversion, ownInformers: converted.map((t) => t.version) }, 'Tenant CRD versions');
  }

  /** New informers start before the versions switch to them; the ones no longer needed stop after. */
  #serveTenants(versions: string[], converted: readonly ResourceType[]): void {
    const wanted = new Map(converted.map((t) => [typeId(t), t]));
    for (const [id, t] of wanted) {
      if (this.#converted.has(id)) continue;
      this.#informers.acquire(t);
      this.#converted.set(id, t);
    }
    this.#serveTenantsAt(versions, converted);
    for (const [id, t] of this.#converted) {
      if (wanted.has(id)) continue;
      this.#informers.release(t);
      this.#converted.delete(id);
    }
  }

  /**
   * The apiserver applies a CRD change to its handlers a moment after the CRD itself changes: a converted
   * informer that listed in between holds objects the old way (and its watch, closed by the change, resumes
   * from there without listing). Each lists again once the change has settled.
   */
  #relistConvertedSoon(): void {
    for (const timer of this.#settle.splice(0)) clearTimeout(timer);
    if (this.#converted.size === 0) return;
    for (const delay of CRD_SETTLE_MS) {
      const timer = setTimeout(() => {
        for (const t of this.#converted.values()) this.#informers.reflector(t)?.relist('the Tenant CRD changed: listing converted objects again once the apiserver serves the change');
      }, delay);
      timer.unref();
      this.#settle.push(timer);
    }
  }

  stop(): void {
    for (const timer of this.#settle.splice(0)) clearTimeout(timer);
    this.#subscription.unsubscribe();
  }
}
