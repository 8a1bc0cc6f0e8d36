// A @kubernetes/client-node informer watching namespaces as alice through the proxy converges to her
// tenant's namespaces through an upstream apiserver restart (which makes the proxy's own upstream watch
// expire with 410 and relist), tenant changes, and its own idle reconnects (client-node aborts a watch
// after 30 s without bytes and resumes from its last resourceVersion). This file starts its own control
// plane: it restarts the apiserver.
import * as assert from 'uvu/assert';
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Namespace } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlane } from '../support/control-plane.ts';
import { addTenantNamespace, createTenant, TENANT_LABEL } from '../support/fixtures.ts';
import { apply, patch } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  informer: ListWatch<V1Namespace>;
  errors: unknown[];
  stopped: boolean;
}

const test = suite<Context>('client-node informer through the proxy');

const names = (ctx: Context) => ctx.informer.list().map((n) => n.metadata?.name ?? '').sort();

async function converges(ctx: Context, expected: string[], what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (JSON.stringify(names(ctx)) === JSON.stringify([...expected].sort())) return;
    await sleep(100);
  }
  assert.equal(names(ctx), [...expected].sort(), what);
}

test.before(async (ctx) => {
  ctx.cp = await ControlPlane.start({ unref: true });
  const tenant = await createTenant(ctx.cp.admin, { name: 'oil', owners: [{ kind: 'User', name: 'alice' }], namespaces: ['oil-dev', 'oil-prod'] });
  await createTenant(ctx.cp.admin, { name: 'gas', owners: [{ kind: 'Group', name: 'gas-admins' }], namespaces: ['gas-dev'] });
  void tenant;
  ctx.proxy = await startProxy(ctx.cp);
  const file = ctx.proxy.kubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'informer-')), 'alice'), await ctx.cp.clientCertificate('alice'), 'alice');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const core = kc.makeApiClient(CoreV1Api);
  ctx.errors = [];
  // makeInformer's ListWatch, with one difference: its reconnect back-off (up to 30 s, growing with each
  // watch that ends) is a timer that survives stop(), and would hold this process open after the tests.
  const unrefDelay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  ctx.informer = new ListWatch<V1Namespace>('/api/v1/namespaces', new Watch(kc), () => core.listNamespace(), false, undefined, undefined, { delayFn: unrefDelay });
  ctx.stopped = false;
  ctx.informer.on('error', (err: unknown) => {
    if (ctx.stopped) return; // stop() aborts the watch, which client-node reports as an error
    ctx.errors.push(err);
    // client-node stops on errors; a real controller restarts it, and so do we, after a pause.
    setTimeout(() => void ctx.informer.start(), 1_000);
  });
  // The proxy answers 429 until its informers have synced; wait until it is ready.
  const deadline = Date.now() + 30_000;
  while (!ctx.proxy.proxy.ready && Date.now() < deadline) await sleep(100);
  await ctx.informer.start();
});

test.after(async (ctx) => {
  ctx.stopped = true;
  await ctx.informer?.stop();
  await ctx.proxy?.stop();
  await ctx.cp?.stop();
});

test('converges to alice\'s namespaces', async (ctx) => {
  await converges(ctx, ['oil-dev', 'oil-prod'], 'initial list');
});

test('follows tenant changes: a new namespace, one labelled in and out', async (ctx) => {
  const oil = await ctx.cp.admin.json<{ metadata: { name: string; uid: string } }>('GET', '/apis/capsule.clastix.io/v1beta2/tenants/oil');
  await addTenantNamespace(ctx.cp.admin, oil as never, 'oil-new', [{ kind: 'User', name: 'alice' }]);
  await converges(ctx, ['oil-dev', 'oil-new', 'oil-prod'], 'a namespace created for her tenant');
  await apply(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'drifter' } });
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'drifter' } }, { metadata: { labels: { [TENANT_LABEL]: 'oil' } } });
  await converges(ctx, ['drifter', 'oil-dev', 'oil-new', 'oil-prod'], 'labelled into her tenant');
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'drifter' } }, { metadata: { labels: { [TENANT_LABEL]: 'gas' } } });
  await converges(ctx, ['oil-dev', 'oil-new', 'oil-prod'], 'labelled out of her tenant');
});

test('survives an apiserver restart (the proxy relists after 410) and sees what changed meanwhile', async (ctx) => {
  const relistsBefore = await ctx.proxy.metric('tenant_proxy_informer_relists_total', { resource: 'namespaces' });
  await ctx.cp.stopApiserver();
  await sleep(1_000);
  await ctx.cp.startApiserver();
  // Changes right after the restart: the proxy must pick them up through its relist/rewatch.
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'drifter' } }, { metadata: { labels: { [TENANT_LABEL]: 'oil' } } });
  await ctx.cp.admin.request('DELETE', '/api/v1/namespaces/oil-new');
  await converges(ctx, ['drifter', 'oil-dev', 'oil-prod'], 'after the restart', 60_000);
  const relistsAfter = await ctx.proxy.metric('tenant_proxy_informer_relists_total', { resource: 'namespaces' });
  assert.ok(relistsAfter > relistsBefore, `the proxy's namespace informer relisted (${relistsBefore} → ${relistsAfter})`);
  assert.equal(ctx.errors, [], 'the client saw no error');
});

test('survives its own idle reconnect (30 s without bytes) and keeps following', async (ctx) => {
  await sleep(33_000);
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'drifter' } }, { metadata: { labels: { [TENANT_LABEL]: 'gas' } } });
  await converges(ctx, ['oil-dev', 'oil-prod'], 'after an idle reconnect');
  const gasOnly = names(ctx).filter((n) => n.startsWith('gas'));
  assert.equal(gasOnly, [], 'never a namespace of gas');
  assert.equal(ctx.errors, [], 'the client saw no error');
});

test.run();
