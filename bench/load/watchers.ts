// A load generator process (forked by bench/run.ts): holds many watch connections to a proxy, parses
// every event and measures delivery latency from the `bench.tenant-proxy/emitted-at` annotation the
// upstream stamps (same machine: `performance.timeOrigin + performance.now()` is comparable across
// processes). Commands arrive over IPC; see `Command`. Many watches per process keep the client cost
// low (Node TLS client connections cost ~137 KiB each). Transports: chunked HTTP/1.1 (one TLS connection
// per watch), websockets, or HTTP/2 (one session per identity in this process, each watch a stream of it).
import http2 from 'node:http2';
import https from 'node:https';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { setPriority } from 'node:os';
import { WebSocket } from 'ws';
import { connectSession } from './http2-session.ts';

export interface WatchSpec {
  certPem: string;
  keyPem: string;
  /** A bearer token to send instead of the client certificate. */
  token?: string;
  /** Path without resourceVersion, e.g. `/api/v1/namespaces?watch=true`. */
  path: string;
}

export type WatchTransport = 'http' | 'websocket' | 'http2';

export type Command =
  | { cmd: 'open'; url: string; caPem: string; watchers: WatchSpec[]; concurrency: number; transport?: WatchTransport; listFirst?: boolean }
  | { cmd: 'reset' }
  /** `at`: the wall-clock ms (performance.timeOrigin + now) from which `firstDeliveryAfterMark` counts. */
  | { cmd: 'mark'; at: number }
  | { cmd: 'report' }
  | { cmd: 'stall'; fraction: number }
  /** Drops and reopens every watch (or, with `onlyEnded`, those whose connection ended), round robin over `urls` when given. */
  | { cmd: 'reconnect'; windowMs: number; urls?: string[]; onlyEnded?: boolean }
  | { cmd: 'close' };

export type Reply =
  /** `connections`: TLS connections this process holds to the proxy (HTTP/2: sessions). */
  | { type: 'opened'; opened: number; failed: number; connections: number; ms: number; firstError?: string }
  | { type: 'report'; samples: number[]; events: number; duplicates: number; bookmarks: number; errors: number; ended: number; expired: number; stalled: number; stalledEnded: number; firstDeliveryAfterMark: number; loopDelayP99Ms: number; loopDelayMaxMs: number }
  | { type: 'reconnected'; reconnected: number; failed: number; ms: number; firstError?: string }
  | { type: 'closed' };

const EMITTED_AT = 'bench.tenant-proxy/emitted-at';
const LOAD_NICE = 10;

// Below the proxy's priority: on a 2-core machine shared by the proxy, the upstream and four of these
// processes, the scheduler otherwise makes the proxy wait behind the clients it is writing to, and the
// latency tail measures that queue rather than the proxy (p99 at 500 events/s: 25–38 ms at equal
// priority, see bench/RESULTS.md, History). A delay of this process still counts in the latency.
setPriority(LOAD_NICE);

// One TLS context per identity: building one per connection (parsing the key and certificates) would
// make the load generator, not the proxy, the bottleneck of connection set-up.
const contexts = new Map<string, tls.SecureContext>();
function contextFor(spec: WatchSpec, caPem: string): tls.SecureContext {
  const key = spec.token === undefined ? spec.certPem : '';
  let context = contexts.get(key);
  if (!context) contexts.set(key, (context = tls.createSecureContext(spec.token === undefined ? { ca: caPem, cert: spec.certPem, key: spec.keyPem } : { ca: caPem })));
  return context;
}

// One HTTP/2 session per identity (the key its TLS context is cached under): every watch of that identity
// in this process is a stream of it, as a client with one kubeconfig multiplexes its watches.
const sessions = new Map<string, http2.ClientHttp2Session>();
function sessionFor(spec: WatchSpec, url: URL, caPem: string): http2.ClientHttp2Session {
  const key = spec.token === undefined ? spec.certPem : `token:${spec.token}`;
  let session = sessions.get(key);
  if (!session || session.closed || session.destroyed) {
    session = connectSession(url.origin, { secureContext: contextFor(spec, caPem) });
    sessions.set(key, session);
  }
  return session;
}

