// A small HTTPS client for tests: talks to the apiserver or the proxy as one identity (client
// certificate or bearer token) and returns status, headers and body as seen on the wire.
import https from 'node:https';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export interface Credentials {
  caPem: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  body?: unknown;
  headers?: OutgoingHttpHeaders;
  contentType?: string;
  timeoutMs?: number;
}

export class KubeHttp {
  readonly server: URL;
  readonly credentials: Credentials;
  readonly #agent: https.Agent;

  constructor(server: string | URL, credentials: Credentials) {
    this.server = new URL(server);
    this.credentials = credentials;
    this.#agent = new https.Agent({
      ca: credentials.caPem,
      cert: credentials.certPem,
      key: credentials.keyPem,
      keepAlive: false,
    });
  }

  headers(extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = { accept: 'application/json', ...extra };
    if (this.credentials.token !== undefined) h.authorization = `Bearer ${this.credentials.token}`;
    return h;
  }

  /** Opens a request and hands back the raw response (for watches and streaming). */
  stream(method: string, path: string, options: RequestOptions = {}): Promise<{ req: import('node:http').ClientRequest; res: import('node:http').IncomingMessage }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.server.hostname,
          port: this.server.port,
          method,
          path,
          agent: this.#agent,
          headers: this.headers(options.headers),
        },
        (res) => resolve({ req, res }),
      );
      req.on('error', reject);
      if (options.body !== undefined) {
        // contentType '' sends none at all.
        if (options.contentType !== '') req.setHeader('content-type', options.contentType ?? 'application/json');
        const body = typeof options.body === 'string' || Buffer.isBuffer(options.body) ? Buffer.from(options.body) : Buffer.from(JSON.stringify(options.body));
        // Node sends no length for a DELETE body by itself: the server would read it as the next request.
        req.setHeader('content-length', body.length);
        req.end(body);
      } else {
        req.end();
      }
    });
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const { req, res } = await this.stream(method, path, options);
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no complete answer within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Like request, but fails unless the status is 2xx; returns the parsed JSON body. */
  async json<T = Record<string, unknown>>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const r = await this.request(method, path, options);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} → ${r.status}: ${r.body.slice(0, 500)}`);
    return JSON.parse(r.body) as T;
  }

  close(): void {
    this.#agent.destroy();
  }
}
