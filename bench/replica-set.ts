// A replicated tenant-proxy for the replica scenarios: a throwaway redis-server and N tenant-proxy
// processes sharing it (--redis), one serving certificate and one shared-auth key, in front of one
// upstream. Which replica leads comes from their metrics; Redis's CPU and memory from its own INFO.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { replicationKeys } from '../redis/keys.ts';
import { startRedis, type RedisServer } from '../test/support/redis.ts';
import type { ProxyTarget } from './fleet.ts';
import { scrapeMany, startTenantProxy } from './harness.ts';

export interface Replica extends ProxyTarget {
  name: string;
  /** SIGKILL: the replica dies without a word to Redis or its clients. */
  kill(): void;
}

export interface RedisFigures {
  cpuSeconds: number;
  usedMemoryBytes: number;
  rssBytes: number;
}

export class ReplicaSet {
  readonly replicas: Replica[] = [];
  readonly #redis: RedisServer;
  readonly #info: Redis;
  readonly #upstreamKubeconfig: string;
  readonly #clientCaFile: string;
  readonly #certDir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-bench-replicas-'));
  readonly #flags: string[];

  private constructor(redis: RedisServer, upstreamKubeconfig: string, clientCaFile: string, leaseTtl: string) {
    this.#redis = redis;
    this.#info = redis.client('bench');
    this.#upstreamKubeconfig = upstreamKubeconfig;
    this.#clientCaFile = clientCaFile;
    const keyFile = path.join(this.#certDir, 'shared-auth.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    this.#flags = ['--redis', redis.url, '--lease-ttl', leaseTtl, '--shared-auth-key-file', keyFile];
  }

  /** Redis, then the replicas one after another (the first generates the serving certificate and leads). */
  static async start(upstreamKubeconfig: string, clientCaFile: string, count: number, leaseTtl = '15s'): Promise<ReplicaSet> {
    const set = new ReplicaSet(await startRedis(), upstreamKubeconfig, clientCaFile, leaseTtl);
    try {
      for (let i = 1; i <= count; i++) await set.add(`r${i}`);
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  /** Starts one more replica and waits until it is ready. */
  async add(name: string): Promise<Replica> {
    const p = await startTenantProxy(this.#upstreamKubeconfig, this.#clientCaFile, { certDir: this.#certDir, flags: [...this.#flags, '--replica-id', name] });
    const replica: Replica = {
      kind: 'multiplexer',
      name,
      url: p.url,
      caPem: p.caPem,
      pid: p.child.pid ?? 0,
      metricsPort: p.metricsPort,
      readyMs: p.readyMs,
      stop: p.stop,
      kill: () => p.child.kill('SIGKILL'),
    };
    this.replicas.push(replica);
    return replica;
  }

  /** Each replica's share of `items`, dealt round robin as a TCP load balancer spreads connections. */
  spread<T>(items: readonly T[]): T[][] {
    return this.replicas.map((_, k) => items.filter((_, j) => j % this.replicas.length === k));
  }

  /** The replicas still running whose metrics say they lead (one, unless a failover is under way). */
  async leaders(): Promise<Replica[]> {
    const out: Replica[] = [];
    for (const r of this.replicas) {
      const m = await scrapeMany(r.metricsPort ?? 0, ['tenant_proxy_replica_role'], { role: 'leader' }).catch(() => undefined);
      if (m?.tenant_proxy_replica_role === 1) out.push(r);
    }
    return out;
  }

  /** The one leader, once there is exactly one among `among` (default: every replica). */
  async leader(timeoutMs = 60_000, among: readonly Replica[] = this.replicas): Promise<Replica> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaders = (await this.leaders()).filter((r) => among.includes(r));
      if (leaders.length === 1 && leaders[0]) return leaders[0];
      if (Date.now() > deadline) throw new Error(`no single leader within ${timeoutMs} ms (${leaders.map((r) => r.name).join(', ') || 'none'})`);
      await sleep(50);
    }
  }

  async redisFigures(): Promise<RedisFigures> {
    const info = await this.#info.info();
    const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
    return { cpuSeconds: field('used_cpu_sys') + field('used_cpu_user'), usedMemoryBytes: field('used_memory'), rssBytes: field('used_memory_rss') };
  }

  /** The change log stream: its entries and the bytes Redis holds for it. */
  async logFigures(): Promise<{ entries: number; bytes: number }> {
    const key = replicationKeys().log;
    const [entries, bytes] = await Promise.all([this.#info.xlen(key), this.#info.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')]);
    return { entries, bytes: Number(bytes) };
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.stop().catch(() => undefined)));
    await this.#redis.stop();
  }
}
