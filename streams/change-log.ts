// The deployment's one ordered log: everything a follower needs, in the leader hub's total order, to be
// in the leader's state — changes, per-type progress, and the set of types being watched.
//
// Every entry has its own position, strictly increasing along the log. A change's position is the one
// the hub's EventClock gave it; an entry that does not move the clock (a relist's SYNCED at a revision
// already reached, an informer-set change) takes the next seq (`clock.next(clock.now.rv)`), so
// positions and log order are one and the same, and "the entries after position p" is exact for every
// position a replica handed out. Appends are fenced by the leader's token (the lease), not only by
// position: a deposed leader that stalled while ahead would otherwise still append.
import type { KubeObject } from './kube-object.ts';
import { comparePositions, ZERO, type Position } from './position.ts';
import type { ChangeType } from './reflector.ts';
import type { ResourceType } from './resource-type.ts';

/** Who may append: the lease holder of one acquisition (epoch grows with every acquisition). */
export interface LeaderToken {
  readonly epoch: number;
  readonly holder: string;
}

export interface ChangeEntry {
  kind: 'change';
  position: Position;
  resource: ResourceType;
  type: ChangeType;
  object: KubeObject;
  /** The type's upstream resourceVersion once this change is applied: where a new leader resumes its watch. */
  resourceVersion: string;
  /** When the leader recorded it (epoch ms): followers measure their lag by it. */
  recordedAt?: number;
}

/** A bookmark moved the type forward; a (re)list completed (synced); the type is not served (absent). */
export type ProgressState = 'bookmark' | 'synced' | 'absent';

export interface ProgressEntry {
  kind: 'progress';
  position: Position;
  resource: ResourceType;
  state: ProgressState;
  resourceVersion: string;
}

/** The complete set of types the leader watches from this position on (CRD- and rule-driven ones included). */
export interface InformerSetEntry {
  kind: 'informers';
  position: Position;
  resources: ResourceType[];
}

export type LogEntry = ChangeEntry | ProgressEntry | InformerSetEntry;

export interface Unavailable {
  ok: false;
  reason: 'unavailable';
  error: Error;
}

export type AppendResult =
  | { ok: true; top: Position }
  /** The token is not the current lease holder's: nothing was appended. */
  | { ok: false; reason: 'deposed'; detail: string }
  /** The first entry is at or below the log's top: nothing was appended. */
  | { ok: false; reason: 'behind'; top: Position }
  /** The batch itself is malformed: empty, not strictly increasing, or at position 0 (the log's origin). */
  | { ok: false; reason: 'invalid'; detail: string }
  | Unavailable;

export type ReadResult =
  | { ok: true; entries: LogEntry[] }
  /** Entries after the position asked for were trimmed: the reader must start again from a snapshot. */
  | { ok: false; reason: 'trimmed'; trimmedThrough: Position }
  | Unavailable;

export interface LogBounds {
  /** The oldest and newest entries held (undefined when empty). */
  first: Position | undefined;
  last: Position | undefined;
  /** The highest position ever appended (the last entry's, unless everything was trimmed). */
  top: Position | undefined;
  /** The newest position trimmed away: reading after any position before it is no longer covered. */
  trimmedThrough: Position | undefined;
  /** The highest position a replica handed out on its own while it could not reach the log (raiseFloor). */
  floor: Position | undefined;
}

export interface TrimRequest {
  /** Keep every entry appended within this many milliseconds. */
  keepMs: number;
  /** Never trim an entry after this position (the oldest snapshot kept: replays start there). */
  notAfter: Position | undefined;
}

export type TrimResult = { ok: true; trimmedThrough: Position | undefined } | { ok: false; reason: 'deposed'; detail: string } | Unavailable;

export type TailEvent =
  | { kind: 'entries'; entries: LogEntry[] }
  /** A read that found nothing new: the log answers. */
  | { kind: 'idle' }
  /** Entries after the tail's position were trimmed before it read them; the tail ends. */
  | { kind: 'gap'; trimmedThrough: Position }
  /** The log could not be read; the tail retries from where it was (nothing lost, nothing repeated). */
  | { kind: 'error'; error: Error };

export interface ChangeLog {
  /** Appends a batch (strictly increasing, above the top) atomically, if `token` holds the lease. */
  append(token: LeaderToken, entries: readonly LogEntry[]): Promise<AppendResult>;
  /** At most `count` entries after `after`, in order. */
  read(after: Position, count: number): Promise<ReadResult>;
  /** Every entry after `after`, as it is appended, until `signal` aborts (then the iterator ends). */
  tail(after: Position, signal: AbortSignal): AsyncIterable<TailEvent>;
  bounds(): Promise<{ ok: true; bounds: LogBounds } | Unavailable>;
  /** Forgets old entries (only the lease holder trims). */
  trim(token: LeaderToken, request: TrimRequest): Promise<TrimResult>;
  /**
   * Starts the log again at `through` (above its top): every entry up to it is dropped and recorded as
   * trimmed, so a reader behind it gets `trimmed` / a `gap` and reloads the snapshot taken there. For a
   * leader whose state the log does not hold (the log lost its tail; the leader ran on its own).
   */
  reseed(token: LeaderToken, through: Position): Promise<{ ok: true } | { ok: false; reason: 'deposed'; detail: string } | Unavailable>;
  /** Records that a replica handed out positions up to `position` on its own: the leader appends above it. */
  raiseFloor(position: Position): Promise<{ ok: true; floor: Position } | Unavailable>;
}

export function sameToken(a: LeaderToken | undefined, b: LeaderToken): boolean {
  return a !== undefined && a.epoch === b.epoch && a.holder === b.holder;
}

/** Undefined when a batch can be appended to some log; otherwise what is wrong with it. */
export function batchProblem(entries: readonly LogEntry[]): string | undefined {
  if (entries.length === 0) return 'an empty batch';
  if (entries[0] && comparePositions(entries[0].position, ZERO) <= 0) return 'position 0 is the log\'s origin, not an entry\'s';
  for (let i = 1; i < entries.length; i++) {
    const before = entries[i - 1];
    const entry = entries[i];
    if (before && entry && comparePositions(entry.position, before.position) <= 0) return `entry ${i} is not after entry ${i - 1}`;
  }
  return undefined;
}
