// What each grant lets a tenant user do with nodes and classes through the proxy, with the real kubectl
// against the real control plane: no grant → forwarded, the user's own RBAC decides (Forbidden, or
// everything with a ClusterRole); List → get/list/watch served and filtered; Update → kubectl cordon and
// kubectl label performed by the proxy on a visible object; Delete → kubectl delete; anything else
// forwarded as the user and refused. For user, group and service-account subjects, through each grant
// source: spec.owners[].proxySettings, a ProxySetting (only in a tenant namespace), GlobalProxySettings
// (List / Get-only rules, subjects owning no tenant) and the v1alpha1-era annotations.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, eventuallyPasses, Identities, ingressClass, listedNames, node, priorityClass, storageClass, Tracker, trackTenant, waitReady, type Identity } from '../support/cluster-objects.ts';
import { createTenant, setTenantStatus, TENANT_LABEL, type OwnerInput } from '../support/fixtures.ts';
import { kubectl, type KubectlResult } from '../support/kubectl.ts';
import { patch, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  ids: Identities;
}

const test = suite<Context>('tenant kinds: grants');
const s = digitSuffix();
const n = (base: string): string => `${base}-${s}`;
const mine = (name: string): boolean => name.endsWith(`-${s}`);
const SA_NS = n('kinds-sa');
const PROXY_USER = 'system:serviceaccount:tenant-proxy:tenant-proxy';

/** Objects the owner-grant tenants select: labelled GRANTED (nodes, storage classes). */
const GRANTED = `kinds.test/granted-${s}`;
const yes = (label: string): Record<string, string> => ({ [label]: 'yes' });
const grantedSpec = { nodeSelector: yes(GRANTED), storageClasses: { matchLabels: yes(GRANTED) } };
const NODE_VIS = n('gr-node-vis');
const NODE_INV = n('gr-node-inv');
const SC_VIS = n('gr-sc-vis');
const SC_INV = n('gr-sc-inv');
/** Selected only by the service-account owner's tenant: it deletes them. */
const DELETABLE = `kinds.test/deletable-${s}`;
const NODE_DEL = n('gr-node-del');
const SC_DEL = n('gr-sc-del');
/** Selected by GlobalProxySettings rules. */
const GLOBAL = `kinds.test/global-${s}`;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  ctx.ids = new Identities(ctx.cp, ctx.proxy);
  ctx.tracker.track({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: SA_NS } });
  await ctx.tracker.apply(
    node(NODE_INV),
    node(NODE_DEL, yes(DELETABLE)),
    node(NODE_VIS, yes(GRANTED)),
    storageClass(SC_INV),
    storageClass(SC_DEL),
    storageClass(n('src-gl-sc'), yes(GLOBAL)),
    storageClass(SC_VIS, yes(GRANTED)),
  );
  await waitReady(ctx.proxy);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

/**
 * A tenant without a nodeSelector has every node in its pool, so every node would be shared with it (and
 * no grant could taint or delete one): such tenants here get a selector that matches none of ours.
 */
async function tenant(ctx: Context, name: string, owners: OwnerInput[], spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<string> {
  const ns = `${name}-ns`;
  trackTenant(ctx.tracker, name, [ns]);
  const pooled = { nodeSelector: { [`kinds.test/no-pool-${s}`]: 'none' }, ...spec };
  await createTenant(ctx.cp.admin, { name, owners, namespaces: [ns], spec: pooled, ...(annotations ? { annotations } : {}) });
  return ns;
}

/** Waits until `who` lists exactly `expected` (of this file's objects) through the proxy. */
async function seesExactly(who: Identity, resource: string, expected: string[]): Promise<void> {
  await eventuallyPasses(`${who.name} lists ${JSON.stringify(expected)} of ${resource}`, async () => {
    assert.equal((await listedNames(who.viaProxy, resource)).filter(mine), [...expected].sort());
  });
}

async function run(who: Identity, args: string[]): Promise<KubectlResult> {
  return kubectl(who.viaProxy, args);
}

/** The request reached the apiserver as the user, and the user's RBAC refused it. */
function assertRefused(r: KubectlResult, who: Identity, verb: string, resource: string, what: string): void {
  assert.match(r.stderr, `is forbidden: User "${who.name}" cannot ${verb} resource "${resource}"`, `${what}: ${r.stdout}${r.stderr}`);
}

/** As the same user directly against the apiserver: the proxy passed it through untouched. */
async function assertForwarded(who: Identity, args: string[]): Promise<KubectlResult> {
  const proxied = await kubectl(who.viaProxy, args);
  const direct = await kubectl(who.direct, args);
  assert.equal(proxied, direct, `kubectl ${args.join(' ')} as ${who.name}`);
  return proxied;
}

async function labelsOf(ctx: Context, path: string): Promise<Record<string, string>> {
  return (await ctx.cp.admin.json<KubeObject>('GET', path)).metadata.labels ?? {};
}

// ── no grant ──

test('no grant: every kind is forwarded, and the apiserver refuses as for the user', async (ctx) => {
  const owner = await ctx.ids.user(n('gr-none'));
  await tenant(ctx, n('gr-none'), [{ kind: 'User', name: owner.name }], grantedSpec);
  await eventuallyPasses('the tenant is known', async () => assert.is((await run(owner, ['get', 'ns', '-o', 'name'])).stdout.trim(), `namespace/${n('gr-none')}-ns`));
  for (const resource of ['nodes', 'storageclasses', 'ingressclasses', 'priorityclasses', 'runtimeclasses', 'gatewayclasses', 'persistentvolumes']) {
    const r = await assertForwarded(owner, ['get', resource]);
    assert.is(r.code, 1);
    assertRefused(r, owner, 'list', resource, `kubectl get ${resource}`);
  }
  const one = await assertForwarded(owner, ['get', 'node', NODE_VIS]);
  assertRefused(one, owner, 'get', 'nodes', 'kubectl get node');
  const audited = ctx.cp.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.impersonatedUser?.username === owner.name && e.objectRef?.resource === 'nodes');
  assert.equal(audited.map((e) => [e.verb, e.user.username, e.responseStatus?.code]), [['list', PROXY_USER, 403], ['get', PROXY_USER, 403]], 'forwarded, impersonating the user');
});

