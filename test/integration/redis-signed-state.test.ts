// With the deployment's key, what the replicas share through Redis besides auth results, the change log
// and the snapshots, is signed: against a real redis-server, what the leader wrote reads back, and an
// entry or a snapshot written by someone without the key (unsigned, signed with another key, altered,
// or moved to another position) is refused by a replica that holds the key.
import * as assert from 'uvu/assert';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { ENTRY_FIELD } from '../../redis/entry-codec.ts';
import { replicationKeys } from '../../redis/keys.ts';
import { replyOf, script } from '../../redis/scripts.ts';
import { Signer, unseal } from '../../redis/signer.ts';
import { RedisSnapshots } from '../../redis/snapshots.ts';
import type { ChangeEntry, LeaderToken, LogEntry } from '../../streams/change-log.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { NAMESPACES } from '../../streams/resource-type.ts';
import type { Snapshot } from '../../streams/snapshot-store.ts';
import { useRedisServer, type RedisContext, type RedisServer } from '../support/redis.ts';
import { suite } from '../support/suite.ts';

const test = suite<RedisContext>('signed change log and snapshots in Redis', {});
const serverOf = useRedisServer(test);
const KEY = new Signer(Buffer.alloc(32, 1));
const OTHER_KEY = new Signer(Buffer.alloc(32, 2));
let prefixes = 0;

function namespace(name: string, rv: number, tenant = 'oil'): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(rv), labels: { 'capsule.clastix.io/tenant': tenant } } };
}

function change(rv: number, object: KubeObject): ChangeEntry {
  return { kind: 'change', position: { rv, seq: 0 }, type: 'ADDED', resource: NAMESPACES, object, resourceVersion: String(rv) };
}

async function setUp(server: RedisServer) {
  const redis = server.client(`signed-${++prefixes}`);
  const keyPrefix = `{signed-${prefixes}}:`;
  const keys = replicationKeys(keyPrefix);
  const acquire = script(redis, 'tenantProxyAcquire');
  const lead = async (): Promise<LeaderToken> => {
    await redis.del(keys.lease);
    const [status, epoch] = replyOf(await acquire(keys.lease, keys.epoch, 'leader', 60_000)) ?? [];
    if (status !== '1') throw new Error(`no lease: ${status}`);
    return { epoch: Number(epoch), holder: 'leader' };
  };
  const log = (signer?: Signer) => new RedisChangeLog(redis, { keyPrefix, timeMarkIntervalMs: 0, signer });
  const snapshots = (signer?: Signer) => new RedisSnapshots(redis, { keyPrefix, pageBytes: 4096, signer });
  return { redis, keys, lead, log, snapshots };
}

const names = (entries: readonly LogEntry[]) => entries.map((e) => (e.kind === 'change' ? e.object.metadata.name : e.kind));

/** The first tail event after `after`, then the tail stops. */
async function firstTailEvent(log: RedisChangeLog, after: LogEntry['position']) {
  const abort = new AbortController();
  try {
    for await (const event of log.tail(after, abort.signal)) return event;
  } finally {
    abort.abort();
  }
  return undefined;
}

