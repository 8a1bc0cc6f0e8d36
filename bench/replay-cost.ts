// What the replay upstream itself costs: runs it as its own process (as the benchmarks do), opens
// watches on it from this process, emits at a rate and reports the replay process's CPU per event and per
// watcher write, its share of one core, and the delivery latency of one watcher (emitted-at stamp → line
// received here). The replay must stay well under one core at the rates the benchmarks use, since it
// shares the machine with the proxy and the load generators.
//
//   node --import tsx bench/replay-cost.ts [--watchers 50] [--rate 2000] [--seconds 10] [--selector none|tenant]
//        [--tenants 1000] [--namespaces-per-tenant 10] [--min-batch-interval-ms 0] [--profile DIR]
// Prints one JSON line with the figures.
import { spawn } from 'node:child_process';
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { EMITTED_AT_ANNOTATION, type ReplayStats } from './replay-upstream.ts';
import { TENANT_LABEL } from './dataset.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    watchers: { type: 'string', default: '50' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    selector: { type: 'string', default: 'none' },
    tenants: { type: 'string', default: '1000' },
    'namespaces-per-tenant': { type: 'string', default: '10' },
    'min-batch-interval-ms': { type: 'string', default: '0' },
    /** Write a CPU profile of the replay process into this directory. */
    profile: { type: 'string' },
  },
});
const watchers = Number(values.watchers);
const rate = Number(values.rate);
const durationMs = Number(values.seconds) * 1000;

const profile = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [];
const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.join(HERE, 'replay-upstream.ts'), '--tenants', String(values.tenants), '--namespaces-per-tenant', String(values['namespaces-per-tenant']), '--nodes', '10'], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout });
const pending: ((v: Record<string, unknown>) => void)[] = [];
lines.on('line', (line) => pending.shift()?.(JSON.parse(line) as Record<string, unknown>));
const next = () => new Promise<Record<string, unknown>>((resolve) => pending.push(resolve));
const command = async (cmd: Record<string, unknown>) => {
  const answer = next();
  child.stdin.write(`${JSON.stringify(cmd)}\n`);
  return answer;
};

const ready = (await next()) as { url: string; caFile: string };
const ca = readFileSync(ready.caFile, 'utf8');
const stats = async () => (await command({ cmd: 'stats' })).stats as ReplayStats;
const rv = (await stats()).resourceVersion;

let lineCount = 0;
const latencies: number[] = [];
const requests: ClientRequest[] = [];
await Promise.all(
  Array.from({ length: watchers }, (_, i) => new Promise<void>((resolve, reject) => {
    const selector = values.selector === 'tenant' ? `&labelSelector=${encodeURIComponent(`${TENANT_LABEL}=t${i}`)}` : '';
    const req = https.request(`${ready.url}/api/v1/namespaces?watch=true&resourceVersion=${rv}${selector}`, { ca, agent: false, headers: { authorization: 'Bearer bench' } }, (res) => {
      let partial = '';
      res.on('data', (chunk: Buffer) => {
        if (i !== 0) {
          for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lineCount++;
          return;
        }
        // Watcher 0 parses every line, for the delivery latency.
        const now = performance.timeOrigin + performance.now();
        partial += chunk.toString('utf8');
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const event = JSON.parse(partial.slice(0, nl)) as { object: { metadata?: { annotations?: Record<string, string> } } };
          partial = partial.slice(nl + 1);
          lineCount++;
          const stamp = event.object.metadata?.annotations?.[EMITTED_AT_ANNOTATION];
          if (stamp) latencies.push(now - Number(stamp));
        }
      });
      resolve();
    });
    req.on('error', reject);
    req.end();
    requests.push(req);
  })),
);
await new Promise((r) => setTimeout(r, 500));

const before = await stats();
const wall0 = performance.now();
const emitted = (await command({ cmd: 'emit', eventsPerSecond: rate, durationMs, spread: 'tenants', minBatchIntervalMs: Number(values['min-batch-interval-ms']) })) as { emitted: number; elapsedMs: number };
await new Promise((r) => setTimeout(r, 300));
const after = await stats();
const wallMs = performance.now() - wall0;

const cpuMs = after.process.cpuUserMs + after.process.cpuSystemMs - before.process.cpuUserMs - before.process.cpuSystemMs;
const writes = after.events.writes - before.events.writes;
latencies.sort((a, b) => a - b);
const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 100) / 100;
const figures = {
  watchers,
  selector: values.selector,
  eventsPerSecond: rate,
  emitted: emitted.emitted,
  emitElapsedMs: Math.round(emitted.elapsedMs),
  watcherWrites: writes,
  linesReceived: lineCount,
  replayCpuMs: Math.round(cpuMs),
  replayCpuShareOfOneCore: Math.round((cpuMs / wallMs) * 1000) / 1000,
  cpuUsPerEvent: Math.round((cpuMs * 1000) / Math.max(1, emitted.emitted) * 10) / 10,
  cpuUsPerWatcherWrite: Math.round((cpuMs * 1000) / Math.max(1, writes) * 100) / 100,
  watcher0LatencyMs: { p50: pct(0.5), p99: pct(0.99), max: pct(1), samples: latencies.length },
  replayRssMiB: Math.round(after.process.rssBytes / 2 ** 20),
};
process.stdout.write(`${JSON.stringify(figures)}\n`);
for (const req of requests) req.destroy();
await command({ cmd: 'stop' });
