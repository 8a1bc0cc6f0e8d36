// The shared level of the auth caches, over an in-memory store: two authenticators (two replicas) share
// one TokenReview, negative results too; the shared TTL is the local one, a JWT's expiry included; only
// the outcome is stored, never the token; a malformed entry, a failing store and a slow store each fall
// back to the review, counted; the impersonation reviewer shares its answers the same way.
import type { IncomingMessage } from 'node:http';
import * as assert from 'uvu/assert';
import { Authenticator } from '../../src/front/authenticate.ts';
import { AccessReviewer, type ResourceAttributes } from '../../src/front/impersonation.ts';
import { createLogger } from '../../src/basics/log.ts';
import { ProxyMetrics } from '../../src/basics/metrics.ts';
import type { SharedCacheContext, SharedRead, SharedStore, SharedWrite } from '../../src/basics/shared-cache.ts';
import type { Upstream, UpstreamResponse } from '../../src/basics/upstream.ts';
import { suite } from '../support/suite.ts';

const test = suite('shared auth caches');
const TTL_MS = 60_000;
const NEGATIVE_TTL_MS = 5_000;

class MemoryStore implements SharedStore {
  readonly entries = new Map<string, { value: string; ttlMs: number }>();
  failure: Error | undefined;
  delayMs = 0;

  async read(space: string, key: string): Promise<SharedRead> {
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failure) return { ok: false, error: this.failure };
    return { ok: true, found: this.entries.get(`${space}:${key}`) };
  }

  async write(space: string, key: string, value: string, ttlMs: number): Promise<SharedWrite> {
    if (this.failure) return { ok: false, error: this.failure };
    this.entries.set(`${space}:${key}`, { value, ttlMs });
    return { ok: true };
  }
}

/** An upstream answering TokenReviews (tokens starting with "bad" are rejected) and SubjectAccessReviews (allowed). */
function fakeUpstream(): { upstream: Upstream; calls: string[] } {
  const calls: string[] = [];
  const answer = (body: unknown): UpstreamResponse => ({ status: 201, headers: {}, body: Buffer.from(JSON.stringify(body)) });
  const upstream = {
    async json(_method: string, path: string, body: { spec: { token?: string } }): Promise<UpstreamResponse> {
      calls.push(path);
      if (path.endsWith('/tokenreviews')) {
        const token = body.spec.token ?? '';
        return answer({ status: !token.startsWith('bad') ? { authenticated: true, user: { username: 'bob', uid: 'u-1', groups: ['devs'], extra: { scopes: ['a'] } } } : { authenticated: false, error: 'bad token' } });
      }
      return answer({ status: { allowed: true } });
    },
  };
  return { upstream: upstream as unknown as Upstream, calls };
}

function replica(store: MemoryStore, upstream: Upstream, waitMs = 200): { authenticator: Authenticator; reviewer: AccessReviewer; metrics: ProxyMetrics } {
  const metrics = new ProxyMetrics();
  const shared: SharedCacheContext = { store, metrics, log: createLogger('silent'), waitMs };
  const authenticator = new Authenticator({ upstream, metrics, tokenCacheTtlMs: TTL_MS, tokenNegativeCacheTtlMs: NEGATIVE_TTL_MS, tokenCacheSize: 100, shared });
  return { authenticator, reviewer: new AccessReviewer(upstream, metrics, TTL_MS, shared), metrics };
}

const withToken = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, socket: {} }) as unknown as IncomingMessage;

async function sharedResults(metrics: ProxyMetrics): Promise<Record<string, number>> {
  const counted: Record<string, number> = {};
  for (const { labels, value } of (await metrics.sharedCache.get()).values) counted[`${labels.cache}/${labels.result}`] = value;
  return counted;
}

