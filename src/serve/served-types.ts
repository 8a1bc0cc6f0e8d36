// Which request paths the proxy can answer from its own state: the resource types it watches, at the
// API versions it serves them (ingressclasses also at networking.k8s.io/v1beta1), plus types named by
// clusterResources rules once their informers run, and Tenant versions a conversion webhook converts
// (each answered from its own informer).
import { GATEWAY_CLASSES, INGRESS_CLASSES, NAMESPACES, NODES, PERSISTENT_VOLUMES, PRIORITY_CLASSES, RUNTIME_CLASSES, STORAGE_CLASSES, TENANTS, typeId, type ResourceType } from '../../streams/resource-type.ts';

export const BUILT_IN_SERVED: readonly ResourceType[] = [NAMESPACES, NODES, PERSISTENT_VOLUMES, STORAGE_CLASSES, INGRESS_CLASSES, PRIORITY_CLASSES, RUNTIME_CLASSES, GATEWAY_CLASSES, TENANTS];

/** Extra versions served from the same informer (the objects differ only in apiVersion). */
const EXTRA_VERSIONS: Readonly<Record<string, readonly string[]>> = { [typeId(INGRESS_CLASSES)]: ['v1beta1'] };

export class ServedTypes {
  readonly #types = new Map<string, ResourceType>();
  /** Versions a type is served at, when its CRD says (Tenants: every version a `None` conversion serves). */
  readonly #versions = new Map<string, readonly string[]>();

  constructor() {
    for (const type of BUILT_IN_SERVED) this.add(type);
  }

  add(type: ResourceType): void {
    this.#types.set(typeId(type), type);
  }

  remove(type: ResourceType): void {
    if (!BUILT_IN_SERVED.includes(type)) this.#types.delete(typeId(type));
  }

  /** Versions answered from an informer of their own (`converted` types), by `group/resource/version`. */
  readonly #converted = new Map<string, ResourceType>();

  /**
   * Serve `type` at exactly these versions: from its one informer (the objects differ only in
   * apiVersion), except the `converted` types given, each answered from its own informer.
   */
  setVersions(type: ResourceType, versions: readonly string[], converted: readonly ResourceType[] = []): void {
    this.#versions.set(typeId(type), versions);
    for (const [id, c] of this.#converted) if (c.group === type.group && c.resource === type.resource) this.#converted.delete(id);
    for (const c of converted) this.#converted.set(typeId(c), c);
  }

  /** The watched type for a request's group/version/resource, if the proxy serves that version. */
  resolve(group: string, version: string, resource: string): ResourceType | undefined {
    const type = this.#types.get(`${group}/${resource}`);
    if (!type) return undefined;
    const converted = this.#converted.get(typeId({ group, resource, version, converted: true }));
    if (converted) return converted;
    const versions = this.#versions.get(typeId(type));
    if (versions) return versions.includes(version) ? type : undefined;
    if (type.version === version || EXTRA_VERSIONS[typeId(type)]?.includes(version)) return type;
    return undefined;
  }

  /** The versions a type is served at (its preferred one first). */
  versionsOf(type: ResourceType): readonly string[] {
    return this.#versions.get(typeId(type)) ?? [type.version, ...(EXTRA_VERSIONS[typeId(type)] ?? [])];
  }

  all(): IterableIterator<ResourceType> {
    return this.#types.values();
  }
}
