// The Capsule API as the proxy reads it: Tenants (v1beta2), ProxySettings and GlobalProxySettings
// (v1beta1), the v1alpha1-era Tenant annotations, and the per-kind grants they express.
import type { KubeObject } from '../../streams/kube-object.ts';
import { SERVED_KINDS, type ProxyKind } from '../kinds/registry.ts';
import { labelSelectorFromObject, type LabelSelector, type LabelSelectorObject } from '../query/label-selector.ts';

export const TENANT_LABEL = 'capsule.clastix.io/tenant';

export type SubjectKind = 'User' | 'Group' | 'ServiceAccount';
export type { ProxyKind };
export type Operation = 'List' | 'Update' | 'Delete';
export const OPERATIONS: readonly Operation[] = ['List', 'Update', 'Delete'];
/** The kinds a grant may name: those of the kind registry's grants. */
export const PROXY_KINDS: readonly ProxyKind[] = SERVED_KINDS.flatMap((kind) => (kind.grant ? [kind.grant.kind] : []));

export interface SubjectRef {
  kind: string;
  name: string;
  namespace?: string;
}

export interface ProxySettingGrant {
  kind: string;
  operations?: string[];
}

export interface ClusterResourceSpec {
  apiGroups?: string[];
  resources?: string[];
  operations?: string[];
  selector?: LabelSelectorObject;
}

export interface Owner extends SubjectRef {
  proxySettings?: ProxySettingGrant[];
}

/** `{allowed[], allowedRegex, default, matchLabels, matchExpressions}` of a class kind. */
export interface SelectorAllowedList extends LabelSelectorObject {
  allowed?: string[];
  allowedRegex?: string;
  default?: string;
}

export interface TenantSpec {
  owners?: Owner[];
  nodeSelector?: Record<string, string>;
  storageClasses?: SelectorAllowedList;
  ingressOptions?: { allowedClasses?: SelectorAllowedList };
  priorityClasses?: SelectorAllowedList;
  runtimeClasses?: SelectorAllowedList;
  gatewayOptions?: { allowedClasses?: SelectorAllowedList };
}

export interface Tenant extends KubeObject {
  spec?: TenantSpec;
  status?: { namespaces?: string[]; owners?: Owner[] };
}

/** The fields of older generations the model is read from. */
interface LegacyTenantSpec extends TenantSpec {
  /** v1alpha1: the one owner. */
  owner?: Owner;
  /** v1alpha1: the allowed ingress classes. */
  ingressClasses?: SelectorAllowedList;
}

/**
 * A Tenant of any generation as the one model the proxy reads (v1beta2's shape), by the fields present
 * rather than its apiVersion (an object may be served under any version). v1alpha1: `spec.owner`,
 * `spec.ingressClasses`, `spec.storageClasses`, `spec.nodeSelector`; v1beta1: `spec.owners[]` with
 * proxySettings, `spec.ingressOptions.allowedClasses`, `spec.storageClasses`, `spec.priorityClasses`,
 * `spec.nodeSelector`. Where generations overlap, the newer field wins when it is present:
 * `owners` over `owner`, `ingressOptions.allowedClasses` over `ingressClasses`.
 */
export function normalizeTenant(tenant: Tenant): Tenant {
  const spec = tenant.spec as LegacyTenantSpec | undefined;
  if (!spec || (spec.owner === undefined && spec.ingressClasses === undefined)) return tenant;
  const { owner, ingressClasses, ...rest } = spec;
  const normalized: TenantSpec = { ...rest };
  if (!normalized.owners?.length && owner) normalized.owners = [owner];
  if (normalized.ingressOptions?.allowedClasses === undefined && ingressClasses) normalized.ingressOptions = { ...normalized.ingressOptions, allowedClasses: ingressClasses };
  return { ...tenant, spec: normalized };
}

export interface ProxySetting extends KubeObject {
  spec?: { subjects?: (SubjectRef & { proxySettings?: ProxySettingGrant[]; clusterResources?: ClusterResourceSpec[] })[] };
}

export interface GlobalProxySettings extends KubeObject {
  spec?: { rules?: { subjects?: SubjectRef[]; clusterResources?: ClusterResourceSpec[] }[] };
}

