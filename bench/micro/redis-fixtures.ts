// What the Redis micro-benchmarks share: ~1 KiB Namespace log entries, and the lease taken directly
// through its script so that the benchmark appends as the leader.
import type { Redis } from 'ioredis';
import { replicationKeys } from '../../redis/keys.ts';
import { replyOf, script } from '../../redis/scripts.ts';
import type { LeaderToken, LogEntry } from '../../streams/change-log.ts';
import type { ChangeType } from '../../streams/reflector.ts';
import { NAMESPACES } from '../../streams/resource-type.ts';

/** A change of a Namespace whose JSON is about 1 KiB, at position `rv`. */
export function namespaceEntry(rv: number, type: ChangeType): LogEntry {
  const object = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${rv}`, resourceVersion: String(rv), labels: { 'capsule.clastix.io/tenant': `t${rv % 100}` }, annotations: { padding: 'x'.repeat(820) } } };
  return { kind: 'change', position: { rv, seq: 0 }, resource: NAMESPACES, type, object, resourceVersion: String(rv) };
}

/** Takes the deployment's lease for the benchmark (10 minutes). */
export async function benchLease(redis: Redis): Promise<LeaderToken> {
  const keys = replicationKeys();
  const [status, epoch] = replyOf(await script(redis, 'tenantProxyAcquire')(keys.lease, keys.epoch, 'bench', 600_000)) ?? [];
  if (status !== '1') throw new Error('the benchmark could not take the lease');
  return { epoch: Number(epoch), holder: 'bench' };
}
