// Randomized oracle for the projections (seeded, reproducible: ORACLE_SEED, ORACLE_STEPS). Thousands of
// random steps over tenants, owners, grants, labels, classes, namespaces, bindings, ProxySettings,
// GlobalProxySettings, nodes and persistent volumes, on in-memory streams. After every step, for every
// identity and kind: the proxy's view equals a brute-force recomputation from the raw state (written
// independently of the directory and scope code); a watcher that started on the identity's view and
// followed its events (including moves between views when access changes) holds exactly that list; and
// no event ever carried an object outside what the identity could see at that moment.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import { GLOBAL_PROXY_SETTINGS, NAMESPACES, NODES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PROXY_SETTINGS, ROLE_BINDINGS, STORAGE_CLASSES, TENANTS, type ResourceType } from '../../streams/resource-type.ts';
import type { Identity } from '../../src/basics/identity.ts';
import { EVERYTHING, NOTHING, parseLabelSelectorObject, type LabelSelector } from '../../src/query/label-selector.ts';
import { WatchHub } from '../../src/serve/watch-hub.ts';
import { Watcher } from '../../src/serve/watcher.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { scopeFor } from '../../src/tenancy/scope.ts';
import type { EventBytes } from '../../src/views/encoder.ts';
import { Projections } from '../../src/views/projections.ts';
import { seededRandom } from '../support/seeded-random.ts';
import { RecordingSink } from '../support/recording-sink.ts';
import { suite } from '../support/suite.ts';

const SEED = Number(process.env.ORACLE_SEED ?? 20261122);
const STEPS = Number(process.env.ORACLE_STEPS ?? 3000);
const test = suite('projections oracle');

const USERS = ['u0', 'u1', 'u2', 'u3', 'system:serviceaccount:sa-ns:robot'];
const GROUPS = ['g0', 'g1', 'g2'];
const TENANT_NAMES = ['t0', 't1', 't2', 't3'];
const NAMESPACE_NAMES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
const CLASS_NAMES = ['cephfs', 'custom', 'standard', 'glusterfs', 'zol', 'fast'];
const NODE_NAMES = ['node-a', 'node-b', 'node-c', 'node-d'];
const PV_NAMES = ['pv-0', 'pv-1', 'pv-2', 'pv-3', 'pv-4'];
const LABEL_VALUES = ['a', 'b', 'c'];
const KINDS = ['Nodes', 'StorageClasses', 'PersistentVolumes'] as const;
const OPS = ['List', 'Update', 'Delete'] as const;

const IDENTITIES: Identity[] = [
  { user: 'u0', groups: [], extra: {} },
  { user: 'u1', groups: ['g0'], extra: {} },
  { user: 'u2', groups: ['g1', 'g2'], extra: {} },
  { user: 'u3', groups: ['g2'], extra: {} },
  { user: 'system:serviceaccount:sa-ns:robot', groups: ['system:serviceaccounts'], extra: {} },
  { user: 'nobody', groups: ['g9'], extra: {} },
];
const SERVED: ResourceType[] = [NAMESPACES, NODES, STORAGE_CLASSES, PERSISTENT_VOLUMES, TENANTS];

