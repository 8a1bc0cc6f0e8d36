// Micro-benchmark of replica snapshots on this machine: a throwaway redis-server, ~1 KiB Namespaces.
// For each object count: a LogReplica fed the objects through the in-memory log, then
//   take    — LogReplica.snapshot() (synchronous: the leader's event loop is held this long),
//   write   — RedisSnapshots.write (pages of 256 KiB, the fenced commit), with the longest event-loop
//             stall seen meanwhile (the serialization of each page runs between round trips),
//   load    — RedisSnapshots.loadNewest (what a starting replica reads),
//   restore — LogReplica.restore into an empty replica (stores, and the ADDED changes to its views).
// Bounded: `node --import tsx bench/micro/snapshots.ts [object counts, comma-separated] [runs]`.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { RedisSnapshots } from '../../redis/snapshots.ts';
import type { LogEntry } from '../../streams/change-log.ts';
import { LogReplica } from '../../streams/log-replica.ts';
import { MemoryChangeLog } from '../../streams/memory-change-log.ts';
import { NAMESPACES } from '../../streams/resource-type.ts';
import { startRedis } from '../../test/support/redis.ts';
import { benchLease, namespaceEntry } from './redis-fixtures.ts';

const counts = (process.argv[2] ?? '10000,50000').split(',').map(Number);
const runs = Number(process.argv[3] ?? 3);
const SILENT = { child: () => SILENT, debug: () => {}, info: () => {}, warn: () => {} };
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

const entry = (rv: number) => namespaceEntry(rv, 'ADDED');

const server = await startRedis();
try {
  const redis = server.client('bench-leader');
  const token = await benchLease(redis);
  const snapshots = new RedisSnapshots(redis);
  const results = [];
  for (const count of counts) {
    const log = new MemoryChangeLog({ leaseHolder: () => token });
    const replica = new LogReplica(log, SILENT);
    replica.start();
    const entries: LogEntry[] = [{ kind: 'informers', position: { rv: 1, seq: 0 }, resources: [NAMESPACES] }];
    for (let rv = 2; rv < count + 2; rv++) entries.push(entry(rv));
    entries.push({ kind: 'progress', position: { rv: count + 1, seq: 1 }, resource: NAMESPACES, state: 'synced', resourceVersion: String(count + 1) });
    await log.append(token, entries);
    if (!(await replica.clock.waitFor({ rv: count + 1, seq: 1 }, 60_000))) throw new Error('the replica did not read the log');
    for (let run = 1; run <= runs; run++) {
      const t0 = performance.now();
      const snapshot = replica.snapshot();
      const takeMs = performance.now() - t0;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const t1 = performance.now();
      const written = await snapshots.write(token, snapshot);
      const writeMs = performance.now() - t1;
      delay.disable();
      if (!written.ok) throw new Error(`write failed: ${written.reason}`);
      const t2 = performance.now();
      const loaded = await snapshots.loadNewest();
      const loadMs = performance.now() - t2;
      if (!loaded.ok) throw new Error(`load failed: ${loaded.reason}`);
      const fresh = new LogReplica(log, SILENT);
      const t3 = performance.now();
      fresh.restore(loaded.snapshot);
      const restoreMs = performance.now() - t3;
      if (fresh.store(NAMESPACES)?.size !== count) throw new Error('restored the wrong number of objects');
      await fresh.stop();
      const memory = String(await redis.info('memory')).match(/used_memory:(\d+)/)?.[1];
      results.push({ objects: count, run, bytes: written.summary.bytes, pages: written.summary.pages, takeMs: round(takeMs), writeMs: round(writeMs), maxStallMs: round(delay.max / 1e6), loadMs: round(loadMs), restoreMs: round(restoreMs), redisUsedMB: round(Number(memory) / 1e6) });
      console.log(JSON.stringify(results[results.length - 1]));
    }
    await replica.stop();
  }
} finally {
  await server.stop();
}
