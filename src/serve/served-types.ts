// Which request paths the proxy can answer from its own state: the kinds of the registry at the API
// versions their entries name (ingressclasses also at networking.k8s.io/v1beta1), or at the versions
// set at run time (Tenants: from their CRD; a version a conversion webhook converts is answered from an
// informer of its own), plus types named by clusterResources rules once their informers run (at their
// one version).
import { typeId, type ResourceType } from '../../streams/resource-type.ts';
import { SERVED_KINDS, servedKindOf } from '../kinds/registry.ts';

export const BUILT_IN_SERVED: readonly ResourceType[] = SERVED_KINDS.map((kind) => kind.type);

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
    return this.versionsOf(type).includes(version) ? type : undefined;
  }

  /** The versions a type is served at (its preferred one first). */
  versionsOf(type: ResourceType): readonly string[] {
    return this.#versions.get(typeId(type)) ?? servedKindOf(type)?.versions ?? [type.version];
  }

  all(): IterableIterator<ResourceType> {
    return this.#types.values();
  }
}
