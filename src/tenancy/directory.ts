// Who belongs to which tenant, from the Capsule objects and RBAC bindings the informers deliver:
// tenants by owner, namespaces by tenant, ProxySetting and GlobalProxySettings subjects, and members
// (subjects of RoleBindings inside tenant namespaces). Answers `accessOf(identity)`.
//
// Every change bumps `version` and reports which tenants it touched (so projections recompute only the
// views that depend on them). Not thread-safe by design: it is updated and read on the event loop, one
// change at a time, in the informers' order.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Identity } from '../basics/identity.ts';
import { annotationGrants, compileClusterResource, grantedOperations, isProxyKind, normalizeTenant, subjectKey, TENANT_LABEL, type ClusterResourceRule, type GlobalProxySettings, type Operation, type Owner, type ProxyKind, type ProxySetting, type RoleBinding, type SubjectRef, type Tenant } from './capsule.ts';

export type Grants = Map<ProxyKind, Set<Operation>>;

export interface Access {
  /** Tenants whose view the identity has (owned, or through a ProxySetting), with per-kind grants. */
  tenants: Map<string, Grants>;
  /** Tenant namespaces where the identity is a subject of a RoleBinding. */
  memberNamespaces: Set<string>;
  /** clusterResources rules of ProxySettings and GlobalProxySettings naming the identity. */
  rules: ClusterResourceRule[];
}

export function isTenantUser(access: Access): boolean {
  return access.tenants.size > 0 || access.memberNamespaces.size > 0 || access.rules.length > 0;
}

interface ProxySettingEntry {
  namespace: string;
  grants: { kind: ProxyKind; operations: Operation[] }[];
  rules: ClusterResourceRule[];
}

function addToIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFromIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

export function identitySubjectKeys(identity: Identity): string[] {
  return [`User:${identity.user}`, ...identity.groups.map((g) => `Group:${g}`)];
}

export class TenantDirectory {
  #version = 0;
  readonly #tenants = new Map<string, Tenant>();
  readonly #tenantsByOwner = new Map<string, Set<string>>();
  readonly #namespaces = new Map<string, KubeObject>();
  /** namespace → tenant, from label, ownerReference or the tenant's status.namespaces (in that order). */
  readonly #namespaceTenant = new Map<string, string>();
  readonly #namespacesOfTenant = new Map<string, Set<string>>();
  readonly #proxySettings = new Map<string, ProxySetting>();
  readonly #proxySettingsBySubject = new Map<string, Set<string>>();
  readonly #globalRules = new Map<string, GlobalProxySettings>();
  readonly #globalRulesBySubject = new Map<string, Set<string>>();
  /** Live claims: `namespace/name` → uid (a volume is a tenant's through its claim only while the claim lives). */
  readonly #claims = new Map<string, string>();
  readonly #bindings = new Map<string, RoleBinding>();
  readonly #bindingNamespacesBySubject = new Map<string, Map<string, number>>();

  get version(): number {
    return this.#version;
  }

  tenant(name: string): Tenant | undefined {
    return this.#tenants.get(name);
  }

