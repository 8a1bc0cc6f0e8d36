// The Redis lease against a real redis-server: one leader among contenders; a leader whose renewals
// stop getting through (its connection frozen by a relay) deposes itself before the other can take the
// lease, and the log refuses its stale epoch.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { RedisLease } from '../../redis/lease.ts';
import { replicationKeys } from '../../redis/keys.ts';
import type { Role } from '../../streams/leadership.ts';
import { change } from '../support/change-log-conformance.ts';
import { waitUntil } from '../support/eventually.ts';
import { freezableRelay, useRedisServer, type RedisContext, type RedisServer } from '../support/redis.ts';
import { suite } from '../support/suite.ts';

const TTL_MS = 600;
const test = suite<RedisContext>('Redis lease', {});
const serverOf = useRedisServer(test);
let prefixes = 0;



test('a renewal interval above ttl/3 is refused', (context) => {
  const redis = serverOf(context).client('config');
  assert.throws(() => new RedisLease(redis, { replicaId: 'a', ttlMs: 600, renewEveryMs: 201 }), /ttl\/3/);
  redis.disconnect();
});

test('of two contenders exactly one leads, and the key names its epoch', async (context) => {
  const server = serverOf(context);
  const keyPrefix = `{lease-${++prefixes}}:`;
  // A longer ttl than the other tests: a machine this loaded may stall a renewal past a short one.
  const a = new RedisLease(server.client('a'), { replicaId: 'a', ttlMs: 1_500, keyPrefix });
  const b = new RedisLease(server.client('b'), { replicaId: 'b', ttlMs: 1_500, keyPrefix });
  a.start();
  b.start();
  try {
    await waitUntil(() => a.token() !== undefined || b.token() !== undefined, 'a leader', 3_000, 10);
    for (let sample = 0; sample < 100; sample++) {
      const leaders = [a, b].filter((lease) => lease.token() !== undefined);
      assert.is(leaders.length, 1, `exactly one leader at sample ${sample}`);
      await sleep(20);
    }
    const leader = a.token() ?? b.token();
    const value = await server.client('check').get(replicationKeys(keyPrefix).lease);
    assert.is(value, `${leader?.epoch}:${leader?.holder}`);
    assert.is(leader?.epoch, 1, 'one acquisition in all: the lease was renewed, never re-taken');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('stopping the leader hands the lease over at once', async (context) => {
  const server = serverOf(context);
  const keyPrefix = `{lease-${++prefixes}}:`;
  const a = new RedisLease(server.client('a'), { replicaId: 'a', ttlMs: 3_000, keyPrefix });
  a.start();
  await waitUntil(() => a.token() !== undefined, 'a leads', 3_000, 10);
  const b = new RedisLease(server.client('b'), { replicaId: 'b', ttlMs: 3_000, renewEveryMs: 100, keyPrefix });
  b.start();
  await sleep(300);
  assert.is(b.token(), undefined, 'b follows while a renews');
  const stoppedAt = performance.now();
  await a.stop();
  await waitUntil(() => b.token() !== undefined, 'b leads', 2_000, 10);
  assert.ok(performance.now() - stoppedAt < 1_000, 'well within the 3 s ttl');
  assert.is(b.token()?.epoch, 2);
  await b.stop();
});

test('a leader that cannot renew deposes itself before the other acquires; its epoch is then refused', async (context) => {
  const server = serverOf(context);
  const keyPrefix = `{lease-${++prefixes}}:`;
  const relay = await freezableRelay(server.port);
  const a = new RedisLease(server.client('a', relay.port), { replicaId: 'a', ttlMs: TTL_MS, keyPrefix });
  const events: string[] = [];
  let aTokenWhenBLed: unknown = 'b never led';
  a.onChange((role: Role) => events.push(`a ${role.role}`));
  a.start();
  await waitUntil(() => a.token() !== undefined, 'a leads', 3_000, 10);
  const staleToken = a.token();
  const b = new RedisLease(server.client('b'), { replicaId: 'b', ttlMs: TTL_MS, renewEveryMs: 50, keyPrefix });
  b.onChange((role: Role) => {
    events.push(`b ${role.role}`);
    if (role.role === 'leader') aTokenWhenBLed = a.token();
  });
  b.start();
  try {
    await sleep(2 * TTL_MS);
    assert.equal(events, ['a leader'], 'a keeps the lease while its renewals get through');
    relay.freeze();
    await waitUntil(() => b.token() !== undefined, 'b leads once a stalls', 5 * TTL_MS, 10);
    assert.equal(events, ['a leader', 'a follower', 'b leader'], 'a reported deposed before b acquired');
    assert.is(aTokenWhenBLed, undefined, 'a held no token when b took over');
    const log = new RedisChangeLog(server.client('log'), { keyPrefix });
    if (!staleToken) throw new Error('a never had a token');
    const refused = await log.append(staleToken, [change(100, 0, 'from a')]);
    assert.is(refused.ok ? 'appended' : refused.reason, 'deposed');
    const bToken = b.token();
    if (!bToken) throw new Error('b lost the lease');
    assert.ok(bToken.epoch > staleToken.epoch);
    assert.ok((await log.append(bToken, [change(100, 0, 'from b')])).ok);
    relay.thaw();
    await sleep(2 * TTL_MS);
    assert.is(a.token(), undefined, 'a, back in touch, follows');
    assert.ok(b.token(), 'b still leads');
  } finally {
    relay.thaw();
    await a.stop();
    await b.stop();
    await relay.close();
  }
});

test.run();