function jwt(expiresInS: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp: Math.floor(Date.now() / 1000) + expiresInS })}.good-signature`;
}

test('a token reviewed on one replica is not reviewed on another; the entry holds the outcome, not the token', async () => {
  const store = new MemoryStore();
  const { upstream, calls } = fakeUpstream();
  const [one, two] = [replica(store, upstream), replica(store, upstream)];
  const identity = await one.authenticator.authenticate(withToken('good-token-1'));
  assert.equal(await two.authenticator.authenticate(withToken('good-token-1')), identity);
  assert.equal(identity, { user: 'bob', uid: 'u-1', groups: ['devs'], extra: { scopes: ['a'] } });
  assert.equal(calls, ['/apis/authentication.k8s.io/v1/tokenreviews']);
  const [key, entry] = [...store.entries][0] ?? [];
  assert.match(key ?? '', /^token:[0-9a-f]{64}$/);
  assert.ok(!entry?.value.includes('good-token-1'), 'the token is not stored');
  assert.is(entry?.ttlMs, TTL_MS);
  assert.equal(await sharedResults(two.metrics), { 'token/hit': 1 });
  assert.equal(await sharedResults(one.metrics), { 'token/miss': 1 });
});

test('a rejected token is rejected on another replica without a review, for the negative TTL', async () => {
  const store = new MemoryStore();
  const { upstream, calls } = fakeUpstream();
  const [one, two] = [replica(store, upstream), replica(store, upstream)];
  for (const r of [one, two]) {
    const outcome = await r.authenticator.authenticate(withToken('bad-token')).then(() => 'authenticated', (err: Error) => err.message);
    assert.is(outcome, 'Unauthorized');
  }
  assert.is(calls.length, 1);
  assert.is([...store.entries.values()][0]?.ttlMs, NEGATIVE_TTL_MS);
});

test('a JWT is shared no longer than until its exp', async () => {
  const store = new MemoryStore();
  const { upstream } = fakeUpstream();
  await replica(store, upstream).authenticator.authenticate(withToken(jwt(10)));
  const ttl = [...store.entries.values()][0]?.ttlMs ?? 0;
  assert.ok(ttl > 8_000 && ttl <= 10_000, `shared for ${ttl} ms`);
});

test('a malformed entry, a failing store and a slow store: reviewed, counted', async () => {
  const store = new MemoryStore();
  const { upstream, calls } = fakeUpstream();
  const seed = replica(store, upstream);
  await seed.authenticator.authenticate(withToken('good-token-2'));
  const [key] = [...store.entries.keys()];
  for (const malformed of ['not json', '{"authenticated":true,"groups":[],"extra":{}}', '{"authenticated":true,"user":"","groups":[],"extra":{}}', '{"authenticated":true,"user":"x","groups":[1],"extra":{}}', '{"authenticated":true,"user":"x","groups":[],"extra":{"k":"v"}}', '[]']) {
    store.entries.set(key ?? '', { value: malformed, ttlMs: TTL_MS });
    const r = replica(store, upstream);
    assert.is((await r.authenticator.authenticate(withToken('good-token-2'))).user, 'bob', malformed);
    assert.equal(await sharedResults(r.metrics), { 'token/invalid': 1 }, malformed);
  }
  store.failure = new Error('connection refused');
  const failing = replica(store, upstream);
  assert.is((await failing.authenticator.authenticate(withToken('good-token-2'))).user, 'bob');
  assert.equal(await sharedResults(failing.metrics), { 'token/error': 1, 'token/write-error': 1 });
  store.failure = undefined;
  store.delayMs = 1_000;
  const slow = replica(store, upstream, 50);
  const started = performance.now();
  assert.is((await slow.authenticator.authenticate(withToken('good-token-2'))).user, 'bob');
  assert.ok(performance.now() - started < 500, 'a slow store does not hold the request');
  assert.equal(await sharedResults(slow.metrics), { 'token/timeout': 1 });
  assert.is(calls.length, 9, 'one review each: seed, six malformed, failing, slow');
});

test('an impersonation check answered on one replica is not reviewed on another', async () => {
  const store = new MemoryStore();
  const { upstream, calls } = fakeUpstream();
  const [one, two] = [replica(store, upstream), replica(store, upstream)];
  const caller = { user: 'admin', groups: ['ops'], extra: {} };
  const attributes: ResourceAttributes = { verb: 'impersonate', group: '', resource: 'users', name: 'alice' };
  assert.is(await one.reviewer.allowed(caller, attributes), true);
  assert.is(await two.reviewer.allowed(caller, attributes), true);
  assert.is(await two.reviewer.allowed({ ...caller, groups: ['other'] }, attributes), true);
  assert.equal(calls, ['/apis/authorization.k8s.io/v1/subjectaccessreviews', '/apis/authorization.k8s.io/v1/subjectaccessreviews'], 'another caller is another question');
  assert.equal([...store.entries.values()].map((e) => e.value), ['{"allowed":true}', '{"allowed":true}']);
});

test.run();
