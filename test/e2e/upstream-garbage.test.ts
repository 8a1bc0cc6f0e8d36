// What the proxy does when the upstream answers what no apiserver would (a stand-in upstream, since the
// real one cannot be made to): a review whose 201 body is not JSON becomes a 502 Status naming what was
// being read — never an exception that ends the process — and the proxy goes on serving. And headers a
// client must not smuggle upstream (X-Remote-*, the apiserver's request-header identity) never arrive.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from '../support/eventually.ts';
import type { HttpResult } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { suite } from '../support/suite.ts';
import { UpstreamDouble } from '../support/upstream-double.ts';

interface Context {
  double: UpstreamDouble;
  proxy: RunningProxy;
}

const test = suite<Context>('an upstream answering garbage');
const SSRR = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const NOT_JSON = '<html>this is not JSON</html>';

test.before(async (ctx) => {
  ctx.double = await UpstreamDouble.start();
  ctx.double.users.set('alice-token', { username: 'alice', groups: [] });
  ctx.double.users.set('carl-token', { username: 'carl', groups: [] });
  // alice owns a tenant, so her rules reviews are the proxy's to augment (and so to parse).
  ctx.double.collections.set('capsule.clastix.io/tenants', [
    { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: 'oil', uid: 'u-oil', resourceVersion: '1' }, spec: { owners: [{ kind: 'User', name: 'alice' }] } },
  ]);
  ctx.proxy = await startProxy(undefined, { upstream: await ctx.double.upstream(mkdtempSync(path.join(tmpdir(), 'garbage-'))), captureLogs: true });
  await waitUntil(() => ctx.proxy.proxy.ready, 'the proxy is ready', 15_000);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.double?.stop();
});

function status(r: HttpResult): { code?: number; reason?: string; message?: string } {
  return JSON.parse(r.body) as { code?: number; reason?: string; message?: string };
}

test('a rules review answered 201 with a body that is not JSON: 502, and the proxy lives on', async (ctx) => {
  ctx.double.answers.set(SSRR, { status: 201, body: NOT_JSON });
  const alice = ctx.proxy.client({ caPem: ctx.proxy.caPem, token: 'alice-token' });
  const r = await alice.request('POST', SSRR, { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'default' } } });
  assert.is(r.status, 502, r.body);
  assert.is(status(r).reason, 'BadGateway');
  assert.match(status(r).message ?? '', 'SelfSubjectRulesReview for alice: the API server answered 201 with a body that is not JSON');
  // Still alive, still answering.
  assert.ok(ctx.proxy.proxy.ready);
  assert.is((await alice.request('GET', '/version')).status, 200);
  ctx.double.answers.delete(SSRR);
});

test('a TokenReview answered with a body that is not JSON: 502 for that request, no crash', async (ctx) => {
  ctx.double.answers.set(TOKEN_REVIEWS, { status: 201, body: NOT_JSON });
  try {
    const carl = ctx.proxy.client({ caPem: ctx.proxy.caPem, token: 'carl-token' });
    const r = await carl.request('GET', '/version');
    assert.is(r.status, 502, r.body);
    assert.match(status(r).message ?? '', 'TokenReview: the API server answered 201 with a body that is not JSON');
  } finally {
    ctx.double.answers.delete(TOKEN_REVIEWS);
  }
  assert.is((await ctx.proxy.client({ caPem: ctx.proxy.caPem, token: 'alice-token' }).request('GET', '/version')).status, 200);
});

test('X-Remote-User, -Group and -Extra-* from a client never reach the upstream', async (ctx) => {
  const alice = ctx.proxy.client({ caPem: ctx.proxy.caPem, token: 'alice-token' });
  const marker = `/api/v1/namespaces/default/configmaps/remote-${Date.now()}`;
  const r = await alice.request('GET', marker, { headers: { 'x-remote-user': 'system:admin', 'x-remote-group': 'system:masters', 'x-remote-extra-scopes': 'all', 'x-kept': 'yes' } });
  assert.is(r.status, 200);
  const seen = ctx.double.requests.find((q) => q.url === marker);
  assert.ok(seen, 'the request was forwarded');
  assert.is(seen.headers['x-kept'], 'yes', 'other headers pass');
  assert.equal(Object.keys(seen.headers).filter((h) => h.startsWith('x-remote-')), [], 'no X-Remote-* upstream');
  assert.is(seen.headers['impersonate-user'], 'alice');
});

test.run();