class Generator {
  readonly #random: () => number;
  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T;
  }
  chance(p: number): boolean {
    return this.#random() < p;
  }
  some<T>(items: readonly T[], p = 0.3): T[] {
    return items.filter(() => this.chance(p));
  }
  labels(keys = ['tier', 'zone']): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of keys) if (this.chance(0.5)) out[k] = this.pick(LABEL_VALUES);
    return out;
  }
  subject(): { kind: string; name: string; namespace?: string } {
    const r = this.#random();
    if (r < 0.45) return { kind: 'User', name: this.pick(USERS.slice(0, 4)) };
    if (r < 0.85) return { kind: 'Group', name: this.pick(GROUPS) };
    return { kind: 'ServiceAccount', name: 'system:serviceaccount:sa-ns:robot' };
  }
  proxySettings(): { kind: string; operations: string[] }[] {
    return this.some(KINDS, 0.4).map((kind) => ({ kind, operations: this.some(OPS, 0.5) }));
  }
  selectorSpec(): Record<string, unknown> | undefined {
    const r = this.#random();
    if (r < 0.3) return undefined;
    if (r < 0.4) return {};
    if (r < 0.7) return { matchLabels: { tier: this.pick(LABEL_VALUES) } };
    return { matchExpressions: [{ key: 'zone', operator: this.pick(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: this.some(LABEL_VALUES, 0.5) }] };
  }
  classRules(): Record<string, unknown> | undefined {
    if (this.chance(0.25)) return undefined;
    const rules: Record<string, unknown> = {};
    if (this.chance(0.5)) rules.allowed = this.some(CLASS_NAMES, 0.3);
    if (this.chance(0.3)) rules.default = this.pick(CLASS_NAMES);
    if (this.chance(0.4)) rules.allowedRegex = this.pick(['\\w+fs', '^c', 'st', '(']);
    if (this.chance(0.3)) rules.matchLabels = { tier: this.pick(LABEL_VALUES) };
    if (this.chance(0.2)) rules.matchExpressions = [{ key: 'zone', operator: 'In', values: this.some(LABEL_VALUES, 0.6) }];
    return rules;
  }
  clusterResources(): Record<string, unknown>[] {
    return Array.from({ length: this.pick([0, 0, 1, 2]) }, () => ({
      apiGroups: [this.pick(['', '*', 'storage.k8s.io', 'storage.k8s.io/v1'])],
      resources: [this.pick(['namespaces', 'nodes', 'storageclasses', 'persistentvolumes', '*'])],
      ...(this.chance(0.5) ? { operations: [this.pick(['List', 'Get'])] } : {}),
      selector: this.selectorSpec() ?? { matchLabels: { tier: 'a' } },
    }));
  }
}

// ── the brute-force oracle: the rules, computed from the raw state ──

type State = { get(type: ResourceType): KubeObject[] };
const spec = (o: KubeObject) => (o.spec ?? {}) as Record<string, unknown>;
const labels = (o: KubeObject) => o.metadata.labels ?? {};

function subjectMatches(s: { kind?: string; name?: string; namespace?: string }, id: Identity): boolean {
  if (s.kind === 'User') return s.name === id.user;
  if (s.kind === 'Group') return id.groups.includes(s.name ?? '');
  if (s.kind === 'ServiceAccount') return (s.namespace ? `system:serviceaccount:${s.namespace}:${s.name}` : s.name) === id.user;
  return false;
}

function tenantOf(state: State, namespace: string | undefined): string | undefined {
  if (namespace === undefined) return undefined;
  const ns = state.get(NAMESPACES).find((n) => n.metadata.name === namespace);
  if (!ns) return undefined;
  const label = labels(ns)['capsule.clastix.io/tenant'];
  if (label) return label;
  const ref = ns.metadata.ownerReferences?.find((r) => r.kind === 'Tenant');
  if (ref) return ref.name;
  return state.get(TENANTS).find((t) => ((t.status as { namespaces?: string[] } | undefined)?.namespaces ?? []).includes(namespace))?.metadata.name;
}

interface Rule { groups: string[]; resources: string[]; list: boolean; get: boolean; selector: LabelSelector }

function compile(cr: Record<string, unknown>): Rule {
  const ops = (cr.operations as string[] | undefined) ?? [];
  const list = ops.length === 0 || ops.includes('List');
  let selector: LabelSelector;
  try {
    selector = parseLabelSelectorObject(cr.selector as never);
  } catch {
    selector = NOTHING;
  }
  return { groups: (cr.apiGroups as string[]) ?? [], resources: (cr.resources as string[]) ?? [], list, get: list || ops.includes('Get'), selector };
}

function ruleNames(rule: Rule, type: ResourceType): boolean {
  const g = rule.groups.some((p) => p === '*' || p === type.group || p === `${type.group}/${type.version}` || p === `${type.group}/*`);
  return g && rule.resources.some((r) => r === '*' || r === type.resource);
}