  tenantNames(): string[] {
    return [...this.#tenants.keys()];
  }

  tenantOfNamespace(namespace: string | undefined): string | undefined {
    return namespace === undefined ? undefined : this.#namespaceTenant.get(namespace);
  }

  /**
   * The tenant whose status.namespaces lists `namespace`: what a ProxySetting there grants the view of.
   * Only the status counts, which Capsule's controller maintains; a namespace's label or ownerReference
   * is editable by whoever administers the namespace, and would let them borrow another tenant's grants.
   */
  grantingTenantOfNamespace(namespace: string | undefined): string | undefined {
    if (namespace === undefined) return undefined;
    for (const [name, tenant] of this.#tenants) if (tenant.status?.namespaces?.includes(namespace)) return name;
    return undefined;
  }

  namespacesOf(tenant: string): ReadonlySet<string> {
    return this.#namespacesOfTenant.get(tenant) ?? new Set();
  }

  // ── updates: each returns the tenants whose views may have changed ──

  setTenant(name: string, given: Tenant | undefined): Set<string> {
    const tenant = given && normalizeTenant(given);
    const previous = this.#tenants.get(name);
    for (const key of ownerKeys(previous)) removeFromIndex(this.#tenantsByOwner, key, name);
    if (tenant) {
      this.#tenants.set(name, tenant);
      for (const key of ownerKeys(tenant)) addToIndex(this.#tenantsByOwner, key, name);
    } else {
      this.#tenants.delete(name);
    }
    const touched = new Set([name]);
    // status.namespaces feeds the namespace → tenant map.
    const names = new Set([...(previous?.status?.namespaces ?? []), ...(tenant?.status?.namespaces ?? [])]);
    for (const ns of names) for (const t of this.#remapNamespace(ns)) touched.add(t);
    this.#version++;
    return touched;
  }

  setNamespace(name: string, namespace: KubeObject | undefined): Set<string> {
    if (namespace) this.#namespaces.set(name, namespace);
    else this.#namespaces.delete(name);
    const touched = this.#remapNamespace(name);
    if (touched.size > 0) this.#version++;
    return touched;
  }

  setProxySetting(key: string, setting: ProxySetting | undefined): Set<string> {
    const previous = this.#proxySettings.get(key);
    for (const s of previous?.spec?.subjects ?? []) removeFromIndex(this.#proxySettingsBySubject, subjectKey(s), key);
    if (setting) {
      this.#proxySettings.set(key, setting);
      for (const s of setting.spec?.subjects ?? []) addToIndex(this.#proxySettingsBySubject, subjectKey(s), key);
    } else {
      this.#proxySettings.delete(key);
    }
    this.#version++;
    const tenant = this.grantingTenantOfNamespace((setting ?? previous)?.metadata.namespace);
    return new Set(tenant ? [tenant] : []);
  }

  setGlobalProxySettings(name: string, settings: GlobalProxySettings | undefined): Set<string> {
    const previous = this.#globalRules.get(name);
    for (const rule of previous?.spec?.rules ?? []) for (const s of rule.subjects ?? []) removeFromIndex(this.#globalRulesBySubject, subjectKey(s), name);
    if (settings) {
      this.#globalRules.set(name, settings);
      for (const rule of settings.spec?.rules ?? []) for (const s of rule.subjects ?? []) addToIndex(this.#globalRulesBySubject, subjectKey(s), name);
    } else {
      this.#globalRules.delete(name);
    }
    this.#version++;
    return new Set();
  }

  /** The uid of the live claim `namespace/name`, if there is one. */
  claimUid(namespace: string, name: string): string | undefined {
    return this.#claims.get(`${namespace}/${name}`);
  }

  /** A claim came or went: the volumes bound to it may enter or leave its namespace's tenant's view. */
  setClaim(namespace: string, name: string, uid: string | undefined): Set<string> {
    const key = `${namespace}/${name}`;
    if (this.#claims.get(key) === uid) return new Set();
    if (uid === undefined) this.#claims.delete(key);
    else this.#claims.set(key, uid);
    const tenant = this.tenantOfNamespace(namespace);
    return new Set(tenant ? [tenant] : []);
  }

  setRoleBinding(key: string, binding: RoleBinding | undefined): Set<string> {
    const previous = this.#bindings.get(key);
    const adjust = (b: RoleBinding | undefined, delta: number) => {
      const ns = b?.metadata.namespace;
      if (!b || !ns) return;
      for (const s of b.subjects ?? []) {
        const subject = subjectKey(s);
        if (!subject) continue;
        let counts = this.#bindingNamespacesBySubject.get(subject);
        if (!counts) this.#bindingNamespacesBySubject.set(subject, (counts = new Map()));
        const n = (counts.get(ns) ?? 0) + delta;
        if (n > 0) counts.set(ns, n);
        else counts.delete(ns);
        if (counts.size === 0) this.#bindingNamespacesBySubject.delete(subject);
      }
    };
    adjust(previous, -1);
    if (binding) this.#bindings.set(key, binding);
    else this.#bindings.delete(key);
    adjust(binding, +1);
    this.#version++;
    const tenant = this.tenantOfNamespace((binding ?? previous)?.metadata.namespace);
    return new Set(tenant ? [tenant] : []);
  }

  #remapNamespace(name: string): Set<string> {
    const before = this.#namespaceTenant.get(name);
    const after = this.#resolveTenant(name);
    if (before === after) return new Set();
    if (before) removeFromIndex(this.#namespacesOfTenant, before, name);
    if (after) {
      this.#namespaceTenant.set(name, after);
      addToIndex(this.#namespacesOfTenant, after, name);
    } else {
      this.#namespaceTenant.delete(name);
    }
    return new Set([before, after].filter((t): t is string => t !== undefined));
  }

  #resolveTenant(name: string): string | undefined {
    const ns = this.#namespaces.get(name);
    if (!ns) return undefined;
    const label = ns.metadata.labels?.[TENANT_LABEL];
    if (label) return label;
    const owner = ns.metadata.ownerReferences?.find((r) => r.kind === 'Tenant' && r.apiVersion.startsWith('capsule.clastix.io/'));
    if (owner) return owner.name;
    for (const [tenantName, tenant] of this.#tenants) if (tenant.status?.namespaces?.includes(name)) return tenantName;
    return undefined;
  }

  // ── queries ──

  /** Every clusterResources rule of every ProxySetting and GlobalProxySettings. */
  allRules(): ClusterResourceRule[] {
    const rules: ClusterResourceRule[] = [];
    for (const setting of this.#proxySettings.values()) for (const s of setting.spec?.subjects ?? []) rules.push(...(s.clusterResources ?? []).map(compileClusterResource));
    for (const settings of this.#globalRules.values()) for (const r of settings.spec?.rules ?? []) rules.push(...(r.clusterResources ?? []).map(compileClusterResource));
    return rules;
  }

  accessOf(identity: Identity): Access {
    const keys = identitySubjectKeys(identity);
    const access: Access = { tenants: new Map(), memberNamespaces: new Set(), rules: [] };
    const grantsOf = (tenant: string): Grants => {
      let g = access.tenants.get(tenant);
      if (!g) access.tenants.set(tenant, (g = new Map()));
      return g;
    };
    const grant = (g: Grants, kind: ProxyKind, operations: readonly Operation[]) => {
      let set = g.get(kind);
      if (!set) g.set(kind, (set = new Set()));
      for (const op of operations) set.add(op);
    };
    for (const key of keys) {
      for (const tenantName of this.#tenantsByOwner.get(key) ?? []) {
        const tenant = this.#tenants.get(tenantName);
        if (!tenant) continue;
        const g = grantsOf(tenantName);
        for (const owner of ownersOf(tenant)) {
          if (subjectKey(owner) !== key) continue;
          for (const ps of owner.proxySettings ?? []) if (isProxyKind(ps.kind)) grant(g, ps.kind, grantedOperations(ps));
          for (const a of annotationGrants(tenant, owner.name)) grant(g, a.kind, a.operations);
        }
      }
      for (const settingKey of this.#proxySettingsBySubject.get(key) ?? []) {
        const entry = this.#proxySettingEntry(settingKey, key);
        if (!entry) continue;
        // Only valid in a tenant namespace, as its tenant's controller-maintained status says.
        const tenantName = this.grantingTenantOfNamespace(entry.namespace);
        if (!tenantName || !this.#tenants.has(tenantName)) continue;
        const g = grantsOf(tenantName);
        for (const { kind, operations } of entry.grants) grant(g, kind, operations);
        access.rules.push(...entry.rules);
      }
      for (const name of this.#globalRulesBySubject.get(key) ?? []) {
        for (const rule of this.#globalRules.get(name)?.spec?.rules ?? []) {
          if (!(rule.subjects ?? []).some((s) => subjectKey(s) === key)) continue;
          access.rules.push(...(rule.clusterResources ?? []).map(compileClusterResource));
        }
      }
      for (const ns of this.#bindingNamespacesBySubject.get(key)?.keys() ?? []) {
        if (this.#namespaceTenant.has(ns)) access.memberNamespaces.add(ns);
      }
    }
    // A namespace of a tenant the identity owns is visible through the tenant: listing it as a member
    // too would change the identity's scope (and view, and history) with every RoleBinding Capsule
    // creates for an owner in a new namespace, though nothing it sees changes.
    for (const ns of access.memberNamespaces) {
      const tenant = this.#namespaceTenant.get(ns);
      if (tenant !== undefined && access.tenants.has(tenant)) access.memberNamespaces.delete(ns);
    }
    return access;
  }

  #proxySettingEntry(settingKey: string, subject: string): ProxySettingEntry | undefined {
    const setting = this.#proxySettings.get(settingKey);
    if (!setting?.metadata.namespace) return undefined;
    const entry: ProxySettingEntry = { namespace: setting.metadata.namespace, grants: [], rules: [] };
    for (const s of setting.spec?.subjects ?? []) {
      if (subjectKey(s) !== subject) continue;
      for (const ps of s.proxySettings ?? []) if (isProxyKind(ps.kind)) entry.grants.push({ kind: ps.kind, operations: grantedOperations(ps) });
      entry.rules.push(...(s.clusterResources ?? []).map(compileClusterResource));
    }
    return entry;
  }
}

function ownersOf(tenant: Tenant | undefined): Owner[] {
  return [...(tenant?.spec?.owners ?? []), ...(tenant?.status?.owners ?? [])];
}

function ownerKeys(tenant: Tenant | undefined): string[] {
  return ownersOf(tenant)
    .map((o: SubjectRef) => subjectKey(o))
    .filter((k): k is string => k !== undefined);
}
