// The kind registry walked entry by entry: every served kind has a type, served versions the request
// path resolves, a printer that prints it, field-selector fields the apiserver's conversion would accept,
// a grant reachable through proxySettings and the v1alpha1 annotations, a visibility rule that selects
// the tenant's object (from a Tenant written by hand, not from the registry's paths), and a BOOKMARK.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { groupVersion, typeId } from '../../streams/resource-type.ts';
import { SERVED_KINDS, servedKindOf } from '../../src/kinds/registry.ts';
import { customResourceFields } from '../../src/kinds/selectable-fields.ts';
import { parseFieldSelector } from '../../src/query/field-selector.ts';
import { bookmarkEvent } from '../../src/serve/encoding.ts';
import { ServedTypes } from '../../src/serve/served-types.ts';
import { printerFor } from '../../src/table/printers.ts';
import { annotationGrants, PROXY_KINDS, TENANT_LABEL, type Operation, type Tenant } from '../../src/tenancy/capsule.ts';
import { TenantDirectory, type Access } from '../../src/tenancy/directory.ts';
import { isVisible, scopeFor } from '../../src/tenancy/scope.ts';
import { suite } from '../support/suite.ts';

const test = suite('kind registry');

test('every entry: a cluster-scoped type of its own, its preferred version first, served at exactly its versions', () => {
  const ids = SERVED_KINDS.map((k) => typeId(k.type));
  assert.equal(new Set(ids).size, ids.length, 'one entry per group/resource');
  const served = new ServedTypes();
  for (const { type, versions } of SERVED_KINDS) {
    assert.ok(type.kind !== '' && type.resource !== '' && type.version !== '', typeId(type));
    assert.is(type.namespaced, false, `${typeId(type)}: the proxy serves cluster-scoped kinds only`);
    assert.is(versions[0], type.version, `${typeId(type)}: the watched version is served and preferred`);
    assert.equal(new Set(versions).size, versions.length);
    for (const version of versions) assert.is(served.resolve(type.group, version, type.resource), type, `${typeId(type)} at ${version}`);
    assert.is(served.resolve(type.group, 'v0', type.resource), undefined, `${typeId(type)} at an unlisted version`);
    assert.is(servedKindOf(type)?.type, type);
  }
});

test('every entry has a printer: a built-in kind its 1.20 printer (not the default convertor), a custom resource its CRD columns', () => {
  for (const { type, printer } of SERVED_KINDS) {
    assert.is(printer === 'customResource', type.custom === true, `${typeId(type)}: custom resources print from their CRD`);
    if (type.custom) continue;
    const table = printerFor(type.group, type.resource);
    assert.is.not(table.columns[1]?.name, 'Created At', `${typeId(type)}: its own printer`);
    const cells = table.cells({ apiVersion: groupVersion(type), kind: type.kind, metadata: { name: 'x', creationTimestamp: '2020-01-01T00:00:00Z' } }, Date.parse('2020-01-02T00:00:00Z'));
    assert.is(cells.length, table.columns.length, `${typeId(type)}: one cell per column`);
    assert.is(cells[0], 'x');
  }
});

test('every entry: field-selector fields the kind\'s conversion accepts, each in its field set; metadata.name selects', () => {
  const object = { metadata: { name: 'x' }, spec: {}, status: {} };
  for (const { type, fieldSelector } of SERVED_KINDS) {
    const id = typeId(type);
    if (type.custom) assert.equal(fieldSelector.labels, customResourceFields(false).labels, `${id}: the CRD handler's conversion`);
    const fields = fieldSelector.of(object);
    for (const label of fieldSelector.labels ?? ['metadata.name']) {
      assert.ok(Object.hasOwn(fields, label), `${id}: ${label} is in the field set`);
      parseFieldSelector(`${label}=v`, type.group, type.resource);
    }
    const byName = parseFieldSelector('metadata.name=x', type.group, type.resource);
    assert.ok(byName.matches(object) && !byName.matches({ metadata: { name: 'y' } }), `${id}: metadata.name=x`);
  }
});

