// Namespaces as tenants see them, through the real kubectl and the proxy, on the real control plane:
// `kubectl get ns` lists exactly the namespaces of the caller's tenants (owner by user or by group, or a
// mere RoleBinding member), `get ns -w` follows namespaces into and out of the tenant live, `delete ns`
// returns cleanly once the namespace is gone, and can-i / get <other> / whoami / get tenants answer as a
// tenant expects. Admin is forwarded untouched.
//
// The control plane is shared with other test files (which leave tenants owned by `alice` and by
// `gas-admins` behind), so the certificate users here have names of their own (`alice-<suffix>`);
// bob, a token user of group gas-admins, is checked against what the cluster grants him.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, TENANT_LABEL, type OwnerInput } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { kubectl, KubectlStream, type KubectlResult } from '../support/kubectl.ts';
import { apply, patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  oilTenant: KubeObject;
  gasTenant: KubeObject;
  /** kubeconfigs through the proxy */
  via: Record<'alice' | 'bob' | 'carol' | 'admin', string>;
  /** kubeconfigs straight to the apiserver */
  direct: Record<'alice' | 'admin', string>;
  /** HTTP clients through the proxy */
  http: Record<'alice' | 'carol', KubeHttp>;
}

const test = suite<Context>('tenant namespaces through kubectl');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const CAROL = `carol-${suffix}`;
const oil = { tenant: `oil-${suffix}`, dev: `oil-dev-${suffix}`, prod: `oil-prod-${suffix}` };
const gas = { tenant: `gas-${suffix}`, dev: `gas-dev-${suffix}` };
const oilOwners: OwnerInput[] = [{ kind: 'User', name: ALICE }];
const gasOwners: OwnerInput[] = [{ kind: 'Group', name: 'gas-admins' }];
const KUBECTL_DELETE_TIMEOUT_MS = 120_000;

const NAMESPACE = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.proxy = await startProxy(ctx.cp);
  ctx.oilTenant = await createTenant(ctx.cp.admin, { name: oil.tenant, owners: oilOwners, namespaces: [oil.dev, oil.prod] });
  ctx.gasTenant = await createTenant(ctx.cp.admin, { name: gas.tenant, owners: gasOwners, namespaces: [gas.dev] });
  // carol is no owner: only a subject of a RoleBinding in gas-dev.
  await apply(ctx.cp.admin, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `viewer-${suffix}`, namespace: gas.dev },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: CAROL }],
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'tenant-namespaces-'));
  const alice = await ctx.cp.clientCertificate(ALICE);
  const carol = await ctx.cp.clientCertificate(CAROL);
  const admin = ctx.cp.adminCredentials();
  ctx.via = {
    alice: ctx.proxy.kubeconfig(path.join(dir, 'alice-proxy'), alice, ALICE),
    bob: ctx.proxy.kubeconfig(path.join(dir, 'bob-proxy'), ctx.cp.tokenCredentials('bob'), 'bob'),
    carol: ctx.proxy.kubeconfig(path.join(dir, 'carol-proxy'), carol, CAROL),
    admin: ctx.proxy.kubeconfig(path.join(dir, 'admin-proxy'), admin, 'admin'),
  };
  ctx.direct = {
    alice: ctx.cp.writeKubeconfig(path.join(dir, 'alice-direct'), alice, ALICE),
    admin: ctx.cp.writeKubeconfig(path.join(dir, 'admin-direct'), admin, 'admin'),
  };
  ctx.http = { alice: ctx.proxy.client(alice), carol: ctx.proxy.client(carol) };
  // The proxy answers from its informers: wait until it has seen the fixtures.
  await eventually(() => namesVia(ctx.http.alice), (names) => names.join() === [oil.dev, oil.prod].join(), `${ALICE}'s namespaces through the proxy`);
  await eventually(() => namesVia(ctx.http.carol), (names) => names.join() === gas.dev, `${CAROL}'s namespace through the proxy`);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  for (const name of [oil.dev, oil.prod, gas.dev]) await remove(ctx.cp.admin, NAMESPACE(name)).catch(() => {});
  for (const name of [oil.tenant, gas.tenant]) await deleteTenant(ctx.cp.admin, name).catch(() => {});
});

async function namesVia(client: KubeHttp): Promise<string[]> {
  const r = await client.request('GET', '/api/v1/namespaces');
  if (r.status !== 200) return [`HTTP ${r.status}: ${r.body.slice(0, 200)}`];
  return (JSON.parse(r.body) as { items: KubeObject[] }).items.map((n) => n.metadata.name);
}

