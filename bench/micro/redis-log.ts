// Micro-benchmark of the Redis change log on this machine: a throwaway redis-server, 1 KiB objects.
// 1. Appends: a fixed number of entries appended by one leader, one batch in flight at a time (as the
//    hub would: the next batch waits for the ack), for batch sizes 1, 10 and 100.
// 2. Tail latency: one tail (its own blocking connection) follows while the leader appends single
//    entries at a fixed rate; latency = tail delivery − start of the append, same process clock.
// Bounded: `node --import tsx bench/micro/redis-log.ts [entries per batch size] [paced entries] [rate/s]`.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisChangeLog } from '../../redis/change-log.ts';
import { encodeEntry } from '../../redis/entry-codec.ts';
import { replicationKeys } from '../../redis/keys.ts';
import { startRedis } from '../../test/support/redis.ts';
import { benchLease, namespaceEntry } from './redis-fixtures.ts';

const entriesPerBatchSize = Number(process.argv[2] ?? 20_000);
const pacedEntries = Number(process.argv[3] ?? 3_000);
const pacedRate = Number(process.argv[4] ?? 1_000);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

const entry = (rv: number) => namespaceEntry(rv, 'MODIFIED');

const server = await startRedis();
try {
  const redis = server.client('bench-leader');
  const token = await benchLease(redis);
  const keys = replicationKeys();
  const log = new RedisChangeLog(redis);
  const sample = entry(1);
  const objectBytes = sample.kind === 'change' ? Buffer.byteLength(JSON.stringify(sample.object)) : 0;
  const entryBytes = Buffer.byteLength(encodeEntry(sample));
  let rv = 1;

  const appends: Record<string, unknown>[] = [];
  for (const batchSize of [1, 10, 100]) {
    const latencies: number[] = [];
    const started = performance.now();
    for (let done = 0; done < entriesPerBatchSize; done += batchSize) {
      const batch = Array.from({ length: batchSize }, () => entry(rv++));
      const sent = performance.now();
      const result = await log.append(token, batch);
      latencies.push(performance.now() - sent);
      if (!result.ok) throw new Error(`append refused: ${JSON.stringify(result)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    appends.push({ batchSize, entries: entriesPerBatchSize, entriesPerSecond: Math.round(entriesPerBatchSize / seconds), batchP50Ms: round(percentile(latencies, 50)), batchP99Ms: round(percentile(latencies, 99)) });
  }

  const sentAt = new Map<number, number>();
  const tailLatencies: number[] = [];
  const controller = new AbortController();
  const from = { rv: rv - 1, seq: 0 };
  const tailing = (async () => {
    for await (const event of log.tail(from, controller.signal)) {
      if (event.kind !== 'entries') throw new Error(`tail: ${event.kind}`);
      const now = performance.now();
      for (const e of event.entries) tailLatencies.push(now - (sentAt.get(e.position.rv) ?? NaN));
      if (tailLatencies.length >= pacedEntries) controller.abort();
    }
  })();
  await sleep(100);
  const pacedStart = performance.now();
  for (let i = 0; i < pacedEntries; i++) {
    const due = pacedStart + (i * 1000) / pacedRate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const e = entry(rv++);
    sentAt.set(e.position.rv, performance.now());
    const result = await log.append(token, [e]);
    if (!result.ok) throw new Error(`append refused: ${JSON.stringify(result)}`);
  }
  await Promise.race([tailing, sleep(10_000)]);
  controller.abort();
  tailLatencies.sort((a, b) => a - b);
  const info = await redis.call('MEMORY', 'USAGE', keys.log);
  process.stdout.write(
    `${JSON.stringify(
      {
        objectBytes,
        entryBytes,
        appends,
        tail: { entries: tailLatencies.length, ratePerSecond: pacedRate, p50Ms: round(percentile(tailLatencies, 50)), p99Ms: round(percentile(tailLatencies, 99)), maxMs: round(tailLatencies[tailLatencies.length - 1] ?? NaN) },
        logMemoryBytes: info,
        logEntries: await redis.xlen(keys.log),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await server.stop();
}
