// Tenants at a version a conversion webhook converts, on in-memory streams: their own views (their own
// informer's objects), per tenant by the directory the storage version alone feeds, a stale object of a
// re-created tenant (another uid) never shown, and the served path resolving to the right informer.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import { TENANTS, typeId, type ResourceType } from '../../streams/resource-type.ts';
import { ServedTypes } from '../../src/serve/served-types.ts';
import { convertedTenantTypes } from '../../src/tenancy/capsule-crds.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { scopeFor } from '../../src/tenancy/scope.ts';
import { Projections } from '../../src/views/projections.ts';
import { suite } from '../support/suite.ts';

const test = suite('tenants at a converted version');
const V1BETA1: ResourceType = { ...TENANTS, version: 'v1beta1', converted: true };

const stored = (name: string, owner: string, uid = `${name}-1`): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name, uid }, spec: { owners: [{ kind: 'User', name: owner, clusterRoles: ['admin'] }] } } as KubeObject);
const converted = (name: string, owner: string, uid = `${name}-1`): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta1', kind: 'Tenant', metadata: { name, uid, annotations: { [`clusterrolenames.capsule.clastix.io/user.${owner}`]: 'admin' } }, spec: { owners: [{ kind: 'User', name: owner }] } } as KubeObject);

function setup() {
  const source = new MemorySource();
  const directory = new TenantDirectory();
  const projections = new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, directory);
  const viewOf = (user: string, type: ResourceType) => {
    const scope = scopeFor(type, directory.accessOf({ user, groups: [], extra: {} }));
    return scope ? projections.view(scope) : undefined;
  };
  return { source, directory, viewOf };
}

test('only the storage version feeds the directory; a converted version has views of its own, per tenant', () => {
  const { source, directory, viewOf } = setup();
  source.apply(V1BETA1, 'ADDED', converted('oil', 'alice'));
  assert.is(directory.tenant('oil'), undefined, 'a converted object says nothing about ownership');
  source.apply(TENANTS, 'ADDED', stored('oil', 'alice'));
  source.apply(TENANTS, 'ADDED', stored('gas', 'carol'));
  source.apply(V1BETA1, 'ADDED', converted('gas', 'carol'));
  const alice = viewOf('alice', V1BETA1);
  assert.ok(alice);
  assert.equal(alice.items().map((t) => [t.apiVersion, t.metadata.name, t.metadata.annotations?.['clusterrolenames.capsule.clastix.io/user.alice']]), [['capsule.clastix.io/v1beta1', 'oil', 'admin']]);
  assert.is.not(alice, viewOf('alice', TENANTS), 'the storage version is another view');
  assert.equal(viewOf('alice', TENANTS)?.items().map((t) => t.apiVersion), ['capsule.clastix.io/v1beta2']);
  const events: string[] = [];
  alice.addListener({ deliver: (_view, batch) => events.push(...batch.map((e) => `${e.type} ${e.object.metadata.name}`)) });
  source.apply(V1BETA1, 'MODIFIED', converted('gas', 'carol'));
  source.apply(V1BETA1, 'MODIFIED', converted('oil', 'alice'));
  assert.equal(events, ['MODIFIED oil']);
});

test('a converted object of a deleted tenant whose name was taken again is not shown until its informer catches up', () => {
  const { source, viewOf } = setup();
  source.apply(TENANTS, 'ADDED', stored('oil', 'alice'));
  source.apply(V1BETA1, 'ADDED', converted('oil', 'alice'));
  // Re-created (a new uid): the storage informer sees it first.
  source.apply(TENANTS, 'DELETED', stored('oil', 'alice'));
  source.apply(TENANTS, 'ADDED', stored('oil', 'alice', 'oil-2'));
  const alice = viewOf('alice', V1BETA1);
  assert.equal(alice?.items().map((t) => t.metadata.uid), [], 'the old object is not hers');
  source.apply(V1BETA1, 'DELETED', converted('oil', 'alice'));
  source.apply(V1BETA1, 'ADDED', converted('oil', 'alice', 'oil-2'));
  assert.equal(alice?.items().map((t) => t.metadata.uid), ['oil-2']);
});

test('served paths: a converted version resolves to its own informer, the others to the storage one', () => {
  const served = new ServedTypes();
  const types = convertedTenantTypes({ storage: 'v1beta2', served: ['v1beta2', 'v1beta1'], conversion: 'Webhook' });
  assert.equal(types.map(typeId), ['capsule.clastix.io/tenants/v1beta1']);
  served.setVersions(TENANTS, ['v1beta2', 'v1beta1'], types);
  assert.is(served.resolve('capsule.clastix.io', 'v1beta1', 'tenants'), types[0]);
  assert.is(served.resolve('capsule.clastix.io', 'v1beta2', 'tenants'), TENANTS);
  assert.is(served.resolve('capsule.clastix.io', 'v1alpha1', 'tenants'), undefined);
  // Switched to None: one informer for every version again.
  assert.equal(convertedTenantTypes({ storage: 'v1beta2', served: ['v1beta2', 'v1beta1'], conversion: 'None' }), []);
  served.setVersions(TENANTS, ['v1beta2', 'v1beta1'], []);
  assert.is(served.resolve('capsule.clastix.io', 'v1beta1', 'tenants'), TENANTS);
});

test.run();
