// A small HTTP/2 client for tests: one session (one TLS connection, ALPN h2) carrying any number of
// concurrent requests and watches, as a controller or kubectl would use it.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Credentials } from './kube-http.ts';

export interface H2Result {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class H2Client {
  readonly session: ClientHttp2Session;
  readonly #authorization: Record<string, string>;

  private constructor(session: ClientHttp2Session, credentials: Credentials) {
    this.session = session;
    this.#authorization = credentials.token !== undefined ? { authorization: `Bearer ${credentials.token}` } : {};
  }

  /** A session with a client certificate, or a bearer token sent on every stream. */
  static connect(url: string, credentials: Credentials): Promise<H2Client> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(url, { ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem });
      session.once('error', reject);
      session.once('connect', () => {
        session.off('error', reject);
        session.on('error', () => {});
        resolve(new H2Client(session, credentials));
      });
    });
  }

  /** Opens a stream; resolves once the response head is in. */
  open(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ stream: ClientHttp2Stream; status: number; headers: IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const body = options.body === undefined ? undefined : JSON.stringify(options.body);
      const stream = this.session.request({ ':method': method, ':path': path, accept: 'application/json', ...this.#authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers });
      stream.once('error', reject);
      stream.once('response', (headers) => resolve({ stream, status: Number(headers[':status']), headers }));
      stream.end(body);
    });
  }

  async request(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {}): Promise<H2Result> {
    const { stream, status, headers } = await this.open(method, path, options);
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), options.timeoutMs ?? 30_000);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return { status, headers, body: Buffer.concat(chunks).toString('utf8') };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opens a watch and fails unless it is answered 200. */
  async watch(path: string, options: { headers?: Record<string, string> } = {}): Promise<H2Watch> {
    const { stream, status } = await this.open('GET', path, options);
    if (status !== 200) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      throw new Error(`watch ${path}: HTTP ${status}`);
    }
    return new H2Watch(stream);
  }

  close(): void {
    this.session.destroy();
  }
}

export interface H2WatchEvent {
  type: string;
  object: { kind?: string; apiVersion?: string; code?: number; reason?: string; message?: string; metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };
}

/** How a watch stream ended: the server's END_STREAM ("end"), or a reset with its code. */
export type H2WatchEnd = { kind: 'end' } | { kind: 'reset'; code: number };

/** A watch's events as they arrive, one JSON line each. */
export class H2Watch {
  readonly events: H2WatchEvent[] = [];
  readonly stream: ClientHttp2Stream;
  /** Resolves once the stream is over, saying how. */
  readonly ended: Promise<H2WatchEnd>;
  #end: H2WatchEnd | undefined;
  #rest = '';

  constructor(stream: ClientHttp2Stream) {
    this.stream = stream;
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = (this.#rest + text).split('\n');
      this.#rest = lines.pop() ?? '';
      for (const line of lines) if (line) this.events.push(JSON.parse(line) as H2WatchEvent);
    });
    stream.on('error', () => {});
    this.ended = new Promise((resolve) => {
      let sawEnd = false;
      stream.once('end', () => (sawEnd = true));
      stream.once('close', () => {
        this.#end = sawEnd && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? { kind: 'end' } : { kind: 'reset', code: stream.rstCode };
        resolve(this.#end);
      });
    });
  }

  /** Set once the stream is over. */
  get end(): H2WatchEnd | undefined {
    return this.#end;
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }

  /** Resolves with the first event (already in or to come) matching `match`; fails after `timeoutMs` or if the stream ends first. */
  async waitFor(match: (e: H2WatchEvent) => boolean, what: string, timeoutMs = 15_000): Promise<H2WatchEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.#end) throw new Error(`${what}: the watch ended (${JSON.stringify(this.#end)}) first; events: ${this.#summary()}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; events: ${this.#summary()}`);
      await sleep(25);
    }
  }

  /** Resolves once the stream has ended; fails after `timeoutMs`. */
  async waitForEnd(timeoutMs = 15_000): Promise<H2WatchEnd> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the watch did not end within ${timeoutMs} ms; events: ${this.#summary()}`)), timeoutMs)));
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #summary(): string {
    return this.events.map((e) => `${e.type} ${e.object.metadata?.name ?? e.object.message ?? ''}@${e.object.metadata?.resourceVersion ?? ''}`).join(', ').slice(0, 2_000);
  }

  close(): void {
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
