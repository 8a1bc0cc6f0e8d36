// humanDuration and the timestamp parsing behind the Age cells, at every boundary of Kubernetes'
// duration.HumanDuration (apimachinery v1.20): a table of durations in, strings out.
import * as assert from 'uvu/assert';
import { GO_ZERO_TIME_MS, humanDuration, parseRfc3339, translateTimestampSince } from '../../src/table/human-duration.ts';
import { suite } from '../support/suite.ts';

const test = suite('humanDuration');
const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const Y = 365 * D;

const CASES: readonly (readonly [ms: number, expected: string])[] = [
  [-2 * S - 1, '<invalid>'],
  [-2 * S, '<invalid>'],
  [-2 * S + 1, '0s'], // int(d.Seconds()) truncates toward zero: -1
  [-1, '0s'],
  [0, '0s'],
  [999, '0s'],
  [S, '1s'],
  [59 * S, '59s'],
  [60 * S, '60s'],
  [2 * M - 1, '119s'],
  [2 * M, '2m'],
  [2 * M + 3 * S, '2m3s'],
  [5 * M + 999, '5m'],
  [10 * M - 1, '9m59s'],
  [10 * M, '10m'],
  [10 * M + 30 * S, '10m'],
  [3 * H - 1, '179m'],
  [3 * H, '3h'],
  [3 * H + 30 * M, '3h30m'],
  [8 * H - 1, '7h59m'],
  [8 * H, '8h'],
  [8 * H + 59 * M, '8h'],
  [48 * H - 1, '47h'],
  [48 * H, '2d'],
  [2 * D + 5 * H, '2d5h'],
  [8 * D - 1, '7d23h'],
  [8 * D, '8d'],
  [2 * Y - 1, '729d'],
  [2 * Y, '2y'],
  [2 * Y + 70 * D, '2y70d'],
  [8 * Y - 1, '7y364d'],
  [8 * Y, '8y'],
  [100 * Y + 300 * D, '100y'],
];

test('every branch and boundary', () => {
  for (const [ms, expected] of CASES) assert.is(humanDuration(ms), expected, `${ms} ms`);
});

test('translateTimestampSince: unset timestamps are <unknown>', () => {
  const now = Date.parse('2024-03-01T12:00:00Z');
  assert.is(translateTimestampSince('2024-03-01T11:59:15Z', now), '45s');
  assert.is(translateTimestampSince('2024-02-28T12:00:00Z', now), '2d'); // 2024 is a leap year
  for (const unset of [undefined, null, '', '0001-01-01T00:00:00Z']) assert.is(translateTimestampSince(unset, now), '<unknown>', String(unset));
});

test('parseRfc3339: what Go 1.19 time.Parse(RFC3339) accepts', () => {
  assert.is(parseRfc3339('2021-01-01T10:00:00.123456789+02:00'), Date.parse('2021-01-01T08:00:00.123Z') + 0.456789);
  assert.is(parseRfc3339('2021-01-01T10:00:00,5Z'), Date.parse('2021-01-01T10:00:00.500Z'));
  assert.is(parseRfc3339('0001-01-01T00:00:00Z'), GO_ZERO_TIME_MS);
  assert.is(parseRfc3339('0099-12-31T23:59:59Z'), Date.parse('0099-12-31T23:59:59Z'));
  for (const bad of ['2021-02-29T00:00:00Z', '2021-01-01T24:00:00Z', '2021-01-01T10:00:60Z', '2021-01-01 10:00:00Z', '2021-01-01T10:00:00', 'yesterday', '2021-1-01T10:00:00Z']) {
    assert.is(parseRfc3339(bad), undefined, bad);
  }
});

test.run();
