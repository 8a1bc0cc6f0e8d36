// What a replica needs to start without listing upstream: every type's objects and state at one
// position of the change log; the log after that position brings it up to date.
import type { LeaderToken, Unavailable } from './change-log.ts';
import type { KubeObject } from './kube-object.ts';
import type { Position } from './position.ts';
import type { ResourceType } from './resource-type.ts';

export interface SnapshotType {
  resource: ResourceType;
  state: 'starting' | 'synced' | 'absent';
  /** The type's upstream resourceVersion: where a new leader resumes its watch. */
  resourceVersion: string;
  objects: KubeObject[];
}

export interface Snapshot {
  position: Position;
  types: SnapshotType[];
}

export interface SnapshotSummary {
  id: string;
  position: Position;
  takenAt: number;
  pages: number;
  bytes: number;
}

export type SnapshotWriteResult =
  | { ok: true; summary: SnapshotSummary }
  | { ok: false; reason: 'deposed'; detail: string }
  /** A page vanished before the snapshot was complete (written too slowly): nothing changed. */
  | { ok: false; reason: 'incomplete'; detail: string }
  | Unavailable;

export type SnapshotLoadResult = { ok: true; snapshot: Snapshot; summary: SnapshotSummary } | { ok: false; reason: 'none' } | Unavailable;

export interface SnapshotStore {
  /** Writes a snapshot, then makes it the newest (only the lease holder can); older ones beyond the kept count go. */
  write(token: LeaderToken, snapshot: Snapshot): Promise<SnapshotWriteResult>;
  /** The newest complete snapshot. */
  loadNewest(): Promise<SnapshotLoadResult>;
  /** One of the snapshots kept, by its ID ('none' once it is no longer kept). */
  load(id: string): Promise<SnapshotLoadResult>;
  /** The snapshots kept, newest first: the oldest one bounds how far the log may be trimmed. */
  kept(): Promise<{ ok: true; snapshots: SnapshotSummary[] } | Unavailable>;
}

/** The position the log must reach back to (TrimRequest.notAfter): the oldest snapshot kept; undefined when none is. */
export function oldestKeptPosition(snapshots: readonly SnapshotSummary[]): Position | undefined {
  return snapshots[snapshots.length - 1]?.position;
}
