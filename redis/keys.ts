// The Redis keys of one deployment, all under one prefix. The default prefix is a hash tag, so every
// key lands in one slot: the Lua scripts touch several keys at once (fencing check + write).
export const DEFAULT_KEY_PREFIX = '{tenant-proxy}:';

export interface ReplicationKeys {
  lease: string;
  /** INCR'd on every acquisition: the fencing epoch. */
  epoch: string;
  log: string;
  /** The stream ID of the newest entry trimmed from the log. */
  trimmed: string;
  /** The highest position a replica handed out on its own (degraded): the log's next entries go above it. */
  floor: string;
  /** Time index of the log: entries `<redis ms>-*` → the log's top at that time. */
  times: string;
  /** The ID of the newest complete snapshot. */
  snapshotCurrent: string;
  /** Snapshot IDs kept, newest first. */
  snapshotKept: string;
  snapshotSequence: string;
  snapshotHeader(id: string): string;
  snapshotPage(id: string, page: number): string;
}

export function replicationKeys(prefix = DEFAULT_KEY_PREFIX): ReplicationKeys {
  return {
    lease: `${prefix}lease`,
    epoch: `${prefix}lease:epoch`,
    log: `${prefix}log`,
    trimmed: `${prefix}log:trimmed`,
    floor: `${prefix}log:floor`,
    times: `${prefix}log:times`,
    snapshotCurrent: `${prefix}snapshot:current`,
    snapshotKept: `${prefix}snapshot:kept`,
    snapshotSequence: `${prefix}snapshot:sequence`,
    snapshotHeader: (id) => `${prefix}snapshot:${id}`,
    snapshotPage: (id, page) => `${prefix}snapshot:${id}:${page}`,
  };
}
