// The kinds the proxy serves from its own state, one entry each: the watched type and the versions it
// is served at, its field selectors, its Table printer, the tenant grant that covers it and what that
// grant lets a tenant write, which objects a tenant sees (and so how a change maps to tenants' views),
// and its BOOKMARK's shape. Everything that treats kinds differently reads its part here: query/
// (field selectors), table/ (printers, by name), tenancy/ (grants, visibility), views/ (routing),
// serve/ (served versions, bookmarks, write policy); deploy/rbac.yaml is checked against it by a test.
//
// Data and small pure functions only: this sits below every layer that reads it (it imports streams/).
// Types served because a clusterResources rule names them are not here (rule-informers.ts): they are
// seen through rules only, with the defaults every lookup here falls back to.
import { GATEWAY_CLASSES, INGRESS_CLASSES, NAMESPACES, NODES, PERSISTENT_VOLUMES, PRIORITY_CLASSES, RUNTIME_CLASSES, STORAGE_CLASSES, TENANTS, kindId, typeId, type ResourceType } from '../../streams/resource-type.ts';
import { customResourceFields, defaultBuiltInFields, nameOf, textAt, type SelectableFields } from './selectable-fields.ts';

/** The kinds a Capsule proxySettings grant names (and the Tenant annotations of v1alpha1). */
export type ProxyKind = 'Nodes' | 'StorageClasses' | 'IngressClasses' | 'PriorityClasses' | 'RuntimeClasses' | 'PersistentVolumes' | 'GatewayClasses';

/** The built-in Table printers of table/printers.ts; `customResource`: the CRD's printer columns. */
export type PrinterName = 'namespaces' | 'nodes' | 'persistentVolumes' | 'storageClasses' | 'ingressClasses' | 'priorityClasses' | 'runtimeClasses' | 'customResource';

/**
 * Which objects of the kind a tenant's scope holds (tenancy/scope.ts evaluates it), and so which views a
 * change can affect (views/projections.ts):
 * - `namespace`: its tenants' namespaces and the identity's member namespaces — routed by tenant;
 * - `tenant`: the identity's own tenants, by name — routed by tenant;
 * - `volume`: labelled with the tenant, or bound to a live claim in a tenant namespace — routed by tenant;
 * - `nodeSelector`: matching the tenant's `spec.nodeSelector` — every view of the kind is checked;
 * - `classes`: allowed by the tenant's class rules at `tenantField` (names, regex or labels) — every view
 *   of the kind is checked.
 */
export type VisibilityRule =
  | { readonly by: 'namespace' }
  | { readonly by: 'tenant' }
  | { readonly by: 'volume' }
  | { readonly by: 'nodeSelector' }
  | { readonly by: 'classes'; readonly tenantField: readonly string[] };

/** What an Update grant lets change beyond labels and annotations, judged on the write's result. */
export interface WritePolicy {
  /** Fields any granted write may change (nodes: `spec.unschedulable`, a cordon). */
  readonly mayChange?: readonly string[];
  /** Fields a granted write may change only on an object no other tenant sees (nodes: `spec.taints`). */
  readonly mayChangeUnshared?: readonly string[];
  /**
   * Label and annotation keys no grant may change: `nodeSelectorKeys` — any key a tenant's nodeSelector
   * uses (it would move nodes between pools); `tenantLabel` — the key that assigns a volume to a tenant (the `volume` rule).
   */
  readonly lockedKeys?: readonly ('nodeSelectorKeys' | 'tenantLabel')[];
}

export interface Grant {
  /** The proxySettings kind that grants List, Update and Delete on it. */
  readonly kind: ProxyKind;
  /** `<name>` of the v1alpha1 annotations `capsule.clastix.io/enable-<name>-{listing,update,deletion}`. */
  readonly annotation?: string;
  readonly write: WritePolicy;
}

export interface ServedKind {
  /** The watched type (cluster-scoped: the proxy serves no namespaced kind), at its preferred version. */
  readonly type: ResourceType;
  /** Versions served from the one informer (the objects differ only in apiVersion), preferred first. */
  readonly versions: readonly string[];
  readonly fieldSelector: SelectableFields;
  readonly printer: PrinterName;
  readonly visibility: VisibilityRule;
  /** Without one, the kind is seen through tenancy itself (namespaces, tenants) and rules only. */
  readonly grant?: Grant;
  /** Fields a BOOKMARK object carries besides kind/apiVersion/metadata: Go serializes empty structs. */
  readonly bookmark: Readonly<Record<string, unknown>>;
}

const NO_STRUCTS = {};