test('no Nodes grant but a ClusterRole on nodes: the user keeps it (forwarded: every node)', async (ctx) => {
  const owner = await ctx.ids.user(n('gr-reader'));
  await tenant(ctx, n('gr-reader'), [{ kind: 'User', name: owner.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }] }], grantedSpec);
  const role = n('kinds-node-reader');
  await ctx.tracker.apply(
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: owner.name }] },
  );
  await seesExactly(owner, 'storageclasses', [SC_VIS]);
  await eventuallyPasses('the ClusterRole is in force', async () => assert.is((await kubectl(owner.direct, ['get', 'nodes', '-o', 'name'])).code, 0));
  const nodes = await assertForwarded(owner, ['get', 'nodes', '-o', 'name']);
  for (const name of [NODE_VIS, NODE_INV, NODE_DEL]) assert.match(nodes.stdout, `node/${name}\n`);
  // Storage classes stay served from the tenant's view: directly the user may not list them at all.
  assert.is((await kubectl(owner.direct, ['get', 'storageclasses'])).code, 1);
});

// ── List ──

test('List: get, list and watch are served, filtered; cordon, label and delete are forwarded and refused', async (ctx) => {
  const owner = await ctx.ids.user(n('gr-list'));
  await tenant(ctx, n('gr-list'), [{ kind: 'User', name: owner.name, proxySettings: [{ kind: 'Nodes', operations: ['List'] }, { kind: 'StorageClasses', operations: ['List'] }] }], grantedSpec);
  await seesExactly(owner, 'nodes', [NODE_VIS]);
  await seesExactly(owner, 'storageclasses', [SC_VIS]);
  // The tenant's rules select by labels nobody else uses: the whole list is ours.
  assert.equal(await listedNames(owner.viaProxy, 'nodes'), [NODE_VIS]);
  assert.equal(await listedNames(owner.viaProxy, 'storageclasses'), [SC_VIS]);
  assert.is((await run(owner, ['get', 'node', NODE_VIS, '-o', 'name'])).stdout, `node/${NODE_VIS}\n`);
  assert.match((await run(owner, ['get', 'node', NODE_INV])).stderr, `Error from server (NotFound): nodes "${NODE_INV}" not found`);
  const client = ctx.proxy.client(owner.credentials);
  for (const [path, name] of [['/api/v1/nodes', NODE_VIS], ['/apis/storage.k8s.io/v1/storageclasses', SC_VIS]] as const) {
    const watch = await WatchReader.open(client, `${path}?watch=1&timeoutSeconds=1`);
    assert.is(watch.status, 200);
    await watch.waitForEnd();
    assert.equal(watch.events.map((e) => `${e.event.type} ${e.event.object.metadata?.name ?? ''}`), [`ADDED ${name}`], `watch ${path}`);
  }
  assertRefused(await run(owner, ['cordon', NODE_VIS]), owner, 'patch', 'nodes', 'kubectl cordon');
  assertRefused(await run(owner, ['label', 'node', NODE_VIS, `kinds.test/by-${s}=list`]), owner, 'patch', 'nodes', 'kubectl label node');
  assertRefused(await run(owner, ['label', 'storageclass', SC_VIS, `kinds.test/by-${s}=list`]), owner, 'patch', 'storageclasses', 'kubectl label storageclass');
  assertRefused(await run(owner, ['delete', 'storageclass', SC_VIS]), owner, 'delete', 'storageclasses', 'kubectl delete storageclass');
  assertRefused(await run(owner, ['delete', 'node', NODE_VIS]), owner, 'delete', 'nodes', 'kubectl delete node');
  const visible = await ctx.cp.admin.json<KubeObject & { spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${NODE_VIS}`);
  assert.is(visible.spec?.unschedulable, undefined, 'not cordoned');
  assert.is(visible.metadata.labels?.[`kinds.test/by-${s}`], undefined, 'not labelled');
});

// ── List + Update ──

test('List+Update (group owner): kubectl cordon, uncordon and label work on a visible node or class, performed by the proxy', async (ctx) => {
  const member = await ctx.ids.user(n('gr-upd'), [n('gr-upd-grp')]);
  await tenant(ctx, n('gr-upd'), [{ kind: 'Group', name: n('gr-upd-grp'), proxySettings: [{ kind: 'Nodes', operations: ['List', 'Update'] }, { kind: 'StorageClasses', operations: ['Update'] }] }], grantedSpec);
  await seesExactly(member, 'nodes', [NODE_VIS]);
  await seesExactly(member, 'storageclasses', [SC_VIS]);
  const auditedBefore = ctx.cp.auditEvents().length;
  const cordon = await run(member, ['cordon', NODE_VIS]);
  assert.is(cordon.stdout, `node/${NODE_VIS} cordoned\n`, cordon.stderr);
  assert.is(cordon.stderr, '');
  assert.is((await ctx.cp.admin.json<{ spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${NODE_VIS}`)).spec?.unschedulable, true);
  // The proxy's view follows: kubectl sees the node cordoned, then uncordons it.
  await eventuallyPasses('the view shows the node cordoned', async () => assert.match((await run(member, ['get', 'node', NODE_VIS])).stdout, 'SchedulingDisabled'));
  const uncordon = await run(member, ['uncordon', NODE_VIS]);
  assert.is(uncordon.stdout, `node/${NODE_VIS} uncordoned\n`, uncordon.stderr);
  assert.is((await ctx.cp.admin.json<{ spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${NODE_VIS}`)).spec?.unschedulable, undefined);
  const label = await run(member, ['label', 'node', NODE_VIS, `kinds.test/by-${s}=group`]);
  assert.is(label.stdout, `node/${NODE_VIS} labeled\n`, label.stderr);
  assert.is((await labelsOf(ctx, `/api/v1/nodes/${NODE_VIS}`))[`kinds.test/by-${s}`], 'group');
  const scLabel = await run(member, ['label', 'storageclass', SC_VIS, `kinds.test/by-${s}=group`]);
  assert.is(scLabel.stdout, `storageclass.storage.k8s.io/${SC_VIS} labeled\n`, scLabel.stderr);
  assert.is((await labelsOf(ctx, `/apis/storage.k8s.io/v1/storageclasses/${SC_VIS}`))[`kinds.test/by-${s}`], 'group');
  // A full update (PUT, as kubectl replace and edit send) too.
  const client = ctx.proxy.client(member.credentials);
  const current = await client.json<KubeObject>('GET', `/apis/storage.k8s.io/v1/storageclasses/${SC_VIS}`);
  const replaced = await client.request('PUT', `/apis/storage.k8s.io/v1/storageclasses/${SC_VIS}`, { body: { ...current, metadata: { ...current.metadata, annotations: { 'kinds.test/replaced': 'yes' } } } });
  assert.is(replaced.status, 200, replaced.body);
  assert.is((await ctx.cp.admin.json<KubeObject>('GET', `/apis/storage.k8s.io/v1/storageclasses/${SC_VIS}`)).metadata.annotations?.['kinds.test/replaced'], 'yes');
  // Performed with the proxy's own credentials, not as the member (who may not patch nodes at all).
  const patches = ctx.cp.auditEvents().slice(auditedBefore).filter((e) => e.stage === 'ResponseComplete' && e.verb === 'patch' && e.objectRef?.name === NODE_VIS);
  assert.ok(patches.length >= 3, 'cordon, uncordon and label reached the apiserver');
  for (const e of patches) assert.equal([e.user.username, e.impersonatedUser, e.responseStatus?.code], [PROXY_USER, undefined, 200]);
  // No Delete grant: deletion is forwarded as the member and refused.
  assertRefused(await run(member, ['delete', 'storageclass', SC_VIS]), member, 'delete', 'storageclasses', 'kubectl delete storageclass');
  assertRefused(await run(member, ['delete', 'node', NODE_VIS]), member, 'delete', 'nodes', 'kubectl delete node');
});

test('List+Update on an invisible object: kubectl finds nothing; the write itself is forwarded as the user and refused', async (ctx) => {
  const member = await ctx.ids.user(n('gr-upd2'), [n('gr-upd-grp')]);
  await seesExactly(member, 'nodes', [NODE_VIS]);
  const auditedBefore = ctx.cp.auditEvents().length;
  assert.match((await run(member, ['cordon', NODE_INV])).stderr, `Error from server (NotFound): nodes "${NODE_INV}" not found`);
  assert.match((await run(member, ['label', 'storageclass', SC_INV, 'a=b'])).stderr, `Error from server (NotFound): storageclasses.storage.k8s.io "${SC_INV}" not found`);
  const client = ctx.proxy.client(member.credentials);
  const raw = await client.request('PATCH', `/api/v1/nodes/${NODE_INV}`, { body: { spec: { unschedulable: true } }, contentType: 'application/merge-patch+json' });
  assert.is(raw.status, 403, raw.body);
  assert.is((JSON.parse(raw.body) as { message: string }).message, `nodes "${NODE_INV}" is forbidden: User "${member.name}" cannot patch resource "nodes" in API group "" at the cluster scope`);
  const sc = await client.request('PATCH', `/apis/storage.k8s.io/v1/storageclasses/${SC_INV}`, { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
  assert.is(sc.status, 403, sc.body);
  const audited = ctx.cp.auditEvents().slice(auditedBefore).filter((e) => e.stage === 'ResponseComplete' && e.verb === 'patch' && (e.objectRef?.name === NODE_INV || e.objectRef?.name === SC_INV));
  assert.equal(audited.map((e) => [e.objectRef?.name, e.impersonatedUser?.username, e.responseStatus?.code]), [[NODE_INV, member.name, 403], [SC_INV, member.name, 403]]);
  const untouched = await ctx.cp.admin.json<KubeObject & { spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${NODE_INV}`);
  assert.is(untouched.spec?.unschedulable, undefined);
});

