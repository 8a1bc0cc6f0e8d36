// Where a replica starts reading the change log: the newest snapshot the log still reaches back to,
// else the log's beginning. The leader trims the log only up to the oldest snapshot kept, so the newest
// one is normally covered; it is not when a trim ran without any snapshot kept, or when the snapshot
// read raced a trim and a newer commit (then the newest one is read again).
//
// A replica starting up takes the oldest snapshot the log reaches back to instead (or the log's
// beginning, while nothing was trimmed): it then reads the changes since, and so can resume watches
// from resourceVersions handed out before it started (a rolling update moves every client to a new
// replica). A replica catching up after a gap takes the newest.
import type { ChangeLog, Unavailable } from './change-log.ts';
import { comparePositions, formatPosition, ZERO, type Position } from './position.ts';
import type { Snapshot, SnapshotStore, SnapshotSummary } from './snapshot-store.ts';

const ATTEMPTS = 3;

export type StartPoint =
  /** `olderSkipped`: why an older snapshot, looked for, was not taken. */
  | { kind: 'snapshot'; snapshot: Snapshot; summary: SnapshotSummary; olderSkipped?: string }
  /** No usable snapshot: from the log's beginning. `missing` says what was trimmed before it, if anything. */
  | { kind: 'log'; after: Position; missing: string | undefined };

export async function findStart(log: ChangeLog, snapshots: SnapshotStore, from: 'newest' | 'oldest' = 'newest'): Promise<{ ok: true; start: StartPoint } | Unavailable> {
  let olderSkipped: string | undefined;
  if (from === 'oldest') {
    const oldest = await oldestCovered(log, snapshots);
    if (!oldest.ok) return oldest;
    if (oldest.start) return { ok: true, start: oldest.start };
    olderSkipped = oldest.skipped;
  }
  const found = await newestCovered(log, snapshots);
  return found.ok && found.start.kind === 'snapshot' && olderSkipped ? { ok: true, start: { ...found.start, olderSkipped } } : found;
}

/**
 * The log's beginning while it was never trimmed (a young deployment: it holds every change); else the
 * oldest snapshot kept that the log reaches back to, when it is not the newest; `skipped` says why that
 * one could not be read (the newest is then the start).
 */
async function oldestCovered(log: ChangeLog, snapshots: SnapshotStore): Promise<{ ok: true; start?: StartPoint; skipped?: string } | Unavailable> {
  const kept = await snapshots.kept();
  if (!kept.ok) return kept;
  const bounds = await log.bounds();
  if (!bounds.ok) return bounds;
  const { trimmedThrough } = bounds.bounds;
  if (!trimmedThrough) return { ok: true, start: { kind: 'log', after: ZERO, missing: undefined } };
  const covered = kept.snapshots.filter((s) => comparePositions(s.position, trimmedThrough) >= 0);
  const oldest = covered[covered.length - 1];
  if (!oldest || covered.length < 2) return { ok: true };
  const loaded = await snapshots.load(oldest.id);
  if (loaded.ok) return { ok: true, start: { kind: 'snapshot', snapshot: loaded.snapshot, summary: loaded.summary } };
  return { ok: true, skipped: `snapshot ${oldest.id} at ${formatPosition(oldest.position)}: ${loaded.reason === 'none' ? 'no longer kept' : loaded.error.message}` };
}

async function newestCovered(log: ChangeLog, snapshots: SnapshotStore): Promise<{ ok: true; start: StartPoint } | Unavailable> {
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
