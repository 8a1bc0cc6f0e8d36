// The Redis side of --redis: one connection (the change log's tail opens its own blocking one), the
// deployment's change log, its snapshots and the lease, named after this replica; and the shared auth
// caches on a connection of their own, so a request's lookup never queues behind a snapshot page.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { RedisLease } from '../../redis/lease.ts';
import { RedisSharedValues } from '../../redis/shared-values.ts';
import { RedisSnapshots } from '../../redis/snapshots.ts';
import type { ChangeLog } from '../../streams/change-log.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import type { Logger } from '../basics/log.ts';
import { SignedStore } from '../basics/signed-store.ts';
import { MIN_SHARED_KEY_BYTES, Signer } from '../../redis/signer.ts';
import type { SharedStore } from '../basics/shared-cache.ts';
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

/** `signer`: the deployment's key, which signs the change log and the snapshots; without it they are not. */
export function replicationThrough(redis: Redis, config: Config, log: Logger, signer: Signer | undefined): { log: ChangeLog; lease: LeaseControl; snapshots: SnapshotStore; degradeAfterMs: number } {
  return {
    // As long as a dead leader may hold up the upstream watches.
    degradeAfterMs: config.leaseTtlMs,
    log: new RedisChangeLog(redis, { keyPrefix: config.redisKeyPrefix, signer }),
    snapshots: new RedisSnapshots(redis, { keyPrefix: config.redisKeyPrefix, signer }),
    lease: new RedisLease(redis, { replicaId: replicaIdOf(config), ttlMs: config.leaseTtlMs, keyPrefix: config.redisKeyPrefix, log }),
  };
}

/** A command on the shared-cache connection is dropped after this long (requests stopped waiting long before). */
const SHARED_CACHE_COMMAND_TIMEOUT_MS = 1_000;

/** The shared auth key, as the file holds it (surrounding whitespace dropped). */
function readSharedAuthKey(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
  if (key.length < MIN_SHARED_KEY_BYTES) throw new Error(`--shared-auth-key-file ${file}: ${key.length} bytes; at least ${MIN_SHARED_KEY_BYTES} are needed`);
  return key;
}

/**
 * What signs everything the replicas share through Redis (--shared-auth-key-file). Without the key (only
 * with --insecure-unsigned-redis, see config.ts) Redis is trusted with all of it, which the log says at start.
 */
export function deploymentSigner(config: Config, log: Logger): Signer | undefined {
  if (config.sharedAuthKeyFile) return new Signer(readSharedAuthKey(config.sharedAuthKeyFile));
  log.warn({}, '--insecure-unsigned-redis: the change log and snapshots in Redis are not signed, so whoever can write to Redis can change what every replica serves and which writes tenant-proxy performs for tenants with its own credentials; and each replica reviews tokens for itself');
  return undefined;
}

/**
 * The store of the shared auth caches, on its own connection: commands fail at once while it is
 * disconnected (no offline queue), and a stalled one is dropped after a second, so lookups never pile up.
 */
export function sharedCacheThrough(redis: Redis, config: Config, signer: Signer, log: Logger): { store: SharedStore; connection: Redis } {
  const connection = redis.duplicate({
    connectionName: `tenant-proxy-${replicaIdOf(config)}-auth`,
    enableOfflineQueue: false,
    commandTimeout: SHARED_CACHE_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
  });
  // Its failures are counted per lookup (tenant_proxy_shared_cache_total) and warned about by the cache.
  connection.on('error', (err: Error) => log.debug({ err: err.message }, 'shared-cache Redis connection error'));
  return { store: new SignedStore(new RedisSharedValues(connection, { keyPrefix: config.redisKeyPrefix }), signer), connection };
}