test("an Update grant of one tenant covers that tenant's objects only: not those seen through another tenant or a read-only rule", async (ctx) => {
  const owner = await ctx.ids.user(n('mix'));
  const [writable, listed, ruled] = [n('mix-x-sc'), n('mix-y-sc'), n('mix-z-sc')];
  const [writableNode, listedNode] = [n('mix-x-node'), n('mix-y-node')];
  await ctx.tracker.apply(storageClass(writable), storageClass(listed), storageClass(ruled, yes(`kinds.test/mix-${s}`)), node(writableNode, yes(`kinds.test/mix-x-${s}`)), node(listedNode, yes(`kinds.test/mix-y-${s}`)));
  await tenant(ctx, n('mix-x'), [{ kind: 'User', name: owner.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List', 'Update', 'Delete'] }, { kind: 'Nodes', operations: ['List', 'Update'] }] }], {
    storageClasses: { allowed: [writable] },
    nodeSelector: yes(`kinds.test/mix-x-${s}`),
  });
  await tenant(ctx, n('mix-y'), [{ kind: 'User', name: owner.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }, { kind: 'Nodes', operations: ['List'] }] }], {
    storageClasses: { allowed: [listed] },
    nodeSelector: yes(`kinds.test/mix-y-${s}`),
  });
  await ctx.tracker.apply({
    apiVersion: 'capsule.clastix.io/v1beta1',
    kind: 'GlobalProxySettings',
    metadata: { name: n('mix') },
    spec: { rules: [{ subjects: [{ kind: 'User', name: owner.name }], clusterResources: [{ apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], selector: { matchLabels: yes(`kinds.test/mix-${s}`) } }] }] },
  });
  await seesExactly(owner, 'storageclasses', [writable, listed, ruled]);
  await seesExactly(owner, 'nodes', [writableNode, listedNode]);
  const ok = await run(owner, ['label', 'storageclass', writable, `kinds.test/by-mix-${s}=yes`]);
  assert.is(ok.stdout, `storageclass.storage.k8s.io/${writable} labeled\n`, ok.stderr);
  assert.is((await run(owner, ['cordon', writableNode])).stdout, `node/${writableNode} cordoned\n`);
  // Seen through tenant mix-y (List only) or the GlobalProxySettings rule (read-only): forwarded, refused.
  assertRefused(await run(owner, ['label', 'storageclass', listed, `kinds.test/by-mix-${s}=yes`]), owner, 'patch', 'storageclasses', 'a class of the List-only tenant');
  assertRefused(await run(owner, ['label', 'storageclass', ruled, `kinds.test/by-mix-${s}=yes`]), owner, 'patch', 'storageclasses', 'a class of the read-only rule');
  assertRefused(await run(owner, ['delete', 'storageclass', ruled]), owner, 'delete', 'storageclasses', 'deleting a class of the read-only rule');
  assertRefused(await run(owner, ['cordon', listedNode]), owner, 'patch', 'nodes', 'a node of the List-only tenant');
  for (const name of [listed, ruled]) {
    const sc = await ctx.cp.admin.request('GET', `/apis/storage.k8s.io/v1/storageclasses/${name}`);
    assert.is(sc.status, 200, `${name} still exists`);
    assert.is((JSON.parse(sc.body) as KubeObject).metadata.labels?.[`kinds.test/by-mix-${s}`], undefined, `${name} not labelled`);
  }
  assert.is((await ctx.cp.admin.json<{ spec?: { unschedulable?: boolean } }>('GET', `/api/v1/nodes/${listedNode}`)).spec?.unschedulable, undefined, `${listedNode} not cordoned`);
});

