// The Redis side of --redis: one connection (the change log's tail opens its own blocking one), the
// deployment's change log, its snapshots and the lease, named after this replica.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { RedisLease } from '../../redis/lease.ts';
import { RedisSnapshots } from '../../redis/snapshots.ts';
import type { ChangeLog } from '../../streams/change-log.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import type { Logger } from '../basics/log.ts';
import type { Config } from './config.ts';
import type { LeaseControl } from './replicator.ts';

export function replicaIdOf(config: Config): string {
  return config.replicaId || `${hostname()}-${process.pid}`;
}

export function connectRedis(config: Config, log: Logger): Redis {
  const redis = new Redis(config.redis, {
    connectionName: `tenant-proxy-${replicaIdOf(config)}`,
    // A command waits at most one reconnection: the lease and the log retry on their own schedule.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(5_000, 100 * 2 ** Math.min(times, 6)),
  });
  let connected = false;
  redis.on('ready', () => {
    connected = true;
    log.info({ replica: replicaIdOf(config) }, 'connected to Redis');
  });
  redis.on('error', (err: Error) => {
    if (connected) log.warn({ err: err.message }, 'Redis connection error');
  });
  redis.on('end', () => (connected = false));
  return redis;
}

export function replicationThrough(redis: Redis, config: Config, log: Logger): { log: ChangeLog; lease: LeaseControl; snapshots: SnapshotStore } {
  return {
    log: new RedisChangeLog(redis, { keyPrefix: config.redisKeyPrefix }),
    snapshots: new RedisSnapshots(redis, { keyPrefix: config.redisKeyPrefix }),
    lease: new RedisLease(redis, { replicaId: replicaIdOf(config), ttlMs: config.leaseTtlMs, keyPrefix: config.redisKeyPrefix, log }),
  };
}