test('what the leader appended with the key reads back, by read and by tail; each entry carries its signature', async (context) => {
  const { redis, keys, lead, log } = await setUp(serverOf(context));
  const signed = log(KEY);
  const appended = await signed.append(await lead(), [change(10, namespace('oil-dev', 10)), change(11, namespace('oil-prod', 11))]);
  assert.ok(appended.ok, JSON.stringify(appended));
  const read = await signed.read({ rv: 0, seq: 0 }, 10);
  assert.equal(read.ok && names(read.entries), ['oil-dev', 'oil-prod']);
  const tailed = await firstTailEvent(signed, { rv: 0, seq: 0 });
  assert.equal(tailed?.kind === 'entries' && names(tailed.entries), ['oil-dev', 'oil-prod']);
  const [[, fields = []] = []] = (await redis.xrange(keys.log, '-', '+', 'COUNT', 1)) as [string, string[]][];
  assert.match(fields[fields.indexOf(ENTRY_FIELD) + 1] ?? '', /^[A-Za-z0-9_-]{43}\.\{/);
});

test('entries written without the key, with another key, altered or moved are refused by read and by tail', async (context) => {
  const { redis, keys, lead, log } = await setUp(serverOf(context));
  const signed = log(KEY);
  assert.ok((await signed.append(await lead(), [change(10, namespace('oil-dev', 10))])).ok);
  const [[, fields = []] = []] = (await redis.xrange(keys.log, '-', '+', 'COUNT', 1)) as [string, string[]][];
  const genuine = fields[fields.indexOf(ENTRY_FIELD) + 1] ?? '';
  const { signature, value: json } = unseal(genuine) ?? { signature: '', value: '' };
  const forged = JSON.stringify({ kind: 'change', type: 'ADDED', resource: NAMESPACES, object: namespace('gas-secret', 20, 'oil'), resourceVersion: '20' });
  const otherKeyLog = log(OTHER_KEY);
  const cases: [what: string, id: string, field: string][] = [
    ['unsigned', '20-0', forged],
    ['signed with another key', '21-0', `${OTHER_KEY.sign('change-log', '21-0', forged)}.${forged}`],
    ['altered under a genuine signature', '22-0', `${signature}.${json.replace('oil-dev', 'oil-evil')}`],
    ['a genuine entry moved to another position', '23-0', genuine],
  ];
  for (const [what, id, field] of cases) {
    await redis.xadd(keys.log, id, ENTRY_FIELD, field);
    const read = await signed.read({ rv: 10, seq: 0 }, 10);
    assert.is(read.ok, false, `${what}: read refuses it`);
    assert.match(!read.ok && read.reason === 'unavailable' ? read.error.message : '', new RegExp(`log entry ${id} `), `${what}: the error names the entry`);
    const tailed = await firstTailEvent(signed, { rv: 10, seq: 0 });
    assert.is(tailed?.kind, 'error', `${what}: the tail refuses it`);
    await redis.xdel(keys.log, id);
  }
  // The other key's own log refuses the genuine entry: the signature is the key's, not a checksum.
  assert.is((await otherKeyLog.read({ rv: 0, seq: 0 }, 10)).ok, false);
});

test('a replica without the key reads a signed log (it checks nothing, as before)', async (context) => {
  const { lead, log } = await setUp(serverOf(context));
  assert.ok((await log(KEY).append(await lead(), [change(10, namespace('oil-dev', 10))])).ok);
  const read = await log().read({ rv: 0, seq: 0 }, 10);
  assert.equal(read.ok && names(read.entries), ['oil-dev']);
});

function snapshotAt(rv: number, count: number): Snapshot {
  const objects = Array.from({ length: count }, (_, i) => ({ ...namespace(`oil-${i}`, rv - 1), metadata: { ...namespace(`oil-${i}`, rv - 1).metadata, annotations: { padding: 'x'.repeat(400) } } }));
  return { position: { rv, seq: 0 }, types: [{ resource: NAMESPACES, state: 'synced', resourceVersion: String(rv), objects }] };
}

test('a signed snapshot of many pages loads whole; altered pages, headers or signatures are refused', async (context) => {
  const { redis, keys, lead, snapshots } = await setUp(serverOf(context));
  const signed = snapshots(KEY);
  const written = await signed.write(await lead(), snapshotAt(100, 40));
  if (!written.ok) throw new Error(`write failed: ${JSON.stringify(written)}`);
  assert.ok(written.summary.pages > 2, `${written.summary.pages} pages`);
  const loaded = await signed.loadNewest();
  assert.equal(loaded.ok && loaded.snapshot, snapshotAt(100, 40));
  assert.equal(loaded.ok && loaded.summary, written.summary);
  const unsignedReader = await snapshots().loadNewest();
  assert.equal(unsignedReader.ok && unsignedReader.snapshot, snapshotAt(100, 40), 'a replica without the key loads it');

  const headerKey = keys.snapshotHeader(written.summary.id);
  const pageKey = keys.snapshotPage(written.summary.id, 1);
  const header = (await redis.get(headerKey)) ?? '';
  const page = (await redis.get(pageKey)) ?? '';
  const refused = async (what: string, id = written.summary.id) => {
    // Loaded as the newest, or by its ID (as a starting replica takes the oldest kept): both verify.
    for (const result of [await signed.loadNewest(), await signed.load(id)]) {
      assert.is(result.ok, false, what);
      assert.match(!result.ok && result.reason === 'unavailable' ? result.error.message : '', /refused/, what);
    }
  };
  await redis.set(pageKey, page.replace('oil-', 'gas-'));
  await refused('a page altered');
  await redis.set(pageKey, page);
  await redis.set(headerKey, header.replace('"synced"', '"starting"'));
  await refused('the header altered');
  const { signature: _signature, ...unsigned } = JSON.parse(header) as Record<string, unknown>;
  await redis.set(headerKey, JSON.stringify(unsigned));
  await refused('the signature dropped');
  await redis.set(headerKey, header);
  assert.ok((await signed.loadNewest()).ok, 'the genuine snapshot loads again');

  const foreign = await snapshots(OTHER_KEY).write(await lead(), snapshotAt(200, 5));
  assert.ok(foreign.ok);
  await refused('the newest snapshot signed with another key', foreign.ok ? foreign.summary.id : '');
  const unsignedWrite = await snapshots().write(await lead(), snapshotAt(300, 5));
  assert.ok(unsignedWrite.ok);
  await refused('the newest snapshot written without a key', unsignedWrite.ok ? unsignedWrite.summary.id : '');
});

test.run();
