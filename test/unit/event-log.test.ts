// A view's event history (MemoryEventLog) with an injected clock: resuming works from any position the
// history still covers and answers "too old" (the caller's 410) before it; history is bounded both by
// count and by age, and expiring by age keeps the last few events of a quiet view.
import * as assert from 'uvu/assert';
import { MemoryEventLog } from '../../src/views/event-log.ts';
import type { Position } from '../../streams/position.ts';
import { suite } from '../support/suite.ts';

const test = suite('MemoryEventLog');

interface Event {
  position: Position;
}

const at = (rv: number): Position => ({ rv, seq: 0 });

/** A log whose clock the test moves by hand, with one event appended per `rvs` entry, 1 s apart. */
function logWith(rvs: number[], capacity = 100): { log: MemoryEventLog<Event>; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const log = new MemoryEventLog<Event>(capacity, at(0), () => clock.t);
  for (const rv of rvs) {
    log.append({ position: at(rv) });
    clock.t += 1_000;
  }
  return { log, clock };
}

const rvsOf = (events: readonly Event[]) => events.map((e) => e.position.rv);

test('resumes after any position it covers, in order', () => {
  const { log } = logWith([1, 2, 3, 4]);
  const since = log.since(at(2));
  assert.ok(since.ok);
  if (since.ok) assert.equal(rvsOf(since.events), [3, 4]);
  const all = log.since(at(0));
  assert.ok(all.ok);
  if (all.ok) assert.equal(rvsOf(all.events), [1, 2, 3, 4]);
});

test('a full ring forgets its oldest event: resuming from before it is too old', () => {
  const { log } = logWith([1, 2, 3, 4, 5], 3);
  assert.is(log.length, 3);
  assert.equal(log.completeAfter, at(2));
  assert.equal(log.since(at(1)), { ok: false, oldest: at(2) });
  const since = log.since(at(2));
  assert.ok(since.ok);
  if (since.ok) assert.equal(rvsOf(since.events), [3, 4, 5]);
});

test('events older than the cutoff are forgotten, and resuming from before them is too old', () => {
  // Appended at t0, t0+1s, …, t0+5s.
  const { log, clock } = logWith([10, 20, 30, 40, 50, 60]);
  const expired = log.expireBefore(clock.t - 3_500, 0);
  assert.is(expired, 3, 'the three events appended more than 3.5 s ago');
  assert.is(log.length, 3);
  assert.equal(log.completeAfter, at(30));
  assert.equal(log.since(at(20)), { ok: false, oldest: at(30) });
  const since = log.since(at(30));
  assert.ok(since.ok);
  if (since.ok) assert.equal(rvsOf(since.events), [40, 50, 60]);
});

test('a quiet log keeps its last events whatever their age', () => {
  const { log, clock } = logWith([1, 2, 3, 4]);
  clock.t += 3_600_000;
  assert.is(log.expireBefore(clock.t - 75_000, 2), 2);
  assert.is(log.length, 2);
  assert.is(log.expireBefore(clock.t - 75_000, 2), 0, 'nothing more to forget');
  const since = log.since(at(2));
  assert.ok(since.ok);
  if (since.ok) assert.equal(rvsOf(since.events), [3, 4]);
});

test('appending after expiry reuses the ring in order', () => {
  const { log, clock } = logWith([1, 2, 3], 3);
  log.expireBefore(clock.t, 0);
  assert.is(log.length, 0);
  for (const rv of [4, 5, 6, 7]) log.append({ position: at(rv) });
  assert.is(log.length, 3);
  const since = log.since(at(4));
  assert.ok(since.ok);
  if (since.ok) assert.equal(rvsOf(since.events), [5, 6, 7]);
  assert.equal(log.since(at(3)), { ok: false, oldest: at(4) });
});

test('a ring grows to its capacity as events come, in order, also when it had wrapped round', () => {
  const { log, clock } = logWith(Array.from({ length: 12 }, (_, i) => i + 1), 40);
  // Forget the oldest ten, so that the ring's start has moved before it has to grow.
  assert.is(log.expireBefore(clock.t - 2_500, 0), 10);
  for (let rv = 13; rv <= 60; rv++) log.append({ position: at(rv) });
  const since = log.since(at(20));
  assert.ok(since.ok);
  assert.equal(rvsOf(since.events), Array.from({ length: 40 }, (_, i) => i + 21), 'the capacity bounds it: the oldest went');
  assert.equal(log.since(at(19)), { ok: false, oldest: at(20) });
});

test('events put in front fit wherever the ring is still below its capacity', () => {
  const log = new MemoryEventLog<Event>(40, at(40));
  log.append({ position: at(41) });
  log.append({ position: at(42) });
  const older = Array.from({ length: 30 }, (_, i) => ({ position: at(i + 11) }));
  assert.ok(log.backfill(older, at(10)));
  const since = log.since(at(10));
  assert.ok(since.ok);
  assert.equal(rvsOf(since.events), [...Array.from({ length: 30 }, (_, i) => i + 11), 41, 42]);
  assert.not.ok(log.backfill(Array.from({ length: 9 }, (_, i) => ({ position: at(i + 1) })), at(0)), 'past the capacity it refuses');
});

test.run();
