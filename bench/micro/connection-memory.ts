// Micro-benchmark of what one idle HTTP/1.1 watch connection costs a bare Node server, before any
// tenant-proxy code: the floor under issue 17's "RSS per HTTP/1.1 watch" target, taken apart layer by layer.
//
// Servers, each in a process of its own holding N connections that each sent one watch request and got a
// chunked response head (and one event line) back, nothing else:
//   tls              `tls` server, the head written by hand (as bench/load/raw-floor-server.ts);
//   tls-ask-cert     the same, asking for a client certificate the client does not send;
//   tls-client-cert  the same, the client sending one, verified at the handshake (as tenant-proxy does);
//   https            `node:https` (its HTTP parser, IncomingMessage and ServerResponse kept for the watch);
//   https-client-cert  the same with a verified client certificate: what tenant-proxy's listener is.
// The clients run in this process, so their memory is not counted.
//
// `node --import tsx bench/micro/connection-memory.ts [connections=2000] [servers=all]`
// Prints one JSON line per server: RSS, V8 heap used and V8 heap committed per connection, after two
// forced collections before and after the connections opened.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createCertificateAuthority, issueCertificate } from '../../src/server/pki.ts';

const SERVERS = ['tls', 'tls-ask-cert', 'tls-client-cert', 'https', 'https-client-cert'] as const;
type ServerKind = (typeof SERVERS)[number];

interface Material {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

interface Usage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

type ServerMessage = { type: 'listening'; port: number } | { type: 'usage'; usage: Usage; held: number };

const RESPONSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
const EVENT_LINE = '{"type":"ADDED","object":{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"oil-dev"}}}\n';
const REQUEST = 'GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kubectl/v1.20.2 (linux/amd64) kubernetes/faecb19\r\nAccept: application/json\r\n\r\n';
const OPEN_CONCURRENCY = 50;

// ---- the server process ------------------------------------------------------------------------------

function usage(): Usage {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal };
}

function serve(kind: ServerKind, material: Material): void {
  const asks = kind !== 'tls' && kind !== 'https';
  const options: tls.TlsOptions = { cert: material.serverCertPem, key: material.serverKeyPem, ...(asks ? { ca: material.caPem, requestCert: true, rejectUnauthorized: kind !== 'tls-ask-cert' } : {}) };
  const held: unknown[] = [];
  const chunk = `${Buffer.byteLength(EVENT_LINE).toString(16)}\r\n${EVENT_LINE}\r\n`;
  const server = kind.startsWith('https')
    ? https.createServer(options, (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(EVENT_LINE);
        held.push(res);
      })
    : tls.createServer(options, (socket) => {
        let head = '';
        socket.on('error', () => socket.destroy());
        const onData = (data: Buffer) => {
          head += data.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          socket.off('data', onData);
          socket.on('data', () => undefined);
          socket.write(RESPONSE_HEAD + chunk);
          held.push(socket);
        };
        socket.on('data', onData);
      });
  if (server instanceof https.Server) {
    server.headersTimeout = 0;
    server.requestTimeout = 0;
  }
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    const address = server.address();
    process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 } satisfies ServerMessage);
  });
  process.on('message', () => process.send?.({ type: 'usage', usage: usage(), held: held.length } satisfies ServerMessage));
}

// ---- the measuring process ---------------------------------------------------------------------------

function next(child: ChildProcess): Promise<ServerMessage> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServerMessage));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function openWatch(port: number, material: Material, withCert: boolean, sockets: tls.TLSSocket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: material.caPem, ...(withCert ? { cert: material.clientCertPem, key: material.clientKeyPem } : {}) }, () => socket.write(REQUEST));
    sockets.push(socket);
    socket.once('data', (data: Buffer) => (data.toString('latin1').startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(`answered ${data.toString('latin1').slice(0, 100)}`))));
    socket.once('error', reject);
  });
}

async function openMany(count: number, port: number, material: Material, withCert: boolean, sockets: tls.TLSSocket[]): Promise<void> {
  for (let opened = 0; opened < count; opened += OPEN_CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count - opened) }, () => openWatch(port, material, withCert, sockets)));
  }
}

async function measure(kind: ServerKind, connections: number, materialFile: string, material: Material): Promise<Record<string, number | string>> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind, materialFile], { execArgv: ['--expose-gc', '--import', 'tsx'] });
  const sockets: tls.TLSSocket[] = [];
  try {
    const listening = await next(child);
    if (listening.type !== 'listening') throw new Error('server: no port');
    const withCert = kind.endsWith('client-cert');
    // Warm-up: the first connections load code and grow pools every later one shares.
    await openMany(OPEN_CONCURRENCY, listening.port, material, withCert, sockets);
    child.send('usage');
    const before = await next(child);
    await openMany(connections, listening.port, material, withCert, sockets);
    await sleep(1_000);
    child.send('usage');
    const after = await next(child);
    if (before.type !== 'usage' || after.type !== 'usage') throw new Error('server: no usage');
    const held = after.held - before.held;
    const per = (pick: (u: Usage) => number) => Math.round(((pick(after.usage) - pick(before.usage)) / held / 1024) * 10) / 10;
    return { server: kind, connections: held, rssKiBPerConnection: per((u) => u.rss), heapUsedKiBPerConnection: per((u) => u.heapUsed), heapCommittedKiBPerConnection: per((u) => u.heapTotal) };
  } finally {
    for (const socket of sockets) socket.destroy();
    child.kill();
  }
}

async function main(): Promise<void> {
  const [connectionsArg, serversArg] = process.argv.slice(2);
  const connections = Number(connectionsArg ?? 2000);
  const kinds = (serversArg ?? SERVERS.join(',')).split(',') as ServerKind[];
  for (const kind of kinds) if (!SERVERS.includes(kind)) throw new Error(`unknown server ${kind}; known: ${SERVERS.join(', ')}`);
  const ca = await createCertificateAuthority('connection-memory-ca');
  const server = await issueCertificate(ca, { commonName: 'connection-memory', hosts: ['127.0.0.1'], usage: 'server' });
  const client = await issueCertificate(ca, { commonName: 'alice', usage: 'client' });
  const material: Material = { caPem: ca.certPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem, clientCertPem: client.certPem, clientKeyPem: client.keyPem };
  const dir = mkdtempSync(path.join(tmpdir(), 'connection-memory-'));
  const materialFile = path.join(dir, 'material.json');
  writeFileSync(materialFile, JSON.stringify(material), { mode: 0o600 });
  try {
    for (const kind of kinds) process.stdout.write(`${JSON.stringify(await measure(kind, connections, materialFile, material))}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3] as ServerKind, JSON.parse(readFileSync(process.argv[4] ?? '', 'utf8')) as Material);
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`connection-memory: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
