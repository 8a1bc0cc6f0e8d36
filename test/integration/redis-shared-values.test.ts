// The shared values of the auth caches on a real redis-server: written under the deployment's prefix
// with SET PX, read back with their remaining TTL, gone when it runs out; through a frozen connection
// or a closed one a lookup answers within the bounded wait and the value is computed instead.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import { Redis } from 'ioredis';
import { RedisSharedValues, sharedValueKey } from '../../redis/shared-values.ts';
import { createLogger } from '../../src/basics/log.ts';
import { ProxyMetrics } from '../../src/basics/metrics.ts';
import { SharedLevel } from '../../src/basics/shared-cache.ts';
import { freezableRelay, useRedisServer, type RedisContext, type RedisServer } from '../support/redis.ts';
import { suite } from '../support/suite.ts';

const test = suite<RedisContext>('Redis shared values', {});
const serverOf = useRedisServer(test);
const PREFIX = '{shared-test}:';



/** A connection as the proxy opens it for the shared caches (no offline queue, commands time out), once ready. */
async function sharedConnection(port: number): Promise<Redis> {
  const redis = new Redis(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, commandTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

function levelOver(values: RedisSharedValues, waitMs = 75): { level: SharedLevel<string>; metrics: ProxyMetrics } {
  const metrics = new ProxyMetrics();
  const level = new SharedLevel<string>({ store: values, metrics, log: createLogger('silent'), waitMs }, 'token', {
    encode: (v) => JSON.stringify({ v }),
    decode: (json) => (typeof json === 'object' && json !== null && 'v' in json && typeof json.v === 'string' ? json.v : undefined),
  });
  return { level, metrics };
}

async function results(metrics: ProxyMetrics): Promise<string[]> {
  return (await metrics.sharedCache.get()).values.filter((v) => v.value > 0).map((v) => `${v.labels.result}=${v.value}`);
}

test('a value is written with SET PX under the prefix and read back with its remaining TTL, then expires', async (context) => {
  const server = serverOf(context);
  const values = new RedisSharedValues(server.client('values'), { keyPrefix: PREFIX });
  assert.equal(await values.write('token', 'abc', '{"x":1}', 300), { ok: true });
  const check = server.client('check');
  assert.is(await check.get(sharedValueKey(PREFIX, 'token', 'abc')), '{"x":1}');
  const read = await values.read('token', 'abc');
  assert.ok(read.ok && read.found?.value === '{"x":1}' && read.found.ttlMs > 0 && read.found.ttlMs <= 300, JSON.stringify(read));
  await sleep(400);
  assert.equal(await values.read('token', 'abc'), { ok: true, found: undefined });
  const refused = await values.write('token', 'abc', 'v', 0);
  assert.ok(!refused.ok && /TTL/.test(refused.error.message));
});

test('a second replica gets the first one\'s value without computing it', async (context) => {
  const server = serverOf(context);
  const [one, two] = [levelOver(new RedisSharedValues(server.client('one'), { keyPrefix: PREFIX })), levelOver(new RedisSharedValues(server.client('two'), { keyPrefix: PREFIX }))];
  let computed = 0;
  const compute = async () => ({ value: `computed-${++computed}`, ttlMs: 5_000 });
  assert.is((await one.level.through('k1', compute)).value, 'computed-1');
  await sleep(50); // the write is not awaited by the request
  const shared = await two.level.through('k1', compute);
  assert.is(shared.value, 'computed-1');
  assert.ok(shared.ttlMs > 4_000 && shared.ttlMs <= 5_000, `the remaining TTL: ${shared.ttlMs}`);
  assert.equal(await results(two.metrics), ['hit=1']);
  await server.client('garbage').set(sharedValueKey(PREFIX, 'token', 'k1'), '{"v":3}x', 'PX', 5_000);
  assert.is((await two.level.through('k1', compute)).value, 'computed-2', 'a malformed entry is a miss');
  assert.equal(await results(two.metrics), ['hit=1', 'invalid=1']);
});

test('a frozen Redis: the lookup gives up after the bounded wait and the value is computed', async (context) => {
  const server = serverOf(context);
  const relay = await freezableRelay(server.port);
  const redis = await sharedConnection(relay.port);
  try {
    const { level, metrics } = levelOver(new RedisSharedValues(redis, { keyPrefix: PREFIX }), 75);
    relay.freeze();
    const started = performance.now();
    const value = await level.through('k2', async () => ({ value: 'reviewed', ttlMs: 5_000 }));
    const tookMs = performance.now() - started;
    assert.is(value.value, 'reviewed');
    assert.ok(tookMs < 300, `answered in ${Math.round(tookMs)} ms`);
    assert.equal(await results(metrics), ['timeout=1']);
    await sleep(1_200); // the frozen write times out on its own (commandTimeout), counted
    assert.equal(await results(metrics), ['timeout=1', 'write-error=1']);
  } finally {
    relay.thaw();
    redis.disconnect();
    await relay.close();
  }
});

test('a Redis that is gone: the lookup fails at once and the value is computed', async (context) => {
  const server = serverOf(context);
  const relay = await freezableRelay(server.port);
  const redis = await sharedConnection(relay.port);
  try {
    await relay.close();
    await sleep(100);
    const { level, metrics } = levelOver(new RedisSharedValues(redis, { keyPrefix: PREFIX }), 75);
    const started = performance.now();
    assert.is((await level.through('k3', async () => ({ value: 'reviewed', ttlMs: 5_000 }))).value, 'reviewed');
    assert.ok(performance.now() - started < 75, 'no wait for the bound: the connection refuses at once');
    await sleep(20);
    assert.equal(await results(metrics), ['error=1', 'write-error=1']);
  } finally {
    redis.disconnect();
    await relay.close();
  }
});

test.run();
