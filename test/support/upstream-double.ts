// A stand-in API server for what the local control plane cannot do (there is no kubelet, so no exec,
// attach or port-forward) and for faults (hangs, readiness flips). HTTPS on a free loopback port; it
// records what it receives, answers TokenReviews for known tokens, and accepts:
// - websocket upgrades (exec-like paths): negotiates the first offered channel protocol, sets
//   X-Stream-Protocol-Version, and echoes every message back prefixed with "echo:";
// - SPDY/3.1 upgrades: answers 101 and echoes raw bytes;
// - `/hang`: never answers; `/slow`: answers after a delay; `/readyz`: 200 unless `ready` is false;
// - `?refuse=403`: refuses the upgrade with a Status;
// - a GET of a resource collection: an empty cluster (or the items given in `collections`) — a list, or a
//   watch held open (events only as `emit` sends them) — so that the proxy's own informers sync and it
//   becomes ready;
// - any path in `answers`: that fixed status and body.
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/server/pki.ts';
import { parseRequestInfo } from '../../src/front/request-info.ts';
import { loadUpstream, type Upstream } from '../../src/basics/upstream.ts';
import { stringify } from 'yaml';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

export class UpstreamDouble {
  readonly requests: RecordedRequest[] = [];
  readonly ca: CertificateAuthority;
  ready = true;
  /** Token → user the double's TokenReview accepts. */
  readonly users = new Map<string, { username: string; groups: string[] }>();
  /** Items listed for a collection, by `<group>/<resource>` (every other collection is empty). */
  readonly collections = new Map<string, unknown[]>();
  /** Fixed answers by path, whatever the method (faults: a body that is not JSON, say). */
  readonly answers = new Map<string, { status: number; body: string }>();
  readonly #server: https.Server;
  readonly #wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols].find((p) => p.endsWith('channel.k8s.io')) ?? false });
  readonly #sockets = new Set<Duplex>();
  /** Open watches by `<group>/<resource>` (the proxy's informers' and forwarded ones). */
  readonly #watches = new Map<string, Set<ServerResponse>>();
  port = 0;

  private constructor(ca: CertificateAuthority, serving: { certPem: string; keyPem: string }) {
    this.ca = ca;
    this.#server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#wss.on('headers', (headers, req) => {
      const chosen = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-protocol:'));
      if (chosen) headers.push(`X-Stream-Protocol-Version: ${chosen.split(':')[1]?.trim() ?? ''}`);
      void req;
    });
    this.#wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? Buffer.concat([Buffer.from('echo:'), data as Buffer]) : `echo:${data.toString()}`)));
  }

  static async start(): Promise<UpstreamDouble> {
    const ca = await createCertificateAuthority('upstream-double-ca');
    const serving = await issueCertificate(ca, { commonName: 'upstream-double', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
    const double = new UpstreamDouble(ca, serving);
    await new Promise<void>((resolve) => double.#server.listen(0, '127.0.0.1', () => resolve()));
    double.port = (double.#server.address() as AddressInfo).port;
    return double;
  }

  /** An Upstream for the proxy: the double, trusted through its CA, with a static proxy token. */
  async upstream(dir: string): Promise<Upstream> {
    const file = path.join(dir, 'double.kubeconfig');
    writeFileSync(file, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'double', cluster: { server: `https://127.0.0.1:${this.port}`, 'certificate-authority-data': Buffer.from(this.ca.certPem).toString('base64') } }],
      users: [{ name: 'proxy', user: { token: 'proxy-token' } }],
      contexts: [{ name: 'double', context: { cluster: 'double', user: 'proxy' } }],
      'current-context': 'double',
    }));
    return loadUpstream({ kubeconfig: file });
  }

  #record(req: IncomingMessage): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.#record(req);
    const url = new URL(req.url ?? '/', 'https://double');
    if (url.pathname === '/readyz') {
      res.writeHead(this.ready ? 200 : 500).end(this.ready ? 'ok' : 'not ready');
      return;
    }
    if (url.pathname === '/hang') return;
    const fixed = this.answers.get(url.pathname);
    if (fixed) {
      req.resume();
      res.writeHead(fixed.status, { 'content-type': 'application/json' }).end(fixed.body);
      return;
    }
    const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    if (info.isResourceRequest && (info.verb === 'list' || info.verb === 'watch') && !info.name) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const collection = `${info.apiGroup}/${info.resource}`;
      if (info.verb === 'watch') {
        res.flushHeaders(); // held open until the client or stop() ends it
        const open = this.#watches.get(collection) ?? new Set<ServerResponse>();
        this.#watches.set(collection, open.add(res));
        res.once('close', () => open.delete(res));
      } else {
        res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: this.collections.get(collection) ?? [] }));
      }
      return;
    }
    if (url.pathname === '/slow') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer'), Number(url.searchParams.get('ms') ?? 1000));
      return;
    }
    if (url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec: { token: string } };
        const user = this.users.get(review.spec.token);
        const status = user ? { authenticated: true, user: { username: user.username, groups: user.groups } } : { authenticated: false };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url.pathname, impersonateUser: req.headers['impersonate-user'] ?? null }));
  }

  /** Watches of a collection (`<group>/<resource>`, e.g. `/namespaces`) open now. */
  watching(collection: string): number {
    return this.#watches.get(collection)?.size ?? 0;
  }

  /** Sends one watch event to every open watch of a collection; returns how many got it. */
  emit(collection: string, event: { type: string; object: unknown }): number {
    const open = [...(this.#watches.get(collection) ?? [])];
    for (const res of open) res.write(`${JSON.stringify(event)}\n`);
    return open.length;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#record(req);
    const url = new URL(req.url ?? '/', 'https://double');
    const refuse = url.searchParams.get('refuse');
    if (refuse) {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'refused by the double', reason: 'Forbidden', code: Number(refuse) });
      socket.end(`HTTP/1.1 ${refuse} Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
      return;
    }
    // SPDY/3.1: answer 101 and echo raw bytes.
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
  }

  async stop(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