function headersFor(spec: WatchSpec): Record<string, string> {
  return spec.token === undefined ? { accept: 'application/json' } : { accept: 'application/json', authorization: `Bearer ${spec.token}` };
}

class Watch {
  socket: tls.TLSSocket | undefined;
  ws: WebSocket | undefined;
  stream: http2.ClientHttp2Stream | undefined;
  resourceVersion: string;
  stalled = false;
  ended = false;
  /** The newest resourceVersion seen per object name: an event at or below it is a duplicate. */
  readonly newest = new Map<string, number>();
  #buffer = '';
  /** HTTP/1.1 response bytes not parsed yet (latin1: one char per byte, so chunk sizes count chars). */
  #raw = '';
  #chunked = false;
  /** Bytes left of the current chunk's data; -1 while a size line is expected; 0: its CRLF is next. */
  #chunkLeft = -1;

  constructor(readonly spec: WatchSpec, resourceVersion: string) {
    this.resourceVersion = resourceVersion;
  }

  /** Like an informer: list first, then watch from the list's resourceVersion. */
  async listThenOpen(url: URL, caPem: string): Promise<void> {
    const listPath = this.spec.path.replace(/([?&])watch=[^&]*&?/, '$1').replace(/[?&]$/, '');
    this.resourceVersion = await new Promise<string>((resolve, reject) => {
      const options: https.RequestOptions & { secureContext: tls.SecureContext } = { host: url.hostname, port: url.port, path: listPath, secureContext: contextFor(this.spec, caPem), agent: false, headers: headersFor(this.spec) };
      const req = https.request(options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`list ${listPath}: HTTP ${res.statusCode}`));
          resolve((JSON.parse(body) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? '');
        });
      });
      req.on('error', reject);
      req.end();
    });
    return this.open(url, caPem);
  }

  open(url: URL, caPem: string): Promise<void> {
    this.ended = false;
    this.#buffer = '';
    const path = `${this.spec.path}&resourceVersion=${encodeURIComponent(this.resourceVersion)}`;
    if (transport === 'websocket') return this.#openWebSocket(url, caPem, path);
    if (transport === 'http2') return this.#openStream(url, caPem, path);
    return this.#openRaw(url, caPem, path);
  }

  /**
   * An HTTP/1.1 watch on a TLS socket of its own, read without node:http: the request as node:https
   * sends it (agent: false), the chunked body decoded here. A node:http client keeps ~137 KiB and a few
   * hundred objects per connection, and its collections stalled this process for up to ~200 ms while
   * deliveries waited in its socket buffers: latency the proxy did not cause.
   */
  #openRaw(url: URL, caPem: string, path: string): Promise<void> {
    this.#raw = '';
    this.#chunked = false;
    this.#chunkLeft = -1;
    return new Promise((resolve, reject) => {
      let headed = false;
      const socket = tls.connect({ host: url.hostname, port: Number(url.port), secureContext: contextFor(this.spec, caPem), ALPNProtocols: ['http/1.1'] });
      this.socket = socket;
      const headers = Object.entries(headersFor(this.spec)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.once('secureConnect', () => socket.write(`GET ${path} HTTP/1.1\r\n${headers}Host: ${url.host}\r\nConnection: close\r\n\r\n`));
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        if (headed) {
          this.#body(text);
          return;
        }
        this.#raw += text;
        const end = this.#raw.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.#raw.slice(0, end);
        const rest = this.#raw.slice(end + 4);
        this.#raw = '';
        headed = true;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
        if (status !== '200') {
          reject(new Error(`watch ${path}: HTTP ${status ?? '?'}`));
          socket.destroy();
          return;
        }
        this.#chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
        resolve();
        if (rest) this.#body(rest);
      });
      // A reconnect replaces the socket: the old one's late events are not this watch's end.
      const ended = () => {
        if (this.socket === socket) this.#end();
      };
      socket.on('end', ended);
      socket.on('close', () => {
        ended();
        // A connection closed without an answer (node:https calls it "socket hang up").
        if (!headed) reject(new Error(`watch ${path}: connection closed before a response`));
      });
      socket.on('error', (err) => {
        ended();
        if (!headed) reject(err);
      });
    });
  }

  /** Response body bytes: de-chunked (when chunked) into event lines. */
  #body(text: string): void {
    if (!this.#chunked) {
      this.#data(text);
      return;
    }
    this.#raw += text;
    let decoded = '';
    for (;;) {
      if (this.#chunkLeft < 0) {
        const eol = this.#raw.indexOf('\r\n');
        if (eol < 0) break;
        const size = Number.parseInt(this.#raw.slice(0, eol), 16);
        this.#raw = this.#raw.slice(eol + 2);
        if (size === 0) {
          this.socket?.destroy();
          break;
        }
        this.#chunkLeft = size;
      } else if (this.#chunkLeft > 0) {
        if (this.#raw.length === 0) break;
        const take = Math.min(this.#chunkLeft, this.#raw.length);
        decoded += this.#raw.slice(0, take);
        this.#raw = this.#raw.slice(take);
        this.#chunkLeft -= take;
      } else {
        if (this.#raw.length < 2) break;
        this.#raw = this.#raw.slice(2);
        this.#chunkLeft = -1;
      }
    }
    if (decoded) this.#data(decoded);
  }

  /** An HTTP/2 watch: one stream of this identity's session, read exactly as the chunked body is. */
  #openStream(url: URL, caPem: string, path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = sessionFor(this.spec, url, caPem).request({ ':method': 'GET', ':path': path, ...headersFor(this.spec) });
      this.stream = stream;
      stream.on('response', (headers) => {
        if (headers[':status'] !== 200) {
          reject(new Error(`watch ${path}: HTTP ${headers[':status']}`));
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        resolve();
      });
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => this.#data(text));
      stream.on('end', () => this.#end());
      stream.on('error', (err) => {
        this.#end();
        reject(err);
      });
      stream.on('close', () => this.#end());
      stream.end();
    });
  }

  /** A websocket watch: one event per text message. */
  #openWebSocket(url: URL, caPem: string, path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://${url.host}${path}`, { ca: caPem, cert: this.spec.certPem, key: this.spec.keyPem });
      this.ws = ws;
      ws.on('open', () => resolve());
      ws.on('message', (data) => this.#data(`${data.toString()}\n`));
      ws.on('unexpected-response', (_req, res) => reject(new Error(`websocket watch ${path}: HTTP ${res.statusCode}`)));
      ws.on('error', (err) => {
        this.#end();
        reject(err);
      });
      ws.on('close', () => this.#end());
    });
  }

  #data(text: string): void {
    this.#buffer += text;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line) onEvent(this, line);
    }
  }

  #end(): void {
    if (this.ended) return;
    this.ended = true;
    stats.ended++;
    if (this.stalled) stats.stalledEnded++;
  }

  close(): void {
    this.socket?.destroy();
    this.ws?.terminate();
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
  }
}