export const SERVED_KINDS: readonly ServedKind[] = [
  {
    type: NAMESPACES,
    versions: ['v1'],
    fieldSelector: {
      labels: ['status.phase', 'metadata.name'],
      of: (o) => ({ 'metadata.name': nameOf(o), 'status.phase': textAt(o, 'status', 'phase'), name: nameOf(o) }),
    },
    printer: 'namespaces',
    visibility: { by: 'namespace' },
    bookmark: { spec: {}, status: {} },
  },
  {
    type: NODES,
    versions: ['v1'],
    fieldSelector: {
      labels: ['metadata.name', 'spec.unschedulable'],
      of: (o) => {
        const spec = o.spec;
        const unschedulable = typeof spec === 'object' && spec !== null && (spec as Record<string, unknown>).unschedulable === true;
        return { 'metadata.name': nameOf(o), 'spec.unschedulable': String(unschedulable) };
      },
    },
    printer: 'nodes',
    visibility: { by: 'nodeSelector' },
    grant: { kind: 'Nodes', annotation: 'node', write: { mayChange: ['spec.unschedulable'], mayChangeUnshared: ['spec.taints'], lockedKeys: ['nodeSelectorKeys'] } },
    bookmark: {
      spec: {},
      status: {
        daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
        nodeInfo: { machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: '', containerRuntimeVersion: '', kubeletVersion: '', kubeProxyVersion: '', operatingSystem: '', architecture: '' },
      },
    },
  },
  {
    type: PERSISTENT_VOLUMES,
    versions: ['v1'],
    // Its own conversion is the default's, but GetAttrs adds `name` (matchable, not selectable).
    fieldSelector: { of: (o) => ({ 'metadata.name': nameOf(o), name: nameOf(o) }) },
    printer: 'persistentVolumes',
    visibility: { by: 'volume' },
    grant: { kind: 'PersistentVolumes', write: { lockedKeys: ['tenantLabel'] } },
    bookmark: { spec: {}, status: {} },
  },
  {
    type: STORAGE_CLASSES,
    versions: ['v1'],
    fieldSelector: defaultBuiltInFields(false),
    printer: 'storageClasses',
    visibility: { by: 'classes', tenantField: ['spec', 'storageClasses'] },
    grant: { kind: 'StorageClasses', annotation: 'storageclass', write: {} },
    bookmark: NO_STRUCTS,
  },
  {
    type: INGRESS_CLASSES,
    versions: ['v1', 'v1beta1'],
    fieldSelector: defaultBuiltInFields(false),
    printer: 'ingressClasses',
    visibility: { by: 'classes', tenantField: ['spec', 'ingressOptions', 'allowedClasses'] },
    grant: { kind: 'IngressClasses', annotation: 'ingressclass', write: {} },
    bookmark: NO_STRUCTS,
  },
  {
    type: PRIORITY_CLASSES,
    versions: ['v1'],
    fieldSelector: defaultBuiltInFields(false),
    printer: 'priorityClasses',
    visibility: { by: 'classes', tenantField: ['spec', 'priorityClasses'] },
    grant: { kind: 'PriorityClasses', annotation: 'priorityclass', write: {} },
    bookmark: NO_STRUCTS,
  },
  {
    type: RUNTIME_CLASSES,
    versions: ['v1'],
    fieldSelector: defaultBuiltInFields(false),
    printer: 'runtimeClasses',
    visibility: { by: 'classes', tenantField: ['spec', 'runtimeClasses'] },
    grant: { kind: 'RuntimeClasses', write: {} },
    bookmark: NO_STRUCTS,
  },
  {
    type: GATEWAY_CLASSES,
    versions: ['v1'],
    fieldSelector: customResourceFields(false),
    printer: 'customResource',
    visibility: { by: 'classes', tenantField: ['spec', 'gatewayOptions', 'allowedClasses'] },
    grant: { kind: 'GatewayClasses', write: {} },
    bookmark: NO_STRUCTS,
  },
  {
    // The versions a Tenant is served at follow its CRD (ServedTypes.setVersions); this is the default.
    type: TENANTS,
    versions: ['v1beta2'],
    fieldSelector: customResourceFields(false),
    printer: 'customResource',
    visibility: { by: 'tenant' },
    bookmark: NO_STRUCTS,
  },
];

const BY_TYPE_ID: ReadonlyMap<string, ServedKind> = new Map(SERVED_KINDS.map((kind) => [typeId(kind.type), kind]));

/** The registry's entry for a group/resource, if the proxy serves it of its own (not only by rule). */
export function servedKindOf(type: Pick<ResourceType, 'group' | 'resource'>): ServedKind | undefined {
  return BY_TYPE_ID.get(kindId(type));
}

/** Whether a change of the kind can affect only the views of the tenants it belongs to (an index). */
export function routedByTenant(rule: VisibilityRule['by']): boolean {
  return rule === 'namespace' || rule === 'tenant' || rule === 'volume';
}
