// src/table against the real kube-apiserver 1.20.2: for a varied set of objects of every kind the proxy
// prints itself (and two throwaway CRDs probing the JSONPath columns), the Table the apiserver answers
// — list, paginated list, single get, watch; includeObject None/Metadata/Object — must equal, key order
// included, the one tableFor(printerFor(...)) builds from the same objects fetched as plain JSON. Age
// cells are computed at the instants just before and after the apiserver's answer; either may match.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { apply, patch, remove, type KubeObject } from '../support/manifests.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { printerFor, type CrdPrinterColumn, type TablePrinter } from '../../src/table/printers.ts';
import { tableFor, type IncludeObject } from '../../src/table/table.ts';

type Obj = Record<string, unknown>;
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
interface Context { cp: ControlPlane; created: KubeObject[] }

const test = suite<Context>('Table output: src/table against kube-apiserver 1.20.2');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const LABEL = 'tenant-proxy.test/table';
const mine = `labelSelector=${encodeURIComponent(`${LABEL}=${suffix}`)}`;
const TABLE_ACCEPT = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' };
const n = (base: string): string => `${base}-${suffix}`;
const labels = (extra: Record<string, string> = {}): Record<string, string> => ({ [LABEL]: suffix, ...extra });
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();
const H = 3_600_000;
const D = 24 * H;

// Two throwaway CRDs: one probing every kind of printer column, one whose third column the apiserver
// cannot parse (it then serves only the columns before it).
const PROBE = { group: 'tables.tenant-proxy.test', plural: `probes${suffix}`, kind: `Probe${suffix.toUpperCase()}` };
const BROKEN = { group: 'tables.tenant-proxy.test', plural: `brokenprobes${suffix}`, kind: `BrokenProbe${suffix.toUpperCase()}` };
const PROBE_COLUMNS: CrdPrinterColumn[] = [
  { name: 'Str', type: 'string', jsonPath: '.spec.str', description: 'a string' },
  { name: 'Int as string', type: 'string', jsonPath: '.spec.num' },
  { name: 'Float as string', type: 'string', jsonPath: '.spec.float', format: 'double' },
  { name: 'Small as string', type: 'string', jsonPath: '.spec.small' },
  { name: 'Map', type: 'string', jsonPath: '.spec.map', priority: 1 },
  { name: 'Array', type: 'string', jsonPath: '.spec.list' },
  { name: 'Null', type: 'string', jsonPath: '.spec.nothing' },
  { name: 'Bool as string', type: 'string', jsonPath: '.spec.flag' },
  { name: 'Int', type: 'integer', jsonPath: '.spec.num', format: 'int32' },
  { name: 'Int of float', type: 'integer', jsonPath: '.spec.float' },
  { name: 'Int of string', type: 'integer', jsonPath: '.spec.str' },
  { name: 'Number', type: 'number', jsonPath: '.spec.float' },
  { name: 'Number of int', type: 'number', jsonPath: '.spec.num' },
  { name: 'Boolean', type: 'boolean', jsonPath: '.spec.flag' },
  { name: 'Boolean of string', type: 'boolean', jsonPath: '.spec.str' },
  { name: 'When', type: 'date', jsonPath: '.spec.when' },
  { name: 'Date of number', type: 'date', jsonPath: '.spec.num' },
  { name: 'First', type: 'string', jsonPath: '.spec.list[0]' },
  { name: 'Last', type: 'string', jsonPath: '.spec.list[-1]' },
  { name: 'Out of range', type: 'string', jsonPath: '.spec.list[10]' },
  { name: 'Slice', type: 'string', jsonPath: '.spec.list[1:3]' },
  { name: 'Step', type: 'string', jsonPath: '.spec.list[::2]' },
  { name: 'All names', type: 'string', jsonPath: '.spec.items[*].name' },
  { name: 'Wildcard', type: 'string', jsonPath: '.spec.items.*' },
  { name: 'Filter', type: 'string', jsonPath: '.spec.items[?(@.type=="b")].value' },
  { name: 'Filter number', type: 'string', jsonPath: '.spec.items[?(@.n >= 2)].type' },
  { name: 'Filter mixed types', type: 'string', jsonPath: '.spec.items[?(@.n=="2")].type' },
  { name: 'Filter exists', type: 'string', jsonPath: '.spec.items[?(@.extra)].type' },
  { name: 'Filter index error', type: 'string', jsonPath: '.spec.items[?(@.tags[3])].type' },
  { name: 'Union', type: 'string', jsonPath: '.spec.items[2,0].type' },
  { name: 'Recursive', type: 'string', jsonPath: '..deepOnly' },
  { name: 'Escaped key', type: 'string', jsonPath: '.metadata.labels.app\\.kubernetes\\.io/name' },
  { name: 'Dict key', type: 'string', jsonPath: ".spec['str']" },
  { name: 'Missing', type: 'string', jsonPath: '.spec.absent.deeper' },
  { name: 'Root field', type: 'string', jsonPath: '.' },
  { name: 'Generate name', type: 'string', jsonPath: '.metadata.generateName' },
];
const BROKEN_COLUMNS: CrdPrinterColumn[] = [
  { name: 'Before', type: 'string', jsonPath: '.spec.str' },
  { name: 'Unparsable', type: 'string', jsonPath: '.spec.list[' },
  { name: 'After', type: 'string', jsonPath: '.spec.str' },
];

