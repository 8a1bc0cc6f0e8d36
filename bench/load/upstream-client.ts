// A load generator process (forked by the upstream-protocol scenario) playing tenant-proxy's upstream
// leg against kube-apiserver, over HTTP/1.1 (a keep-alive https.Agent configured as the proxy's, one
// socket per request in flight or per watch) or HTTP/2 (few sessions, every request or watch a stream).
// It authenticates with the proxy's bearer token and impersonates a user, as forwarded requests do.
// One process per measurement, so its memory and CPU are the leg's alone. Commands arrive over IPC.
import http2 from 'node:http2';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connectSession } from './http2-session.ts';

export type UpstreamProtocol = 'http1' | 'http2';

export interface UpstreamTarget {
  server: string;
  caPem: string;
  token: string;
  /** Sent as Impersonate-User. */
  user: string;
  protocol: UpstreamProtocol;
}

export type UpstreamCommand =
  | { cmd: 'requests'; target: UpstreamTarget; path: string; count: number; concurrency: number }
  | { cmd: 'watch'; target: UpstreamTarget; path: string; watches: number }
  | { cmd: 'reset' }
  | { cmd: 'report' }
  | { cmd: 'close' };

export type UpstreamReply =
  /** `connections`: TLS connections opened to the apiserver; `cpuMicros`: this process's CPU over the requests. */
  | { type: 'requested'; samples: number[]; errors: number; firstError?: string; connections: number; cpuMicros: number; ms: number }
  | { type: 'watching'; opened: number; failed: number; firstError?: string; connections: number; ms: number; rssBefore: number; rssAfter: number; heapBefore: number; heapAfter: number }
  | { type: 'report'; samples: number[]; events: number }
  | { type: 'closed' };

const EMITTED_AT = 'bench.tenant-proxy/emitted-at';

/** One upstream leg: GETs and watches over one protocol, counting the TLS connections it opens. */
class UpstreamLeg {
  connections = 0;
  readonly #target: UpstreamTarget;
  readonly #agent: https.Agent;
  readonly #sessions: http2.ClientHttp2Session[] = [];
  #connecting: Promise<void> | undefined;

  constructor(target: UpstreamTarget) {
    this.#target = target;
    // As src/basics/upstream.ts builds the proxy's agent.
    this.#agent = new https.Agent({ ca: target.caPem, keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
  }

  get #headers(): Record<string, string> {
    return { accept: 'application/json', authorization: `Bearer ${this.#target.token}`, 'impersonate-user': this.#target.user };
  }

