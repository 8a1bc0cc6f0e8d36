// Leader election through one Redis key: `<epoch>:<replica id>`, set with NX PX ttl by a script that
// INCRs the epoch in the same step, renewed by compare-and-extend, released by compare-and-delete.
//
// A holder counts its lease from the moment it *sent* the acquire or renew (local monotonic clock), not
// from the reply: Redis starts its own ttl when it runs the command, later. So when renewals stop
// getting through, the holder deposes itself before Redis lets the key expire and anyone else can take
// it — up to clock rate drift, which the log's fencing (every append checks the lease in Redis) covers.
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { LeaderToken } from '../streams/change-log.ts';
import type { Leadership, Role } from '../streams/leadership.ts';
import type { StreamLog } from '../streams/ports.ts';
import { replicationKeys, type ReplicationKeys } from './keys.ts';
import { leaseValue, replyOf, script, type Script } from './scripts.ts';

export interface LeaseOptions {
  replicaId: string;
  ttlMs: number;
  /** How often the holder renews and a follower tries to acquire; at most ttl/3 (the default). */
  renewEveryMs?: number;
  keyPrefix?: string;
  log?: StreamLog;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export class RedisLease implements Leadership {
  readonly #redis: Redis;
  readonly #keys: ReplicationKeys;
  readonly #acquire: Script;
  readonly #renew: Script;
  readonly #release: Script;
  readonly #replicaId: string;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  readonly #log: StreamLog | undefined;
  readonly #now: () => number;
  readonly #listeners = new Set<(role: Role) => void>();
  #role: Role = { role: 'follower', reason: 'not started' };
  /** Local monotonic time until which the lease is ours, counted from the send of the last renewal that succeeded. */
  #validUntil = 0;
  #acquiring = false;
  /** Local monotonic time before which this replica does not try to acquire (it stepped down). */
  #holdOffUntil = 0;
  #ticker: NodeJS.Timeout | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(redis: Redis, options: LeaseOptions) {
    if (!(options.ttlMs > 0)) throw new Error(`lease ttl must be positive, got ${options.ttlMs}`);
    const renewEveryMs = options.renewEveryMs ?? Math.floor(options.ttlMs / 3);
    if (renewEveryMs > options.ttlMs / 3 || renewEveryMs <= 0) throw new Error(`lease renewal every ${renewEveryMs} ms: must be in (0, ttl/3 = ${options.ttlMs / 3}]`);
    this.#redis = redis;
    this.#keys = replicationKeys(options.keyPrefix);
    this.#acquire = script(redis, 'tenantProxyAcquire');
    this.#renew = script(redis, 'tenantProxyRenew');
    this.#release = script(redis, 'tenantProxyRelease');
    this.#replicaId = options.replicaId;
    this.#ttlMs = options.ttlMs;
    this.#renewEveryMs = renewEveryMs;
    this.#log = options.log?.child({ replica: options.replicaId });
    this.#now = options.now ?? (() => performance.now());
  }

  get role(): Role {
    return this.#role;
  }

  token(): LeaderToken | undefined {
    return this.#role.role === 'leader' && this.#now() < this.#validUntil ? this.#role.token : undefined;
  }

  onChange(listener: (role: Role) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => this.#tick(), this.#renewEveryMs);
    this.#tick();
  }

  /** Stops renewing and gives the lease up at once if held (another replica need not wait for the ttl). */
  async stop(): Promise<void> {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    const held = this.#role.role === 'leader' ? this.#role.token : undefined;
    this.#become({ role: 'follower', reason: 'stopped' });
    if (held) await this.#giveUp(held);
  }

  /**
   * Gives the lease up at once (another replica need not wait for the ttl) and does not try to take it
   * again for `holdOffMs`: a leader that cannot do the job (its upstream refuses it) lets another try.
   */
  async stepDown(reason: string, holdOffMs: number): Promise<void> {
    this.#holdOffUntil = this.#now() + holdOffMs;
    if (this.#role.role !== 'leader') return;
    const held = this.#role.token;
    this.#become({ role: 'follower', reason });
    await this.#giveUp(held);
  }

  #tick(): void {
    if (this.#role.role === 'leader') void this.#renewOnce(this.#role.token);
    else if (this.#now() >= this.#holdOffUntil) void this.#tryAcquire();
  }

  async #tryAcquire(): Promise<void> {
    if (this.#acquiring) return;
    this.#acquiring = true;
    const sentAt = this.#now();
    try {
      const [status, value = ''] = replyOf(await this.#acquire(this.#keys.lease, this.#keys.epoch, this.#replicaId, this.#ttlMs)) ?? [];
      if (status !== '1' || !this.#ticker) return;
      const token: LeaderToken = { epoch: Number(value), holder: this.#replicaId };
      this.#validUntil = sentAt + this.#ttlMs;
      if (this.#now() >= this.#validUntil) {
        // The answer came too late to lead on: hand the key back rather than block others for a ttl.
        await this.#giveUp(token);
        return;
      }
      this.#become({ role: 'leader', token });
      this.#armExpiry();
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'lease acquisition failed');
    } finally {
      this.#acquiring = false;
    }
  }

  async #renewOnce(token: LeaderToken): Promise<void> {
    const sentAt = this.#now();
    let status: string | undefined;
    try {
      [status] = replyOf([await this.#renew(this.#keys.lease, leaseValue(token), this.#ttlMs)]) ?? [];
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message }, 'lease renewal failed');
      return;
    }
    if (!this.#isCurrent(token)) return;
    if (status === '1') {
      this.#validUntil = Math.max(this.#validUntil, sentAt + this.#ttlMs);
      this.#armExpiry();
    } else {
      this.#become({ role: 'follower', reason: 'the lease key no longer holds this replica\'s epoch' });
    }
  }

  #armExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => {
      if (this.#role.role !== 'leader') return;
      // Timers may fire a fraction of a millisecond early.
      if (this.#now() < this.#validUntil) return this.#armExpiry();
      const held = this.#role.token;
      this.#become({ role: 'follower', reason: `no renewal succeeded within the ttl (${this.#ttlMs} ms)` });
      void this.#giveUp(held);
    }, Math.max(0, Math.ceil(this.#validUntil - this.#now())));
  }

  async #giveUp(token: LeaderToken): Promise<void> {
    try {
      await this.#release(this.#keys.lease, leaseValue(token));
    } catch (err) {
      this.#log?.warn({ err: (err as Error).message, epoch: token.epoch }, 'lease release failed (it expires by itself)');
    }
  }

  #isCurrent(token: LeaderToken): boolean {
    return this.#role.role === 'leader' && this.#role.token.epoch === token.epoch;
  }

  #become(role: Role): void {
    if (role.role === this.#role.role && (role.role === 'follower' || (this.#role.role === 'leader' && this.#role.token.epoch === role.token.epoch))) return;
    this.#role = role;
    if (role.role === 'follower') clearTimeout(this.#expiry);
    this.#log?.info(role.role === 'leader' ? { role: 'leader', epoch: role.token.epoch } : { role: 'follower', reason: role.reason }, 'lease role changed');
    for (const listener of [...this.#listeners]) listener(role);
  }
}
