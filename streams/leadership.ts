// Who leads the deployment, as the hub needs to know it: the current role, the token to fence appends
// with while leading, and every change of role. The Redis lease (redis/lease.ts) is one; a single process
// is its own leader.
import type { LeaderToken } from './change-log.ts';

export type Role = { role: 'leader'; token: LeaderToken } | { role: 'follower'; reason: string };

export interface Leadership {
  readonly role: Role;
  /** The token while this replica leads and its lease is still valid by the local clock; undefined otherwise. */
  token(): LeaderToken | undefined;
  /** Calls `listener` on every role change; returns the unsubscribe function. */
  onChange(listener: (role: Role) => void): () => void;
}
