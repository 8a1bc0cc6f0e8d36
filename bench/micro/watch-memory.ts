// Micro-benchmark of what one served watch costs the proxy: heap bytes and retained objects per watch (by
// constructor, from two heap snapshots) and CPU per delivered event, over HTTP/1.1 (one watch per TLS
// connection) and HTTP/2 (many watches per session).
//
// The proxy and the replay upstream run in this process (the snapshots are of the proxy's heap; the
// upstream's part does not change while the watches open); the watch clients run in a forked child, so
// their sockets and buffers are not counted. Every watch is one tenant owner's watch of namespaces, so all
// share one view and each change of the tenant's namespaces is one delivery per watch.
//
// `node --expose-gc --import tsx bench/micro/watch-memory.ts [watches=2000] [events=40] [streams per session=100] [transports=http1,http2] [changes per turn=1]`
// (changes per turn: upstream changes made together, 50 ms apart; several arrive at the proxy in one read.)
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createLogger } from '../../src/basics/log.ts';
import { loadUpstream } from '../../src/basics/upstream.ts';
import { parseConfig } from '../../src/server/config.ts';
import { TenantProxy } from '../../src/server/proxy.ts';
import { ReplayUpstream, userToken } from '../replay-upstream.ts';

type Transport = 'http1' | 'http2';

interface OpenCommand {
  cmd: 'open';
  transport: Transport;
  watches: number;
  streamsPerSession: number;
  port: number;
  token: string;
  path: string;
}
type ClientCommand = OpenCommand | { cmd: 'count' } | { cmd: 'close' };
type ClientReply = { type: 'opened'; opened: number; failed: number; firstError: string | undefined } | { type: 'count'; events: number } | { type: 'closed' };

const WATCH_PATH = '/api/v1/namespaces?watch=true';
/** Handshakes in flight at once from the client process: more only queue in the proxy's accept loop. */
const OPEN_CONCURRENCY = 64;
const EVENT_INTERVAL_MS = 50;

// ---- the client process ------------------------------------------------------------------------------

/** Raw HTTP/1.1 over TLS: counts events as `}\n` line ends inside the chunked body. */
function openHttp1Watch(command: OpenCommand, onEvent: () => void, closers: (() => void)[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: command.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    closers.push(() => socket.destroy());
    let headed = false;
    let previousByte = 0;
    socket.on('secureConnect', () => socket.write(`GET ${command.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${command.token}\r\nAccept: application/json\r\n\r\n`));
    socket.on('data', (data: Buffer) => {
      if (!headed) {
        headed = true;
        if (!data.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) reject(new Error(`answered ${data.subarray(0, 200).toString('latin1')}`));
        else resolve();
      }
      for (let i = 0; i < data.length; i++) {
        const byte = data[i] ?? 0;
        if (byte === 0x0a && previousByte === 0x7d) onEvent();
        previousByte = byte;
      }
    });
    socket.on('error', (err) => reject(err));
  });
}

function openHttp2Watch(session: http2.ClientHttp2Session, command: OpenCommand, onEvent: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': command.path, authorization: `Bearer ${command.token}`, accept: 'application/json' });
    stream.on('response', (headers) => (headers[':status'] === 200 ? resolve() : reject(new Error(`answered ${String(headers[':status'])}`))));
    stream.on('data', (data: Buffer) => {
      for (let i = 0; i < data.length; i++) if (data[i] === 0x0a) onEvent();
    });
    stream.on('error', (err) => reject(err));
  });
}

