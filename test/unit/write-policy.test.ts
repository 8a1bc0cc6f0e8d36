// The meaning of Update and Delete grants, as a table of (object before, object after) → fields refused.
// Tenants: `mine` (the writer's: pool=a) and `other` (zone=z); a node labelled pool=a is mine alone, one
// also labelled zone=z is shared.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { NODES, PERSISTENT_VOLUMES, PRIORITY_CLASSES, STORAGE_CLASSES, type ResourceType } from '../../streams/resource-type.ts';
import { changedFields, deleteViolation, updateViolations, type WriteJudge } from '../../src/serve/write-policy.ts';
import type { Tenant } from '../../src/tenancy/capsule.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { suite } from '../support/suite.ts';

const test = suite('write policy');

const directory = new TenantDirectory();
const tenant = (name: string, spec: Record<string, unknown>): Tenant => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec } as Tenant);
directory.setTenant('mine', tenant('mine', { nodeSelector: { pool: 'a' }, storageClasses: { matchLabels: { sc: 'a' } }, priorityClasses: { allowed: ['gold'] } }));
directory.setTenant('other', tenant('other', { nodeSelector: { zone: 'z' }, storageClasses: { matchLabels: { sc2: 'b' } } }));

const judge = (type: ResourceType): WriteJudge => ({ type, ownTenants: new Set(['mine']), directory });
const object = (kind: string, name: string, labels: Record<string, string>, rest: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name, uid: 'u', resourceVersion: '5', labels }, ...rest });
const with_ = (o: KubeObject, change: (copy: KubeObject) => void): KubeObject => {
  const copy = structuredClone(o);
  change(copy);
  copy.metadata.resourceVersion = '5';
  return copy;
};

const node = object('Node', 'n1', { pool: 'a' }, { spec: {} });
const shared = object('Node', 'n2', { pool: 'a', zone: 'z' }, { spec: {} });

test('changed fields: labels and annotations by key, metadata and spec by field, server-set fields ignored', () => {
  const after = with_(node, (o) => {
    o.metadata.labels = { pool: 'a', x: '1' };
    o.metadata.annotations = { note: 'n' };
    o.metadata.managedFields = [{ manager: 'kubectl' }];
    o.metadata.generation = 2;
    (o.spec as Record<string, unknown>).unschedulable = true;
    o.status = { phase: 'x' };
  });
  assert.equal(changedFields(node, after).sort(), ['metadata.annotations[note]', 'metadata.labels[x]', 'spec.unschedulable']);
});

test('nodes: cordon, labels and taints on an unshared node; nodeSelector keys, taints on a shared node and other fields refused', () => {
  const cases: [string, KubeObject, KubeObject, string[]][] = [
    ['cordon', node, with_(node, (o) => ((o.spec as Record<string, unknown>).unschedulable = true)), []],
    ['a label', node, with_(node, (o) => (o.metadata.labels = { pool: 'a', x: '1' })), []],
    ['a taint, mine alone', node, with_(node, (o) => ((o.spec as Record<string, unknown>).taints = [{ key: 'k', effect: 'NoSchedule' }])), []],
    ['a taint, shared', shared, with_(shared, (o) => ((o.spec as Record<string, unknown>).taints = [{ key: 'k', effect: 'NoSchedule' }])), ['spec.taints']],
    ['my own selector key', node, with_(node, (o) => (o.metadata.labels = { pool: 'b' })), ['metadata.labels[pool]']],
    ["another tenant's selector key", node, with_(node, (o) => (o.metadata.labels = { pool: 'a', zone: 'z' })), ['metadata.labels[zone]']],
    ['podCIDR', node, with_(node, (o) => ((o.spec as Record<string, unknown>).podCIDR = '10.0.0.0/24')), ['spec.podCIDR']],
    ['configSource', node, with_(node, (o) => ((o.spec as Record<string, unknown>).configSource = {})), ['spec.configSource']],
    ['finalizers', node, with_(node, (o) => (o.metadata.finalizers = ['x'])), ['metadata.finalizers']],
  ];
  for (const [what, before, after, refused] of cases) assert.equal(updateViolations(judge(NODES), before, after).map((v) => v.field), refused, what);
});

test('classes and volumes: default markers, globalDefault, moves into another view, claims, reclaim policy and tenant label refused', () => {
  const sc = object('StorageClass', 'fast', { sc: 'a' });
  const pc = object('PriorityClass', 'gold', {}, { value: 10 });
  const pv = object('PersistentVolume', 'v', { 'capsule.clastix.io/tenant': 'mine' }, { spec: { persistentVolumeReclaimPolicy: 'Retain' } });
  const cases: [string, ResourceType, KubeObject, KubeObject, string[]][] = [
    ['class label', STORAGE_CLASSES, sc, with_(sc, (o) => (o.metadata.labels = { sc: 'a', x: '1' })), []],
    ['default class', STORAGE_CLASSES, sc, with_(sc, (o) => (o.metadata.annotations = { 'storageclass.kubernetes.io/is-default-class': 'true' })), ['metadata.annotations[storageclass.kubernetes.io/is-default-class]']],
    ["into another tenant's view", STORAGE_CLASSES, sc, with_(sc, (o) => (o.metadata.labels = { sc: 'a', sc2: 'b' })), ['metadata.labels[sc2]']],
    ['globalDefault', PRIORITY_CLASSES, pc, with_(pc, (o) => (o.globalDefault = true)), ['globalDefault']],
    ['volume label', PERSISTENT_VOLUMES, pv, with_(pv, (o) => (o.metadata.labels = { ...o.metadata.labels, x: '1' })), []],
    ['claimRef', PERSISTENT_VOLUMES, pv, with_(pv, (o) => ((o.spec as Record<string, unknown>).claimRef = { namespace: 'n', name: 'c' })), ['spec.claimRef']],
    ['reclaim policy', PERSISTENT_VOLUMES, pv, with_(pv, (o) => ((o.spec as Record<string, unknown>).persistentVolumeReclaimPolicy = 'Delete')), ['spec.persistentVolumeReclaimPolicy']],
    ['tenant label', PERSISTENT_VOLUMES, pv, with_(pv, (o) => (o.metadata.labels = { 'capsule.clastix.io/tenant': 'other' })), ['metadata.labels[capsule.clastix.io/tenant]']],
  ];
  for (const [what, type, before, after, refused] of cases) assert.equal(updateViolations(judge(type), before, after).map((v) => v.field), refused, what);
});

test('deletes: only what no other tenant sees', () => {
  assert.is(deleteViolation(judge(NODES), node), undefined);
  assert.ok(deleteViolation(judge(NODES), shared));
  assert.ok(deleteViolation(judge(STORAGE_CLASSES), object('StorageClass', 's', { sc: 'a', sc2: 'b' })));
});

test.run();
