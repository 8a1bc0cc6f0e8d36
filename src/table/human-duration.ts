// Kubernetes' human-readable durations, as kube-apiserver prints them in Table cells: a port of
// k8s.io/apimachinery/pkg/util/duration.HumanDuration (v1.20) and of the printers'
// translateTimestampSince. Pure functions of their arguments; no clock is read here.
//
// Go computes on nanoseconds and truncates toward zero at every step (int(d.Seconds()), d/time.Minute);
// milliseconds truncated the same way give the same strings.

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

/** "5s", "2m3s", "3h", "2d5h", "4y"…; "0s" down to -1.999s (clock skew), "<invalid>" below that. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND_MS);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / MINUTE_MS);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / HOUR_MS);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

/** Go's zero time.Time (0001-01-01T00:00:00Z), which metav1.Time.IsZero reports as unset. */
export const GO_ZERO_TIME_MS = -62_135_596_800_000;

/**
 * The Age cell: time elapsed since metadata.creationTimestamp, `<unknown>` when the timestamp is unset
 * (null, missing, or Go's zero time). The apiserver never serves an unparseable creationTimestamp.
 */
export function translateTimestampSince(timestamp: unknown, nowMs: number): string {
  const at = typeof timestamp === 'string' ? parseRfc3339(timestamp) : undefined;
  return at === undefined || at === GO_ZERO_TIME_MS ? '<unknown>' : humanDuration(nowMs - at);
}

// time.Parse(time.RFC3339, s) as Go 1.19 accepts it: fractional seconds are optional, any number of
// digits after a period or a comma; the zone is Z or ±hh:mm. Returns epoch milliseconds, or undefined when Go would fail.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

export function parseRfc3339(s: string): number | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMs = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMs = (m[8] === '-' ? -1 : 1) * (oh * HOUR_MS + om * MINUTE_MS);
  }
  const fractionMs = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * SECOND_MS;
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0–99 to 1900–1999
  at.setUTCHours(hour, minute, second, 0);
  return at.getTime() + fractionMs - offsetMs;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