interface BruteAccess { tenants: Map<string, Map<string, Set<string>>>; members: Set<string>; rules: Rule[] }

function bruteAccess(state: State, id: Identity): BruteAccess {
  const access: BruteAccess = { tenants: new Map(), members: new Set(), rules: [] };
  const grant = (tenant: string, kind: string, ops: string[]) => {
    let g = access.tenants.get(tenant);
    if (!g) access.tenants.set(tenant, (g = new Map()));
    if (!kind) return;
    let s = g.get(kind);
    if (!s) g.set(kind, (s = new Set()));
    for (const op of ops) s.add(op);
    if (ops.length > 0) s.add('List');
  };
  for (const t of state.get(TENANTS)) {
    const owners = [...((spec(t).owners as Record<string, unknown>[]) ?? []), ...(((t.status as { owners?: Record<string, unknown>[] }) ?? {}).owners ?? [])];
    for (const owner of owners) {
      if (!subjectMatches(owner, id)) continue;
      const name = t.metadata.name ?? '';
      grant(name, '', []);
      for (const ps of (owner.proxySettings as { kind: string; operations: string[] }[]) ?? []) grant(name, ps.kind, ps.operations ?? []);
      for (const [key, value] of Object.entries(t.metadata.annotations ?? {})) {
        const m = /^capsule\.clastix\.io\/enable-(node|storageclass)-(listing|update|deletion)$/.exec(key);
        if (!m || !(value === 'true' || value.split(',').includes(String(owner.name)))) continue;
        grant(name, m[1] === 'node' ? 'Nodes' : 'StorageClasses', [m[2] === 'listing' ? 'List' : m[2] === 'update' ? 'Update' : 'Delete']);
      }
    }
  }
  for (const ps of state.get(PROXY_SETTINGS)) {
    // Grants follow status.namespaces alone (a namespace label or ownerReference is editable by its admin).
    const tenant = state.get(TENANTS).find((t) => ((t.status as { namespaces?: string[] } | undefined)?.namespaces ?? []).includes(ps.metadata.namespace ?? '\0'))?.metadata.name;
    if (!tenant || !state.get(TENANTS).some((t) => t.metadata.name === tenant)) continue;
    for (const s of ((spec(ps).subjects as Record<string, unknown>[]) ?? [])) {
      if (!subjectMatches(s, id)) continue;
      grant(tenant, '', []);
      for (const g of (s.proxySettings as { kind: string; operations: string[] }[]) ?? []) grant(tenant, g.kind, g.operations ?? []);
      for (const cr of (s.clusterResources as Record<string, unknown>[]) ?? []) access.rules.push(compile(cr));
    }
  }
  for (const gps of state.get(GLOBAL_PROXY_SETTINGS)) {
    for (const rule of ((spec(gps).rules as Record<string, unknown>[]) ?? [])) {
      if (!((rule.subjects as Record<string, unknown>[]) ?? []).some((s) => subjectMatches(s, id))) continue;
      for (const cr of (rule.clusterResources as Record<string, unknown>[]) ?? []) access.rules.push(compile(cr));
    }
  }
  for (const rb of state.get(ROLE_BINDINGS)) {
    if (!tenantOf(state, rb.metadata.namespace)) continue;
    if (((rb.subjects as Record<string, unknown>[]) ?? []).some((s) => subjectMatches(s, id))) access.members.add(rb.metadata.namespace ?? '');
  }
  return access;
}

function classRuleMatches(rules: Record<string, unknown> | undefined, o: KubeObject): boolean {
  if (!rules) return false;
  const name = o.metadata.name ?? '';
  if ((rules.allowed as string[] | undefined)?.includes(name) || rules.default === name) return true;
  if (typeof rules.allowedRegex === 'string') {
    try {
      if (new RegExp(rules.allowedRegex).test(name)) return true;
    } catch {
      /* an invalid regex selects nothing */
    }
  }
  if (rules.matchLabels === undefined && rules.matchExpressions === undefined) return false;
  let selector: LabelSelector;
  try {
    selector = parseLabelSelectorObject({ matchLabels: rules.matchLabels as Record<string, string>, matchExpressions: rules.matchExpressions as never });
  } catch {
    return false;
  }
  return selector.matches(labels(o));
}

