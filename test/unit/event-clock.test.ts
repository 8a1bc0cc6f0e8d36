// The event clock orders processed events and lets requests wait for a position it has not reached yet
// (a resourceVersion newer than the informers have seen): resolved by the clock's own moves, or false
// when the wait runs out.
import * as assert from 'uvu/assert';
import { EventClock, formatPosition } from '../../streams/position.ts';
import { suite } from '../support/suite.ts';

const test = suite('event clock');

test('positions: in-order events keep their revision, late ones follow the clock', () => {
  const clock = new EventClock();
  assert.is(formatPosition(clock.next(10)), '10');
  assert.is(formatPosition(clock.next(7)), '10.1');
  clock.advance(12);
  assert.is(formatPosition(clock.next(11)), '12.1');
});

test('waitFor: at once when reached, on the event that reaches it, false after the timeout', async () => {
  const clock = new EventClock();
  clock.next(5);
  assert.is(await clock.waitFor({ rv: 5, seq: 0 }, 10), true, 'already reached');
  const byEvent = clock.waitFor({ rv: 8, seq: 0 }, 1_000);
  const byBookmark = clock.waitFor({ rv: 9, seq: 0 }, 1_000);
  const late = clock.waitFor({ rv: 9, seq: 1 }, 1_000);
  const never = clock.waitFor({ rv: 100, seq: 0 }, 30);
  clock.next(8);
  assert.is(await byEvent, true, 'an event at the position');
  clock.advance(9);
  assert.is(await byBookmark, true, 'a bookmark at the position');
  clock.next(3);
  assert.is(await late, true, 'a late event after it');
  assert.is(await never, false, 'timed out');
});

test.run();
