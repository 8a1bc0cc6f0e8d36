// A continue token reads the rest of one list only: the caller's, of the view it listed, at the resource
// and version it listed. The same token from another tenant's owner, on another resource or another
// version, is the apiserver's answer for an expired token (410 Expired), never another tenant's page.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, ingressClass, storageClass, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { eventually } from '../support/eventually.ts';
import { createTenant } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  a: KubeHttp;
  b: KubeHttp;
  /** A second identity in tenant A's view (same scope: the same view, another caller). */
  a2: KubeHttp;
}

const test = suite<Context>('continue tokens are bound to who listed what');
const s = digitSuffix();
const n = (base: string): string => `ct-${base}-${s}`;
const NS = '/api/v1/namespaces';
const LABEL = `ct.test/class-${s}`;

interface List {
  metadata: { continue?: string };
  items: { metadata: { name: string } }[];
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp);
  await ctx.tracker.apply(storageClass(n('sc-1'), { [LABEL]: 'y' }), storageClass(n('sc-2'), { [LABEL]: 'y' }), ingressClass(n('ic-1'), { [LABEL]: 'y' }), ingressClass(n('ic-2'), { [LABEL]: 'y' }));
  const nsA = [n('a-1'), n('a-2'), n('a-3')];
  const nsB = [n('b-1'), n('b-2'), n('b-3')];
  trackTenant(ctx.tracker, n('a'), nsA);
  trackTenant(ctx.tracker, n('b'), nsB);
  const list = [{ kind: 'StorageClasses' as const, operations: ['List' as const] }, { kind: 'IngressClasses' as const, operations: ['List' as const] }];
  await createTenant(ctx.cp.admin, { name: n('a'), owners: [{ kind: 'User', name: n('owner-a'), proxySettings: list }, { kind: 'User', name: n('owner-a2'), proxySettings: list }], namespaces: nsA, spec: { storageClasses: { matchLabels: { [LABEL]: 'y' } }, ingressOptions: { allowedClasses: { matchLabels: { [LABEL]: 'y' } } } } });
  await createTenant(ctx.cp.admin, { name: n('b'), owners: [{ kind: 'User', name: n('owner-b') }], namespaces: nsB });
  await waitReady(ctx.proxy);
  ctx.a = ctx.proxy.client(await ctx.cp.clientCertificate(n('owner-a')));
  ctx.a2 = ctx.proxy.client(await ctx.cp.clientCertificate(n('owner-a2')));
  ctx.b = ctx.proxy.client(await ctx.cp.clientCertificate(n('owner-b')));
  for (const c of [ctx.a, ctx.b]) await eventually(() => c.json<List>('GET', NS), (l) => l.items.length === 3, 'three namespaces each');
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

test('the lister continues; anyone or anywhere else gets 410 Expired', async (ctx) => {
  const first = await ctx.a.json<List>('GET', `${NS}?limit=1`);
  const token = first.metadata.continue ?? '';
  assert.ok(token, 'a continue token');
  const query = `limit=1&continue=${encodeURIComponent(token)}`;
  const expired = async (client: KubeHttp, path: string, what: string) => {
    const r = await client.request('GET', `${path}?${query}`);
    assert.is(r.status, 410, `${what}: ${r.status} ${r.body.slice(0, 200)}`);
    const status = JSON.parse(r.body) as { reason?: string; message?: string };
    assert.is(status.reason, 'Expired', what);
    assert.match(status.message ?? '', 'The provided continue parameter is too old', what);
  };
  await expired(ctx.b, NS, "another tenant's owner");
  await expired(ctx.a2, NS, 'another owner of the same tenant (same view, another caller)');
  await expired(ctx.a, '/apis/storage.k8s.io/v1/storageclasses', 'the same caller on another resource');
  // Another version of one resource: a token of networking.k8s.io/v1 ingress classes at v1beta1.
  const classes = await ctx.a.json<List>('GET', '/apis/networking.k8s.io/v1/ingressclasses?limit=1');
  const classToken = encodeURIComponent(classes.metadata.continue ?? '');
  const otherVersion = await ctx.a.request('GET', `/apis/networking.k8s.io/v1beta1/ingressclasses?limit=1&continue=${classToken}`);
  assert.is(otherVersion.status, 410, `the same caller at another version: ${otherVersion.body.slice(0, 200)}`);
  assert.is((await ctx.a.request('GET', `/apis/networking.k8s.io/v1/ingressclasses?limit=1&continue=${classToken}`)).status, 200, 'at its own version');
  // The lister itself reads on, and the pages together are its own list, each name once.
  const second = await ctx.a.json<List>('GET', `${NS}?${query}`);
  const third = await ctx.a.json<List>('GET', `${NS}?limit=1&continue=${encodeURIComponent(second.metadata.continue ?? '')}`);
  const names = [first, second, third].flatMap((l) => l.items.map((i) => i.metadata.name));
  assert.equal(names, [n('a-1'), n('a-2'), n('a-3')]);
  assert.not.ok(third.metadata.continue);
});

test.run();
