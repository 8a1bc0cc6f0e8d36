// The foundation's acceptance through the real kubectl: as admin, alice (client certificate) and bob
// (token, through his group), each command gives through the proxy the same output and the same errors
// as the same user gets directly from the apiserver.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ControlPlane } from '../support/control-plane.ts';
import { Tracker, trackTenant, withoutAges } from '../support/cluster-objects.ts';
import { createTenant } from '../support/fixtures.ts';
import { kubectl, KubectlStream, type KubectlResult } from '../support/kubectl.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  direct: Record<string, string>;
  viaProxy: Record<string, string>;
  tracker: Tracker;
}

const test = suite<Context>('kubectl through the proxy, as through the apiserver');
const suffix = Math.random().toString(36).slice(2, 7);
const oil = { tenant: `oil-${suffix}`, dev: `oil-dev-${suffix}`, prod: `oil-prod-${suffix}` };
const gas = { tenant: `gas-${suffix}`, dev: `gas-dev-${suffix}` };

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.proxy = await startProxy(ctx.cp);
  // Removed at the end: a tenant without a nodeSelector shares every node with every other tenant.
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, oil.tenant, [oil.dev, oil.prod]);
  trackTenant(ctx.tracker, gas.tenant, [gas.dev]);
  await createTenant(ctx.cp.admin, { name: oil.tenant, owners: [{ kind: 'User', name: 'alice' }], namespaces: [oil.dev, oil.prod] });
  await createTenant(ctx.cp.admin, { name: gas.tenant, owners: [{ kind: 'Group', name: 'gas-admins' }], namespaces: [gas.dev] });
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-passthrough-'));
  const users = { admin: ctx.cp.adminCredentials(), alice: await ctx.cp.clientCertificate('alice'), bob: ctx.cp.tokenCredentials('bob') };
  ctx.direct = {};
  ctx.viaProxy = {};
  for (const [user, creds] of Object.entries(users)) {
    ctx.direct[user] = ctx.cp.writeKubeconfig(path.join(dir, `${user}-direct`), creds, user);
    ctx.viaProxy[user] = ctx.proxy.kubeconfig(path.join(dir, `${user}-proxy`), creds, user);
  }
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});


async function same(ctx: Context, user: string, args: string[]): Promise<KubectlResult> {
  const direct = withoutAges(await kubectl(ctx.direct[user] ?? '', args));
  const proxied = withoutAges(await kubectl(ctx.viaProxy[user] ?? '', args));
  assert.equal(proxied, direct, `kubectl ${args.join(' ')} as ${user}`);
  return proxied;
}

test('version: the server version passes through', async (ctx) => {
  for (const user of ['admin', 'alice', 'bob']) {
    const r = await same(ctx, user, ['version']);
    assert.match(r.stdout, 'Server Version: v1.20.2');
  }
});

test('api-resources: discovery passes through', async (ctx) => {
  for (const user of ['admin', 'alice', 'bob']) {
    const r = await same(ctx, user, ['api-resources']);
    assert.match(r.stdout, /tenants\s+tnt\s+capsule\.clastix\.io\/v1beta2\s+false\s+Tenant/);
  }
});

test('get ns: admin sees every namespace', async (ctx) => {
  const r = await same(ctx, 'admin', ['get', 'ns']);
  for (const ns of [oil.dev, oil.prod, gas.dev, 'default']) assert.match(r.stdout, ns);
});

test('get ns <own>: owners read their own namespaces', async (ctx) => {
  const alice = await same(ctx, 'alice', ['get', 'ns', oil.dev]);
  assert.match(alice.stdout, new RegExp(`${oil.dev}\\s+Active`));
  const bob = await same(ctx, 'bob', ['get', 'ns', gas.dev, '-o', 'jsonpath={.metadata.labels}']);
  assert.match(bob.stdout, gas.tenant);
});

