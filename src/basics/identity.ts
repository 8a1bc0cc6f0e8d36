// Who a request comes from, as the apiserver's user.Info: name, uid, groups and extra attributes.

export interface Identity {
  user: string;
  uid?: string;
  groups: readonly string[];
  extra: Readonly<Record<string, readonly string[]>>;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** `system:serviceaccount:<ns>:<name>` → { namespace, name }; anything else → undefined. */
export function parseServiceAccount(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const [namespace, name, ...rest] = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (!namespace || !name || rest.length > 0) return undefined;
  return { namespace, name };
}

/**
 * The groups the apiserver gives an impersonated identity: the requested ones, a service account's own
 * groups when none are requested, and system:authenticated.
 */
export function effectiveGroups(user: string, groups: readonly string[]): string[] {
  const result = [...groups];
  const sa = parseServiceAccount(user);
  if (sa && groups.length === 0) result.push('system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`);
  if (user !== 'system:anonymous' && !result.includes('system:authenticated')) result.push('system:authenticated');
  return result;
}