/** The NAME column of kubectl's default table output; asserts the header. */
function tableNames(r: KubectlResult, header: RegExp): string[] {
  assert.is(r.code, 0, `kubectl failed: ${r.stderr}`);
  assert.is(r.stderr, '', 'nothing on stderr');
  const [first = '', ...rows] = r.stdout.trimEnd().split('\n');
  assert.match(first, header);
  return rows.map((row) => row.split(/\s+/)[0] ?? '');
}

const NS_HEADER = /^NAME\s+STATUS\s+AGE$/;
const sorted = (names: Iterable<string>): string[] => [...names].sort();

// Ages tick between two runs; everything else must match.
const withoutAges = (text: string): string => text.replace(/\b\d+(s|m|h|d)(\d+(s|m|h))?\b/g, '<age>');

test('get ns: an owner by user sees exactly the namespaces of her tenant', async (ctx) => {
  const r = await kubectl(ctx.via.alice, ['get', 'ns']);
  assert.equal(tableNames(r, NS_HEADER), [oil.dev, oil.prod]);
  assert.match(r.stdout, new RegExp(`${oil.dev}\\s+Active\\s+\\d+s`));
  // Paginated by kubectl (limit/continue through the proxy): the same rows.
  const chunked = await kubectl(ctx.via.alice, ['get', 'ns', '--chunk-size=1']);
  assert.equal(tableNames(chunked, NS_HEADER), [oil.dev, oil.prod]);
  // The same user straight to the apiserver is refused: the proxy is what makes this work.
  const direct = await kubectl(ctx.direct.alice, ['get', 'ns']);
  assert.is(direct.code, 1);
  assert.match(direct.stderr, `User "${ALICE}" cannot list resource "namespaces" in API group "" at the cluster scope`);
});

/** What RBAC and the Capsule objects grant bob (token user, group gas-admins), computed from the cluster. */
async function namespacesOfBob(admin: KubeHttp): Promise<string[]> {
  const subjects = new Set(['User:bob', 'Group:gas-admins', 'Group:system:authenticated']);
  const key = (s: { kind: string; name: string; namespace?: string }) => (s.kind === 'ServiceAccount' ? `User:system:serviceaccount:${s.namespace ?? ''}:${s.name}` : `${s.kind}:${s.name}`);
  type Tenant = KubeObject & { spec?: { owners?: { kind: string; name: string }[] }; status?: { owners?: { kind: string; name: string }[]; namespaces?: string[] } };
  const tenants = (await admin.json<{ items: Tenant[] }>('GET', '/apis/capsule.clastix.io/v1beta2/tenants')).items;
  const namespaces = (await admin.json<{ items: KubeObject[] }>('GET', '/api/v1/namespaces')).items;
  const bindings = (await admin.json<{ items: (KubeObject & { subjects?: { kind: string; name: string; namespace?: string }[] })[] }>('GET', '/apis/rbac.authorization.k8s.io/v1/rolebindings')).items;
  const owned = new Set(tenants.filter((t) => [...(t.spec?.owners ?? []), ...(t.status?.owners ?? [])].some((o) => subjects.has(key(o)))).map((t) => t.metadata.name));
  // A namespace's tenant: its label, else its Tenant ownerReference, else a tenant listing it in status.
  const tenantOf = (ns: KubeObject): string | undefined =>
    ns.metadata.labels?.[TENANT_LABEL] ??
    (ns.metadata.ownerReferences as { kind: string; name: string }[] | undefined)?.find((r) => r.kind === 'Tenant')?.name ??
    tenants.find((t) => t.status?.namespaces?.includes(ns.metadata.name))?.metadata.name;
  const memberOf = new Set(bindings.filter((b) => (b.subjects ?? []).some((s) => subjects.has(key(s)))).map((b) => b.metadata.namespace ?? ''));
  return sorted(namespaces.filter((ns) => { const t = tenantOf(ns); return t !== undefined && (owned.has(t) || memberOf.has(ns.metadata.name)); }).map((ns) => ns.metadata.name));
}

test('get ns: an owner through his group (token user) sees his group tenant namespaces, nothing else', async (ctx) => {
  // Other files leave gas-admins tenants behind and namespaces may still be terminating: converge.
  let seen: string[] = [];
  let expected: string[] = [];
  await eventually(
    async () => {
      expected = await namespacesOfBob(ctx.cp.admin);
      seen = sorted(tableNames(await kubectl(ctx.via.bob, ['get', 'ns']), NS_HEADER));
      return seen;
    },
    (names) => names.join() === expected.join(),
    'bob sees exactly what his group owns',
    30_000,
    500,
  );
  assert.ok(seen.includes(gas.dev), `bob sees ${gas.dev}`);
  assert.not.ok(seen.includes(oil.dev) || seen.includes(oil.prod), 'bob does not see oil');
});