// ── List + Delete ──

test('List+Delete (service-account owner): kubectl delete works on a visible class or node; not on others; no label', async (ctx) => {
  const owner = await ctx.ids.serviceAccount(SA_NS, 'owner');
  await tenant(ctx, n('gr-del'), [{ kind: 'ServiceAccount', name: owner.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List', 'Delete'] }, { kind: 'Nodes', operations: ['Delete'] }] }], {
    nodeSelector: yes(DELETABLE),
    storageClasses: { allowed: [SC_DEL], matchLabels: yes(GRANTED) },
  });
  await seesExactly(owner, 'storageclasses', [SC_DEL, SC_VIS]);
  await seesExactly(owner, 'nodes', [NODE_DEL]);
  const deleted = await run(owner, ['delete', 'storageclass', SC_DEL]);
  assert.is(deleted.stdout, `storageclass.storage.k8s.io "${SC_DEL}" deleted\n`, deleted.stderr);
  assert.is(deleted.code, 0);
  assert.is((await ctx.cp.admin.request('GET', `/apis/storage.k8s.io/v1/storageclasses/${SC_DEL}`)).status, 404);
  const nodeDeleted = await run(owner, ['delete', 'node', NODE_DEL]);
  assert.is(nodeDeleted.stdout, `node "${NODE_DEL}" deleted\n`, nodeDeleted.stderr);
  assert.is((await ctx.cp.admin.request('GET', `/api/v1/nodes/${NODE_DEL}`)).status, 404);
  await seesExactly(owner, 'storageclasses', [SC_VIS]);
  // Invisible: forwarded as the service account, refused, and the class stays.
  assertRefused(await run(owner, ['delete', 'storageclass', SC_INV]), owner, 'delete', 'storageclasses', 'kubectl delete invisible');
  assertRefused(await run(owner, ['delete', 'node', NODE_VIS]), owner, 'delete', 'nodes', 'kubectl delete invisible node');
  assert.is((await ctx.cp.admin.request('GET', `/apis/storage.k8s.io/v1/storageclasses/${SC_INV}`)).status, 200);
  // No Update grant: labelling is forwarded and refused.
  assertRefused(await run(owner, ['label', 'storageclass', SC_VIS, `kinds.test/by-sa-${s}=sa`]), owner, 'patch', 'storageclasses', 'kubectl label');
});

// ── grant sources × subject kinds ──

type SubjectKind = 'User' | 'Group' | 'ServiceAccount';
const SUBJECT_KINDS: readonly SubjectKind[] = ['User', 'Group', 'ServiceAccount'];

/** The identity for one (source, subject kind) and the subject naming it. */
async function subject(ctx: Context, source: string, kind: SubjectKind): Promise<{ who: Identity; subject: { kind: SubjectKind; name: string } }> {
  switch (kind) {
    case 'User': {
      const who = await ctx.ids.user(n(`${source}-user`));
      return { who, subject: { kind, name: who.name } };
    }
    case 'Group':
      return { who: await ctx.ids.user(n(`${source}-member`), [n(`${source}-group`)]), subject: { kind, name: n(`${source}-group`) } };
    case 'ServiceAccount': {
      const who = await ctx.ids.serviceAccount(SA_NS, source);
      return { who, subject: { kind, name: who.name } };
    }
  }
}

/** Lists exactly `listed`, labels `sc` (Update), and may not delete it (no Delete). */
async function assertListAndUpdate(ctx: Context, who: Identity, kind: SubjectKind, sc: string, listed = [sc]): Promise<void> {
  await seesExactly(who, 'storageclasses', listed);
  const labelKey = `kinds.test/${kind.toLowerCase()}-${s}`;
  const r = await run(who, ['label', 'storageclass', sc, `${labelKey}=yes`]);
  assert.is(r.stdout, `storageclass.storage.k8s.io/${sc} labeled\n`, `${who.name}: ${r.stderr}`);
  assert.is((await labelsOf(ctx, `/apis/storage.k8s.io/v1/storageclasses/${sc}`))[labelKey], 'yes');
  assertRefused(await run(who, ['delete', 'storageclass', sc]), who, 'delete', 'storageclasses', `${who.name}: kubectl delete`);
  assertRefused(await assertForwarded(who, ['get', 'nodes']), who, 'list', 'nodes', `${who.name}: no Nodes grant`);
}

test('source spec.owners[].proxySettings: user, group and service-account owners', async (ctx) => {
  const sc = n('src-own-sc');
  await ctx.tracker.apply(storageClass(sc));
  const subjects = await Promise.all(SUBJECT_KINDS.map((k) => subject(ctx, 'src-own', k)));
  const grant = [{ kind: 'StorageClasses' as const, operations: ['List' as const, 'Update' as const] }];
  await tenant(ctx, n('src-own'), subjects.map((x) => ({ ...x.subject, proxySettings: grant })), { storageClasses: { allowed: [sc] } });
  for (const [i, kind] of SUBJECT_KINDS.entries()) await assertListAndUpdate(ctx, subjects[i]?.who as Identity, kind, sc);
});

test('source ProxySetting in a tenant namespace: user, group and service-account subjects who own nothing; List+Update, then List+Delete', async (ctx) => {
  const sc = n('src-ps-sc');
  const victims = SUBJECT_KINDS.map((k) => n(`src-ps-del-${k.toLowerCase()}`));
  await ctx.tracker.apply(...victims.map((v) => storageClass(v)), storageClass(sc));
  const all = [sc, ...victims].sort();
  const ns = await tenant(ctx, n('src-ps'), [{ kind: 'User', name: n('src-ps-owner') }], { storageClasses: { allowed: all } });
  const subjects = await Promise.all(SUBJECT_KINDS.map((k) => subject(ctx, 'src-ps', k)));
  const setting = (operations: string[]): KubeObject => ({
    apiVersion: 'capsule.clastix.io/v1beta1',
    kind: 'ProxySetting',
    metadata: { name: 'grants', namespace: ns },
    spec: { subjects: subjects.map((x) => ({ ...x.subject, proxySettings: [{ kind: 'StorageClasses', operations }] })) },
  });
  await ctx.tracker.apply(setting(['List', 'Update']));
  for (const [i, kind] of SUBJECT_KINDS.entries()) await assertListAndUpdate(ctx, subjects[i]?.who as Identity, kind, sc, all);
  // The same subjects, now with List+Delete: each deletes its class; labelling is refused.
  await ctx.tracker.apply(setting(['List', 'Delete']));
  for (const [i, { who }] of subjects.entries()) {
    await eventuallyPasses(`${who.name} lost Update`, async () => assertRefused(await run(who, ['label', 'storageclass', sc, `kinds.test/late-${s}=yes`]), who, 'patch', 'storageclasses', 'kubectl label'));
    const victim = victims[i] ?? '';
    const deleted = await run(who, ['delete', 'storageclass', victim]);
    assert.is(deleted.stdout, `storageclass.storage.k8s.io "${victim}" deleted\n`, `${who.name}: ${deleted.stderr}`);
    assert.is((await ctx.cp.admin.request('GET', `/apis/storage.k8s.io/v1/storageclasses/${victim}`)).status, 404);
  }
  assert.equal(await listedNames(subjects[0]?.who.viaProxy ?? '', 'storageclasses'), [sc]);
});

test('source annotations: enable-storageclass-update naming a user, a group and a service account', async (ctx) => {
  const sc = n('src-ann-sc');
  await ctx.tracker.apply(storageClass(sc));
  const subjects = await Promise.all(SUBJECT_KINDS.map((k) => subject(ctx, 'src-ann', k)));
  await tenant(ctx, n('src-ann'), subjects.map((x) => x.subject), { storageClasses: { allowed: [sc] } }, {
    'capsule.clastix.io/enable-storageclass-update': subjects.map((x) => x.subject.name).join(','),
  });
  for (const [i, kind] of SUBJECT_KINDS.entries()) await assertListAndUpdate(ctx, subjects[i]?.who as Identity, kind, sc);
});

test('source GlobalProxySettings: user, group and service-account subjects owning no tenant list what the selector selects, read-only', async (ctx) => {
  const subjects = await Promise.all(SUBJECT_KINDS.map((k) => subject(ctx, 'src-gl', k)));
  await ctx.tracker.apply({
    apiVersion: 'capsule.clastix.io/v1beta1',
    kind: 'GlobalProxySettings',
    metadata: { name: n('src-gl') },
    spec: { rules: [{ subjects: subjects.map((x) => x.subject), clusterResources: [{ apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], operations: ['List'], selector: { matchLabels: yes(GLOBAL) } }] }] },
  });
  for (const { who } of subjects) {
    await seesExactly(who, 'storageclasses', [n('src-gl-sc')]);
    assert.equal(await listedNames(who.viaProxy, 'storageclasses'), [n('src-gl-sc')], 'nothing else');
    assertRefused(await run(who, ['label', 'storageclass', n('src-gl-sc'), 'a=b']), who, 'patch', 'storageclasses', `${who.name}: kubectl label`);
    assertRefused(await run(who, ['delete', 'storageclass', n('src-gl-sc')]), who, 'delete', 'storageclasses', `${who.name}: kubectl delete`);
    assertRefused(await assertForwarded(who, ['get', 'nodes']), who, 'list', 'nodes', `${who.name}: no rule names nodes`);
  }
});