/** What `id` should see of `type` right now, or undefined when its requests are forwarded. */
function bruteView(state: State, id: Identity, type: ResourceType): Set<string> | undefined {
  const access = bruteAccess(state, id);
  const kind = { nodes: 'Nodes', storageclasses: 'StorageClasses', persistentvolumes: 'PersistentVolumes' }[type.resource];
  const tenants = type.resource === 'namespaces' || type.resource === 'tenants' ? [...access.tenants.keys()] : [...access.tenants].filter(([, g]) => kind !== undefined && g.get(kind)?.has('List')).map(([t]) => t);
  const members = type.resource === 'namespaces' ? access.members : new Set<string>();
  const rules = access.rules.filter((r) => ruleNames(r, type));
  const isTenantUser = access.tenants.size > 0 || access.members.size > 0 || access.rules.length > 0;
  if (!isTenantUser || (tenants.length === 0 && members.size === 0 && rules.length === 0)) return undefined;
  const visible = new Set<string>();
  for (const o of state.get(type)) {
    const name = o.metadata.name ?? '';
    let ok = rules.some((r) => r.list && r.selector.matches(labels(o)));
    if (!ok) {
      if (type.resource === 'namespaces') ok = members.has(name) || tenants.includes(tenantOf(state, name) ?? '\0');
      else if (type.resource === 'tenants') ok = tenants.includes(name);
      else if (type.resource === 'nodes') ok = tenants.some((t) => { const tenant = state.get(TENANTS).find((x) => x.metadata.name === t); return tenant !== undefined && Object.entries((spec(tenant).nodeSelector as Record<string, string>) ?? {}).every(([k, v]) => labels(o)[k] === v); });
      else if (type.resource === 'storageclasses') ok = tenants.some((t) => classRuleMatches(spec(state.get(TENANTS).find((x) => x.metadata.name === t) ?? { metadata: {} }).storageClasses as Record<string, unknown>, o));
      else if (type.resource === 'persistentvolumes') {
        // Bound into a tenant namespace only while that very claim lives (uids match).
        const claim = spec(o).claimRef as { namespace?: string; name?: string; uid?: string } | undefined;
        const live = state.get(PERSISTENT_VOLUME_CLAIMS).find((c) => c.metadata.namespace === claim?.namespace && c.metadata.name === claim?.name);
        const bound = live !== undefined && (claim?.uid === undefined || claim.uid === live.metadata.uid);
        ok = tenants.includes(labels(o)['capsule.clastix.io/tenant'] ?? '\0') || (bound && tenants.includes(tenantOf(state, claim?.namespace) ?? '\0'));
      }
    }
    if (ok) visible.add(name);
  }
  return visible;
}

// ── a watcher's client: applies what it receives ──

/** Applies what it receives to its copy of the view, and notes any object it should not have been sent. */
class ApplyingSink extends RecordingSink {
  readonly objects = new Map<string, KubeObject>();
  readonly violations: string[] = [];
  constructor(readonly check: (type: string, object: KubeObject) => string | undefined) {
    super();
  }
  protected override received(bytes: EventBytes): void {
    const event = JSON.parse(bytes.line.toString('utf8')) as { type: string; object: KubeObject };
    const problem = this.check(event.type, event.object);
    if (problem) this.violations.push(problem);
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.objects.set(event.object.metadata.name ?? '', event.object);
    else if (event.type === 'DELETED') this.objects.delete(event.object.metadata.name ?? '');
  }
}