test('get ns: a RoleBinding member who owns nothing sees exactly that namespace', async (ctx) => {
  const r = await kubectl(ctx.via.carol, ['get', 'ns']);
  assert.equal(tableNames(r, NS_HEADER), [gas.dev]);
  const can = await kubectl(ctx.via.carol, ['auth', 'can-i', 'list', 'namespaces']);
  assert.is(can.stdout.trim(), 'yes');
});

test('get ns: admin (system:masters) is forwarded and sees everything, as directly', async (ctx) => {
  // Namespaces other files deleted may finish terminating between the two runs: retry until equal.
  let last: [string, string] = ['', ''];
  await eventually(
    async () => {
      const proxied = await kubectl(ctx.via.admin, ['get', 'ns']);
      const direct = await kubectl(ctx.direct.admin, ['get', 'ns']);
      assert.is(proxied.code, 0, proxied.stderr);
      last = [withoutAges(proxied.stdout), withoutAges(direct.stdout)];
      return last;
    },
    ([proxied, direct]) => proxied === direct,
    'admin through the proxy sees what admin sees directly',
    30_000,
    500,
  );
  for (const name of [oil.dev, oil.prod, gas.dev, 'default', 'kube-system']) assert.match(last[0], new RegExp(`^${name}\\s`, 'm'));
});

test('get ns -w: namespaces join, move in and out of, and leave the tenant live; gas never shows', async (ctx) => {
  const fresh = `oil-new-${suffix}`;
  const drifter = `drift-${suffix}`;
  const gasExtra = `gas-extra-${suffix}`;
  const watch = new KubectlStream(ctx.via.alice, ['get', 'ns', '-w', '--output-watch-events']);
  try {
    await watch.waitFor(new RegExp(`^ADDED\\s+${oil.dev}\\s+Active`));
    await watch.waitFor(new RegExp(`^ADDED\\s+${oil.prod}\\s+Active`));

    // A namespace created for her tenant after the watch started.
    await addTenantNamespace(ctx.cp.admin, ctx.oilTenant, fresh, oilOwners);
    await watch.waitFor(new RegExp(`^ADDED\\s+${fresh}\\s+Active`));

    // A plain namespace labelled into her tenant, then relabelled to gas: ADDED, then DELETED.
    await apply(ctx.cp.admin, NAMESPACE(drifter));
    await patch(ctx.cp.admin, NAMESPACE(drifter), { metadata: { labels: { [TENANT_LABEL]: oil.tenant } } });
    await watch.waitFor(new RegExp(`^ADDED\\s+${drifter}\\s+Active`));
    await patch(ctx.cp.admin, NAMESPACE(drifter), { metadata: { labels: { [TENANT_LABEL]: gas.tenant } } });
    await watch.waitFor(new RegExp(`^DELETED\\s+${drifter}\\s`));

    // gas changes meanwhile: a new gas namespace, gas-dev relabelled, the drifter changed inside gas.
    await addTenantNamespace(ctx.cp.admin, ctx.gasTenant, gasExtra, gasOwners);
    await patch(ctx.cp.admin, NAMESPACE(gas.dev), { metadata: { labels: { touched: suffix } } });
    await patch(ctx.cp.admin, NAMESPACE(drifter), { metadata: { labels: { touched: suffix } } });

    // A deletion: the namespace terminates (MODIFIED), then the controller manager finalizes it.
    await remove(ctx.cp.admin, NAMESPACE(fresh));
    await watch.waitFor(new RegExp(`^MODIFIED\\s+${fresh}\\s+Terminating`));
    await watch.waitFor(new RegExp(`^DELETED\\s+${fresh}\\s`), 60_000);

    // A last change of hers: everything before it has been delivered.
    await patch(ctx.cp.admin, NAMESPACE(oil.dev), { metadata: { labels: { touched: suffix } } });
    await watch.waitFor(new RegExp(`^MODIFIED\\s+${oil.dev}\\s+Active`));

    const lines = watch.lines.join('\n');
    for (const name of [gas.dev, gasExtra]) assert.not.match(lines, name, `${name} never appears`);
    const drifterLines = watch.lines.filter((l) => l.includes(drifter)).map((l) => l.split(/\s+/)[0]);
    assert.equal(drifterLines, ['ADDED', 'DELETED'], 'the drifter appears once and leaves once');
    assert.is(watch.lines[0]?.split(/\s+/).slice(0, 4).join(' '), 'EVENT NAME STATUS AGE');
    assert.is(watch.child.exitCode, null, 'the watch is still running');
    assert.is(watch.stderr, '', 'nothing on stderr');
  } finally {
    await watch.stop();
    await remove(ctx.cp.admin, NAMESPACE(drifter));
    await remove(ctx.cp.admin, NAMESPACE(gasExtra));
  }
});

