// The comparison baseline: a forwarding proxy that does what the original Capsule Proxy does. For each
// tenant list or watch of namespaces it computes a label selector from the caller's tenants and
// forwards the request upstream with it (the proxy's own credentials), streaming the answer back. So
// every client costs the API server a request — a watch per watching client.
//
// Process entry: `node --import tsx bench/forwarding-proxy.ts <config.json>` with
// `{ upstreamKubeconfig, clientCaFile, tenantsByUser: {user: [tenant…]}, port? }`; prints one JSON line
// `{"url","caPem"}` when listening; SIGTERM stops it.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '../src/server/pki.ts';
import { loadUpstream, type Upstream } from '../src/basics/upstream.ts';

export interface ForwardingProxyConfig {
  upstreamKubeconfig: string;
  clientCaFile: string;
  tenantsByUser: Record<string, string[]>;
  port?: number;
}

const TENANT_LABEL = 'capsule.clastix.io/tenant';

function selectorFor(tenants: string[]): string {
  return tenants.length === 1 ? `${TENANT_LABEL}=${tenants[0]}` : `${TENANT_LABEL} in (${tenants.join(',')})`;
}

export async function startForwardingProxy(config: ForwardingProxyConfig): Promise<{ url: string; caPem: string; stop(): Promise<void> }> {
  const upstream: Upstream = await loadUpstream({ kubeconfig: config.upstreamKubeconfig });
  const ca = await createCertificateAuthority('forwarding-proxy-ca');
  const serving = await issueCertificate(ca, { commonName: 'forwarding-proxy', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem, ca: readFileSync(config.clientCaFile), requestCert: true, rejectUnauthorized: false, noDelay: true, requestTimeout: 0 });
  server.timeout = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket as TLSSocket;
    const user = socket.authorized ? (socket.getPeerCertificate().subject as unknown as { CN?: string }).CN : undefined;
    const tenants = user ? config.tenantsByUser[user] : undefined;
    const url = new URL(req.url ?? '/', 'https://x');
    if (!tenants || url.pathname !== '/api/v1/namespaces') {
      res.writeHead(user ? 404 : 401, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const given = url.searchParams.get('labelSelector');
    url.searchParams.set('labelSelector', given ? `${given},${selectorFor(tenants)}` : selectorFor(tenants));
    const options = await upstream.requestOptions('GET', `${url.pathname}?${url.searchParams}`, { accept: req.headers.accept ?? 'application/json' });
    const upstreamReq = https.request(options, (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, { 'content-type': upstreamRes.headers['content-type'] ?? 'application/json' });
      res.flushHeaders();
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', () => res.destroy());
    res.on('close', () => upstreamReq.destroy());
    upstreamReq.end();
  }

  await new Promise<void>((resolve) => server.listen({ port: config.port ?? 0, host: '127.0.0.1', backlog: 4096 }, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: ca.certPem,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const config = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as ForwardingProxyConfig;
  const proxy = await startForwardingProxy(config);
  process.stdout.write(`${JSON.stringify({ url: proxy.url, caPem: proxy.caPem })}\n`);
  process.once('SIGTERM', () => void proxy.stop().then(() => process.exit(0)));
}
