// TtlCache in memory with an injected clock: entries expire at their TTL, the least recently used entry
// goes first when the bound is reached, and concurrent misses on one key share one computation (one
// TokenReview per token) while a failed computation is never cached.
import * as assert from 'uvu/assert';
import { TtlCache, type Cached } from '../../src/basics/ttl-cache.ts';
import { suite } from '../support/suite.ts';

const test = suite('TtlCache');

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A computation the test settles by hand, counting its calls. */
function deferredCompute<V>(): { compute: () => Promise<Cached<V>>; calls: () => number; resolve: (v: Cached<V>) => void; reject: (e: Error) => void } {
  let calls = 0;
  let settle: { resolve: (v: Cached<V>) => void; reject: (e: Error) => void } | undefined;
  return {
    compute: () => {
      calls++;
      return new Promise<Cached<V>>((resolve, reject) => (settle = { resolve, reject }));
    },
    calls: () => calls,
    resolve: (v) => settle?.resolve(v),
    reject: (e) => settle?.reject(e),
  };
}

test('an entry lives exactly its TTL on the injected clock', () => {
  const clock = fakeClock();
  const cache = new TtlCache<string>(10, clock.now);
  cache.set('k', 'v', 1_000);
  assert.is(cache.get('k'), 'v');
  clock.advance(999);
  assert.is(cache.get('k'), 'v', 'still valid 1 ms before expiry');
  clock.advance(1);
  assert.is(cache.get('k'), undefined, 'gone at expiry');
  assert.is(cache.size, 0, 'an expired entry read is removed');
});

test('each entry has its own TTL; a TTL of 0 or less is not cached', () => {
  const clock = fakeClock();
  const cache = new TtlCache<number>(10, clock.now);
  cache.set('short', 1, 100);
  cache.set('long', 2, 10_000);
  cache.set('zero', 3, 0);
  cache.set('negative', 4, -5);
  clock.advance(100);
  assert.is(cache.get('short'), undefined);
  assert.is(cache.get('long'), 2);
  assert.is(cache.get('zero'), undefined);
  assert.is(cache.get('negative'), undefined);
  assert.is(cache.size, 1);
});

test('setting a key again replaces its value and restarts its TTL', () => {
  const clock = fakeClock();
  const cache = new TtlCache<string>(10, clock.now);
  cache.set('k', 'old', 1_000);
  clock.advance(900);
  cache.set('k', 'new', 1_000);
  clock.advance(900);
  assert.is(cache.get('k'), 'new');
  // Re-setting with a TTL of 0 drops the old value rather than keeping it.
  cache.set('k', 'ignored', 0);
  assert.is(cache.get('k'), undefined);
});

test('LRU bound: the least recently used entry is evicted, a read counts as a use', () => {
  const cache = new TtlCache<string>(3, fakeClock().now);
  cache.set('a', 'A', 60_000);
  cache.set('b', 'B', 60_000);
  cache.set('c', 'C', 60_000);
  assert.is(cache.get('a'), 'A'); // a is now the most recent: b is the oldest
  cache.set('d', 'D', 60_000);
  assert.is(cache.size, 3);
  assert.is(cache.get('b'), undefined, 'b evicted');
  assert.equal(['a', 'c', 'd'].map((k) => cache.get(k)), ['A', 'C', 'D']);
  cache.set('c', 'C2', 60_000); // overwriting also counts as a use: a is now the oldest
  cache.set('e', 'E', 60_000);
  assert.is(cache.get('a'), undefined, 'a evicted');
  assert.is(cache.get('c'), 'C2');
});

test('a bound of 0 caches nothing', async () => {
  const cache = new TtlCache<string>(0, fakeClock().now);
  cache.set('k', 'v', 60_000);
  assert.is(cache.get('k'), undefined);
  let calls = 0;
  const compute = async () => ({ value: `v${++calls}`, ttlMs: 60_000 });
  assert.is(await cache.getOrCompute('k', compute), 'v1');
  assert.is(await cache.getOrCompute('k', compute), 'v2');
});

test('single flight: N concurrent getOrCompute on one key call compute once and all get its value', async () => {
  const cache = new TtlCache<string>(10, fakeClock().now);
  const d = deferredCompute<string>();
  const waiting = Array.from({ length: 50 }, () => cache.getOrCompute('token', d.compute));
  assert.is(d.calls(), 1, 'one computation for 50 callers');
  d.resolve({ value: 'alice', ttlMs: 60_000 });
  assert.equal(await Promise.all(waiting), Array.from({ length: 50 }, () => 'alice'));
  // And the result is cached: later callers do not compute either.
  assert.is(await cache.getOrCompute('token', d.compute), 'alice');
  assert.is(d.calls(), 1);
});

test('single flight is per key: different keys compute independently', async () => {
  const cache = new TtlCache<string>(10, fakeClock().now);
  const a = deferredCompute<string>();
  const b = deferredCompute<string>();
  const pa = cache.getOrCompute('a', a.compute);
  const pb = cache.getOrCompute('b', b.compute);
  assert.is(a.calls() + b.calls(), 2);
  b.resolve({ value: 'B', ttlMs: 1_000 });
  a.resolve({ value: 'A', ttlMs: 1_000 });
  assert.equal(await Promise.all([pa, pb]), ['A', 'B']);
});

test('a failed compute rejects every waiting caller and is not cached', async () => {
  const cache = new TtlCache<string>(10, fakeClock().now);
  const d = deferredCompute<string>();
  const waiting = Array.from({ length: 5 }, () => cache.getOrCompute('k', d.compute).then(() => 'resolved', (err: Error) => err.message));
  d.reject(new Error('upstream unreachable'));
  assert.equal(await Promise.all(waiting), Array.from({ length: 5 }, () => 'upstream unreachable'));
  assert.is(cache.size, 0);
  // The next caller computes again, and its success is cached.
  const retry = cache.getOrCompute('k', d.compute);
  assert.is(d.calls(), 2, 'the failure was not remembered');
  d.resolve({ value: 'ok', ttlMs: 1_000 });
  assert.is(await retry, 'ok');
  assert.is(cache.get('k'), 'ok');
});

test('a computed value expires on the clock and is then computed afresh', async () => {
  const clock = fakeClock();
  const cache = new TtlCache<string>(10, clock.now);
  let calls = 0;
  const compute = async (): Promise<Cached<string>> => ({ value: `v${++calls}`, ttlMs: 500 });
  assert.is(await cache.getOrCompute('k', compute), 'v1');
  clock.advance(499);
  assert.is(await cache.getOrCompute('k', compute), 'v1');
  clock.advance(1);
  assert.is(await cache.getOrCompute('k', compute), 'v2');
  assert.is(calls, 2);
});

test('a compute asking for no caching (ttl 0) is shared while in flight, then recomputed', async () => {
  const cache = new TtlCache<string>(10, fakeClock().now);
  const d = deferredCompute<string>();
  const both = [cache.getOrCompute('k', d.compute), cache.getOrCompute('k', d.compute)];
  d.resolve({ value: 'once', ttlMs: 0 });
  assert.equal(await Promise.all(both), ['once', 'once']);
  assert.is(d.calls(), 1);
  void cache.getOrCompute('k', d.compute);
  assert.is(d.calls(), 2, 'not cached afterwards');
  d.resolve({ value: 'again', ttlMs: 0 });
});

test.run();
