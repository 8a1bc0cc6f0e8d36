// The ChangeLog conformance suite on the Redis log, against a real redis-server; each test on its own
// key prefix. Leadership is taken with the lease's own acquire script.
import type { LeaderToken } from '../../streams/change-log.ts';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { replicationKeys } from '../../redis/keys.ts';
import { replyOf, script } from '../../redis/scripts.ts';
import { changeLogConformance } from '../support/change-log-conformance.ts';
import { startRedis } from '../support/redis.ts';

const server = await startRedis();
let logs = 0;

changeLogConformance('redis', async () => {
  const redis = server.client(`log-${++logs}`);
  const keyPrefix = `{conformance-${logs}}:`;
  const keys = replicationKeys(keyPrefix);
  const acquire = script(redis, 'tenantProxyAcquire');
  return {
    // Every batch gets a time mark, so trimming is as exact as the in-memory log's.
    log: new RedisChangeLog(redis, { keyPrefix, timeMarkIntervalMs: 0 }),
    lead: async (): Promise<LeaderToken> => {
      await redis.del(keys.lease);
      const [status, epoch] = replyOf(await acquire(keys.lease, keys.epoch, 'replica-under-test', 60_000)) ?? [];
      if (status !== '1') throw new Error(`could not take the lease: ${status} ${epoch}`);
      return { epoch: Number(epoch), holder: 'replica-under-test' };
    },
    close: async () => redis.disconnect(),
  };
}, () => server.stop());
