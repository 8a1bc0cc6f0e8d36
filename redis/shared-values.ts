// Short-lived values shared by the replicas (the TokenReview and SubjectAccessReview results): plain
// strings under `<prefix>shared:<space>:<key>`, written with `SET … PX ttl` so Redis drops them when
// they expire, read back with their remaining TTL (GET and PTTL in one round trip). Failures are values.
import type { Redis } from 'ioredis';
import { DEFAULT_KEY_PREFIX } from './keys.ts';

export type SharedValueRead = { ok: true; found: { value: string; ttlMs: number } | undefined } | { ok: false; error: Error };
export type SharedValueWrite = { ok: true } | { ok: false; error: Error };

export function sharedValueKey(prefix: string, space: string, key: string): string {
  return `${prefix}shared:${space}:${key}`;
}

const failure = (err: unknown, doing: string): { ok: false; error: Error } => ({ ok: false, error: new Error(`${doing}: ${err instanceof Error ? err.message : String(err)}`) });

export class RedisSharedValues {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, options: { keyPrefix?: string } = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  }

  async read(space: string, key: string): Promise<SharedValueRead> {
    const redisKey = sharedValueKey(this.#prefix, space, key);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await this.#redis.pipeline().get(redisKey).pttl(redisKey).exec();
    } catch (err) {
      return failure(err, `reading shared ${space} value`);
    }
    const [[getError, value] = [null, null], [pttlError, ttlMs] = [null, -2]] = replies ?? [];
    const error = getError ?? pttlError;
    if (error) return failure(error, `reading shared ${space} value`);
    // PTTL -2: expired between the two commands; -1: no expiry, which this module never writes.
    if (typeof value !== 'string' || typeof ttlMs !== 'number' || ttlMs <= 0) return { ok: true, found: undefined };
    return { ok: true, found: { value, ttlMs } };
  }

  async write(space: string, key: string, value: string, ttlMs: number): Promise<SharedValueWrite> {
    if (!Number.isInteger(ttlMs) || ttlMs < 1) return { ok: false, error: new Error(`writing shared ${space} value: the TTL must be a whole number of ms ≥ 1, not ${ttlMs}`) };
    try {
      await this.#redis.set(sharedValueKey(this.#prefix, space, key), value, 'PX', ttlMs);
      return { ok: true };
    } catch (err) {
      return failure(err, `writing shared ${space} value`);
    }
  }
}
