// Creates or updates Kubernetes objects from plain objects or YAML files, through the REST API: the
// tests' `kubectl apply` without kubectl's cost per call.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeHttp } from './kube-http.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [field: string]: unknown;
}

const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/Node': { plural: 'nodes', namespaced: false },
  'v1/PersistentVolume': { plural: 'persistentvolumes', namespaced: false },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/PersistentVolumeClaim': { plural: 'persistentvolumeclaims', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'storage.k8s.io/v1/StorageClass': { plural: 'storageclasses', namespaced: false },
  'networking.k8s.io/v1/IngressClass': { plural: 'ingressclasses', namespaced: false },
  'scheduling.k8s.io/v1/PriorityClass': { plural: 'priorityclasses', namespaced: false },
  'node.k8s.io/v1/RuntimeClass': { plural: 'runtimeclasses', namespaced: false },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
  'capsule.clastix.io/v1beta2/Tenant': { plural: 'tenants', namespaced: false },
  'capsule.clastix.io/v1beta1/ProxySetting': { plural: 'proxysettings', namespaced: true },
  'capsule.clastix.io/v1beta1/GlobalProxySettings': { plural: 'globalproxysettings', namespaced: false },
  'gateway.networking.k8s.io/v1/GatewayClass': { plural: 'gatewayclasses', namespaced: false },
};

export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const info = RESOURCES[`${apiVersion}/${kind}`];
  if (!info) throw new Error(`test manifests: unknown kind ${apiVersion}/${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  if (info.namespaced) {
    if (!namespace) throw new Error(`test manifests: ${kind} needs a namespace`);
    return `${base}/namespaces/${namespace}/${info.plural}`;
  }
  return `${base}/${info.plural}`;
}

export function objectPath(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace)}/${encodeURIComponent(obj.metadata.name)}`;
}

export function readManifests(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

/** Creates the object, or replaces it (keeping its resourceVersion) when it exists. */
export async function apply(client: KubeHttp, obj: KubeObject): Promise<KubeObject> {
  const created = await client.request('POST', collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace), { body: obj });
  if (created.status === 201 || created.status === 200) return JSON.parse(created.body) as KubeObject;
  if (created.status !== 409) throw new Error(`create ${obj.kind} ${obj.metadata.name} → ${created.status}: ${created.body}`);
  const current = await client.json<KubeObject>('GET', objectPath(obj));
  const replacement = { ...current, ...obj, metadata: { ...current.metadata, ...obj.metadata, resourceVersion: current.metadata.resourceVersion } };
  return client.json<KubeObject>('PUT', objectPath(obj), { body: replacement });
}

export async function remove(client: KubeHttp, obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): Promise<void> {
  const r = await client.request('DELETE', objectPath(obj));
  if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new Error(`delete ${obj.kind} ${obj.metadata.name} → ${r.status}: ${r.body}`);
}

/** Merge-patches an object (labels, annotations, spec fields). */
export async function patch(client: KubeHttp, obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>, body: unknown, subresource = ''): Promise<KubeObject> {
  return client.json<KubeObject>('PATCH', objectPath(obj) + (subresource ? `/${subresource}` : ''), { body, contentType: 'application/merge-patch+json' });
}
