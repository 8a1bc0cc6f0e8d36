// Which writes are the proxy's to perform: an update/patch/delete of an object visible through a tenant
// that grants this very operation on the kind (never through another tenant's List grant or a
// read-only rule). Anything else is forwarded, and the user's own RBAC answers.
import type { KubeObject } from '../../streams/kube-object.ts';
import { typeId, type ResourceType } from '../../streams/resource-type.ts';
import type { Access, TenantDirectory } from '../tenancy/directory.ts';
import { GRANTED_KINDS, isVisible, type Scope } from '../tenancy/scope.ts';

type Operation = 'Update' | 'Delete';

function operationOf(verb: string): Operation | undefined {
  if (verb === 'update' || verb === 'patch') return 'Update';
  return verb === 'delete' ? 'Delete' : undefined;
}

/** The tenants of `access` granting `verb` on `type`. */
function grantingTenants(access: Access, type: ResourceType, verb: string): string[] {
  const kind = GRANTED_KINDS[typeId(type)];
  const operation = operationOf(verb);
  if (!kind || !operation) return [];
  return [...access.tenants].filter(([, grants]) => grants.get(kind)?.has(operation)).map(([t]) => t);
}

/** Whether some tenant of `access` grants `verb` on `type` at all (before looking at the object). */
export function grantsWrite(access: Access, type: ResourceType, verb: string): boolean {
  return grantingTenants(access, type, verb).length > 0;
}

/**
 * The object to write and the scope of the tenants granting the write, when `object` is visible through
 * one of them; undefined otherwise.
 */
export function writableThrough(access: Access, type: ResourceType, verb: string, object: KubeObject | undefined, directory: TenantDirectory): { object: KubeObject; scope: Scope } | undefined {
  const tenants = grantingTenants(access, type, verb);
  const scope: Scope = { type, tenants, members: [], rules: [], key: '' };
  return tenants.length > 0 && object !== undefined && isVisible(scope, object, directory) ? { object, scope } : undefined;
}
