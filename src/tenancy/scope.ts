// What an identity may see of one resource type: its Scope (which tenants' rules apply, which member
// namespaces, which clusterResources rules) and the visibility predicate evaluated on live objects.
// Identities with equal scopes share one view, so a Scope's key names exactly what it selects by.
import { labelsOf, type KubeObject } from '../../streams/kube-object.ts';
import { kindId, typeId, type ResourceType } from '../../streams/resource-type.ts';
import { SERVED_KINDS, servedKindOf } from '../kinds/registry.ts';
import { labelSelectorFromObject, NOTHING, type LabelSelector } from '../query/label-selector.ts';
import { ruleMatches, TENANT_LABEL, type ClusterResourceRule, type ProxyKind, type SelectorAllowedList, type Tenant } from './capsule.ts';
import type { Access, TenantDirectory } from './directory.ts';

/** The cluster-scoped kinds a tenant grant (proxySettings) covers, by `group/resource` (from the kind registry). */
export const GRANTED_KINDS: Readonly<Record<string, ProxyKind>> = Object.fromEntries(SERVED_KINDS.flatMap((kind) => (kind.grant ? [[typeId(kind.type), kind.grant.kind]] : [])));

export interface Scope {
  readonly type: ResourceType;
  readonly tenants: readonly string[];
  readonly members: readonly string[];
  readonly rules: readonly ClusterResourceRule[];
  readonly key: string;
}

/** The identity's scope on `type`, or undefined when it has no grant there (the request is forwarded). */
export function scopeFor(type: ResourceType, access: Access): Scope | undefined {
  const id = kindId(type);
  const visibility = servedKindOf(type)?.visibility.by;
  let tenants: string[] = [];
  let members: string[] = [];
  if (visibility === 'namespace') {
    tenants = [...access.tenants.keys()];
    members = [...access.memberNamespaces];
  } else if (visibility === 'tenant') {
    tenants = [...access.tenants.keys()];
  } else {
    const kind = GRANTED_KINDS[id];
    if (kind) tenants = [...access.tenants].filter(([, grants]) => grants.get(kind)?.has('List')).map(([t]) => t);
  }
  const rules = dedupe(access.rules.filter((r) => ruleMatches(r, type.group, type.version, type.resource)));
  if (tenants.length === 0 && members.length === 0 && rules.length === 0) return undefined;
  tenants.sort();
  members.sort();
  const key = `${typeId(type)}#${tenants.join(',')}#${members.join(',')}#${rules.map((r) => r.key).join(';')}`;
  return { type, tenants, members, rules, key };
}

function dedupe(rules: ClusterResourceRule[]): ClusterResourceRule[] {
  const byKey = new Map(rules.map((r) => [r.key, r]));
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Whether `object` is in the scope's view: listed (`list`), or at least readable by name (`get`, which
 * also honours Get-only rules).
 */
export function isVisible(scope: Scope, object: KubeObject, directory: TenantDirectory, operation: 'list' | 'get' = 'list'): boolean {
  for (const rule of scope.rules) {
    if ((operation === 'list' ? rule.list : rule.get) && rule.selector.matches(labelsOf(object))) return true;
  }
  if (scope.tenants.length === 0 && scope.members.length === 0) return false;
  const visibility = servedKindOf(scope.type)?.visibility;
  const name = object.metadata.name ?? '';
  switch (visibility?.by) {
    case 'namespace': {
      if (scope.members.includes(name)) return true;
      const tenant = directory.tenantOfNamespace(name);
      return tenant !== undefined && scope.tenants.includes(tenant);
    }
    case 'tenant':
      return scope.tenants.includes(name) && sameTenant(directory, object);
    case 'nodeSelector':
      return scope.tenants.some((t) => nodeMatches(directory.tenant(t), object));
    case 'volume': {
      const labelled = object.metadata.labels?.[TENANT_LABEL];
      if (labelled !== undefined && scope.tenants.includes(labelled)) return true;
      const tenant = claimTenant(object, directory);
      return tenant !== undefined && scope.tenants.includes(tenant);
    }
    case 'classes': {
      const { tenantField } = visibility;
      return scope.tenants.some((t) => classMatches(classRulesAt(directory.tenant(t), tenantField), object));
    }
    case undefined:
      return false;
  }
}

/**
 * Whether a Tenant object is the one the directory knows by that name: an informer of a converted
 * version may still hold a deleted tenant whose name was taken again.
 */
function sameTenant(directory: TenantDirectory, object: KubeObject): boolean {
  const known = directory.tenant(object.metadata.name ?? '')?.metadata.uid;
  return known === undefined || object.metadata.uid === undefined || known === object.metadata.uid;
}

/**
 * The tenant a volume is bound into: its claim's namespace's tenant, while that very claim lives (the
 * uids match). A volume retained after its namespace was deleted keeps a claimRef to the old namespace;
 * a tenant that re-creates a namespace of that name must not inherit it.
 */
export function claimTenant(volume: KubeObject, directory: TenantDirectory): string | undefined {
  const claim = (volume.spec as { claimRef?: { namespace?: string; name?: string; uid?: string } } | undefined)?.claimRef;
  if (!claim?.namespace || !claim.name) return undefined;
  const live = directory.claimUid(claim.namespace, claim.name);
  if (live === undefined || (claim.uid !== undefined && claim.uid !== live)) return undefined;
  return directory.tenantOfNamespace(claim.namespace);
}

function nodeMatches(tenant: Tenant | undefined, node: KubeObject): boolean {
  if (!tenant) return false;
  const labels = labelsOf(node);
  return Object.entries(tenant.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
}

/** A tenant's class rules for one kind, at the field its registry entry names (`spec.storageClasses`). */
function classRulesAt(tenant: Tenant | undefined, field: readonly string[]): SelectorAllowedList | undefined {
  let value: unknown = tenant;
  for (const key of field) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'object' && value !== null ? (value as SelectorAllowedList) : undefined;
}

const regexCache = new Map<string, RegExp | null>();
const selectorCache = new WeakMap<SelectorAllowedList, LabelSelector>();

/** Names (allowed, default), regex (unanchored, as Go's MatchString) OR labels: any one suffices. */
export function classMatches(rules: SelectorAllowedList | undefined, object: KubeObject): boolean {
  if (!rules) return false;
  const name = object.metadata.name ?? '';
  if (rules.allowed?.includes(name) || (rules.default !== undefined && rules.default === name)) return true;
  if (rules.allowedRegex) {
    let re = regexCache.get(rules.allowedRegex);
    if (re === undefined) {
      try {
        re = new RegExp(rules.allowedRegex);
      } catch {
        re = null;
      }
      regexCache.set(rules.allowedRegex, re);
    }
    if (re?.test(name)) return true;
  }
  let selector = selectorCache.get(rules);
  if (!selector) {
    selector = rules.matchLabels !== undefined || rules.matchExpressions !== undefined ? labelSelectorFromObject({ matchLabels: rules.matchLabels, matchExpressions: rules.matchExpressions }) : NOTHING;
    selectorCache.set(rules, selector);
  }
  return selector.matches(labelsOf(object));
}