/** Capsule v1alpha1's per-kind annotations (`capsule.clastix.io/enable-<name>-<operation>`), from its docs. */
const CAPSULE_ANNOTATIONS: Readonly<Record<string, string>> = { node: 'Nodes', storageclass: 'StorageClasses', ingressclass: 'IngressClasses', priorityclass: 'PriorityClasses' };

test('grants: one kind per entry, named by proxySettings, and by Capsule\'s v1alpha1 annotations', () => {
  const grants = SERVED_KINDS.flatMap((k) => (k.grant ? [k.grant] : []));
  assert.equal(new Set(grants.map((g) => g.kind)).size, grants.length);
  assert.equal([...PROXY_KINDS].sort(), grants.map((g) => g.kind).sort());
  assert.equal(grants.flatMap((g) => (g.annotation ? [g.annotation] : [])).sort(), Object.keys(CAPSULE_ANNOTATIONS).sort());
  for (const [name, kind] of Object.entries(CAPSULE_ANNOTATIONS)) {
    const tenant: Tenant = { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: 't', annotations: { [`capsule.clastix.io/enable-${name}-update`]: 'alice' } } };
    assert.equal(annotationGrants(tenant, 'alice'), [{ kind, operations: ['Update', 'List'] }], name);
  }
});

test('write policies name fields as the write policy compares them (metadata.x, spec.x, or a top-level field)', () => {
  for (const { type, grant } of SERVED_KINDS) {
    for (const field of [...(grant?.write.mayChange ?? []), ...(grant?.write.mayChangeUnshared ?? [])]) {
      assert.match(field, /^(?:(?:metadata|spec)\.[^.[]+|[^.[]+)$/, `${typeId(type)}: ${field}`);
    }
  }
});

test('every visibility rule selects the tenant\'s own object and not another (Tenant written field by field)', () => {
  const directory = new TenantDirectory();
  const allowed = { allowed: ['x'] };
  // Each class field of every Capsule generation the proxy reads, as Capsule's docs spell them.
  directory.setTenant('x', {
    apiVersion: 'capsule.clastix.io/v1beta2',
    kind: 'Tenant',
    metadata: { name: 'x' },
    spec: { nodeSelector: { pool: 'a' }, storageClasses: allowed, ingressOptions: { allowedClasses: allowed }, priorityClasses: allowed, runtimeClasses: allowed, gatewayOptions: { allowedClasses: allowed } },
  } as Tenant);
  directory.setNamespace('x', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { [TENANT_LABEL]: 'x' } } });
  const access: Access = { tenants: new Map([['x', new Map(PROXY_KINDS.map((k) => [k, new Set<Operation>(['List'])]))]]), memberNamespaces: new Set(), rules: [] };
  for (const { type } of SERVED_KINDS) {
    const scope = scopeFor(type, access);
    assert.ok(scope, `${typeId(type)}: a tenant with a List grant has a scope`);
    const object = (name: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: groupVersion(type), kind: type.kind, metadata: { name, labels } });
    assert.ok(isVisible(scope, object('x', { pool: 'a', [TENANT_LABEL]: 'x' }), directory), `${typeId(type)}: the tenant's object`);
    assert.not.ok(isVisible(scope, object('y'), directory), `${typeId(type)}: another object`);
  }
});

test('every entry\'s BOOKMARK: kind, apiVersion, the resourceVersion, and only Go\'s empty structs besides', () => {
  for (const kind of SERVED_KINDS) {
    const { type } = kind;
    const line = JSON.parse(bookmarkEvent(type, groupVersion(type), '42').line.toString()) as { type: string; object: Record<string, unknown> };
    assert.is(line.type, 'BOOKMARK');
    const { kind: k, apiVersion, metadata, ...rest } = line.object;
    assert.equal([k, apiVersion, (metadata as { resourceVersion?: string }).resourceVersion], [type.kind, groupVersion(type), '42']);
    assert.equal(rest, kind.bookmark);
    for (const key of Object.keys(rest)) assert.ok(key === 'spec' || key === 'status', `${typeId(type)}: ${key}`);
  }
});

test.run();
