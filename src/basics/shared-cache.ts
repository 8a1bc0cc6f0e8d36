// The second level of a two-level cache: values shared by the replicas of a deployment (Redis under
// --redis), consulted after the local TtlCache misses and before the value is computed. The shared
// level is an optimisation only: a store error, a slow store (a bounded wait) or an entry that does not
// decode is a miss, so the value is computed as if there were no store; each outcome is counted.
import type { Logger } from './log.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { Cached } from './ttl-cache.ts';
import { withTimeout } from './with-timeout.ts';

/** How long a request waits for the store before it computes the value itself. */
export const SHARED_CACHE_WAIT_MS = 75;
/** At most one warning per this interval while the store keeps failing (the metric counts every one). */
const WARNING_INTERVAL_MS = 30_000;

export type SharedRead = { ok: true; found: { value: string; ttlMs: number } | undefined } | { ok: false; error: Error };
export type SharedWrite = { ok: true } | { ok: false; error: Error };

/** Strings with a time to live, shared by the replicas. Never rejects: failures are values. */
export interface SharedStore {
  /** The value under `key` and how long it still lives (its remaining TTL, not the one it was written with). */
  read(space: string, key: string): Promise<SharedRead>;
  write(space: string, key: string, value: string, ttlMs: number): Promise<SharedWrite>;
}

export interface SharedCacheContext {
  store: SharedStore;
  metrics: ProxyMetrics;
  log: Logger;
  waitMs?: number;
}

export type SharedCacheResult = 'hit' | 'miss' | 'invalid' | 'error' | 'timeout' | 'write-error';

export class SharedLevel<V> {
  readonly #context: SharedCacheContext;
  readonly #space: string;
  readonly #encode: (value: V) => string;
  readonly #decode: (json: unknown) => V | undefined;
  #lastWarningAt = -Infinity;

  /**
   * `space` names the cache (in keys and in the metric); `encode` writes only what a later request
   * needs; `decode` validates what is read back (undefined: not a value of this cache).
   */
  constructor(context: SharedCacheContext, space: string, codec: { encode: (value: V) => string; decode: (json: unknown) => V | undefined }) {
    this.#context = context;
    this.#space = space;
    this.#encode = codec.encode;
    this.#decode = codec.decode;
  }

  /** The shared value under `key`, or else `compute`'s, which is then shared for the same TTL. */
  async through(key: string, compute: () => Promise<Cached<V>>): Promise<Cached<V>> {
    const shared = await this.#read(key);
    if (shared) return shared;
    const computed = await compute();
    if (computed.ttlMs >= 1 && Number.isFinite(computed.ttlMs)) void this.#write(key, computed);
    return computed;
  }

  async #read(key: string): Promise<Cached<V> | undefined> {
    const waitMs = this.#context.waitMs ?? SHARED_CACHE_WAIT_MS;
    const read = await withTimeout(this.#context.store.read(this.#space, key), waitMs);
    if (read === undefined) {
      this.#count('timeout', new Error(`reading the shared ${this.#space} cache took more than ${waitMs} ms`));
      return undefined;
    }
    if (!read.ok) {
      this.#count('error', read.error);
      return undefined;
    }
    if (!read.found) {
      this.#count('miss');
      return undefined;
    }
    const value = this.#decoded(read.found.value);
    if (value === undefined) {
      this.#count('invalid', new Error(`an entry of the shared ${this.#space} cache does not decode: ignored, reviewed again`));
      return undefined;
    }
    this.#count('hit');
    return { value, ttlMs: read.found.ttlMs };
  }

  #decoded(text: string): V | undefined {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    return this.#decode(json);
  }

  async #write(key: string, cached: Cached<V>): Promise<void> {
    const written = await this.#context.store.write(this.#space, key, this.#encode(cached.value), Math.floor(cached.ttlMs));
    if (!written.ok) this.#count('write-error', written.error);
  }

  #count(result: SharedCacheResult, error?: Error): void {
    this.#context.metrics.sharedCache.inc({ cache: this.#space, result });
    if (!error) return;
    const now = performance.now();
    if (now - this.#lastWarningAt < WARNING_INTERVAL_MS) return;
    this.#lastWarningAt = now;
    this.#context.log.warn({ cache: this.#space, result, err: error.message }, 'shared cache unusable: reviewing instead (warned at most every 30 s; tenant_proxy_shared_cache_total counts each)');
  }
}

/** A JSON value's own property, when `json` is an object. */
export function field(json: unknown, name: string): unknown {
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)[name] : undefined;
}

export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
