// What a tenant's Update and Delete grants mean, judged on the *result* of a write (the object before and
// after it), never on the request's shape: merge, JSON and strategic patches, apply and PUT all reach
// the same result, and only the result is checked.
//
// Every kind: metadata.labels and metadata.annotations may change, other fields may not, unless its
// registry entry's write policy (kinds/registry.ts) lists them; and no change may move the object into or
// out of the view of a tenant the caller does not act for.
// - nodes: spec.unschedulable (cordon); spec.taints only on a node no other tenant can see; no label or
//   annotation key that any tenant's nodeSelector uses (that would move nodes between pools);
// - storage and ingress classes: not the default-class annotations; priority classes: not globalDefault;
// - persistent volumes: not spec.claimRef, spec.persistentVolumeReclaimPolicy or the tenant label.
// Deleting an object another tenant can see is refused: it is not the caller's alone.
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { servedKindOf } from '../kinds/registry.ts';
import { TENANT_LABEL } from '../tenancy/capsule.ts';
import type { TenantDirectory } from '../tenancy/directory.ts';
import { isVisible } from '../tenancy/scope.ts';
import { isPlainObject } from './own-requests.ts';

/** Who writes: the tenants the caller acts for; every other tenant's view must stay as it was. */
export interface WriteJudge {
  type: ResourceType;
  ownTenants: ReadonlySet<string>;
  directory: TenantDirectory;
}

export interface Violation {
  field: string;
  message: string;
}

/** Set by the apiserver on every write: never the caller's doing. */
const SERVER_FIELDS = new Set(['metadata.resourceVersion', 'metadata.managedFields', 'metadata.generation', 'status']);
const DEFAULT_CLASS_ANNOTATIONS = new Set(['storageclass.kubernetes.io/is-default-class', 'storageclass.beta.kubernetes.io/is-default-class', 'ingressclass.kubernetes.io/is-default-class']);

/**
 * The fields that differ: one entry per label or annotation key (`metadata.labels[k]`), per metadata
 * field, per spec field, and per other top-level field.
 */
export function changedFields(before: KubeObject, after: KubeObject): string[] {
  const changed: string[] = [];
  const compare = (prefix: string, a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined, depth: number) => {
    for (const key of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) {
      const path = prefix ? `${prefix}.${key}` : key;
      const x = a?.[key];
      const y = b?.[key];
      if (isDeepStrictEqual(x, y) || SERVER_FIELDS.has(path)) continue;
      if (path === 'metadata.labels' || path === 'metadata.annotations') {
        for (const k of new Set([...Object.keys((x as object | undefined) ?? {}), ...Object.keys((y as object | undefined) ?? {})])) {
          if ((x as Record<string, unknown> | undefined)?.[k] !== (y as Record<string, unknown> | undefined)?.[k]) changed.push(`${path}[${k}]`);
        }
      } else if (depth === 0 && (key === 'metadata' || key === 'spec') && isPlainObject(x) && isPlainObject(y)) {
        compare(path, x, y, depth + 1);
      } else {
        changed.push(path);
      }
    }
  };
  compare('', before as unknown as Record<string, unknown>, after as unknown as Record<string, unknown>, 0);
  return changed;
}

const keyOf = (field: string): string => /\[(.*)\]$/.exec(field)?.[1] ?? '';

/** Tenants (not the caller's) that see `object`. */
function otherTenantsSeeing(judge: WriteJudge, object: KubeObject): string[] {
  return judge.directory.tenantNames().filter((t) => !judge.ownTenants.has(t) && isVisible({ type: judge.type, tenants: [t], members: [], rules: [], key: '' }, object, judge.directory));
}

/** Label keys any tenant's nodeSelector uses. */
function nodeSelectorKeys(directory: TenantDirectory): Set<string> {
  const keys = new Set<string>();
  for (const name of directory.tenantNames()) for (const key of Object.keys(directory.tenant(name)?.spec?.nodeSelector ?? {})) keys.add(key);
  return keys;
}

/** Why the write from `before` to `after` exceeds the grant; empty when it does not. */
export function updateViolations(judge: WriteJudge, before: KubeObject, after: KubeObject): Violation[] {
  const policy = servedKindOf(judge.type)?.grant?.write ?? {};
  const violations: Violation[] = [];
  const fields = changedFields(before, after);
  const selectorKeys = policy.lockedKeys?.includes('nodeSelectorKeys') ? nodeSelectorKeys(judge.directory) : new Set<string>();
  const tenantLabelLocked = policy.lockedKeys?.includes('tenantLabel') === true;
  const kindName = judge.type.kind.toLowerCase();
  const seenBefore = otherTenantsSeeing(judge, before);
  const seenAfter = otherTenantsSeeing(judge, after);
  for (const field of fields) {
    const metadataKey = field.startsWith('metadata.labels[') || field.startsWith('metadata.annotations[');
    if (metadataKey) {
      const key = keyOf(field);
      if (selectorKeys.has(key)) violations.push({ field, message: `${field}: the key is one a tenant's nodeSelector uses (changing it moves nodes between tenants' pools)` });
      else if (DEFAULT_CLASS_ANNOTATIONS.has(key)) violations.push({ field, message: `${field}: only the cluster's administrators choose the default class` });
      else if (tenantLabelLocked && key === TENANT_LABEL) violations.push({ field, message: `${field}: the tenant label decides which tenant a volume belongs to` });
      continue;
    }
    if (policy.mayChange?.includes(field)) continue;
    if (policy.mayChangeUnshared?.includes(field)) {
      const what = field.slice(field.lastIndexOf('.') + 1);
      if (seenBefore.length > 0 || seenAfter.length > 0) violations.push({ field, message: `${field}: the ${kindName} is also in another tenant's view (${what} only on a ${kindName} no other tenant can see)` });
      continue;
    }
    violations.push({ field, message: `${field}: ${REASONS[field] ?? 'not a field a tenant grant lets change'}` });
  }
  // Whatever the fields: another tenant's view must not change (labels its class selectors match).
  if (!isDeepStrictEqual(seenBefore, seenAfter) && violations.length === 0) {
    const field = fields.find((f) => f.startsWith('metadata.labels[')) ?? fields[0] ?? 'metadata.labels';
    violations.push({ field, message: `${field}: the change would move the object into or out of another tenant's view` });
  }
  return violations;
}

const REASONS: Record<string, string> = {
  globalDefault: 'only the cluster\'s administrators choose the default priority class',
  'spec.claimRef': 'binding a volume to a claim is the cluster\'s (the claim may be another tenant\'s)',
  'spec.persistentVolumeReclaimPolicy': 'the reclaim policy decides whether the data outlives its claim: the cluster\'s to set',
  'spec.configSource': 'the kubelet\'s configuration is the cluster\'s',
};

/** Why deleting `object` exceeds the grant, or undefined. */
export function deleteViolation(judge: WriteJudge, object: KubeObject): Violation | undefined {
  if (otherTenantsSeeing(judge, object).length === 0) return undefined;
  return { field: 'metadata.name', message: 'the object is also in another tenant\'s view: only an object no other tenant can see may be deleted' };
}