// The core group as `""` cannot be stored on this control plane: kube-apiserver 1.20.2 as built here
// rejects an empty string in the CRD's string array ("must be of type string: \"null\""), so the
// nodes rule names its group with "*".
test('GlobalProxySettings: a "*"-group rule with omitted operations lists; a Get-only rule (group/version, resources "*") gets but does not list; a selector selecting nothing shows nothing', async (ctx) => {
  const lister = await ctx.ids.user(n('gl-lister'));
  const getter = await ctx.ids.user(n('gl-getter'));
  const blind = await ctx.ids.user(n('gl-blind'));
  await ctx.tracker.apply({
    apiVersion: 'capsule.clastix.io/v1beta1',
    kind: 'GlobalProxySettings',
    metadata: { name: n('gl-detail') },
    spec: {
      rules: [
        { subjects: [{ kind: 'User', name: lister.name }], clusterResources: [{ apiGroups: ['*'], resources: ['nodes'], selector: { matchExpressions: [{ key: GRANTED, operator: 'In', values: ['yes'] }] } }] },
        { subjects: [{ kind: 'User', name: getter.name }], clusterResources: [{ apiGroups: ['storage.k8s.io/v1'], resources: ['*'], operations: ['Get'], selector: { matchLabels: yes(GLOBAL) } }] },
        // Selectors that cannot select anything: none at all, an unknown operator.
        { subjects: [{ kind: 'User', name: blind.name }], clusterResources: [{ apiGroups: ['*'], resources: ['nodes'] }, { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], selector: { matchExpressions: [{ key: GLOBAL, operator: 'Equals', values: ['yes'] }] } }] },
      ],
    },
  });
  await seesExactly(lister, 'nodes', [NODE_VIS]);
  assert.equal(await listedNames(lister.viaProxy, 'nodes'), [NODE_VIS]);
  assert.is((await run(lister, ['get', 'node', NODE_VIS, '-o', 'name'])).stdout, `node/${NODE_VIS}\n`);
  assertRefused(await assertForwarded(lister, ['get', 'storageclasses']), lister, 'list', 'storageclasses', 'no storage-class rule');
  await eventuallyPasses('the Get-only rule is in force', async () => assert.is((await run(getter, ['get', 'storageclass', n('src-gl-sc'), '-o', 'name'])).stdout, `storageclass.storage.k8s.io/${n('src-gl-sc')}\n`));
  const list = await run(getter, ['get', 'storageclasses', '-o', 'name']);
  assert.not.match(list.stdout, n('src-gl-sc'), 'a Get-only rule does not list');
  assert.match((await run(getter, ['get', 'storageclass', SC_VIS])).stderr, `Error from server (NotFound): storageclasses.storage.k8s.io "${SC_VIS}" not found`);
  assertRefused(await run(getter, ['label', 'storageclass', n('src-gl-sc'), 'a=b']), getter, 'patch', 'storageclasses', 'kubectl label');
  for (const resource of ['nodes', 'storageclasses']) {
    const r = await run(blind, ['get', resource, '-o', 'name']);
    assert.equal([r.code, r.stdout], [0, ''], `${resource}: a rule whose selector selects nothing shows nothing`);
  }
  assert.match((await run(blind, ['get', 'node', NODE_VIS])).stderr, `Error from server (NotFound): nodes "${NODE_VIS}" not found`);
});