function crd(names: typeof PROBE, columns: CrdPrinterColumn[]): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${names.group}` },
    spec: {
      group: names.group,
      scope: 'Cluster',
      names: { plural: names.plural, kind: names.kind, listKind: `${names.kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, additionalPrinterColumns: columns, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
    },
  };
}

const probeSpecs: Obj[] = [
  {
    str: 'héllo "quoted" <b>',
    num: 42,
    float: 1234567.5,
    small: 0.00001,
    map: { z: '<a & b>', a: 1.5, é: true, B: [1, 'two', null], nested: { deepOnly: 'found', empty: {} } },
    list: ['zero', 'one', { two: 2 }, ['three'], 4],
    nothing: null,
    flag: true,
    items: [{ type: 'a', name: 'first', n: 1, tags: [] }, { type: 'b', value: 'bee', name: 'second', n: 2, extra: false, tags: ['x'] }, { type: 'c', n: 3.5, extra: null }],
    when: ago(45_000),
  },
  { str: '42', num: -7, float: -0.25, small: 150000.5, flag: false, list: [], items: { type: 'b' }, when: ago(150_000) },
  { str: '', num: 0, float: 2.75, list: [null], items: [{ type: 'b', value: null }, { type: 'b', value: 'second b' }], when: ago(9.5 * 60_000) },
  { list: null, items: null, map: {}, when: ago(2 * H) },
  { items: [{ type: 'a', n: '2' }, { type: 'b', n: 2 }], when: ago(5.5 * H) },
  { items: [{ type: 'a', tags: [1, 2, 3, 4] }, { type: 'b', tags: [1] }], when: ago(30 * H) },
  { when: ago(3 * D + 5 * H + 60_000) },
  { when: ago(100 * D) },
  { when: ago(800 * D) },
  { when: ago(9 * 365 * D) },
  { when: new Date(Date.now() + H).toISOString() },
  { when: '' },
  { when: 'yesterday' },
  { when: '2021-02-30T00:00:00Z' },
  { when: '0001-01-01T00:00:00Z' },
  { when: '2021-01-01T10:00:00.123456789+02:00' },
  { when: '2021-01-01T10:00:00,5Z' },
  { when: 'null' },
  { when: 1_600_000_000 },
];

const kube = (apiVersion: string, kind: string, name: string, rest: Obj = {}, metadata: Obj = {}): KubeObject => ({ apiVersion, kind, metadata: { name, labels: labels(), ...metadata }, ...rest });
const hostPath = (p: string): Obj => ({ hostPath: { path: `/tmp/${p}` } });

