// A replica rebuilt from the change log: stores, states and the change stream follow the log entry by
// entry, at the log's own positions (so every replica hands out the same resourceVersions).
import * as assert from 'uvu/assert';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import type { LeaderToken, LogEntry } from '../../streams/change-log.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import { LogReplica } from '../../streams/log-replica.ts';
import { MemoryChangeLog } from '../../streams/memory-change-log.ts';
import { formatPosition, localPosition, localTagOf, parsePosition, randomLocalTag } from '../../streams/position.ts';
import { NAMESPACES, NODES } from '../../streams/resource-type.ts';
import { suite } from '../support/suite.ts';

const test = suite('log replica');
const TOKEN: LeaderToken = { epoch: 1, holder: 'leader' };
const SILENT = { child: () => SILENT, debug: () => {}, info: () => {}, warn: () => {} };

const ns = (name: string, rv: number): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(rv) } });

function entries(): LogEntry[] {
  return [
    { kind: 'informers', position: { rv: 0, seq: 1 }, resources: [NAMESPACES, NODES] },
    { kind: 'change', position: { rv: 10, seq: 0 }, resource: NAMESPACES, type: 'ADDED', object: ns('a', 10), resourceVersion: '10' },
    { kind: 'change', position: { rv: 11, seq: 0 }, resource: NAMESPACES, type: 'ADDED', object: ns('b', 11), resourceVersion: '11' },
    { kind: 'progress', position: { rv: 11, seq: 1 }, resource: NAMESPACES, state: 'synced', resourceVersion: '11' },
    { kind: 'progress', position: { rv: 11, seq: 2 }, resource: NODES, state: 'absent', resourceVersion: '' },
    { kind: 'change', position: { rv: 12, seq: 0 }, resource: NAMESPACES, type: 'DELETED', object: ns('a', 12), resourceVersion: '12' },
  ];
}

test('a replica tailing the log holds what the entries say, at their positions', async () => {
  const log = new MemoryChangeLog({ leaseHolder: () => TOKEN });
  const replica = new LogReplica(log, SILENT);
  const changes = firstValueFrom(replica.changes$.pipe(take(3), toArray()));
  replica.start();
  assert.equal(await log.append(TOKEN, entries()), { ok: true, top: { rv: 12, seq: 0 } });
  const seen = await changes;
  assert.equal(seen.map((c) => `${c.type} ${c.object.metadata.name} @${formatPosition(c.position)}`), ['ADDED a @10', 'ADDED b @11', 'DELETED a @12']);
  assert.equal(seen[2]?.previous?.metadata.resourceVersion, '10', 'a change carries the previous state');
  assert.equal(formatPosition(replica.clock.now), '12');
  const namespaces = replica.store(NAMESPACES);
  assert.equal([...(namespaces?.list() ?? [])].map((o) => o.metadata.name), ['b']);
  assert.is(namespaces?.state, 'synced');
  assert.is(replica.store(NODES)?.state, 'absent');
  await replica.stop();
});

test('a replica started at a position skips what it already holds, and waits on the clock see the log', async () => {
  const log = new MemoryChangeLog({ leaseHolder: () => TOKEN });
  await log.append(TOKEN, entries());
  const replica = new LogReplica(log, SILENT);
  const reached = replica.clock.waitFor({ rv: 12, seq: 0 }, 5_000);
  const deleted = firstValueFrom(replica.changes$.pipe(filter((c) => c.type === 'DELETED')));
  replica.start({ rv: 11, seq: 0 });
  assert.is(await reached, true);
  assert.equal((await deleted).object.metadata.name, 'a');
  // Only the entries after 11 were applied: the store never saw b's ADDED, and a's DELETED found nothing.
  assert.is(replica.store(NAMESPACES)?.size, 0);
  await replica.stop();
});

test('a local period: its positions keep upstream revisions, tag the others, and only this replica resumes from them', async () => {
  const log = new MemoryChangeLog({ leaseHolder: () => TOKEN });
  await log.append(TOKEN, entries());
  const replica = new LogReplica(log, SILENT);
  replica.start({ rv: 0, seq: 0 });
  assert.is(await replica.clock.waitFor({ rv: 12, seq: 0 }, 5_000), true);
  await replica.suspend();
  const tag = randomLocalTag();
  replica.beginLocal(tag);
  // What its own informers see, applied at local positions: a change at its own revision keeps it.
  const own = localPosition({ rv: 14, seq: 0 }, tag);
  const late = localPosition({ rv: 14, seq: 1 }, tag);
  assert.equal(own, { rv: 14, seq: 0 });
  assert.is(localTagOf(late), tag);
  assert.equal(parsePosition(formatPosition(late)), late, 'a tagged position survives the wire');
  replica.apply({ kind: 'change', position: own, resource: NAMESPACES, type: 'ADDED', object: ns('c', 14), resourceVersion: '14' });
  replica.apply({ kind: 'change', position: late, resource: NAMESPACES, type: 'ADDED', object: ns('d', 13), resourceVersion: '14' });
  assert.equal(replica.position, late);

  const other = new LogReplica(log, SILENT);
  assert.ok(replica.servable(late), 'its own tagged position');
  assert.not.ok(other.servable(late), "another replica's tagged position: 410");
  assert.not.ok(replica.servable(localPosition({ rv: 14, seq: 1 }, tag === 1 ? 2 : 1)), 'another period of its own');
  assert.ok(replica.servable({ rv: 13, seq: 0 }) && other.servable({ rv: 13, seq: 0 }), 'an upstream revision means the same everywhere');
  assert.ok(replica.servable({ rv: 11, seq: 2 }), 'a position of the log it read entry by entry');
  assert.not.ok(replica.servable({ rv: 12, seq: 3 }), 'a position of the log after it stopped reading: not read one by one');

  // Back on the log at 20: the stretch between is closed, positions after it serve again.
  replica.jumpTo({ rv: 20, seq: 0 });
  assert.not.ok(replica.servable({ rv: 15, seq: 2 }), 'inside the stretch it did not read');
  assert.ok(replica.servable({ rv: 20, seq: 1 }), 'after it');
  await replica.stop();
});

test.run();
