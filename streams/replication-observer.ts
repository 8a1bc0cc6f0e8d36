// What the replication machinery reports as it works, for whoever measures it (the proxy's metrics):
// streams/ knows no metrics library.
export interface ReplicationObserver {
  /** A batch of `entries` reached the log `seconds` after its first entry was queued. */
  appended(entries: number, seconds: number): void;
  /** An append or a tail read failed (Redis unreachable, slow, or refusing). */
  logError(operation: 'append' | 'tail'): void;
  /** An entry was applied `seconds` after the leader recorded it (clocks of two hosts: approximate). */
  applied(seconds: number): void;
}

export const UNOBSERVED: ReplicationObserver = { appended: () => {}, logError: () => {}, applied: () => {} };
