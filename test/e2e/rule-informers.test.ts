// Resources named only by clusterResources rules: their informer starts when a rule names them and
// stops when none does, and the rule's subjects list exactly what the rule's selector matches.
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../support/control-plane.ts';
import { apply, patch, remove } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
}

const test = suite<Context>('informers for rule-named resources');
const suffix = Math.random().toString(36).slice(2, 7);
const label = `exposed-${suffix}`;
const rule = { apiVersion: 'capsule.clastix.io/v1beta1', kind: 'GlobalProxySettings', metadata: { name: `rules-${suffix}` } };
// The proxy's own RBAC (deploy/rbac.yaml) covers the kinds it always serves; an operator who names more
// in rules grants the proxy list/watch on them, as here.
const extraRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `tenant-proxy-extra-${suffix}` }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['get', 'list', 'watch'] }] };
const extraBinding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `tenant-proxy-extra-${suffix}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: extraRole.metadata.name }, subjects: [{ kind: 'ServiceAccount', name: 'tenant-proxy', namespace: 'tenant-proxy' }] };
const roles = ['a', 'b', 'c'].map((x) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `role-${x}-${suffix}`, labels: x === 'c' ? {} : { [label]: 'yes' } }, rules: [] }));

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  await apply(ctx.cp.admin, extraRole);
  await apply(ctx.cp.admin, extraBinding);
  for (const r of roles) await apply(ctx.cp.admin, r);
  ctx.proxy = await startProxy(ctx.cp);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  for (const obj of [rule, extraBinding, extraRole, ...roles]) await remove(ctx.cp.admin, obj).catch(() => {});
});

const informerSynced = (ctx: Context) => ctx.proxy.metric('tenant_proxy_informer_synced', { resource: 'clusterroles.rbac.authorization.k8s.io' });
const watchesOf = (ctx: Context) => ctx.proxy.metric('tenant_proxy_informer_watches_total', { resource: 'clusterroles.rbac.authorization.k8s.io' });

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

test('no rule: no informer, and dave is forwarded (Forbidden upstream)', async (ctx) => {
  assert.is(await watchesOf(ctx), 0);
  const dave = ctx.proxy.client(ctx.cp.tokenCredentials('dave'));
  const r = await dave.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles');
  assert.is(r.status, 403);
});

test('a rule naming clusterroles starts their informer; its subject lists exactly the selected ones', async (ctx) => {
  await apply(ctx.cp.admin, { ...rule, spec: { rules: [{ subjects: [{ kind: 'Group', name: 'devs' }], clusterResources: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], operations: ['List'], selector: { matchLabels: { [label]: 'yes' } } }] }] } });
  await eventually(async () => (await informerSynced(ctx)) === 1, 'the clusterroles informer syncs');
  const dave = ctx.proxy.client(ctx.cp.tokenCredentials('dave'));
  let names: string[] = [];
  await eventually(async () => {
    const r = await dave.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles');
    if (r.status !== 200) return false;
    names = (JSON.parse(r.body) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
    return true;
  }, 'dave is served');
  assert.equal(names.sort(), [`role-a-${suffix}`, `role-b-${suffix}`]);
  const other = await dave.request('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/role-c-${suffix}`);
  assert.is(other.status, 404);
  assert.is(JSON.parse(other.body).message, `clusterroles.rbac.authorization.k8s.io "role-c-${suffix}" not found`);
  // A label change brings role-c in.
  await patch(ctx.cp.admin, roles[2] as never, { metadata: { labels: { [label]: 'yes' } } });
  await eventually(async () => (await dave.request('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/role-c-${suffix}`)).status === 200, 'role-c becomes visible');
});

test('removing the rule stops the informer and forwards dave again', async (ctx) => {
  await remove(ctx.cp.admin, rule);
  await eventually(async () => (await watchesOf(ctx)) === 0, 'the informer is stopped (its metrics are gone)');
  const dave = ctx.proxy.client(ctx.cp.tokenCredentials('dave'));
  await eventually(async () => (await dave.request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles')).status === 403, 'dave forwarded again');
});

test.run();
