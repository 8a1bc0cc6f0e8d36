// A replica started from a snapshot plus the log after it holds exactly what one that read the whole log
// holds; the log is trimmed to the watch history but never past the oldest snapshot kept; a replica the
// log was trimmed past starts again from the newest snapshot, its views getting the difference; a replica
// starting up takes the oldest one the log reaches back to.
import * as assert from 'uvu/assert';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { LeaderToken, LogEntry } from '../../streams/change-log.ts';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Leadership } from '../../streams/leadership.ts';
import { LogReplica } from '../../streams/log-replica.ts';
import { LogTrimmer } from '../../streams/log-trimmer.ts';
import { MemoryChangeLog } from '../../streams/memory-change-log.ts';
import { MemorySnapshotStore } from '../../streams/memory-snapshot-store.ts';
import { formatPosition, type Position } from '../../streams/position.ts';
import { NAMESPACES, NODES, TENANTS } from '../../streams/resource-type.ts';
import { findStart } from '../../streams/replica-start.ts';
import { SnapshotWriter } from '../../streams/snapshot-writer.ts';
import { suite } from '../support/suite.ts';

const test = suite('replica snapshots');
const TOKEN: LeaderToken = { epoch: 1, holder: 'leader' };
const LEADERSHIP: Leadership = { role: { role: 'leader', token: TOKEN }, token: () => TOKEN, onChange: () => () => undefined };
const SILENT = { child: () => SILENT, debug: () => {}, info: () => {}, warn: () => {} };
const POLICY = { intervalMs: 60_000, maxEntries: 1_000_000, checkMs: 60_000 };
const HOUR = 3_600_000;

const ns = (name: string, rv: number, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(rv), labels } });
const at = (rv: number, seq = 0): Position => ({ rv, seq });

/** Entries up to 12, then (`more`) changes up to 15. */
function firstEntries(): LogEntry[] {
  return [
    { kind: 'informers', position: at(0, 1), resources: [NAMESPACES, NODES, TENANTS] },
    { kind: 'change', position: at(10), resource: NAMESPACES, type: 'ADDED', object: ns('a', 10), resourceVersion: '10' },
    { kind: 'change', position: at(11), resource: NAMESPACES, type: 'ADDED', object: ns('b', 11), resourceVersion: '11' },
    { kind: 'progress', position: at(11, 1), resource: NAMESPACES, state: 'synced', resourceVersion: '11' },
    { kind: 'progress', position: at(11, 2), resource: NODES, state: 'absent', resourceVersion: '' },
    { kind: 'change', position: at(12), resource: NAMESPACES, type: 'ADDED', object: ns('c', 12), resourceVersion: '12' },
  ];
}
function moreEntries(): LogEntry[] {
  return [
    { kind: 'change', position: at(13), resource: NAMESPACES, type: 'DELETED', object: ns('a', 13), resourceVersion: '13' },
    { kind: 'change', position: at(14), resource: NAMESPACES, type: 'MODIFIED', object: ns('b', 14, { step: 'two' }), resourceVersion: '14' },
    { kind: 'change', position: at(15), resource: NAMESPACES, type: 'ADDED', object: ns('d', 15), resourceVersion: '15' },
  ];
}