test('ProxySetting outside a tenant namespace grants nothing — a tenant label on its namespace borrows nothing; the tenant\'s status.namespaces does', async (ctx) => {
  const stray = await ctx.ids.user(n('ps-stray'));
  const sentinel = await ctx.ids.user(n('ps-sentinel'));
  const sc = n('ps-sc');
  await ctx.tracker.apply(storageClass(sc));
  const tenantNs = await tenant(ctx, n('ps-tenant'), [{ kind: 'User', name: n('ps-owner') }], { storageClasses: { allowed: [sc] } });
  const plain = n('ps-plain');
  const settings = (who: Identity, namespace: string, name: string): KubeObject => ({
    apiVersion: 'capsule.clastix.io/v1beta1',
    kind: 'ProxySetting',
    metadata: { name, namespace },
    spec: { subjects: [{ kind: 'User', name: who.name, proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }] }] },
  });
  await ctx.tracker.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: plain } }, settings(stray, plain, 'stray'));
  // Applied after the stray one, through the same informer: once it works, the stray one is known too.
  await ctx.tracker.apply(settings(sentinel, tenantNs, 'sentinel'));
  await seesExactly(sentinel, 'storageclasses', [sc]);
  assertRefused(await assertForwarded(stray, ['get', 'storageclasses']), stray, 'list', 'storageclasses', 'a ProxySetting in a non-tenant namespace');
  // Whoever administers a namespace can label it: that must not lend them another tenant's grants.
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: plain } }, { metadata: { labels: { [TENANT_LABEL]: n('ps-tenant') } } });
  // Visibility follows the label (the tenant's owner now sees the namespace): the proxy has seen it.
  const owner = await ctx.ids.user(n('ps-owner'));
  await eventuallyPasses('the labelled namespace is in the tenant owner\'s view', async () => assert.ok((await listedNames(owner.viaProxy, 'namespaces')).includes(plain)));
  assertRefused(await assertForwarded(stray, ['get', 'storageclasses']), stray, 'list', 'storageclasses', 'a labelled namespace borrows nothing');
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: plain } }, { metadata: { labels: { [TENANT_LABEL]: null } } });
  // The controller-maintained status is what makes it a tenant namespace for grants.
  await setTenantStatus(ctx.cp.admin, n('ps-tenant'), [tenantNs, plain]);
  await seesExactly(stray, 'storageclasses', [sc]);
  await setTenantStatus(ctx.cp.admin, n('ps-tenant'), [tenantNs]);
  await eventuallyPasses('the grant is gone with the namespace', async () => assertRefused(await assertForwarded(stray, ['get', 'storageclasses']), stray, 'list', 'storageclasses', 'namespace left the tenant'));
});