async function runClients(): Promise<void> {
  let events = 0;
  const onEvent = () => events++;
  const closers: (() => void)[] = [];
  const reply = (r: ClientReply) => process.send?.(r);
  process.on('message', (command: ClientCommand) => {
    if (command.cmd === 'count') reply({ type: 'count', events });
    else if (command.cmd === 'close') {
      for (const close of closers.splice(0)) close();
      reply({ type: 'closed' });
    } else {
      void openAll(command).then(reply);
    }
  });
  async function openAll(command: OpenCommand): Promise<ClientReply> {
    let opened = 0;
    let failed = 0;
    let firstError: string | undefined;
    const one = (open: () => Promise<void>) =>
      open().then(
        () => void opened++,
        (err: Error) => {
          failed++;
          firstError ??= err.message;
        },
      );
    let session: http2.ClientHttp2Session | undefined;
    const pending = new Set<Promise<void>>();
    for (let i = 0; i < command.watches; i++) {
      let open: () => Promise<void>;
      if (command.transport === 'http1') open = () => openHttp1Watch(command, onEvent, closers);
      else {
        if (i % command.streamsPerSession === 0) {
          const s = http2.connect(`https://127.0.0.1:${command.port}`, { rejectUnauthorized: false });
          s.on('error', () => {});
          closers.push(() => s.destroy());
          session = s;
        }
        const current = session as http2.ClientHttp2Session;
        open = () => openHttp2Watch(current, command, onEvent);
      }
      const p = one(open).finally(() => pending.delete(p));
      pending.add(p);
      if (pending.size >= OPEN_CONCURRENCY) await Promise.race(pending);
    }
    await Promise.all(pending);
    return { type: 'opened', opened, failed, firstError };
  }
}

// ---- the measuring process ---------------------------------------------------------------------------

class Clients {
  readonly #child: ChildProcess;
  readonly #waiting: { type: ClientReply['type']; resolve: (r: ClientReply) => void }[] = [];

  constructor() {
    this.#child = fork(fileURLToPath(import.meta.url), ['--clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`the client process exited (code ${String(code)}, signal ${String(signal)})\n`);
    });
    this.#child.on('message', (r: ClientReply) => {
      const i = this.#waiting.findIndex((w) => w.type === r.type);
      if (i >= 0) this.#waiting.splice(i, 1)[0]?.resolve(r);
    });
  }

  ask<T extends ClientReply['type']>(command: ClientCommand, type: T, timeoutMs = 120_000): Promise<Extract<ClientReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the client process did not answer ${command.cmd} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push({ type, resolve: (r) => (clearTimeout(timer), resolve(r as Extract<ClientReply, { type: T }>)) });
      this.#child.send(command);
    });
  }

  stop(): void {
    this.#child.kill();
  }
}

interface ConstructorCount {
  count: number;
  bytes: number;
}

/**
 * Objects on the heap by constructor (JS objects and closures by name, the rest by V8's node type), from
 * a heap snapshot (which collects garbage first).
 */
function heapCensus(dir: string): Map<string, ConstructorCount> {
  // WATCH_MEMORY_SNAPSHOTS=<dir> keeps the snapshots (open them in DevTools' Comparison view to see retainers).
  const file = v8.writeHeapSnapshot(path.join(process.env.WATCH_MEMORY_SNAPSHOTS ?? dir, `census-${Date.now()}.heapsnapshot`));
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  if (process.env.WATCH_MEMORY_SNAPSHOTS === undefined) rmSync(file);
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const census = new Map<string, ConstructorCount>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt] ?? 0] ?? '?';
    const name = snapshot.strings[snapshot.nodes[i + nameAt] ?? 0] ?? '?';
    const key = type === 'object' || type === 'closure' ? `${name}${type === 'closure' ? '()' : ''}` : `(${type})`;
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt] ?? 0;
    census.set(key, entry);
  }
  return census;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
}