  /**
   * A session with room for one more stream, that stream's slot reserved (the apiserver limits the streams
   * of a session: Go's default is 250); a new session only when every open one is full.
   */
  async #reserveStream(): Promise<http2.ClientHttp2Session> {
    for (;;) {
      const session = this.#sessions.find((s) => !s.closed && !s.destroyed && openStreams(s) < (s.remoteSettings.maxConcurrentStreams ?? 100));
      if (session) {
        streamCounts.set(session, openStreams(session) + 1);
        return session;
      }
      this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
      await this.#connecting;
    }
  }

  async #connect(): Promise<void> {
    const session = connectSession(this.#target.server, { ca: this.#target.caPem });
    this.connections++;
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    this.#sessions.push(session);
  }

  /** Starts a GET; `onData` gets the body as it arrives, `onEnd` its end; resolves with the status once headers arrived. */
  async open(path: string, onData: (text: string) => void, onEnd: () => void): Promise<number> {
    if (this.#target.protocol === 'http2') {
      const session = await this.#reserveStream();
      return new Promise((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': path, ...this.#headers });
        stream.once('close', () => streamCounts.set(session, openStreams(session) - 1));
        stream.setEncoding('utf8');
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('data', onData);
        stream.on('close', onEnd); // after the end of the body, or its failure
        stream.on('error', reject);
        stream.end();
      });
    }
    const server = new URL(this.#target.server);
    return new Promise((resolve, reject) => {
      const req = https.request({ host: server.hostname, port: server.port, path, agent: this.#agent, headers: this.#headers }, (res) => {
        res.setEncoding('utf8');
        res.on('data', onData);
        res.on('close', onEnd); // after the end of the body, or its failure
        resolve(res.statusCode ?? 0);
      });
      req.on('socket', () => {
        if (!req.reusedSocket) this.connections++;
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** A whole GET: its status and body once the body has arrived. */
  async get(path: string): Promise<{ status: number; body: string }> {
    let body = '';
    let ended: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (ended = resolve));
    const status = await this.open(path, (text) => (body += text), () => ended());
    await done;
    return { status, body };
  }

  close(): void {
    this.#agent.destroy();
    for (const s of this.#sessions) s.destroy();
  }
}

const streamCounts = new WeakMap<http2.ClientHttp2Session, number>();
const openStreams = (session: http2.ClientHttp2Session): number => streamCounts.get(session) ?? 0;

// A full GC before each memory reading, so that garbage of the set-up is not counted per watch.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const rss = (): number => process.memoryUsage().rss;
const heap = (): number => process.memoryUsage().heapUsed;
const settle = async (): Promise<void> => {
  collectGarbage();
  await new Promise((r) => setTimeout(r, 1_000));
  collectGarbage();
};

/** `count` GETs of `path`, `concurrency` in flight, each timed from its start to the last byte. */
async function requests(leg: UpstreamLeg, path: string, count: number, concurrency: number): Promise<Extract<UpstreamReply, { type: 'requested' }>> {
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next++ < count) {
      const t0 = performance.now();
      try {
        const { status, body } = await leg.get(path);
        if (status !== 200) throw new Error(`GET ${path}: HTTP ${status}: ${body.slice(0, 300)}`);
        samples.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpu0);
  return { type: 'requested', samples, errors, firstError, connections: leg.connections, cpuMicros: cpu.user + cpu.system, ms: performance.now() - started };
}

const stats = { samples: [] as number[], events: 0 };

/** Parses watch event lines and records, for each, now − the stamp its writer put on the object. */
function watchParser(): (text: string) => void {
  let buffer = '';
  return (text) => {
    buffer += text;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      const now = performance.timeOrigin + performance.now();
      let event: { object?: { metadata?: { annotations?: Record<string, string> } } };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        continue;
      }
      stats.events++;
      const emitted = Number(event.object?.metadata?.annotations?.[EMITTED_AT]);
      if (Number.isFinite(emitted) && emitted > 0) stats.samples.push(now - emitted);
    }
  };
}

let legs: UpstreamLeg[] = [];

function send(reply: UpstreamReply): void {
  process.send?.(reply);
}

process.on('message', (message: UpstreamCommand) => {
  void (async () => {
    switch (message.cmd) {
      case 'requests': {
        const leg = new UpstreamLeg(message.target);
        legs.push(leg);
        await leg.get(message.path).catch(() => undefined); // warm-up: the first connection's handshake
        send(await requests(leg, message.path, message.count, message.concurrency));
        break;
      }
      case 'watch': {
        await settle();
        const [rssBefore, heapBefore] = [rss(), heap()];
        const leg = new UpstreamLeg(message.target);
        legs.push(leg);
        const started = performance.now();
        const results = await Promise.allSettled(Array.from({ length: message.watches }, () => leg.open(message.path, watchParser(), () => undefined)));
        const failures = results.filter((r) => r.status === 'rejected' || r.value !== 200);
        const failure = failures[0];
        const firstError = failure === undefined ? undefined : failure.status === 'rejected' ? String(failure.reason) : `HTTP ${failure.value}`;
        const ms = performance.now() - started;
        await settle();
        send({ type: 'watching', opened: message.watches - failures.length, failed: failures.length, firstError, connections: leg.connections, ms, rssBefore, rssAfter: rss(), heapBefore, heapAfter: heap() });
        break;
      }
      case 'reset':
        Object.assign(stats, { samples: [], events: 0 });
        break;
      case 'report':
        send({ type: 'report', ...stats });
        break;
      case 'close':
        for (const leg of legs) leg.close();
        legs = [];
        send({ type: 'closed' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100).unref();
        break;
    }
  })();
});