const stats = { samples: [] as number[], events: 0, duplicates: 0, bookmarks: 0, errors: 0, ended: 0, expired: 0, stalledEnded: 0, firstDeliveryAfterMark: Infinity };
let mark = Infinity;
let watches: Watch[] = [];
// This process's own event-loop delay since the last reset: the part of a measured latency that is the
// load generator's (its GC, its other connections), not the proxy's. The histogram records whole timer
// intervals: the delay is what exceeds the resolution.
const LOOP_DELAY_RESOLUTION_MS = 5;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
const loopDelayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);
loopDelay.enable();
let transport: WatchTransport = 'http';
let target: { url: URL; caPem: string } | undefined;

function onEvent(watch: Watch, line: string): void {
  const now = performance.timeOrigin + performance.now();
  let event: { type: string; object: { metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; code?: number } };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    stats.errors++;
    return;
  }
  if (event.type === 'ERROR') {
    if (event.object.code === 410) stats.expired++;
    else stats.errors++;
    return;
  }
  const rv = event.object.metadata?.resourceVersion;
  if (rv) watch.resourceVersion = rv;
  if (event.type === 'BOOKMARK') {
    stats.bookmarks++;
    return;
  }
  stats.events++;
  const name = event.object.metadata?.name ?? '';
  const version = Number(rv);
  if (version <= (watch.newest.get(name) ?? -Infinity)) stats.duplicates++;
  else watch.newest.set(name, version);
  const emitted = Number(event.object.metadata?.annotations?.[EMITTED_AT]);
  if (Number.isFinite(emitted) && emitted > 0) {
    stats.samples.push(now - emitted);
    if (emitted >= mark && now < stats.firstDeliveryAfterMark) stats.firstDeliveryAfterMark = now;
  }
}

