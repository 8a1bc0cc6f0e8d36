// Where a replica starts reading the change log: the newest snapshot the log still reaches back to,
// else the log's beginning. The leader trims the log only up to the oldest snapshot kept, so the newest
// one is normally covered; it is not when a trim ran without any snapshot kept, or when the snapshot
// read raced a trim and a newer commit (then the newest one is read again).
import type { ChangeLog, Unavailable } from './change-log.ts';
import { comparePositions, formatPosition, ZERO, type Position } from './position.ts';
import type { Snapshot, SnapshotStore, SnapshotSummary } from './snapshot-store.ts';

const ATTEMPTS = 3;

export type StartPoint =
  | { kind: 'snapshot'; snapshot: Snapshot; summary: SnapshotSummary }
  /** No usable snapshot: from the log's beginning. `missing` says what was trimmed before it, if anything. */
  | { kind: 'log'; after: Position; missing: string | undefined };

export async function findStart(log: ChangeLog, snapshots: SnapshotStore): Promise<{ ok: true; start: StartPoint } | Unavailable> {
  let tooOld: SnapshotSummary | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const loaded = await snapshots.loadNewest();
    if (!loaded.ok && loaded.reason === 'unavailable') return loaded;
    const bounds = await log.bounds();
    if (!bounds.ok) return bounds;
    const { trimmedThrough } = bounds.bounds;
    if (loaded.ok) {
      if (!trimmedThrough || comparePositions(loaded.summary.position, trimmedThrough) >= 0) return { ok: true, start: { kind: 'snapshot', snapshot: loaded.snapshot, summary: loaded.summary } };
      tooOld = loaded.summary;
      continue;
    }
    return { ok: true, start: { kind: 'log', after: trimmedThrough ?? ZERO, missing: trimmedThrough ? `the log was trimmed through ${formatPosition(trimmedThrough)} and no snapshot is kept` : undefined } };
  }
  const bounds = await log.bounds();
  if (!bounds.ok) return bounds;
  const trimmedThrough = bounds.bounds.trimmedThrough ?? ZERO;
  const snapshotAt = tooOld ? formatPosition(tooOld.position) : '?';
  return { ok: true, start: { kind: 'log', after: trimmedThrough, missing: `the newest snapshot (at ${snapshotAt}) is older than the log's beginning (trimmed through ${formatPosition(trimmedThrough)})` } };
}