/** What a replica holds, comparably: position, and per type its state, resourceVersion and objects. */
function stateOf(replica: LogReplica): string {
  const types = replica.stores().map((s) => [s.type.resource, s.state, s.resourceVersion, [...s.list()].map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`).sort()]);
  return JSON.stringify([formatPosition(replica.position), formatPosition(replica.clock.now), types.sort()]);
}

function world() {
  let now = 0;
  const log = new MemoryChangeLog({ leaseHolder: () => TOKEN, now: () => now });
  const snapshots = new MemorySnapshotStore({ leaseHolder: () => TOKEN, now: () => now });
  return { log, snapshots, advance: (ms: number) => (now += ms) };
}

async function readUpTo(replica: LogReplica, position: Position): Promise<void> {
  assert.ok(await replica.clock.waitFor(position, 5_000), `the replica reached ${formatPosition(position)}`);
}

test('a snapshot is the state after every entry up to its position; a replica started from it and the log after it holds what one that read the whole log holds', async () => {
  const { log, snapshots, advance } = world();
  const leader = new LogReplica(log, SILENT);
  leader.start();
  await log.append(TOKEN, firstEntries());
  await readUpTo(leader, at(12));
  const writer = new SnapshotWriter(leader, snapshots, LEADERSHIP, SILENT, POLICY);
  const written = await writer.write();
  assert.equal(written && formatPosition(written.position), '12');
  assert.is(await writer.write(), undefined, 'no second snapshot at the same position');
  const atSnapshot = stateOf(leader);
  advance(HOUR);
  await log.append(TOKEN, moreEntries());
  await readUpTo(leader, at(15));
  // Everything older than the hour kept goes, up to the snapshot: the log no longer holds a's ADDED.
  const trimmer = new LogTrimmer(log, snapshots, LEADERSHIP, SILENT, { keepMs: HOUR / 2, everyMs: HOUR });
  assert.equal(formatPosition((await trimmer.trim()) ?? at(0)), '12');
  assert.is(trimmer.stats.trims, 1);

  const loaded = await snapshots.loadNewest();
  assert.ok(loaded.ok);
  const fromSnapshot = new LogReplica(log, SILENT);
  if (loaded.ok) fromSnapshot.restore(loaded.snapshot);
  assert.is(stateOf(fromSnapshot), atSnapshot, 'the snapshot holds exactly the state at its position');

  const starting = new LogReplica(log, SILENT, snapshots);
  const firstChanges = firstValueFrom(starting.changes$.pipe(take(3), toArray()));
  starting.start();
  assert.equal((await firstChanges).map((c) => `${c.type} ${c.object.metadata.name} @${formatPosition(c.position)}`).sort(), ['ADDED a @12', 'ADDED b @12', 'ADDED c @12'], 'the snapshot reaches the views as changes at its position');
  await readUpTo(starting, at(15));
  assert.is(stateOf(starting), stateOf(leader));
  assert.is(starting.store(NODES)?.state, 'absent');
  assert.is(starting.store(NAMESPACES)?.state, 'synced');
  assert.equal(starting.stats, { applied: 3, loads: 1, gaps: 0 }, 'only the entries after the snapshot were read');
  for (const replica of [leader, fromSnapshot, starting]) await replica.stop();
});

test('the log is trimmed to the watch history, never past the oldest snapshot kept, and not at all without one', async () => {
  const { log, snapshots, advance } = world();
  const leader = new LogReplica(log, SILENT);
  leader.start();
  await log.append(TOKEN, firstEntries());
  await readUpTo(leader, at(12));
  const trimmer = new LogTrimmer(log, snapshots, LEADERSHIP, SILENT, { keepMs: 1_000, everyMs: HOUR });
  advance(HOUR);
  assert.is(await trimmer.trim(), undefined, 'no snapshot kept: nothing trimmed');
  const writer = new SnapshotWriter(leader, snapshots, LEADERSHIP, SILENT, POLICY);
  await writer.write();
  await log.append(TOKEN, moreEntries());
  await readUpTo(leader, at(15));
  advance(HOUR);
  await log.append(TOKEN, [{ kind: 'change', position: at(16), resource: NAMESPACES, type: 'DELETED', object: ns('d', 16), resourceVersion: '16' }]);
  await readUpTo(leader, at(16));
  await writer.write();
  // Kept: the snapshots at 12 and 16. Everything but 16 is older than the watch history, but the log
  // must reach back to 12, the oldest snapshot kept.
  assert.equal(formatPosition((await trimmer.trim()) ?? at(0)), '12');
  const bounds = await log.bounds();
  assert.equal(bounds.ok && bounds.bounds.first && formatPosition(bounds.bounds.first), '13');
  await leader.stop();
});

test('a replica the log was trimmed past starts again from the newest snapshot, its views getting the difference', async () => {
  const { log, snapshots, advance } = world();
  const leader = new LogReplica(log, SILENT);
  leader.start();
  await log.append(TOKEN, firstEntries());
  await readUpTo(leader, at(12));
  const behind = new LogReplica(log, SILENT, snapshots);
  behind.start(at(0));
  await readUpTo(behind, at(12));
  await behind.stop();
  // A replica that stopped reading at 12 (its state kept): it resumes after the log moved on and was trimmed.
  const resumed = new LogReplica(log, SILENT, snapshots);
  resumed.restore((await snapshotAt(leader, snapshots)).snapshot);
  advance(HOUR);
  await log.append(TOKEN, moreEntries());
  await readUpTo(leader, at(15));
  const newest = await snapshotAt(leader, snapshots);
  await new LogTrimmer(log, snapshots, LEADERSHIP, SILENT, { keepMs: 0, everyMs: HOUR }).trim();
  await log.append(TOKEN, [{ kind: 'change', position: at(16), resource: NAMESPACES, type: 'ADDED', object: ns('e', 16), resourceVersion: '16' }]);
  advance(1);
  await log.trim(TOKEN, { keepMs: 0, notAfter: newest.summary.position });
  const differences = firstValueFrom(resumed.changes$.pipe(take(4), toArray()));
  resumed.start(at(12));
  assert.equal((await differences).map((c) => `${c.type} ${c.object.metadata.name} @${formatPosition(c.position)}`), ['DELETED a @15', 'MODIFIED b @15', 'ADDED d @15', 'ADDED e @16']);
  await readUpTo(resumed, at(16));
  await readUpTo(leader, at(16));
  assert.is(stateOf(resumed), stateOf(leader));
  assert.equal({ loads: resumed.stats.loads, gaps: resumed.stats.gaps }, { loads: 1, gaps: 1 });
  await leader.stop();
  await resumed.stop();
});

test('without a snapshot covering the log\'s beginning, a replica starts there and says what it lacks', async () => {
  const { log, snapshots, advance } = world();
  await log.append(TOKEN, firstEntries());
  assert.equal(await findStart(log, snapshots), { ok: true, start: { kind: 'log', after: at(0), missing: undefined } }, 'nothing trimmed, no snapshot: the whole log');
  const leader = new LogReplica(log, SILENT);
  leader.start();
  await readUpTo(leader, at(12));
  await snapshotAt(leader, snapshots);
  advance(HOUR);
  await log.append(TOKEN, moreEntries());
  advance(HOUR);
  // A trim that ignores the snapshot bound (as one would before any snapshot exists).
  await log.trim(TOKEN, { keepMs: 0, notAfter: undefined });
  const found = await findStart(log, snapshots);
  assert.ok(found.ok && found.start.kind === 'log');
  if (found.ok && found.start.kind === 'log') {
    assert.equal(formatPosition(found.start.after), '15');
    assert.match(found.start.missing ?? '', /older than the log's beginning/);
  }
  await leader.stop();
});

test('the leader writes a snapshot after so many entries, before the interval is up', async () => {
  const { log, snapshots } = world();
  const leader = new LogReplica(log, SILENT);
  leader.start();
  const writer = new SnapshotWriter(leader, snapshots, LEADERSHIP, SILENT, { intervalMs: HOUR, maxEntries: 3, checkMs: 5 });
  writer.start();
  await log.append(TOKEN, firstEntries().slice(0, 2));
  await readUpTo(leader, at(10));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.is(writer.stats.written, 1, 'the first one, on leading');
  await log.append(TOKEN, firstEntries().slice(2));
  await readUpTo(leader, at(12));
  await new Promise((resolve) => setTimeout(resolve, 30));
  writer.stop();
  assert.is(writer.stats.written, 2, 'four more entries: the next one');
  const kept = await snapshots.kept();
  assert.equal(kept.ok && kept.snapshots.map((k) => formatPosition(k.position)), ['12', '10']);
  await leader.stop();
});

test('a starting replica takes the oldest snapshot the log reaches back to, so the changes since are its history; the newest when that one is gone', async () => {
  const { log, snapshots, advance } = world();
  const leader = new LogReplica(log, SILENT);
  leader.start();
  await log.append(TOKEN, firstEntries());
  await readUpTo(leader, at(12));
  await snapshotAt(leader, snapshots);
  await log.append(TOKEN, moreEntries().slice(0, 2));
  await readUpTo(leader, at(14));
  await snapshotAt(leader, snapshots);
  await log.append(TOKEN, moreEntries().slice(2));
  await readUpTo(leader, at(15));
  assert.equal(await findStart(log, snapshots, 'oldest'), { ok: true, start: { kind: 'log', after: at(0), missing: undefined } }, 'nothing trimmed yet: the whole log');
  advance(1);
  await log.trim(TOKEN, { keepMs: 0, notAfter: at(12) });

  const starting = new LogReplica(log, SILENT, snapshots);
  const changes = firstValueFrom(starting.changes$.pipe(take(6), toArray()));
  starting.start();
  assert.equal(
    (await changes).map((c) => `${c.type} ${c.object.metadata.name} @${formatPosition(c.position)}`),
    ['ADDED a @12', 'ADDED b @12', 'ADDED c @12', 'DELETED a @13', 'MODIFIED b @14', 'ADDED d @15'],
    'the snapshot at 12, then the log from there: what a watch from 12 or later needs',
  );
  assert.equal(formatPosition(starting.loaded?.position ?? at(0)), '12');
  assert.is(stateOf(starting), stateOf(leader));
  assert.equal(starting.stats, { applied: 3, loads: 1, gaps: 0 });

  // The older one dropped between listing and loading it (a newer commit): the newest, and why.
  const dropping = { kept: () => snapshots.kept(), loadNewest: () => snapshots.loadNewest(), load: async () => ({ ok: false, reason: 'none' }) as const, write: snapshots.write.bind(snapshots) };
  const found = await findStart(log, dropping, 'oldest');
  assert.ok(found.ok && found.start.kind === 'snapshot');
  if (found.ok && found.start.kind === 'snapshot') {
    assert.is(formatPosition(found.start.snapshot.position), '14');
    assert.match(found.start.olderSkipped ?? '', /no longer kept/);
  }
  // Trimmed past the older one: the newest is the oldest the log reaches back to.
  await log.trim(TOKEN, { keepMs: 0, notAfter: at(14) });
  const afterTrim = await findStart(log, snapshots, 'oldest');
  assert.ok(afterTrim.ok && afterTrim.start.kind === 'snapshot' && formatPosition(afterTrim.start.snapshot.position) === '14' && !afterTrim.start.olderSkipped);
  await leader.stop();
  await starting.stop();
});

async function snapshotAt(leader: LogReplica, snapshots: MemorySnapshotStore) {
  await new SnapshotWriter(leader, snapshots, LEADERSHIP, SILENT, POLICY).write();
  const loaded = await snapshots.loadNewest();
  if (!loaded.ok) throw new Error(`no snapshot: ${loaded.reason}`);
  return loaded;
}

test.run();
