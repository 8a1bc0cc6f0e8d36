// Who may come in: client certificates of the cluster CA, bearer tokens checked by TokenReview (cached:
// one review per token within the TTL), the websocket bearer subprotocol; everything else is 401. And
// client-sent Impersonate-* headers are honoured only for callers who may impersonate.
import * as assert from 'uvu/assert';
import { createCertificateAuthority, issueCertificate } from '../../src/server/pki.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { Tracker, trackTenant } from '../support/cluster-objects.ts';
import { eventually } from '../support/eventually.ts';
import { createTenant } from '../support/fixtures.ts';
import { KubeHttp } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
}

const test = suite<Context>('authentication and impersonation');
const suffix = Math.random().toString(36).slice(2, 7);
const ns = `auth-oil-${suffix}`;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.proxy = await startProxy(ctx.cp, ['--token-cache-ttl', '5m']);
  // Removed at the end: a tenant without a nodeSelector shares every node with every other tenant.
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, `auth-oil-${suffix}`, [ns]);
  await createTenant(ctx.cp.admin, { name: `auth-oil-${suffix}`, owners: [{ kind: 'User', name: 'alice' }], namespaces: [ns] });
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

function statusOf(body: string): { kind?: string; code?: number; reason?: string; message?: string } {
  return JSON.parse(body) as { kind?: string; code?: number; reason?: string; message?: string };
}

test('a client certificate of the cluster CA authenticates as CN with groups O', async (ctx) => {
  const alice = ctx.proxy.client(await ctx.cp.clientCertificate('alice', ['oil-team']));
  const r = await alice.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: ns } } });
  assert.is(r.status, 201, r.body);
  const audit = ctx.cp.auditEvents().filter((e) => e.objectRef?.resource === 'selfsubjectrulesreviews' && e.impersonatedUser?.username === 'alice');
  assert.ok(audit.length > 0, 'the apiserver saw alice, impersonated');
  assert.ok(audit.at(-1)?.impersonatedUser?.groups?.includes('oil-team'), 'with her certificate group');
});

test('two certificates for one user, with different groups: each connection acts with its own certificate\'s groups', async (ctx) => {
  const [teamA, teamB] = [await ctx.cp.clientCertificate('dana', ['team-a']), await ctx.cp.clientCertificate('dana', ['team-b'])];
  // Each request on a connection of its own, alternating certificates, to a namespace named for it.
  const sent = [teamA, teamB, teamA, teamB].map((credentials, i) => ({ credentials, namespace: `certs-${suffix}-${i}`, group: credentials === teamA ? 'team-a' : 'team-b' }));
  for (const { credentials, namespace } of sent) {
    const r = await ctx.proxy.client(credentials).request('GET', `/api/v1/namespaces/${namespace}/configmaps`);
    assert.is(r.status, 403, r.body);
  }
  await eventually(async () => ctx.cp.auditEvents().filter((e) => e.impersonatedUser?.username === 'dana' && sent.some((s) => s.namespace === e.objectRef?.namespace)).length, (n) => n >= sent.length, 'the apiserver audited every request', 10_000, 200);
  for (const { namespace, group } of sent) {
    const seen = ctx.cp.auditEvents().find((e) => e.objectRef?.namespace === namespace && e.impersonatedUser?.username === 'dana');
    assert.ok(seen?.impersonatedUser?.groups?.includes(group), `${namespace}: impersonated with ${group}, got ${JSON.stringify(seen?.impersonatedUser?.groups)}`);
    assert.not.ok(seen?.impersonatedUser?.groups?.includes(group === 'team-a' ? 'team-b' : 'team-a'), `${namespace}: not with the other certificate's group`);
  }
});

