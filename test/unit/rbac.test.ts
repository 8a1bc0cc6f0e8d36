// deploy/rbac.yaml against the code: the proxy's ClusterRole grants list and watch on every type it
// watches (the kind registry's and the tenancy inputs), the writes granted writes send as the proxy on
// every kind a tenant grant covers, what authentication and impersonation need — and nothing else.
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { typeId } from '../../streams/resource-type.ts';
import { SERVED_KINDS } from '../../src/kinds/registry.ts';
import { METHODS } from '../../src/serve/granted-writes.ts';
import { TENANCY_TYPES } from '../../src/server/tenant-engine.ts';
import { readManifests, type KubeObject } from '../support/manifests.ts';
import { suite } from '../support/suite.ts';

const RBAC_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/rbac.yaml');
const test = suite('deploy/rbac.yaml');

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** `group/resource verb`, one per permission a rule grants. */
function permissions(rules: readonly PolicyRule[]): Set<string> {
  const granted = new Set<string>();
  for (const rule of rules) {
    assert.is(rule.resourceNames, undefined, 'no rule is limited to names');
    assert.is(rule.nonResourceURLs, undefined, 'no non-resource URLs');
    for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs ?? []) granted.add(`${group}/${resource} ${verb}`);
  }
  return granted;
}

/** What authentication and impersonation need, which no registry names. */
const FRONT_DOOR = [
  // impersonation.ts: every upstream request runs as the caller (user, groups, service accounts, extras).
  '/users impersonate', '/groups impersonate', '/serviceaccounts impersonate', 'authentication.k8s.io/* impersonate',
  // authenticate.ts: bearer tokens; impersonation.ts: may a caller send Impersonate-* headers.
  'authentication.k8s.io/tokenreviews create', 'authorization.k8s.io/subjectaccessreviews create',
];

const manifests = readManifests(RBAC_FILE);
const role = manifests.find((o): o is KubeObject & { rules: PolicyRule[] } => o.kind === 'ClusterRole');

test('the ClusterRole grants exactly what the proxy does upstream as itself', () => {
  assert.ok(role, 'a ClusterRole');
  const granted = permissions(role.rules);
  const needed = new Set(FRONT_DOOR);
  for (const type of [...TENANCY_TYPES, ...SERVED_KINDS.map((k) => k.type)]) for (const verb of ['list', 'watch']) needed.add(`${typeId(type)} ${verb}`);
  for (const { type, grant } of SERVED_KINDS) if (grant) for (const verb of Object.keys(METHODS)) needed.add(`${typeId(type)} ${verb}`);
  assert.equal([...needed].filter((p) => !granted.has(p)).sort(), [], 'missing');
  assert.equal([...granted].filter((p) => !needed.has(p)).sort(), [], 'not needed');
});

test('the binding gives that ClusterRole to the proxy\'s service account', () => {
  const account = manifests.find((o) => o.kind === 'ServiceAccount');
  const binding = manifests.find((o) => o.kind === 'ClusterRoleBinding') as (KubeObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace?: string }[] }) | undefined;
  assert.ok(account && binding && role);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }]);
});

test.run();
