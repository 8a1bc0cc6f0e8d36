// The resource types the proxy watches upstream, and how to name them on the wire.

export interface ResourceType {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  /** Plural resource name, as in URLs. */
  resource: string;
  kind: string;
  namespaced: boolean;
  /** Served by a CustomResourceDefinition (unstructured JSON on the wire). */
  custom?: boolean;
  /**
   * A version the apiserver converts through a conversion webhook, watched by an informer of its own
   * beside the kind's storage-version informer: a type of its own (`typeId` names the version), the
   * same kind (`kindId`).
   */
  converted?: boolean;
}

export function groupVersion(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** `/api/v1/namespaces`, `/apis/storage.k8s.io/v1/storageclasses` (all namespaces for namespaced types). */
export function collectionPath(type: ResourceType): string {
  return type.group ? `/apis/${type.group}/${type.version}/${type.resource}` : `/api/${type.version}/${type.resource}`;
}

/** `namespaces`, `storageclasses.storage.k8s.io`: the apiserver's name for a resource in messages. */
export function qualifiedResource(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return type.group ? `${type.resource}.${type.group}` : type.resource;
}

/** What informers, views and served paths are keyed by: `group/resource`, plus `/version` for a converted version. */
export function typeId(type: Pick<ResourceType, 'group' | 'resource'> & Partial<Pick<ResourceType, 'version' | 'converted'>>): string {
  return type.converted ? `${type.group}/${type.resource}/${type.version}` : `${type.group}/${type.resource}`;
}

/** The kind whatever the version: `group/resource` (what visibility and grants are decided by). */
export function kindId(type: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${type.group}/${type.resource}`;
}

const t = (group: string, version: string, resource: string, kind: string, namespaced = false, custom = false): ResourceType => ({ group, version, resource, kind, namespaced, custom });

export const NAMESPACES = t('', 'v1', 'namespaces', 'Namespace');
export const NODES = t('', 'v1', 'nodes', 'Node');
export const PERSISTENT_VOLUMES = t('', 'v1', 'persistentvolumes', 'PersistentVolume');
export const PERSISTENT_VOLUME_CLAIMS = t('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true);
export const STORAGE_CLASSES = t('storage.k8s.io', 'v1', 'storageclasses', 'StorageClass');
export const INGRESS_CLASSES = t('networking.k8s.io', 'v1', 'ingressclasses', 'IngressClass');
export const PRIORITY_CLASSES = t('scheduling.k8s.io', 'v1', 'priorityclasses', 'PriorityClass');
export const RUNTIME_CLASSES = t('node.k8s.io', 'v1', 'runtimeclasses', 'RuntimeClass');
export const GATEWAY_CLASSES = t('gateway.networking.k8s.io', 'v1', 'gatewayclasses', 'GatewayClass', false, true);
export const TENANTS = t('capsule.clastix.io', 'v1beta2', 'tenants', 'Tenant', false, true);
export const PROXY_SETTINGS = t('capsule.clastix.io', 'v1beta1', 'proxysettings', 'ProxySetting', true, true);
export const GLOBAL_PROXY_SETTINGS = t('capsule.clastix.io', 'v1beta1', 'globalproxysettings', 'GlobalProxySettings', false, true);
export const ROLE_BINDINGS = t('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true);
export const CUSTOM_RESOURCE_DEFINITIONS = t('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition');
