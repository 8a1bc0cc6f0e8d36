// Snapshots in Redis against a real redis-server: a round trip over many pages, no page above its
// bound, at most two kept, and a snapshot whose writing did not complete is never the one loaded.
import * as assert from 'uvu/assert';
import { replicationKeys } from '../../redis/keys.ts';
import { replyOf, script } from '../../redis/scripts.ts';
import { RedisSnapshots } from '../../redis/snapshots.ts';
import type { LeaderToken } from '../../streams/change-log.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { NAMESPACES, NODES, TENANTS } from '../../streams/resource-type.ts';
import type { Snapshot } from '../../streams/snapshot-store.ts';
import { useRedisServer, type RedisContext, type RedisServer } from '../support/redis.ts';
import { suite } from '../support/suite.ts';

const PAGE_BYTES = 16 * 1024;
const test = suite<RedisContext>('Redis snapshots', {});
const serverOf = useRedisServer(test);
let prefixes = 0;


function namespace(i: number, generation: number): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}`, resourceVersion: String(1000 + i), labels: { generation: String(generation) }, annotations: { padding: 'x'.repeat(900) } } };
}

function snapshotAt(rv: number, namespaces: number, generation = 0): Snapshot {
  return {
    position: { rv, seq: 1 },
    types: [
      { resource: NAMESPACES, state: 'synced', resourceVersion: String(rv), objects: Array.from({ length: namespaces }, (_, i) => namespace(i, generation)) },
      { resource: NODES, state: 'synced', resourceVersion: String(rv - 1), objects: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } }] },
      { resource: TENANTS, state: 'absent', resourceVersion: '', objects: [] },
    ],
  };
}

async function setUp(server: RedisServer, options: { pendingPageTtlMs?: number } = {}) {
  const redis = server.client(`snapshots-${++prefixes}`);
  const keyPrefix = `{snapshots-${prefixes}}:`;
  const keys = replicationKeys(keyPrefix);
  const acquire = script(redis, 'tenantProxyAcquire');
  const lead = async (): Promise<LeaderToken> => {
    await redis.del(keys.lease);
    const [status, epoch] = replyOf(await acquire(keys.lease, keys.epoch, 'writer', 60_000)) ?? [];
    if (status !== '1') throw new Error(`no lease: ${status}`);
    return { epoch: Number(epoch), holder: 'writer' };
  };
  return { redis, keys, keyPrefix, lead, snapshots: new RedisSnapshots(redis, { keyPrefix, pageBytes: PAGE_BYTES, ...options }) };
}


test('nothing to load before the first snapshot', async (context) => {
  const { snapshots } = await setUp(serverOf(context));
  assert.equal(await snapshots.loadNewest(), { ok: false, reason: 'none' });
});

test('a snapshot of many pages comes back whole; no page exceeds its bound by more than one object', async (context) => {
  const { snapshots, lead, redis, keys } = await setUp(serverOf(context));
  const snapshot = snapshotAt(5000, 2000);
  const written = await snapshots.write(await lead(), snapshot);
  if (!written.ok) throw new Error(`write failed: ${JSON.stringify(written)}`);
  assert.ok(written.summary.pages > 100, `${written.summary.pages} pages`);
  const loaded = await snapshots.loadNewest();
  if (!loaded.ok) throw new Error(`load failed: ${JSON.stringify(loaded)}`);
  assert.equal(loaded.snapshot, snapshot);
  assert.equal(loaded.summary, written.summary);
  const largestObject = Math.max(...snapshot.types.flatMap((t) => t.objects.map((o) => JSON.stringify(o).length + 3)));
  for (let page = 0; page < written.summary.pages; page++) {
    const length = await redis.strlen(keys.snapshotPage(written.summary.id, page));
    assert.ok(length > 0 && length <= PAGE_BYTES + largestObject, `page ${page}: ${length} bytes`);
    assert.is(await redis.pttl(keys.snapshotPage(written.summary.id, page)), -1, 'committed pages do not expire');
  }
});

test('a snapshot whose writing did not complete is never loaded', async (context) => {
  const { snapshots, lead, redis, keyPrefix } = await setUp(serverOf(context), { pendingPageTtlMs: 1 });
  const token = await lead();
  // Pages that expire at once: the commit finds one missing and switches nothing.
  const expired = await snapshots.write(token, snapshotAt(6000, 300, 1));
  assert.is(expired.ok ? 'committed' : expired.reason, 'incomplete');
  assert.equal(await snapshots.loadNewest(), { ok: false, reason: 'none' });
  const durable = new RedisSnapshots(redis, { keyPrefix, pageBytes: PAGE_BYTES });
  const first = await durable.write(token, snapshotAt(7000, 300, 2));
  assert.ok(first.ok);
  // A writer deposed before its commit: all its pages written, the pointer never switched to them.
  const deposed = await durable.write({ ...token, epoch: token.epoch - 1 }, snapshotAt(8000, 300, 3));
  assert.is(deposed.ok ? 'committed' : deposed.reason, 'deposed');
  const loaded = await durable.loadNewest();
  if (!loaded.ok) throw new Error(`load failed: ${JSON.stringify(loaded)}`);
  assert.equal(loaded.snapshot, snapshotAt(7000, 300, 2));
});

test('at most two snapshots are kept; the older ones leave no key behind', async (context) => {
  const { snapshots, lead, redis, keys, keyPrefix } = await setUp(serverOf(context));
  const token = await lead();
  const ids: string[] = [];
  for (const rv of [100, 200, 300]) {
    const written = await snapshots.write(token, snapshotAt(rv, 50));
    if (!written.ok) throw new Error(`write failed: ${JSON.stringify(written)}`);
    ids.push(written.summary.id);
  }
  const kept = await snapshots.kept();
  if (!kept.ok) throw new Error(kept.error.message);
  assert.equal(kept.snapshots.map((s) => s.position.rv), [300, 200]);
  assert.equal(await redis.keys(`${keyPrefix}snapshot:${ids[0]}*`), [], 'the oldest one is gone');
  assert.ok((await redis.exists(keys.snapshotHeader(ids[1] ?? ''))) === 1);
  const loaded = await snapshots.loadNewest();
  assert.ok(loaded.ok && loaded.snapshot.position.rv === 300);
  // Each kept one loads by its ID (a starting replica takes the oldest); a dropped one is 'none'.
  const older = await snapshots.load(ids[1] ?? '');
  assert.ok(older.ok && older.snapshot.position.rv === 200 && older.summary.id === ids[1]);
  assert.equal(await snapshots.load(ids[0] ?? ''), { ok: false, reason: 'none' });
});

test.run();
