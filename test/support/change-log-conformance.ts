// The one conformance suite every ChangeLog passes: test/unit/change-log.test.ts runs it on the
// in-memory log, test/integration/redis-change-log.test.ts on the Redis one (a real redis-server).
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import type { ChangeLog, LeaderToken, LogEntry, TailEvent } from '../../streams/change-log.ts';
import { ZERO, type Position } from '../../streams/position.ts';
import { NAMESPACES, NODES, TENANTS } from '../../streams/resource-type.ts';
import { suite } from './suite.ts';

export interface LogUnderTest {
  log: ChangeLog;
  /** A new acquisition of the lease (a new epoch): the token it returns leads, every earlier one is stale. */
  lead(): Promise<LeaderToken>;
  close(): Promise<void>;
}

const at = (rv: number, seq = 0): Position => ({ rv, seq });

export function change(rv: number, seq: number, name: string, type: 'ADDED' | 'MODIFIED' | 'DELETED' = 'ADDED'): LogEntry {
  return { kind: 'change', position: at(rv, seq), resource: NAMESPACES, type, object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(rv), labels: { n: name } } }, resourceVersion: String(rv) };
}

const synced = (rv: number, seq: number): LogEntry => ({ kind: 'progress', position: at(rv, seq), resource: NODES, state: 'synced', resourceVersion: String(rv) });
const informers = (rv: number, seq: number): LogEntry => ({ kind: 'informers', position: at(rv, seq), resources: [NAMESPACES, NODES, TENANTS] });

const positions = (entries: readonly LogEntry[]) => entries.map((e) => `${e.position.rv}.${e.position.seq}`);

async function readAll(log: ChangeLog, after: Position): Promise<LogEntry[]> {
  const result = await log.read(after, 10_000);
  if (!result.ok) throw new Error(`read after ${after.rv}.${after.seq}: ${result.reason === 'trimmed' ? 'trimmed' : result.error.message}`);
  return result.entries;
}

async function appendOk(log: ChangeLog, token: LeaderToken, entries: LogEntry[]): Promise<void> {
  const result = await log.append(token, entries);
  if (!result.ok) throw new Error(`append refused: ${JSON.stringify(result)}`);
}

/** Collects a tail's entries until `count` have come (or `timeoutMs` passed), then stops it. */
async function collectTail(log: ChangeLog, after: Position, count: number, timeoutMs: number): Promise<{ entries: LogEntry[]; events: TailEvent['kind'][]; collected: Promise<void> }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const entries: LogEntry[] = [];
  const events: TailEvent['kind'][] = [];
  const collected = (async () => {
    for await (const event of log.tail(after, controller.signal)) {
      if (event.kind !== 'idle') events.push(event.kind);
      if (event.kind === 'entries') entries.push(...event.entries);
      if (entries.length >= count) controller.abort();
    }
    clearTimeout(timer);
  })();
  return { entries, events, collected };
}