interface TransportFigures {
  transport: Transport;
  watches: number;
  changesPerTurn: number;
  heapBytesPerWatch: number;
  rssBytesPerWatch: number;
  objectsPerWatch: number;
  byConstructor: [string, { count: number; bytes: number }][];
  deliveries: number;
  cpuMicrosecondsPerDelivery: number;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** CPU microseconds of this process while `events` namespace changes are made and delivered `expected` times. */
async function cpuOfEvents(replay: ReplayUpstream, clients: Clients, events: number, changesPerTurn: number, expectedDeliveries: number): Promise<{ cpuMicros: number; delivered: number }> {
  const before = (await clients.ask({ cmd: 'count' }, 'count')).events;
  const started = process.cpuUsage();
  for (let i = 0; i < events; i++) {
    replay.modify(`t0-ns${i % 10}`);
    if ((i + 1) % changesPerTurn === 0) await sleep(EVENT_INTERVAL_MS);
  }
  let delivered = 0;
  await waitFor('deliveries', async () => {
    delivered = (await clients.ask({ cmd: 'count' }, 'count')).events - before;
    return delivered >= expectedDeliveries;
  }, 120_000);
  const used = process.cpuUsage(started);
  // The waits between changes cost the same with or without watchers: the caller subtracts a run without.
  return { cpuMicros: used.user + used.system, delivered };
}

async function measure(transport: Transport, watches: number, events: number, streamsPerSession: number, changesPerTurn: number): Promise<TransportFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'watch-memory-'));
  const replay = await ReplayUpstream.start({ dataset: { tenants: 2, namespacesPerTenant: 10, nodes: 2, storageClasses: 2 } });
  const upstream = await loadUpstream({ kubeconfig: replay.kubeconfig(dir) });
  const parsed = parseConfig(['--listen', '127.0.0.1:0', '--cert-dir', path.join(dir, 'serving'), '--max-connections', String(watches * 2)], {});
  if (parsed.kind !== 'config') throw new Error('unexpected --help');
  const proxy = await TenantProxy.create(parsed.config, { upstream, log: createLogger('silent') });
  const { port } = await proxy.start();
  const clients = new Clients();
  try {
    await waitFor('the proxy to be ready', () => proxy.ready, 60_000);
    const token = userToken(replay.dataset.facts[0]?.user ?? 'user-t0');
    // Warm up: one watch's code paths, the token cache, the view; then the run without watchers.
    await clients.ask({ cmd: 'open', transport, watches: 1, streamsPerSession, port, token, path: WATCH_PATH }, 'opened');
    await clients.ask({ cmd: 'close' }, 'closed');
    await waitFor('the warm-up watch to end', () => proxy.engine.api.watchHub.size === 0, 10_000);
    const idle = await cpuOfEvents(replay, clients, events, changesPerTurn, 0);
    // The census parses a snapshot of tens of MB: RSS is read after it (and its garbage) and, for the
    // watches, before the second one, so that only the watches are between the two readings.
    const census0 = heapCensus(dir);
    collectGarbage();
    const heap0 = v8.getHeapStatistics().used_heap_size;
    const rss0 = process.memoryUsage().rss;
    const opened = await clients.ask({ cmd: 'open', transport, watches, streamsPerSession, port, token, path: WATCH_PATH }, 'opened');
    if (opened.failed > 0) throw new Error(`${opened.failed} watches failed to open: ${opened.firstError ?? ''}`);
    await waitFor('every watcher', () => proxy.engine.api.watchHub.size === watches, 30_000);
    await sleep(1_000);
    collectGarbage();
    const heap1 = v8.getHeapStatistics().used_heap_size;
    const rss1 = process.memoryUsage().rss;
    const census1 = heapCensus(dir);
    const diff: [string, ConstructorCount][] = [];
    let objects = 0;
    for (const [key, after] of census1) {
      const before = census0.get(key) ?? { count: 0, bytes: 0 };
      const count = after.count - before.count;
      objects += count;
      if (count / watches >= 0.5) diff.push([key, { count: Math.round((count / watches) * 10) / 10, bytes: Math.round((after.bytes - before.bytes) / watches) }]);
    }
    diff.sort(([, a], [, b]) => b.count - a.count);
    const busy = await cpuOfEvents(replay, clients, events, changesPerTurn, events * watches);
    await clients.ask({ cmd: 'close' }, 'closed');
    return {
      transport,
      watches,
      changesPerTurn,
      heapBytesPerWatch: Math.round((heap1 - heap0) / watches),
      rssBytesPerWatch: Math.round((rss1 - rss0) / watches),
      objectsPerWatch: Math.round((objects / watches) * 10) / 10,
      byConstructor: diff,
      deliveries: busy.delivered,
      cpuMicrosecondsPerDelivery: Math.round(((busy.cpuMicros - idle.cpuMicros) / busy.delivered) * 10) / 10,
    };
  } finally {
    clients.stop();
    await proxy.shutdown(1_000);
    await replay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--clients')) {
  await runClients();
} else {
  const watches = Number(process.argv[2] ?? 2000);
  const events = Number(process.argv[3] ?? 40);
  const streamsPerSession = Number(process.argv[4] ?? 100);
  const transports = (process.argv[5] ?? 'http1,http2').split(',') as Transport[];
  const changesPerTurn = Number(process.argv[6] ?? 1);
  for (const transport of transports) {
    const figures = await measure(transport, watches, events, streamsPerSession, changesPerTurn);
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  }
}
