// Does for a tenant what the Capsule operator would: creates the Tenant, labels its namespaces
// `capsule.clastix.io/tenant=<tenant>` with an ownerReference to it, records them in
// status.namespaces, and binds each owner in each tenant namespace to `admin` and to a ClusterRole that
// may delete namespaces (so owners can delete their own namespaces, as with Capsule).
import type { KubeHttp } from './kube-http.ts';
import { apply, patch, remove, type KubeObject } from './manifests.ts';

export const TENANT_LABEL = 'capsule.clastix.io/tenant';
export const NAMESPACE_DELETER_ROLE = 'capsule-namespace-deleter';

export type OwnerKind = 'User' | 'Group' | 'ServiceAccount';

export interface ProxySettingInput {
  kind: 'Nodes' | 'StorageClasses' | 'IngressClasses' | 'PriorityClasses' | 'RuntimeClasses' | 'PersistentVolumes' | 'GatewayClasses';
  operations: ('List' | 'Update' | 'Delete')[];
}

export interface OwnerInput {
  kind: OwnerKind;
  name: string;
  proxySettings?: ProxySettingInput[];
}

export interface TenantInput {
  name: string;
  owners: OwnerInput[];
  namespaces?: string[];
  /** More of the Tenant's spec (nodeSelector, storageClasses, …). */
  spec?: Record<string, unknown>;
  annotations?: Record<string, string>;
}

function subject(owner: Pick<OwnerInput, 'kind' | 'name'>): Record<string, string> {
  if (owner.kind === 'ServiceAccount') {
    const [, , namespace = '', name = ''] = owner.name.split(':');
    return { kind: 'ServiceAccount', name, namespace };
  }
  return { kind: owner.kind, apiGroup: 'rbac.authorization.k8s.io', name: owner.name };
}

export async function ensureNamespaceDeleterRole(client: KubeHttp): Promise<void> {
  await apply(client, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: NAMESPACE_DELETER_ROLE },
    rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['delete'] }],
  });
}

const tenantRef = (name: string) => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name } });

export async function createTenant(client: KubeHttp, input: TenantInput): Promise<KubeObject> {
  await ensureNamespaceDeleterRole(client);
  const tenant = await apply(client, {
    ...tenantRef(input.name),
    metadata: { name: input.name, labels: { 'kubernetes.io/metadata.name': input.name }, ...(input.annotations ? { annotations: input.annotations } : {}) },
    spec: { owners: input.owners, ...input.spec },
  });
  for (const ns of input.namespaces ?? []) await addTenantNamespace(client, tenant, ns, input.owners);
  await setTenantStatus(client, input.name, input.namespaces ?? []);
  return tenant;
}

export async function setTenantStatus(client: KubeHttp, tenant: string, namespaces: string[]): Promise<void> {
  await patch(client, tenantRef(tenant), { status: { state: 'Active', size: namespaces.length, namespaces: [...namespaces].sort() } }, 'status');
}

/** Creates a namespace of `tenant` (label, ownerReference) and the owners' RoleBindings in it. */
export async function addTenantNamespace(client: KubeHttp, tenant: KubeObject, namespace: string, owners: OwnerInput[], labels: Record<string, string> = {}): Promise<void> {
  await apply(client, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: { [TENANT_LABEL]: tenant.metadata.name, ...labels },
      ownerReferences: [{ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', name: tenant.metadata.name, uid: tenant.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
  });
  for (const [index, owner] of owners.entries()) {
    for (const role of ['admin', NAMESPACE_DELETER_ROLE]) {
      await apply(client, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `capsule-${tenant.metadata.name}-${index}-${role}`, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [subject(owner)],
      });
    }
  }
}

export async function deleteTenant(client: KubeHttp, name: string): Promise<void> {
  await remove(client, tenantRef(name));
}