/** Registers and runs the suite; `done` runs after its last test (e.g. to stop the server). */
export function changeLogConformance(name: string, open: () => Promise<LogUnderTest>, done: () => Promise<void> = async () => undefined): void {
  const test = suite<{ current?: LogUnderTest }>(`ChangeLog conformance: ${name}`, {});
  test.after(done);
  test.before.each(async (context) => {
    context.current = await open();
  });
  test.after.each(async (context) => {
    await context.current?.close();
  });
  const under = (context: { current?: LogUnderTest }): LogUnderTest => {
    if (!context.current) throw new Error('no log opened');
    return context.current;
  };

  test('an empty log has no bounds and reads nothing', async (context) => {
    const { log } = under(context);
    const bounds = await log.bounds();
    assert.equal(bounds, { ok: true, bounds: { first: undefined, last: undefined, top: undefined, trimmedThrough: undefined, floor: undefined } });
    assert.equal(await readAll(log, ZERO), []);
  });

  test('entries of every kind come back whole and in order; reads are paged', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    const batch = [change(100, 0, 'a'), synced(100, 1), change(100, 2, 'b', 'MODIFIED'), informers(100, 3), change(105, 0, 'c', 'DELETED')];
    await appendOk(log, token, batch);
    assert.equal(await readAll(log, ZERO), batch);
    const firstPage = await log.read(ZERO, 2);
    assert.ok(firstPage.ok);
    if (firstPage.ok) assert.equal(positions(firstPage.entries), ['100.0', '100.1']);
    assert.equal(positions(await readAll(log, at(100, 1))), ['100.2', '100.3', '105.0']);
    assert.equal(positions(await readAll(log, at(102))), ['105.0'], 'after a position no entry has');
    assert.equal(await readAll(log, at(105)), []);
    assert.equal(await log.bounds(), { ok: true, bounds: { first: at(100), last: at(105), top: at(105), trimmedThrough: undefined, floor: undefined } });
  });

  test('an append at or below the top is refused whole, with the top', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    await appendOk(log, token, [change(100, 0, 'a'), synced(100, 1)]);
    assert.equal(await log.append(token, [change(100, 1, 'late')]), { ok: false, reason: 'behind', top: at(100, 1) });
    assert.equal(await log.append(token, [change(99, 5, 'older'), change(101, 0, 'newer')]), { ok: false, reason: 'behind', top: at(100, 1) });
    const unordered = await log.append(token, [change(102, 0, 'x'), change(101, 0, 'y')]);
    assert.is(unordered.ok ? 'ok' : unordered.reason, 'invalid');
    const empty = await log.append(token, []);
    assert.is(empty.ok ? 'ok' : empty.reason, 'invalid', 'an empty batch');
    assert.equal(positions(await readAll(log, ZERO)), ['100.0', '100.1'], 'nothing of the refused batches');
    await appendOk(log, token, [change(100, 2, 'next seq')]);
  });

  test('position 0 is refused on an empty log too', async (context) => {
    const { log, lead } = under(context);
    const refused = await log.append(await lead(), [change(0, 0, 'origin')]);
    assert.is(refused.ok ? 'ok' : refused.reason, 'invalid');
    assert.equal(await readAll(log, ZERO), []);
  });

  test('a stale epoch is refused, even ahead of the top; the new epoch appends', async (context) => {
    const { log, lead } = under(context);
    const stale = await lead();
    await appendOk(log, stale, [change(100, 0, 'a')]);
    const current = await lead();
    assert.ok(current.epoch > stale.epoch, 'epochs grow');
    const refused = await log.append(stale, [change(200, 0, 'from the deposed')]);
    assert.is(refused.ok ? 'ok' : refused.reason, 'deposed');
    assert.is((await log.append({ epoch: current.epoch, holder: 'someone-else' }, [change(200, 0, 'impostor')])).ok, false, 'same epoch, other holder');
    await appendOk(log, current, [change(101, 0, 'b')]);
    assert.equal(positions(await readAll(log, ZERO)), ['100.0', '101.0']);
    const trim = await log.trim(stale, { keepMs: 0, notAfter: undefined });
    assert.is(trim.ok ? 'ok' : trim.reason, 'deposed', 'only the holder trims');
  });

  test('a tail started before the appends sees every entry exactly once, in order', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    await appendOk(log, token, [change(10, 0, 'before')]);
    const expected: LogEntry[] = [];
    for (let i = 0; i < 20; i++) expected.push(change(100 + i, 0, `n${i}`), synced(100 + i, 1));
    const tail = await collectTail(log, at(10), expected.length, 10_000);
    for (let i = 0; i < expected.length; i += 6) {
      await appendOk(log, token, expected.slice(i, i + 6));
      await sleep(5);
    }
    await tail.collected;
    assert.equal(positions(tail.entries), positions(expected));
    assert.equal(tail.entries, expected);
  });

  test('a tail from the past reads the history, then follows; abort ends it', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    await appendOk(log, token, [change(1, 0, 'a'), change(2, 0, 'b'), change(3, 0, 'c')]);
    const tail = await collectTail(log, at(1), 3, 10_000);
    await sleep(20);
    await appendOk(log, token, [change(4, 0, 'd')]);
    await tail.collected;
    assert.equal(positions(tail.entries), ['2.0', '3.0', '4.0']);
    const quiet = await collectTail(log, at(4), 1, 200);
    await quiet.collected;
    assert.equal(quiet.entries, [], 'nothing new: the tail waits until aborted');
  });

  test('trimming keeps the history asked for; reading from before the trimmed point is not covered', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    await appendOk(log, token, [change(1, 0, 'old1'), change(2, 0, 'old2')]);
    await sleep(400);
    await appendOk(log, token, [change(3, 0, 'new3'), change(4, 0, 'new4')]);
    // Wide margins: the first batch is 400 ms old, the second would have to wait 200 ms to be trimmed.
    const trimmed = await log.trim(token, { keepMs: 200, notAfter: undefined });
    assert.equal(trimmed, { ok: true, trimmedThrough: at(2) });
    assert.equal(await log.read(ZERO, 10), { ok: false, reason: 'trimmed', trimmedThrough: at(2) });
    assert.equal(await log.read(at(1), 10), { ok: false, reason: 'trimmed', trimmedThrough: at(2) });
    assert.equal(positions(await readAll(log, at(2))), ['3.0', '4.0'], 'after the last trimmed entry: covered');
    assert.equal(await log.bounds(), { ok: true, bounds: { first: at(3), last: at(4), top: at(4), trimmedThrough: at(2), floor: undefined } });
    const tail = await collectTail(log, at(1), 1, 2_000);
    await tail.collected;
    assert.equal(tail.events, ['gap'], 'a tail from a trimmed position reports the gap and ends');
  });

  test('trimming never passes the oldest snapshot kept', async (context) => {
    const { log, lead } = under(context);
    const token = await lead();
    await appendOk(log, token, [change(1, 0, 'a'), change(2, 0, 'b'), change(3, 0, 'c')]);
    await sleep(30);
    assert.equal(await log.trim(token, { keepMs: 0, notAfter: at(1, 5) }), { ok: true, trimmedThrough: at(1) });
    assert.equal(positions(await readAll(log, at(1, 5))), ['2.0', '3.0'], 'a replay from the snapshot position is whole');
    assert.equal(await log.trim(token, { keepMs: 60_000, notAfter: undefined }), { ok: true, trimmedThrough: at(1) }, 'recent entries stay');
    await appendOk(log, token, [change(5, 0, 'after')]);
    await sleep(30);
    assert.equal(await log.trim(token, { keepMs: 0, notAfter: undefined }), { ok: true, trimmedThrough: at(5) });
    assert.equal(await log.bounds(), { ok: true, bounds: { first: undefined, last: undefined, top: at(5), trimmedThrough: at(5), floor: undefined } });
    assert.equal(await log.append(token, [change(5, 0, 'again')]), { ok: false, reason: 'behind', top: at(5) }, 'the top outlives the trimmed entries');
    await appendOk(log, token, [change(6, 0, 'next')]);
    assert.equal(positions(await readAll(log, at(5))), ['6.0']);
  });

  test('reseed: the log starts again above its top; readers behind it are told it was trimmed; only the holder may', async (context) => {
    const { log, lead } = under(context);
    const stale = await lead();
    const token = await lead();
    await appendOk(log, token, [change(1, 0, 'a'), change(2, 0, 'b')]);
    const refused = await log.reseed(stale, at(9));
    assert.ok(!refused.ok && refused.reason === 'deposed', `a stale epoch is refused: ${JSON.stringify(refused)}`);
    assert.equal(positions(await readAll(log, ZERO)), ['1.0', '2.0'], 'nothing changed');
    assert.equal(await log.reseed(token, at(9)), { ok: true });
    assert.equal(await log.read(at(2), 10), { ok: false, reason: 'trimmed', trimmedThrough: at(9) }, 'a reader behind the new start must reload');
    await appendOk(log, token, [change(10, 0, 'c')]);
    assert.equal(positions(await readAll(log, at(9))), ['10.0'], 'after the new start: covered');
    const tail = await collectTail(log, at(2), 1, 2_000);
    await tail.collected;
    assert.equal(tail.events, ['gap']);
  });

  test('the floor only rises, and bounds report it', async (context) => {
    const { log } = under(context);
    assert.equal(await log.raiseFloor(at(7, 3)), { ok: true, floor: at(7, 3) });
    assert.equal(await log.raiseFloor(at(5)), { ok: true, floor: at(7, 3) }, 'a lower one leaves it');
    const local = { rv: 8, seq: 3 * 2 ** 24 + 1 };
    assert.equal(await log.raiseFloor(local), { ok: true, floor: local }, 'a local position (a large seq) survives the round trip');
    const bounds = await log.bounds();
    assert.equal(bounds.ok && bounds.bounds.floor, local);
  });

  test.run();
}