test(`views equal a brute-force recomputation after each of ${STEPS} random steps (seed ${SEED})`, () => {
  const gen = new Generator(SEED);
  const source = new MemorySource();
  const directory = new TenantDirectory();
  const projections = new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, directory);
  const state: State = { get: (type) => [...source.store(type).list()] };
  const hub = new WatchHub(() => source.clock.now);
  interface Follower { id: Identity; type: ResourceType; sink: ApplyingSink; watcher: Watcher }
  const followers: Follower[] = [];
  let step = 0;

  const startFollower = (id: Identity, type: ResourceType) => {
    const scope = scopeFor(type, directory.accessOf(id));
    if (!scope || followers.some((f) => f.id === id && f.type === type && !f.sink.closed)) return;
    const view = projections.view(scope);
    const sink = new ApplyingSink((eventType, object) => {
      if (eventType !== 'ADDED' && eventType !== 'MODIFIED') return undefined;
      const allowed = bruteView(state, id, type);
      return allowed?.has(object.metadata.name ?? '') ? undefined : `step ${step}: ${id.user} was sent ${eventType} ${type.resource}/${object.metadata.name} outside its view`;
    });
    const watcher = new Watcher((f) => projections.follow(id, view, f), sink, { type, apiVersion: 'v1', printer: undefined, includeObject: 'Metadata', labelSelector: EVERYTHING, fieldSelector: { matches: () => true, empty: true, exactName: undefined } as never, bookmarks: false, deadlineMs: Number.MAX_SAFE_INTEGER }, view.position, (w) => hub.remove(w));
    hub.add(watcher);
    watcher.startWithInitialEvents(false, view.position);
    followers.push({ id, type, sink, watcher });
  };

  for (step = 1; step <= STEPS; step++) {
    // History kept as JSON must change nothing a follower sees (test/unit/compacted-history.test.ts resumes from it).
    if (step % 7 === 0) projections.compactHistory(Date.now() + 1);
    const action = gen.pick(['tenant', 'tenant', 'namespace', 'namespace', 'namespace', 'class', 'node', 'pv', 'claim', 'binding', 'proxysetting', 'global', 'delete']);
    switch (action) {
      case 'tenant': {
        const name = gen.pick(TENANT_NAMES);
        const owners = Array.from({ length: gen.pick([1, 1, 2]) }, () => ({ ...gen.subject(), proxySettings: gen.proxySettings() }));
        const annotations: Record<string, string> = {};
        if (gen.chance(0.2)) annotations['capsule.clastix.io/enable-node-listing'] = gen.pick(['true', 'u0', 'g0,u1']);
        if (gen.chance(0.2)) annotations['capsule.clastix.io/enable-storageclass-update'] = gen.pick(['true', 'g1']);
        const tenantSpec: Record<string, unknown> = { owners };
        if (gen.chance(0.6)) tenantSpec.nodeSelector = gen.labels(['pool']);
        const sc = gen.classRules();
        if (sc) tenantSpec.storageClasses = sc;
        const status = gen.chance(0.4) ? { namespaces: gen.some(NAMESPACE_NAMES, 0.2) } : undefined;
        source.apply(TENANTS, 'MODIFIED', { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name, annotations }, spec: tenantSpec, ...(status ? { status } : {}) });
        break;
      }
      case 'namespace': {
        const name = gen.pick(NAMESPACE_NAMES);
        const nsLabels = gen.labels(['tier']);
        const how = gen.pick(['label', 'label', 'owner', 'none']);
        if (how === 'label') nsLabels['capsule.clastix.io/tenant'] = gen.pick(TENANT_NAMES);
        const ownerReferences = how === 'owner' ? [{ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', name: gen.pick(TENANT_NAMES), uid: 'x' }] : undefined;
        source.apply(NAMESPACES, 'MODIFIED', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: nsLabels, ...(ownerReferences ? { ownerReferences } : {}) } });
        break;
      }
      case 'class':
        source.apply(STORAGE_CLASSES, 'MODIFIED', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: gen.pick(CLASS_NAMES), labels: gen.labels() } });
        break;
      case 'node':
        source.apply(NODES, 'MODIFIED', { apiVersion: 'v1', kind: 'Node', metadata: { name: gen.pick(NODE_NAMES), labels: { ...gen.labels(['pool']), ...gen.labels(['tier']) } } });
        break;
      case 'pv': {
        const pvLabels = gen.labels(['tier']);
        if (gen.chance(0.4)) pvLabels['capsule.clastix.io/tenant'] = gen.pick(TENANT_NAMES);
        const claim = gen.chance(0.5) ? { claimRef: { namespace: gen.pick(NAMESPACE_NAMES), name: 'data', ...(gen.chance(0.7) ? { uid: gen.pick(['uid-1', 'uid-2']) } : {}) } } : {};
        source.apply(PERSISTENT_VOLUMES, 'MODIFIED', { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: gen.pick(PV_NAMES), labels: pvLabels }, spec: claim });
        break;
      }
      case 'claim':
        source.apply(PERSISTENT_VOLUME_CLAIMS, 'MODIFIED', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: gen.pick(NAMESPACE_NAMES), uid: gen.pick(['uid-1', 'uid-2']) } });
        break;
      case 'binding':
        source.apply(ROLE_BINDINGS, 'MODIFIED', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: gen.pick(['rb-a', 'rb-b']), namespace: gen.pick(NAMESPACE_NAMES) }, subjects: [gen.subject()].map((s) => (s.kind === 'ServiceAccount' ? { kind: 'ServiceAccount', name: 'robot', namespace: 'sa-ns' } : s)) });
        break;
      case 'proxysetting':
        source.apply(PROXY_SETTINGS, 'MODIFIED', { apiVersion: 'capsule.clastix.io/v1beta1', kind: 'ProxySetting', metadata: { name: 'ps', namespace: gen.pick(NAMESPACE_NAMES) }, spec: { subjects: [{ ...gen.subject(), proxySettings: gen.proxySettings(), clusterResources: gen.clusterResources() }] } });
        break;
      case 'global':
        source.apply(GLOBAL_PROXY_SETTINGS, 'MODIFIED', { apiVersion: 'capsule.clastix.io/v1beta1', kind: 'GlobalProxySettings', metadata: { name: gen.pick(['gps-a', 'gps-b']) }, spec: { rules: [{ subjects: [gen.subject()], clusterResources: gen.clusterResources() }] } });
        break;
      case 'delete': {
        const type = gen.pick([TENANTS, NAMESPACES, STORAGE_CLASSES, NODES, PERSISTENT_VOLUMES, PERSISTENT_VOLUME_CLAIMS, ROLE_BINDINGS, PROXY_SETTINGS, GLOBAL_PROXY_SETTINGS]);
        const existing = [...source.store(type).list()];
        if (existing.length > 0) source.apply(type, 'DELETED', gen.pick(existing));
        break;
      }
    }
    if (gen.chance(0.1)) source.bookmark();

    for (const id of IDENTITIES) {
      for (const type of SERVED) {
        const expected = bruteView(state, id, type);
        const scope = scopeFor(type, directory.accessOf(id));
        if (expected === undefined) {
          assert.is(scope, undefined, `step ${step}: ${id.user} should be forwarded for ${type.resource}`);
          continue;
        }
        assert.ok(scope, `step ${step}: ${id.user} should be served ${type.resource}`);
        const view = projections.view(scope);
        const actual = new Set(view.items().map((o) => o.metadata.name ?? ''));
        assert.equal([...actual].sort(), [...expected].sort(), `step ${step}: ${id.user}'s ${type.resource}`);
        if (gen.chance(0.05)) startFollower(id, type);
      }
    }
    for (const f of followers) {
      assert.equal(f.sink.violations, [], 'no object outside the view was ever sent');
      if (f.sink.closed) continue;
      const expected = bruteView(state, f.id, f.type) ?? new Set<string>();
      assert.equal([...f.sink.objects.keys()].sort(), [...expected].sort(), `step ${step}: replaying ${f.id.user}'s ${f.type.resource} watch`);
      for (const [name, object] of f.sink.objects) {
        const current = source.store(f.type).get(name);
        assert.is(object.metadata.resourceVersion, current?.metadata.resourceVersion, `step ${step}: ${f.id.user} holds the latest ${f.type.resource}/${name}`);
      }
    }
  }
  hub.stop();
  projections.stop();
  assert.ok(followers.length > 10, 'watchers followed the views');
});

test.run();