// ── the v1alpha1-era annotations, every one ──

test('annotations enable-{node,storageclass,ingressclass,priorityclass}-{listing,update,deletion}: "true" or owner names; update and deletion imply listing', async (ctx) => {
  const ANN = `kinds.test/ann-${s}`;
  const a = await ctx.ids.user(n('ann-a'));
  const b = await ctx.ids.user(n('ann-b'));
  const g = await ctx.ids.user(n('ann-m'), [n('ann-g')]);
  const c = await ctx.ids.user(n('ann-c'));
  const kinds = {
    node: { resource: 'nodes', make: node, printed: 'node', qualified: 'nodes' },
    storageclass: { resource: 'storageclasses', make: storageClass, printed: 'storageclass.storage.k8s.io', qualified: 'storageclasses' },
    ingressclass: { resource: 'ingressclasses', make: ingressClass, printed: 'ingressclass.networking.k8s.io', qualified: 'ingressclasses' },
    priorityclass: { resource: 'priorityclasses', make: (name: string, labels?: Record<string, string>) => priorityClass(name, labels), printed: 'priorityclass.scheduling.k8s.io', qualified: 'priorityclasses' },
  } as const;
  type Kind = keyof typeof kinds;
  const annotations: Record<string, string> = {};
  const set = (kind: Kind, op: 'listing' | 'update' | 'deletion', value: string) => (annotations[`capsule.clastix.io/enable-${kind}-${op}`] = value);
  set('node', 'listing', 'true');
  set('node', 'update', b.name);
  set('node', 'deletion', a.name);
  set('storageclass', 'listing', b.name);
  set('storageclass', 'update', a.name);
  set('storageclass', 'deletion', n('ann-g'));
  set('ingressclass', 'listing', `${a.name},${b.name}`);
  set('ingressclass', 'update', n('ann-g'));
  set('ingressclass', 'deletion', b.name);
  set('priorityclass', 'listing', 'true');
  set('priorityclass', 'update', b.name);
  set('priorityclass', 'deletion', n('ann-g'));
  // What each owner may do, per kind: L(ist), U(pdate), D(elete).
  const expected: [Identity, Record<Kind, string>][] = [
    [a, { node: 'LD', storageclass: 'LU', ingressclass: 'L', priorityclass: 'L' }],
    [b, { node: 'LU', storageclass: 'L', ingressclass: 'LD', priorityclass: 'LU' }],
    [g, { node: 'L', storageclass: 'LD', ingressclass: 'LU', priorityclass: 'LD' }],
    [c, { node: 'L', storageclass: '', ingressclass: '', priorityclass: 'L' }],
  ];
  const visible = (kind: Kind) => n(`ann-${kind}-vis`);
  const target = (kind: Kind, who: Identity) => n(`ann-${kind}-del-${expected.findIndex(([w]) => w === who)}`);
  for (const kind of Object.keys(kinds) as Kind[]) {
    await ctx.tracker.apply(kinds[kind].make(visible(kind), yes(ANN)));
    for (const [who, ops] of expected) if (ops[kind].includes('D')) await ctx.tracker.apply(kinds[kind].make(target(kind, who), yes(ANN)));
  }
  await tenant(ctx, n('ann'), [{ kind: 'User', name: a.name }, { kind: 'User', name: b.name }, { kind: 'Group', name: n('ann-g') }, { kind: 'User', name: c.name }], {
    nodeSelector: yes(ANN),
    storageClasses: { matchLabels: yes(ANN) },
    ingressOptions: { allowedClasses: { matchLabels: yes(ANN) } },
    priorityClasses: { matchLabels: yes(ANN) },
  }, annotations);
  // Listing first (before any deletion): everything labelled ANN of the kind, or forwarded.
  for (const [who, ops] of expected) {
    for (const kind of Object.keys(kinds) as Kind[]) {
      const { resource } = kinds[kind];
      if (ops[kind].includes('L')) {
        const all = [visible(kind), ...expected.filter(([, o]) => o[kind].includes('D')).map(([w]) => target(kind, w))];
        await seesExactly(who, resource, all);
      } else {
        assertRefused(await assertForwarded(who, ['get', resource]), who, 'list', resource, `${who.name}: no ${kind} listing`);
      }
    }
  }
  for (const [who, ops] of expected) {
    for (const kind of Object.keys(kinds) as Kind[]) {
      const { resource, printed, qualified } = kinds[kind];
      if (!ops[kind].includes('L')) continue;
      const labelled = await run(who, ['label', resource, visible(kind), `kinds.test/by-${s}-${who.name.replace(/[^a-z0-9-]/g, '')}=yes`]);
      if (ops[kind].includes('U')) assert.is(labelled.stdout, `${printed}/${visible(kind)} labeled\n`, `${who.name} labels ${kind}: ${labelled.stderr}`);
      else assertRefused(labelled, who, 'patch', qualified, `${who.name} may not update ${kind}`);
      const victim = ops[kind].includes('D') ? target(kind, who) : visible(kind);
      const deleted = await run(who, ['delete', resource, victim]);
      if (ops[kind].includes('D')) assert.is(deleted.stdout, `${printed} "${victim}" deleted\n`, `${who.name} deletes ${kind}: ${deleted.stderr}`);
      else assertRefused(deleted, who, 'delete', qualified, `${who.name} may not delete ${kind}`);
    }
  }
  const cordoned = await run(b, ['cordon', visible('node')]);
  assert.is(cordoned.stdout, `node/${visible('node')} cordoned\n`, cordoned.stderr);
  for (const kind of Object.keys(kinds) as Kind[]) {
    // Every deletable target is gone; the shared object stays.
    for (const [who, ops] of expected) if (ops[kind].includes('D')) assert.is((await ctx.cp.admin.request('GET', `${pathOf(kind)}/${target(kind, who)}`)).status, 404, `${kind} of ${who.name} deleted`);
    assert.is((await ctx.cp.admin.request('GET', `${pathOf(kind)}/${visible(kind)}`)).status, 200);
  }
});

function pathOf(kind: 'node' | 'storageclass' | 'ingressclass' | 'priorityclass'): string {
  return { node: '/api/v1/nodes', storageclass: '/apis/storage.k8s.io/v1/storageclasses', ingressclass: '/apis/networking.k8s.io/v1/ingressclasses', priorityclass: '/apis/scheduling.k8s.io/v1/priorityclasses' }[kind];
}

test.run();