test('a client certificate from another CA is 401, with a Status', async (ctx) => {
  const otherCa = await createCertificateAuthority('someone-else');
  const pair = await issueCertificate(otherCa, { commonName: 'admin', organizations: ['system:masters'], usage: 'client' });
  const r = await ctx.proxy.client({ caPem: ctx.cp.caPem, certPem: pair.certPem, keyPem: pair.keyPem }).request('GET', '/api/v1/namespaces');
  assert.is(r.status, 401);
  assert.equal(statusOf(r.body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
});

test('no credentials, an invalid, empty or malformed token: 401', async (ctx) => {
  const anonymous = ctx.proxy.client({ caPem: ctx.cp.caPem });
  for (const authorization of [undefined, 'Bearer not-a-real-token', 'Bearer ', 'Bearer', 'Basic YWRtaW46YWRtaW4=', 'Bearer a b', '']) {
    const headers = authorization === undefined ? {} : { authorization };
    const r = await anonymous.request('GET', '/api/v1/namespaces', { headers });
    assert.is(r.status, 401, `Authorization: ${String(authorization)}`);
    assert.is(statusOf(r.body).reason, 'Unauthorized');
  }
});

test('bearer tokens: one TokenReview per token within the TTL', async (ctx) => {
  const before = await ctx.proxy.metric('tenant_proxy_token_reviews_total');
  const auditBefore = tokenReviewsByProxy(ctx.cp);
  const bob = ctx.proxy.client(ctx.cp.tokenCredentials('bob'));
  const results = await Promise.all(Array.from({ length: 20 }, () => bob.request('GET', '/version')));
  for (let i = 0; i < 5; i++) results.push(await bob.request('GET', '/version'));
  assert.ok(results.every((r) => r.status === 200));
  assert.is((await ctx.proxy.metric('tenant_proxy_token_reviews_total')) - before, 1, 'counted by the proxy');
  assert.is(tokenReviewsByProxy(ctx.cp) - auditBefore, 1, 'seen by the apiserver');
  // A rejected token is cached too (negative TTL).
  const rejectedBefore = await ctx.proxy.metric('tenant_proxy_token_reviews_total', { result: 'rejected' });
  const bad = ctx.proxy.client({ caPem: ctx.cp.caPem, token: `nope-${suffix}` });
  for (let i = 0; i < 3; i++) assert.is((await bad.request('GET', '/version')).status, 401);
  assert.is((await ctx.proxy.metric('tenant_proxy_token_reviews_total', { result: 'rejected' })) - rejectedBefore, 1);
});

function tokenReviewsByProxy(cp: ControlPlane): number {
  return cp.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.resource === 'tokenreviews' && e.user.username === 'system:serviceaccount:tenant-proxy:tenant-proxy').length;
}

test('service-account tokens authenticate as the service account', async (ctx) => {
  const token = await ctx.cp.serviceAccountToken(ns, 'robot');
  const robot = ctx.proxy.client({ caPem: ctx.cp.caPem, token });
  const r = await robot.request('GET', `/api/v1/namespaces/${ns}/configmaps`);
  assert.is(r.status, 403);
  assert.match(statusOf(r.body).message ?? '', `User "system:serviceaccount:${ns}:robot" cannot list resource "configmaps"`);
});

test('the websocket bearer subprotocol authenticates an upgrade', async (ctx) => {
  const { WebSocket } = await import('ws');
  const token = ctx.cp.tokenCredentials('bob').token ?? '';
  const protocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString('base64url')}`;
  const outcome = await new Promise<string>((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${ctx.proxy.port}/api/v1/namespaces?watch=true`, [protocol, 'v4.channel.k8s.io'], { ca: ctx.proxy.caPem });
    ws.on('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('error', (err) => resolve(`error ${err.message}`));
  });
  // bob may not watch namespaces cluster-wide: the apiserver's 403, not the proxy's 401, proves that
  // the subprotocol token was accepted and bob was impersonated.
  assert.is(outcome, 'HTTP 403');
});

test('alice sending Impersonate-User: admin is refused as the apiserver would', async (ctx) => {
  const alice = ctx.proxy.client(await ctx.cp.clientCertificate('alice'));
  const r = await alice.request('GET', '/api/v1/namespaces', { headers: { 'impersonate-user': 'admin', 'impersonate-group': 'system:masters' } });
  assert.is(r.status, 403);
  const direct = new KubeHttp(ctx.cp.server, await ctx.cp.clientCertificate('alice'));
  const d = await direct.request('GET', '/api/v1/namespaces', { headers: { 'impersonate-user': 'admin', 'impersonate-group': 'system:masters' } });
  direct.close();
  assert.equal(statusOf(r.body), statusOf(d.body), 'same Status as the apiserver');
});

test('a hop-by-hop Connection header cannot strip the impersonation', async (ctx) => {
  const alice = ctx.proxy.client(await ctx.cp.clientCertificate('alice'));
  const r = await alice.request('GET', '/api/v1/secrets', { headers: { connection: 'keep-alive, Impersonate-User, Impersonate-Group, Authorization' } });
  assert.is(r.status, 403, 'still alice, who may not list secrets cluster-wide');
  assert.match(statusOf(r.body).message ?? '', 'User "alice"');
});

test('a caller allowed to impersonate gets the requested identity, groups and extras', async (ctx) => {
  const admin = ctx.proxy.client(ctx.cp.adminCredentials());
  const r = await admin.request('GET', `/api/v1/namespaces/${ns}/secrets`, { headers: { 'impersonate-user': 'alice', 'impersonate-group': ['oil-team', 'auditors'], 'impersonate-extra-scopes': ['a', 'b'] } });
  assert.is(r.status, 200, r.body);
  const seen = ctx.cp.auditEvents().filter((e) => e.requestURI === `/api/v1/namespaces/${ns}/secrets` && e.stage === 'ResponseComplete').at(-1);
  assert.is(seen?.impersonatedUser?.username, 'alice');
  assert.equal(seen?.impersonatedUser?.groups?.filter((g) => g !== 'system:authenticated'), ['oil-team', 'auditors']);
  const groupsOnly = await admin.request('GET', '/api/v1/namespaces', { headers: { 'impersonate-group': 'x' } });
  assert.is(groupsOnly.status, 400);
});

test.run();