test('delete ns: the owner deletes her namespace; kubectl prints one line and returns once it is gone', async (ctx) => {
  const doomed = `oil-doomed-${suffix}`;
  await addTenantNamespace(ctx.cp.admin, ctx.oilTenant, doomed, oilOwners);
  await eventually(() => namesVia(ctx.http.alice), (names) => names.includes(doomed), `${doomed} through the proxy`);
  const r = await kubectl(ctx.via.alice, ['delete', 'ns', doomed], { timeoutMs: KUBECTL_DELETE_TIMEOUT_MS });
  assert.is(r.stderr, '', 'no Forbidden (or any other) line on stderr');
  assert.is(r.stdout, `namespace "${doomed}" deleted\n`);
  assert.is(r.code, 0);
  const after = await ctx.cp.admin.request('GET', `/api/v1/namespaces/${doomed}`);
  assert.is(after.status, 404, 'the namespace is gone when kubectl returns');
});

test('auth can-i list namespaces: yes for the owner (no directly)', async (ctx) => {
  const r = await kubectl(ctx.via.alice, ['auth', 'can-i', 'list', 'namespaces']);
  assert.is(r.stdout.trim(), 'yes');
  assert.is(r.code, 0);
  const direct = await kubectl(ctx.direct.alice, ['auth', 'can-i', 'list', 'namespaces']);
  assert.is(direct.stdout.trim(), 'no');
});

test("get ns <another tenant's>: NotFound, as if it did not exist", async (ctx) => {
  const r = await kubectl(ctx.via.alice, ['get', 'ns', gas.dev]);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.is(r.stderr, `Error from server (NotFound): namespaces "${gas.dev}" not found\n`);
  const missing = await kubectl(ctx.via.alice, ['get', 'ns', `no-such-${suffix}`]);
  assert.is(missing.stderr, `Error from server (NotFound): namespaces "no-such-${suffix}" not found\n`, 'the same answer as for a namespace that does not exist');
  const own = await kubectl(ctx.via.alice, ['get', 'ns', oil.dev]);
  assert.equal(tableNames(own, NS_HEADER), [oil.dev]);
});

test('bad selectors: the apiserver error, as kubectl shows it directly', async (ctx) => {
  for (const args of [['-l', 'a in'], ['-l', '!!a'], ['--field-selector', 'spec.foo=bar'], ['--field-selector', 'metadata.name']]) {
    const proxied = await kubectl(ctx.via.alice, ['get', 'ns', ...args]);
    const direct = await kubectl(ctx.direct.admin, ['get', 'ns', ...args]);
    assert.is(proxied.code, 1, `get ns ${args.join(' ')} fails`);
    assert.is(proxied.stderr, direct.stderr, `get ns ${args.join(' ')}: the same error`);
  }
});

test('auth whoami: the authenticated identity (the 1.20 apiserver lacks SelfSubjectReview)', async (ctx) => {
  const alice = await kubectl(ctx.via.alice, ['auth', 'whoami']);
  assert.is(alice.code, 0, alice.stderr);
  assert.match(alice.stdout, /^ATTRIBUTE\s+VALUE$/m);
  assert.match(alice.stdout, new RegExp(`^Username\\s+${ALICE}$`, 'm'));
  assert.match(alice.stdout, /^Groups\s+\[system:authenticated\]$/m);
  const bob = await kubectl(ctx.via.bob, ['auth', 'whoami']);
  assert.is(bob.code, 0, bob.stderr);
  assert.match(bob.stdout, /^Username\s+bob$/m);
  assert.match(bob.stdout, /^UID\s+uid-bob$/m);
  assert.match(bob.stdout, /^Groups\s+\[gas-admins system:authenticated\]$/m);
});

test("get tenants: only the owner's tenant, with the CRD's printer columns", async (ctx) => {
  const r = await kubectl(ctx.via.alice, ['get', 'tenants']);
  const header = /^NAME\s+STATE\s+NAMESPACE QUOTA\s+NAMESPACE COUNT\s+NODE SELECTOR\s+AGE$/;
  assert.equal(tableNames(r, header), [oil.tenant]);
  // The same header and row the apiserver prints for that tenant.
  const direct = await kubectl(ctx.direct.admin, ['get', 'tenants', oil.tenant]);
  assert.is(withoutAges(r.stdout), withoutAges(direct.stdout));
  assert.match(r.stdout, new RegExp(`^${oil.tenant}\\s+Active\\s+2\\s+\\d+s$`, 'm'));
});

test.run();