async function createFixtures(ctx: Context): Promise<void> {
  const admin = ctx.cp.admin;
  const create = async (obj: KubeObject, status?: Obj): Promise<KubeObject> => {
    const created = await apply(admin, obj);
    ctx.created.push(created);
    return status ? patch(admin, created, { status }, 'status') : created;
  };
  for (const name of ['ns-a', 'ns-b']) await create(kube('v1', 'Namespace', n(name)));

  const ready = (status: string) => ({ type: 'Ready', status, reason: 'Probe', message: 'probe' });
  await create(kube('v1', 'Node', n('node-roles'), { spec: { unschedulable: true } }, { labels: labels({ 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/master': '', 'kubernetes.io/role': 'infra' }) }), {
    conditions: [{ type: 'MemoryPressure', status: 'False' }, ready('True')],
    addresses: [{ type: 'Hostname', address: 'h1' }, { type: 'ExternalIP', address: '203.0.113.9' }, { type: 'InternalIP', address: '10.0.0.1' }, { type: 'InternalIP', address: '10.0.0.2' }],
    nodeInfo: { kubeletVersion: 'v1.20.2', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-18-amd64', containerRuntimeVersion: 'containerd://1.6.20', machineID: '', systemUUID: '', bootID: '', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' },
  });
  await create(kube('v1', 'Node', n('node-bare')));
  await create(kube('v1', 'Node', n('node-notready'), { spec: { unschedulable: true } }, { labels: labels({ 'kubernetes.io/role': '', 'node-role.kubernetes.io/worker': 'yes' }) }), { conditions: [ready('Unknown')], addresses: [{ type: 'ExternalIP', address: '198.51.100.1' }] });
  await create(kube('v1', 'Node', n('node-twice')), { conditions: [ready('False'), { type: 'DiskPressure', status: 'True' }, ready('True')] });

  const sc = await create(kube('storage.k8s.io/v1', 'StorageClass', n('sc-default'), { provisioner: 'example.com/fast', reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer', allowVolumeExpansion: true, parameters: { type: 'ssd' } }, { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } }));
  await create(kube('storage.k8s.io/v1', 'StorageClass', n('sc-plain'), { provisioner: 'example.com/slow' }));
  await create(kube('storage.k8s.io/v1', 'StorageClass', n('sc-beta'), { provisioner: 'kubernetes.io/no-provisioner', allowVolumeExpansion: false }, { annotations: { 'storageclass.beta.kubernetes.io/is-default-class': 'true' } }));
  await create(kube('storage.k8s.io/v1', 'StorageClass', n('sc-not'), { provisioner: 'example.com/x' }, { annotations: { 'storageclass.kubernetes.io/is-default-class': 'false' } }));

  const pvSpec = (extra: Obj): Obj => ({ spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], ...hostPath('pv'), ...extra } });
  await create(kube('v1', 'PersistentVolume', n('pv-bound'), pvSpec({ capacity: { storage: '1.5Gi' }, accessModes: ['ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOnce', 'ReadOnlyMany'], persistentVolumeReclaimPolicy: 'Delete', claimRef: { namespace: n('ns-a'), name: 'data' }, storageClassName: 'fast', volumeMode: 'Block' })), { phase: 'Bound' });
  await create(kube('v1', 'PersistentVolume', n('pv-beta'), pvSpec({ storageClassName: 'new' }), { annotations: { 'volume.beta.kubernetes.io/storage-class': 'legacy' } }));
  await create(kube('v1', 'PersistentVolume', n('pv-failed'), pvSpec({ capacity: { storage: '500M' }, accessModes: ['ReadOnlyMany'], claimRef: { name: 'orphan' }, storageClassName: 'x' }), { annotations: { 'volume.beta.kubernetes.io/storage-class': '' } }), { phase: 'Failed', reason: 'Broken', message: 'recycler failed' });
  const terminating = await create(kube('v1', 'PersistentVolume', n('pv-terminating'), pvSpec({})), { phase: 'Released' });
  await patch(admin, terminating, { metadata: { finalizers: ['tenant-proxy.test/hold'] } });
  await remove(admin, terminating);

  await create(kube('networking.k8s.io/v1', 'IngressClass', n('ic-params'), { spec: { controller: 'example.com/ingress', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } } }));
  await create(kube('networking.k8s.io/v1', 'IngressClass', n('ic-core-params'), { spec: { controller: 'example.com/ingress', parameters: { kind: 'ConfigMap', name: 'settings' } } }));
  await create(kube('networking.k8s.io/v1', 'IngressClass', n('ic-plain'), { spec: { controller: 'example.com/plain' } }, { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }));

  await create(kube('scheduling.k8s.io/v1', 'PriorityClass', n('pc-default'), { value: 1000, globalDefault: true, description: 'the default' }));
  await create(kube('scheduling.k8s.io/v1', 'PriorityClass', n('pc-negative'), { value: -5, preemptionPolicy: 'Never' }));
  await create(kube('scheduling.k8s.io/v1', 'PriorityClass', n('pc-max'), { value: 1_000_000_000 }));

  await create(kube('node.k8s.io/v1', 'RuntimeClass', n('rc-runc'), { handler: 'runc' }, { ownerReferences: [{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: sc.metadata.name, uid: sc.metadata.uid, controller: true, blockOwnerDeletion: true }] }));
  await create(kube('node.k8s.io/v1', 'RuntimeClass', n('rc-kata'), { handler: 'kata-fc', overhead: { podFixed: { memory: '120Mi' } }, scheduling: { nodeSelector: { sandbox: 'kata' } } }));

  await create(kube('capsule.clastix.io/v1beta2', 'Tenant', n('tnt-full'), { spec: { owners: [{ kind: 'User', name: 'alice' }], namespaceOptions: { quota: 3 }, nodeSelector: { zone: 'b<1>', pool: 'x&y' } } }, { annotations: { note: 'full' } }), { state: 'Active', size: 2 });
  await create(kube('capsule.clastix.io/v1beta2', 'Tenant', n('tnt-bare'), { spec: { owners: [{ kind: 'Group', name: 'devs' }] } }));
  await create(kube('capsule.clastix.io/v1beta2', 'Tenant', n('tnt-cordoned'), { spec: { owners: [{ kind: 'User', name: 'bob' }], nodeSelector: {} } }), { state: 'Cordoned', size: 0 });

  const accepted = (status: string) => ({ type: 'Accepted', status, reason: 'Probe', message: '', lastTransitionTime: ago(60_000) });
  await create(kube('gateway.networking.k8s.io/v1', 'GatewayClass', n('gc-accepted'), { spec: { controllerName: 'example.com/gateway', description: 'Hello <world> & co' } }, { ownerReferences: [{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: sc.metadata.name, uid: sc.metadata.uid }] }), { conditions: [{ type: 'Programmed', status: 'True' }, accepted('True')] });
  await create(kube('gateway.networking.k8s.io/v1', 'GatewayClass', n('gc-new'), { spec: { controllerName: 'example.com/gateway' } }));
  await create(kube('gateway.networking.k8s.io/v1', 'GatewayClass', n('gc-rejected'), { spec: { controllerName: 'example.com/other' } }), { conditions: [accepted('False')] });

  await create(kube('capsule.clastix.io/v1beta1', 'GlobalProxySettings', n('gps'), { spec: { rules: [] } }));
  for (const name of ['cr-a', 'cr-b']) await create(kube('rbac.authorization.k8s.io/v1', 'ClusterRole', n(name), { rules: [] }));

  for (const names of [PROBE, BROKEN]) {
    const def = crd(names, names === PROBE ? PROBE_COLUMNS : BROKEN_COLUMNS);
    await admin.json('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: def });
    ctx.created.push(def);
  }
  await waitEstablished(ctx.cp, [PROBE, BROKEN]);
  const probe = (spec: Obj, metadata: Obj): Obj => ({ apiVersion: `${PROBE.group}/v1`, kind: PROBE.kind, metadata: { labels: labels({ 'app.kubernetes.io/name': 'probe' }), ...metadata }, spec });
  for (const [i, spec] of probeSpecs.entries()) await admin.json('POST', `/apis/${PROBE.group}/v1/${PROBE.plural}`, { body: probe(spec, { name: `probe-${String(i).padStart(2, '0')}` }) });
  await admin.json('POST', `/apis/${PROBE.group}/v1/${PROBE.plural}`, { body: probe({ str: 'generated' }, { generateName: 'probe-gen-', labels: labels() }) });
  await admin.json('POST', `/apis/${BROKEN.group}/v1/${BROKEN.plural}`, { body: { apiVersion: `${BROKEN.group}/v1`, kind: BROKEN.kind, metadata: { name: 'broken', labels: labels() }, spec: { str: 'x', list: [1] } } });
}

async function waitEstablished(cp: ControlPlane, crds: (typeof PROBE)[]): Promise<void> {
  for (const c of crds) {
    for (let i = 0; ; i++) {
      const r = await cp.admin.request('GET', `/apis/${c.group}/v1/${c.plural}`);
      if (r.status === 200) break;
      if (i > 100) throw new Error(`CRD ${c.plural} not served`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function cleanUp(ctx: Context): Promise<void> {
  for (const obj of ctx.created.splice(0).reverse()) {
    if (obj.kind === 'PersistentVolume') await patch(ctx.cp.admin, obj, { metadata: { finalizers: null } }).catch(() => undefined);
    if (obj.kind === 'CustomResourceDefinition') await ctx.cp.admin.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${obj.metadata.name}`);
    else await remove(ctx.cp.admin, obj);
  }
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.created = [];
  try {
    await createFixtures(ctx);
  } catch (err) {
    await cleanUp(ctx); // uvu runs no after hook when before fails
    throw err;
  }
});

test.after(cleanUp);

// ── comparison ──

/** The apiserver's Table equals ours at t0 or, cell by cell, at t1 (a tick during the request). */
function assertSameTable(actual: Obj, at0: Obj, at1: Obj, label: string): void {
  const rows = (t: Obj): { cells: unknown[] }[] => (Array.isArray(t.rows) ? (t.rows as { cells: unknown[] }[]) : []);
  const normalized = structuredClone(actual);
  rows(normalized).forEach((row, i) =>
    row.cells.forEach((cell, j) => {
      const c0 = rows(at0)[i]?.cells[j];
      if (!same(cell, c0) && same(cell, rows(at1)[i]?.cells[j])) row.cells[j] = c0;
    }),
  );
  assert.equal(normalized, at0, label);
  assert.is(JSON.stringify(normalized), JSON.stringify(at0), `${label}: key order`);
}

interface Case { label: string; path: string; printer: TablePrinter; query?: string; single?: boolean; includeObjects?: (IncludeObject | undefined)[] }

async function check(cp: ControlPlane, c: Case): Promise<number> {
  let rowCount = 0;
  for (const includeObject of c.includeObjects ?? ['None', 'Metadata', 'Object', undefined]) {
    const query = [c.query, includeObject && `includeObject=${includeObject}`].filter(Boolean);
    const plain = await cp.admin.json('GET', `${c.path}${c.query ? `?${c.query}` : ''}`);
    const listMeta = plain.metadata as Obj;
    if (!c.single) query.push(`resourceVersion=${String(listMeta.resourceVersion)}`, 'resourceVersionMatch=Exact');
    const t0 = Date.now();
    const actual = await cp.admin.json('GET', `${c.path}?${query.join('&')}`, { headers: TABLE_ACCEPT });
    const t1 = Date.now();
    const listKind = String(plain.kind).replace(/List$/, '');
    const objects = c.single ? [plain] : (plain.items as Obj[]).map((item) => ('kind' in item ? item : { kind: listKind, apiVersion: plain.apiVersion, ...item }));
    const options = { includeObject: includeObject ?? 'Metadata', listMeta: c.single ? { resourceVersion: listMeta.resourceVersion } : listMeta, withColumnDefinitions: true };
    const ours = (nowMs: number) => tableFor(c.printer, objects, { ...options, nowMs });
    assertSameTable(actual, ours(t0), ours(t1), `${c.label} (includeObject=${includeObject ?? 'default'})`);
    rowCount = objects.length;
  }
  return rowCount;
}

async function checkKind(cp: ControlPlane, label: string, collection: string, printer: TablePrinter, expectedMine: number): Promise<void> {
  assert.is(await check(cp, { label: `${label}: mine`, path: collection, printer, query: mine }), expectedMine, `${label}: fixtures listed`);
  await check(cp, { label: `${label}: all`, path: collection, printer, includeObjects: ['Metadata'] });
  await check(cp, { label: `${label}: page`, path: collection, printer, query: 'limit=2', includeObjects: ['None'] });
  await check(cp, { label: `${label}: none`, path: collection, printer, query: `${mine}-nothing`, includeObjects: ['None'] });
  const items = (await cp.admin.json<{ items: KubeObject[] }>('GET', `${collection}?${mine}`)).items;
  for (const item of items) await check(cp, { label: `${label}: ${item.metadata.name}`, path: `${collection}/${item.metadata.name}`, printer, single: true });
}

test('namespaces', async ({ cp }) => checkKind(cp, 'namespaces', '/api/v1/namespaces', printerFor('', 'namespaces'), 2));
test('nodes: status, roles, wide columns', async ({ cp }) => checkKind(cp, 'nodes', '/api/v1/nodes', printerFor('', 'nodes'), 4));
test('persistentvolumes: claims, phases, classes, terminating', async ({ cp }) => checkKind(cp, 'persistentvolumes', '/api/v1/persistentvolumes', printerFor('', 'persistentvolumes'), 4));
test('storageclasses: (default), defaults', async ({ cp }) => checkKind(cp, 'storageclasses', '/apis/storage.k8s.io/v1/storageclasses', printerFor('storage.k8s.io', 'storageclasses'), 4));
test('ingressclasses: parameters', async ({ cp }) => checkKind(cp, 'ingressclasses', '/apis/networking.k8s.io/v1/ingressclasses', printerFor('networking.k8s.io', 'ingressclasses'), 3));
test('priorityclasses: integer and boolean cells', async ({ cp }) => checkKind(cp, 'priorityclasses', '/apis/scheduling.k8s.io/v1/priorityclasses', printerFor('scheduling.k8s.io', 'priorityclasses'), 3));
test('runtimeclasses', async ({ cp }) => checkKind(cp, 'runtimeclasses', '/apis/node.k8s.io/v1/runtimeclasses', printerFor('node.k8s.io', 'runtimeclasses'), 2));
test('clusterroles: the default printer (Created At, rows null when empty)', async ({ cp }) => checkKind(cp, 'clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterroles', printerFor('rbac.authorization.k8s.io', 'clusterroles'), 2));

async function crdColumns(cp: ControlPlane, name: string, version: string): Promise<CrdPrinterColumn[]> {
  const def = await cp.admin.json<{ spec: { versions: { name: string; additionalPrinterColumns?: CrdPrinterColumn[] }[] } }>('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
  return def.spec.versions.find((v) => v.name === version)?.additionalPrinterColumns ?? [];
}

test('tenants (capsule v1beta2 printer columns)', async ({ cp }) => {
  await checkKind(cp, 'tenants', '/apis/capsule.clastix.io/v1beta2/tenants', printerFor('capsule.clastix.io', 'tenants', await crdColumns(cp, 'tenants.capsule.clastix.io', 'v1beta2')), 3);
});

test('gatewayclasses (filter on conditions, priority 1)', async ({ cp }) => {
  await checkKind(cp, 'gatewayclasses', '/apis/gateway.networking.k8s.io/v1/gatewayclasses', printerFor('gateway.networking.k8s.io', 'gatewayclasses', await crdColumns(cp, 'gatewayclasses.gateway.networking.k8s.io', 'v1')), 3);
});

test('globalproxysettings: a CRD without printer columns gets Name and Age', async ({ cp }) => {
  const columns = await crdColumns(cp, 'globalproxysettings.capsule.clastix.io', 'v1beta1');
  assert.equal(columns, []);
  await checkKind(cp, 'globalproxysettings', '/apis/capsule.clastix.io/v1beta1/globalproxysettings', printerFor('capsule.clastix.io', 'globalproxysettings', columns), 1);
});

test('probe CRD: JSONPath columns of every type, dates of every age', async ({ cp }) => {
  const printer = printerFor(PROBE.group, PROBE.plural, PROBE_COLUMNS);
  assert.is(printer.columns.length, PROBE_COLUMNS.length + 1);
  await checkKind(cp, 'probes', `/apis/${PROBE.group}/v1/${PROBE.plural}`, printer, probeSpecs.length + 1);
});

test('probe CRD: an unparsable JSONPath ends the columns', async ({ cp }) => {
  const printer = printerFor(BROKEN.group, BROKEN.plural, BROKEN_COLUMNS);
  assert.equal(printer.columns.map((c) => c.name), ['Name', 'Before']);
  await checkKind(cp, 'brokenprobes', `/apis/${BROKEN.group}/v1/${BROKEN.plural}`, printer, 1);
});

test('watch: one row per event, column definitions only in the first', async ({ cp }) => {
  const collection = '/apis/node.k8s.io/v1/runtimeclasses';
  const printer = printerFor('node.k8s.io', 'runtimeclasses');
  const plain = (await cp.admin.json<{ items: Obj[] }>('GET', `${collection}?${mine}`)).items;
  const t0 = Date.now();
  const { req, res } = await cp.admin.stream('GET', `${collection}?${mine}&watch=true&resourceVersion=0`, { headers: TABLE_ACCEPT });
  const events: { type: string; object: Obj }[] = [];
  let buffer = '';
  for await (const chunk of res) {
    buffer += String(chunk);
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      events.push(JSON.parse(buffer.slice(0, i)) as { type: string; object: Obj });
      buffer = buffer.slice(i + 1);
    }
    if (events.length >= plain.length) break;
  }
  req.destroy();
  const t1 = Date.now();
  assert.is(events.length, plain.length);
  for (const [i, event] of events.entries()) {
    assert.is(event.type, 'ADDED');
    const rowName = ((event.object.rows as { object: { metadata: { name: string } } }[])[0]?.object.metadata.name) ?? '';
    const object = plain.find((o) => (o.metadata as { name: string }).name === rowName) ?? {};
    const options = { includeObject: 'Metadata' as const, listMeta: { resourceVersion: (object.metadata as Obj).resourceVersion }, withColumnDefinitions: i === 0 };
    assertSameTable(event.object, tableFor(printer, [object], { ...options, nowMs: t0 }), tableFor(printer, [object], { ...options, nowMs: t1 }), `watch event ${i}`);
  }
});

test.run();
