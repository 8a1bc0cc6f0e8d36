// A small HTTP/2 client for tests: one session (one TLS connection, ALPN h2) carrying any number of
// concurrent requests and watches, as a controller or kubectl would use it.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Credentials } from './kube-http.ts';

export interface H2Result {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class H2Client {
  readonly session: ClientHttp2Session;

  private constructor(session: ClientHttp2Session) {
    this.session = session;
  }

  static connect(url: string, credentials: Credentials): Promise<H2Client> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(url, { ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem });
      session.once('error', reject);
      session.once('connect', () => {
        session.off('error', reject);
        session.on('error', () => {});
        resolve(new H2Client(session));
      });
    });
  }

  /** Opens a stream; resolves once the response head is in. */
  open(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ stream: ClientHttp2Stream; status: number; headers: IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const body = options.body === undefined ? undefined : JSON.stringify(options.body);
      const stream = this.session.request({ ':method': method, ':path': path, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers });
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

  close(): void {
    this.session.destroy();
  }
}

/** A watch's events as they arrive, one JSON line each. */
export class H2Watch {
  readonly events: { type: string; object: { metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } }[] = [];
  readonly stream: ClientHttp2Stream;
  #rest = '';

  constructor(stream: ClientHttp2Stream) {
    this.stream = stream;
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = (this.#rest + text).split('\n');
      this.#rest = lines.pop() ?? '';
      for (const line of lines) if (line) this.events.push(JSON.parse(line) as H2Watch['events'][number]);
    });
    stream.on('error', () => {});
  }

  close(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
