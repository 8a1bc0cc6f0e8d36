// Auth results shared by two replicas through one real redis-server, on the real control plane: a bearer
// token reviewed on one replica is not reviewed on the other, a rejected one neither; an impersonation
// allowed on one is not asked again on the other; an entry forged in Redis (not signed with the replicas'
// key) is refused; and with Redis frozen (a relay that stops passing
// bytes) requests still succeed, each replica reviewing on its own within the bounded wait.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, freezableRelay, startRedis, type FreezableRelay, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  relay: FreezableRelay;
  replicas: RunningProxy[];
}

const test = suite<Context>('auth results shared through Redis');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.relay = await freezableRelay(ctx.redis.port);
  ctx.replicas = [];
  const keyFile = deploymentKeyFile();
  for (const id of ['r1', 'r2']) ctx.replicas.push(await startProxy(ctx.cp, ['--redis', `redis://127.0.0.1:${ctx.relay.port}`, '--replica-id', id, '--lease-ttl', '3s', '--token-cache-ttl', '5m', '--shared-auth-key-file', keyFile]));
});

test.after(async (ctx) => {
  ctx.relay?.thaw();
  for (const r of ctx.replicas ?? []) await r.stop();
  await ctx.relay?.close();
  await ctx.redis?.stop();
});

const replica = (ctx: Context, i: number): RunningProxy => {
  const r = ctx.replicas[i];
  if (!r) throw new Error(`no replica ${i}`);
  return r;
};

/** A metric summed over both replicas. */
async function total(ctx: Context, name: string, labels?: Record<string, string>): Promise<number> {
  const values = await Promise.all(ctx.replicas.map((r) => r.metric(name, labels)));
  return values.reduce((a, b) => a + b, 0);
}

test('a bearer token reviewed on replica 1 costs no review on replica 2', async (ctx) => {
  const before = await total(ctx, 'tenant_proxy_token_reviews_total');
  const credentials = ctx.cp.tokenCredentials('bob');
  assert.is((await replica(ctx, 0).client(credentials).request('GET', '/version')).status, 200);
  assert.is((await replica(ctx, 1).client(credentials).request('GET', '/version')).status, 200);
  assert.is((await total(ctx, 'tenant_proxy_token_reviews_total')) - before, 1, 'one TokenReview for both replicas');
  assert.is(await replica(ctx, 1).metric('tenant_proxy_shared_cache_total', { cache: 'token', result: 'hit' }), 1);
});

test('a rejected token is rejected on replica 2 without a review', async (ctx) => {
  const before = await total(ctx, 'tenant_proxy_token_reviews_total', { result: 'rejected' });
  const credentials = { caPem: ctx.cp.caPem, token: `nope-${suffix}` };
  for (const i of [0, 1]) assert.is((await replica(ctx, i).client(credentials).request('GET', '/version')).status, 401, `replica ${i + 1}`);
  assert.is((await total(ctx, 'tenant_proxy_token_reviews_total', { result: 'rejected' })) - before, 1, 'one TokenReview (rejected) for both replicas');
});

test('an entry written into Redis by someone without the replicas\' key is refused: the token is reviewed', async (ctx) => {
  const token = `forged-${suffix}`;
  const key = `{tenant-proxy}:shared:token:${createHash('sha256').update(token).digest('hex')}`;
  const forged = JSON.stringify({ authenticated: true, user: 'mallory', groups: ['system:masters'], extra: {} });
  const redis = ctx.redis.client('forger');
  await redis.set(key, forged, 'PX', 60_000);
  const errorsBefore = await total(ctx, 'tenant_proxy_shared_cache_total', { cache: 'token', result: 'error' });
  const answer = await replica(ctx, 0).client({ caPem: ctx.cp.caPem, token }).request('GET', '/api/v1/namespaces');
  assert.is(answer.status, 401, 'the forged identity was not used');
  assert.is((await total(ctx, 'tenant_proxy_shared_cache_total', { cache: 'token', result: 'error' })) - errorsBefore, 1, 'the forged entry counted');
});

test('an impersonation allowed on replica 1 is not reviewed again on replica 2', async (ctx) => {
  const before = await total(ctx, 'tenant_proxy_subject_access_reviews_total');
  const headers = { 'impersonate-user': `alice-${suffix}` };
  for (const i of [0, 1]) {
    const r = await replica(ctx, i).client(ctx.cp.adminCredentials()).request('GET', '/version', { headers });
    assert.is(r.status, 200, `replica ${i + 1}: ${r.body}`);
  }
  assert.is((await total(ctx, 'tenant_proxy_subject_access_reviews_total', { result: 'allowed' })) - before, 1, 'one SubjectAccessReview for both replicas');
  assert.is(await replica(ctx, 1).metric('tenant_proxy_shared_cache_total', { cache: 'access', result: 'hit' }), 1);
});

test('with Redis frozen, requests still succeed through reviews, without waiting on Redis', async (ctx) => {
  const tokenReviewsBefore = await total(ctx, 'tenant_proxy_token_reviews_total', { result: 'authenticated' });
  const accessReviewsBefore = await total(ctx, 'tenant_proxy_subject_access_reviews_total', { result: 'allowed' });
  ctx.relay.freeze();
  const credentials = ctx.cp.tokenCredentials('carol');
  for (const i of [0, 1]) {
    const started = performance.now();
    assert.is((await replica(ctx, i).client(credentials).request('GET', '/version')).status, 200, `carol on replica ${i + 1}`);
    const impersonating = await replica(ctx, i).client(ctx.cp.adminCredentials()).request('GET', '/version', { headers: { 'impersonate-user': `erin-${suffix}` } });
    assert.is(impersonating.status, 200, `impersonation on replica ${i + 1}: ${impersonating.body}`);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 1_500, `replica ${i + 1} answered both in ${Math.round(tookMs)} ms`);
  }
  assert.is((await total(ctx, 'tenant_proxy_token_reviews_total', { result: 'authenticated' })) - tokenReviewsBefore, 2, 'each replica reviewed the token itself');
  assert.is((await total(ctx, 'tenant_proxy_subject_access_reviews_total', { result: 'allowed' })) - accessReviewsBefore, 2, 'each replica reviewed the impersonation itself');
  assert.is(await total(ctx, 'tenant_proxy_shared_cache_total', { result: 'timeout' }), 4, 'every lookup gave up after the bounded wait');
});

test.run();