async function withConcurrency<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<{ failed: number; firstError?: string }> {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await run(item);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return { failed, firstError };
}

function send(reply: Reply): void {
  process.send?.(reply);
}

process.on('message', (message: Command) => {
  void (async () => {
    switch (message.cmd) {
      case 'open': {
        target = { url: new URL(message.url), caPem: message.caPem };
        transport = message.transport ?? 'http';
        const t = target;
        watches = message.watchers.map((w) => new Watch(w, ''));
        const started = performance.now();
        const { failed, firstError } = await withConcurrency(watches, message.concurrency, (w) => (message.listFirst ? w.listThenOpen(t.url, t.caPem) : w.open(t.url, t.caPem)));
        const connections = transport === 'http2' ? [...sessions.values()].filter((s) => !s.closed).length : watches.length - failed;
        send({ type: 'opened', opened: watches.length - failed, failed, connections, ms: performance.now() - started, firstError });
        break;
      }
      case 'reset':
        Object.assign(stats, { samples: [], events: 0, duplicates: 0, bookmarks: 0, errors: 0, ended: 0, expired: 0, stalledEnded: 0, firstDeliveryAfterMark: Infinity });
        mark = Infinity;
        loopDelay.reset();
        break;
      case 'mark':
        mark = message.at;
        break;
      case 'report':
        // Infinity does not survive the IPC channel's JSON.
        send({ type: 'report', ...stats, firstDeliveryAfterMark: Number.isFinite(stats.firstDeliveryAfterMark) ? stats.firstDeliveryAfterMark : -1, stalled: watches.filter((w) => w.stalled).length, loopDelayP99Ms: loopDelayMs(loopDelay.percentile(99)), loopDelayMaxMs: loopDelayMs(loopDelay.max) });
        break;
      case 'stall': {
        const count = Math.round(watches.length * message.fraction);
        for (const w of watches.slice(0, count)) {
          w.stalled = true;
          w.socket?.pause();
          w.ws?.pause();
          w.stream?.pause();
        }
        break;
      }
      case 'reconnect': {
        const t = target;
        if (!t) break;
        const chosen = message.onlyEnded ? watches.filter((w) => w.ended) : watches;
        for (const w of chosen) w.close();
        const urls = (message.urls ?? [t.url.href]).map((u) => new URL(u));
        const started = performance.now();
        let failed = 0;
        let firstError: string | undefined;
        await Promise.all(
          chosen.map(async (w, i) => {
            await new Promise((r) => setTimeout(r, Math.random() * message.windowMs));
            try {
              await w.open(urls[i % urls.length] ?? t.url, t.caPem);
            } catch (err) {
              failed++;
              firstError ??= (err as Error).message;
            }
          }),
        );
        send({ type: 'reconnected', reconnected: chosen.length - failed, failed, ms: performance.now() - started, firstError });
        break;
      }
      case 'close':
        for (const w of watches) w.close();
        for (const s of sessions.values()) s.destroy();
        send({ type: 'closed' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100).unref();
        break;
    }
  })();
});
