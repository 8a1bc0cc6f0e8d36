// The shape of a Kubernetes object as the proxy handles it: parsed JSON, never mutated once stored
// (views, lists and watch events share the same object references).

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Store key: `name` for cluster-scoped objects, `namespace/name` for namespaced ones. */
export function objectKey(object: KubeObject): string {
  const { namespace, name = '' } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

export function resourceVersionOf(object: KubeObject): number {
  return Number(object.metadata.resourceVersion ?? 0);
}

export function labelsOf(object: KubeObject | undefined): Readonly<Record<string, string>> {
  return object?.metadata.labels ?? {};
}

/** A copy of `object` whose metadata.resourceVersion is `resourceVersion` (the rest shared). */
export function withResourceVersion(object: KubeObject, resourceVersion: string): KubeObject {
  return { ...object, metadata: { ...object.metadata, resourceVersion } };
}