export interface RoleBinding extends KubeObject {
  subjects?: SubjectRef[];
}

/** A subject as an index key: `User:alice`, `Group:devs`, `User:system:serviceaccount:ns:name`. */
export function subjectKey(subject: SubjectRef): string | undefined {
  switch (subject.kind) {
    case 'User':
    case 'Group':
      return `${subject.kind}:${subject.name}`;
    case 'ServiceAccount':
      // Capsule owners name the account in full; RBAC subjects give name and namespace.
      return subject.namespace ? `User:system:serviceaccount:${subject.namespace}:${subject.name}` : `User:${subject.name}`;
    default:
      return undefined;
  }
}

export function isProxyKind(kind: string): kind is ProxyKind {
  return (PROXY_KINDS as readonly string[]).includes(kind);
}

/** Operations of a proxySettings entry; Update and Delete imply List. */
export function grantedOperations(grant: ProxySettingGrant): Operation[] {
  const ops = new Set((grant.operations ?? []).filter((o): o is Operation => (OPERATIONS as readonly string[]).includes(o)));
  if (ops.size > 0) ops.add('List');
  return [...ops];
}

/** `node` → Nodes, …: the kinds whose registry grant names a v1alpha1 annotation. */
const ANNOTATION_KINDS: ReadonlyMap<string, ProxyKind> = new Map(SERVED_KINDS.flatMap((kind) => (kind.grant?.annotation ? [[kind.grant.annotation, kind.grant.kind] as const] : [])));
const ANNOTATION_OPERATIONS: Record<string, Operation> = { listing: 'List', update: 'Update', deletion: 'Delete' };
const ANNOTATION = new RegExp(`^capsule\\.clastix\\.io/enable-(${[...ANNOTATION_KINDS.keys()].join('|')})-(listing|update|deletion)$`);

/**
 * Grants of the v1alpha1-era annotations (`capsule.clastix.io/enable-node-listing: "true"` or a
 * comma-separated list of owner names) for one owner of the tenant.
 */
export function annotationGrants(tenant: Tenant, ownerName: string): { kind: ProxyKind; operations: Operation[] }[] {
  const grants: { kind: ProxyKind; operations: Operation[] }[] = [];
  for (const [key, value] of Object.entries(tenant.metadata.annotations ?? {})) {
    const m = ANNOTATION.exec(key);
    if (!m) continue;
    const names = value.split(',').map((s) => s.trim());
    if (value.trim() !== 'true' && !names.includes(ownerName)) continue;
    const operation = ANNOTATION_OPERATIONS[m[2] ?? ''];
    const kind = ANNOTATION_KINDS.get(m[1] ?? '');
    if (!operation || !kind) continue;
    grants.push({ kind, operations: operation === 'List' ? ['List'] : [operation, 'List'] });
  }
  return grants;
}

/** A clusterResources rule, compiled. */
export interface ClusterResourceRule {
  apiGroups: string[];
  resources: string[];
  list: boolean;
  get: boolean;
  selector: LabelSelector;
  /** Canonical text, for view keys. */
  key: string;
}

export function compileClusterResource(spec: ClusterResourceSpec): ClusterResourceRule {
  const operations = spec.operations ?? [];
  const list = operations.length === 0 || operations.includes('List');
  const get = list || operations.includes('Get');
  const selector = labelSelectorFromObject(spec.selector);
  const apiGroups = [...(spec.apiGroups ?? [])].sort();
  const resources = [...(spec.resources ?? [])].sort();
  return { apiGroups, resources, list, get, selector, key: `${apiGroups.join(',')}|${resources.join(',')}|${list ? 'L' : 'G'}|${selector.toString()}|${selector.empty ? 'all' : 'some'}` };
}

/** Whether a rule names a resource: `*`, `""` for core, `group` or `group/version` (`*` allowed in both). */
export function ruleMatches(rule: ClusterResourceRule, group: string, version: string, resource: string): boolean {
  const groupOk = rule.apiGroups.some((pattern) => {
    if (pattern === '*') return true;
    const [g = '', v] = pattern.split('/');
    return (g === '*' || g === group) && (v === undefined || v === '*' || v === version);
  });
  return groupOk && rule.resources.some((r) => r === '*' || r === resource);
}
