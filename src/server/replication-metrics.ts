// The replica's metrics (--redis): append and tail lag, log errors, role changes.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ReplicationObserver } from '../../streams/replication-observer.ts';

const LAG_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ReplicaObserver extends ReplicationObserver {
  roleChanged(role: 'leader' | 'follower' | 'degraded'): void;
}

export function replicationMetrics(registry: Registry): ReplicaObserver {
  const registers = [registry];
  const appendSeconds = new Histogram({ name: 'tenant_proxy_log_append_seconds', help: 'Leader: time from a change reaching the informers to its batch being acknowledged by the change log', buckets: LAG_BUCKETS, registers });
  const appendedEntries = new Counter({ name: 'tenant_proxy_log_appended_entries_total', help: 'Leader: entries appended to the change log', registers });
  const tailLag = new Histogram({ name: 'tenant_proxy_log_tail_lag_seconds', help: 'Every replica: time from the leader recording a change to this replica applying it (two hosts\' clocks: approximate)', buckets: LAG_BUCKETS, registers });
  const errors = new Counter({ name: 'tenant_proxy_redis_errors_total', help: 'Change log operations that failed (Redis unreachable, slow or refusing), by operation', labelNames: ['operation'] as const, registers });
  const roleChanges = new Counter({ name: 'tenant_proxy_replica_role_changes_total', help: 'Times this replica became leader, follower or degraded', labelNames: ['role'] as const, registers });
  return {
    appended(entries, seconds) {
      appendSeconds.observe(seconds);
      appendedEntries.inc(entries);
    },
    logError(operation) {
      errors.inc({ operation });
    },
    applied(seconds) {
      tailLag.observe(seconds);
    },
    roleChanged(role) {
      roleChanges.inc({ role });
    },
  };
}
