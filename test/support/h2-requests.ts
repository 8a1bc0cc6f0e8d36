// One client's requests over either protocol, with KubeHttp's request() contract (raw string bodies as
// they are, objects as JSON, contentType '' for none, a content-length always), so that a table of cases
// runs unchanged over HTTP/1.1 and over one HTTP/2 session.
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import type { Credentials, HttpResult, RequestOptions } from './kube-http.ts';

export interface Requests {
  /** 'HTTP/1.1' or 'HTTP/2', for messages. */
  readonly protocol: string;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpResult>;
}

/**
 * Requests on one HTTP/2 session (ALPN h2) at a time: a session the server closed (its idle timeout, a
 * GOAWAY) is replaced by a new one for the next request, as Go's client does.
 */
export class H2Requests implements Requests {
  readonly protocol = 'HTTP/2';
  readonly #url: string;
  readonly #credentials: Credentials;
  #session: ClientHttp2Session | undefined;

  constructor(url: string, credentials: Credentials) {
    this.#url = url;
    this.#credentials = credentials;
  }

  /** The session requests go on now, connected if there is none open. */
  async session(): Promise<ClientHttp2Session> {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const { caPem, certPem, keyPem } = this.#credentials;
    const session = await new Promise<ClientHttp2Session>((resolve, reject) => {
      const s = http2.connect(this.#url, { ca: caPem, cert: certPem, key: keyPem });
      s.once('error', (err) => reject(new Error(`HTTP/2 session to ${this.#url}: ${err.message}`)));
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => {});
        resolve(s);
      });
    });
    this.#session = session;
    return session;
  }

  /**
   * The answer as the client sees it: the head, and the body received until the stream ended — also when
   * the server reset the stream after answering (as it may for a body far past its limit).
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const session = await this.session();
    try {
      return await this.#exchange(session, method, path, options);
    } catch (err) {
      // Sent as the server closed the idle session (its GOAWAY on the way): once more, on a new session.
      if (!session.closed && !session.destroyed) throw err;
      return this.#exchange(await this.session(), method, path, options);
    }
  }

  #exchange(session: ClientHttp2Session, method: string, path: string, options: RequestOptions): Promise<HttpResult> {
    const headers: OutgoingHttpHeaders = { ':method': method, ':path': path, accept: 'application/json', ...options.headers };
    if (this.#credentials.token !== undefined) headers.authorization = `Bearer ${this.#credentials.token}`;
    let body: Buffer | undefined;
    if (options.body !== undefined) {
      if (options.contentType !== '') headers['content-type'] = options.contentType ?? 'application/json';
      body = typeof options.body === 'string' || Buffer.isBuffer(options.body) ? Buffer.from(options.body) : Buffer.from(JSON.stringify(options.body));
      headers['content-length'] = body.length;
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      // Node's client ends a DELETE's stream with its headers unless told otherwise: its body would never go.
      const stream = session.request(headers, { endStream: body === undefined });
      const chunks: Buffer[] = [];
      let head: HttpResult['headers'] | undefined;
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
      stream.on('response', (h) => (head = h));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => {});
      stream.once('close', () => {
        clearTimeout(timer);
        if (head === undefined) reject(new Error(`${method} ${path} over HTTP/2: no answer (stream closed, code ${stream.rstCode ?? '?'})`));
        else resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }

  close(): void {
    this.#session?.destroy();
  }
}