test('forbidden stays forbidden, with the apiserver message', async (ctx) => {
  const r = await same(ctx, 'alice', ['get', 'pods', '-n', gas.dev]);
  assert.is(r.code, 1);
  assert.match(r.stderr, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "${gas.dev}"`);
  const bob = await same(ctx, 'bob', ['get', 'secrets', '-n', oil.dev]);
  assert.match(bob.stderr, 'User "bob" cannot list resource "secrets"');
});

test('auth can-i answers as for the user', async (ctx) => {
  const yes = await same(ctx, 'alice', ['auth', 'can-i', 'create', 'pods', '-n', oil.dev]);
  assert.is(yes.stdout.trim(), 'yes');
  const no = await same(ctx, 'alice', ['auth', 'can-i', 'create', 'pods', '-n', gas.dev]);
  assert.is(no.stdout.trim(), 'no');
  const bob = await same(ctx, 'bob', ['auth', 'can-i', 'delete', `namespace/${gas.dev}`, '-n', gas.dev]);
  assert.is(bob.stdout.trim(), 'yes');
  const admin = await same(ctx, 'admin', ['auth', 'can-i', '*', '*']);
  assert.is(admin.stdout.trim(), 'yes');
});

test('create, label, delete as the user (protobuf create, merge-patch label)', async (ctx) => {
  for (const [user, ns] of [['alice', oil.dev], ['bob', gas.dev]] as const) {
    const created = await kubectl(ctx.viaProxy[user] ?? '', ['create', 'configmap', `made-by-${user}`, '-n', ns, '--from-literal=k=v']);
    assert.is(created.code, 0, created.stderr);
    assert.is(created.stdout.trim(), `configmap/made-by-${user} created`);
    const labelled = await kubectl(ctx.viaProxy[user] ?? '', ['label', 'configmap', `made-by-${user}`, '-n', ns, 'colour=blue']);
    assert.is(labelled.stdout.trim(), `configmap/made-by-${user} labeled`);
    const seen = await same(ctx, user, ['get', 'configmap', `made-by-${user}`, '-n', ns, '-o', 'jsonpath={.metadata.labels.colour}']);
    assert.is(seen.stdout, 'blue');
    const denied = await same(ctx, user, ['create', 'configmap', 'intruder', '-n', user === 'alice' ? gas.dev : oil.dev]);
    assert.is(denied.code, 1);
    assert.match(denied.stderr, 'is forbidden');
    const deleted = await kubectl(ctx.viaProxy[user] ?? '', ['delete', 'configmap', `made-by-${user}`, '-n', ns]);
    assert.is(deleted.stdout.trim(), `configmap "made-by-${user}" deleted`);
  }
  // The apiserver saw the writes as the users themselves, through the proxy's impersonation.
  const writes = ctx.cp.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'configmaps' && e.objectRef.name?.startsWith('made-by-'));
  assert.equal(writes.map((e) => [e.user.username, e.impersonatedUser?.username]).sort(), [['system:serviceaccount:tenant-proxy:tenant-proxy', 'alice'], ['system:serviceaccount:tenant-proxy:tenant-proxy', 'bob']]);
});

test('get ns -w as admin shows each event as it happens', async (ctx) => {
  const name = `watched-${suffix}`;
  const watch = new KubectlStream(ctx.viaProxy.admin ?? '', ['get', 'ns', '-w']);
  try {
    await watch.waitFor(/^default\s+Active/);
    await kubectl(ctx.direct.admin ?? '', ['create', 'ns', name]);
    await watch.waitFor(new RegExp(`^${name}\\s+Active`));
    await kubectl(ctx.direct.admin ?? '', ['delete', 'ns', name, '--wait=false']);
    await watch.waitFor(new RegExp(`^${name}\\s+Terminating`));
    assert.is(watch.child.exitCode, null, 'the watch is still running');
  } finally {
    await watch.stop();
  }
});

test('delete ns: owners delete their own namespace and kubectl returns', async (ctx) => {
  const name = `doomed-${suffix}`;
  await kubectl(ctx.direct.admin ?? '', ['create', 'ns', name]);
  const r = await kubectl(ctx.viaProxy.admin ?? '', ['delete', 'ns', name], { timeoutMs: 90_000 });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), `namespace "${name}" deleted`);
});

test.run();
