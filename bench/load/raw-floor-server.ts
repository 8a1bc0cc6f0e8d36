// The raw floor (issue 17): a bare Node server, no tenant-proxy, writing watch events to every client it
// holds — what one Node process on this machine can do at best, measured beside the proxy in the same run.
// `--transport tls`: a `tls` server answering each watch request with a hand-written chunked HTTP/1.1
// response head, then one chunk per event (the bytes the proxy writes: `<hex length>\r\n<event line>\r\n`);
// `--transport h2`: an `http2` server, each watch a stream, one DATA write per event line.
// Owns: the connections (streams), the event bytes, their schedule. Does not own: parsing requests (it
// answers any request the same way), authentication, history. With `--client-ca-file` it asks for and
// verifies client certificates at the handshake, as tenant-proxy does, so a connection holds its peer's
// certificate as the proxy's do (OpenSSL keeps it for the connection's life); nothing reads it.
// Each event is encoded once (a fresh resourceVersion and emitted-at stamp on `--object`, the JSON object
// the proxy would serve) and the same Buffer goes to every client; the events of one wake-up of the
// schedule (bench/replay/pacer.ts) are one write per client, as the proxy corks a batch.
// Backpressure: none — a client that does not read grows this process's buffers (the load generators read).
//
//   node --import tsx bench/load/raw-floor-server.ts --transport tls|h2 --object '{"kind":…}' [--client-ca-file F]
// Ready: one stdout line `{"url":…,"caPem":…}`. Then each stdin line is a command, answered by one line:
//   {"cmd":"emit","eventsPerSecond":R,"durationMs":D} → {"emitted":N,"elapsedMs":X,"clients":C}
// stdin's end or SIGTERM stops it.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../../streams/kube-object.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/server/pki.ts';
import { pace } from '../replay/pacer.ts';
import { EMITTED_AT_ANNOTATION } from '../replay-upstream.ts';

export type FloorTransport = 'tls' | 'h2';

export type FloorCommand = { cmd: 'emit'; eventsPerSecond: number; durationMs: number };

export interface FloorReply {
  emitted: number;
  elapsedMs: number;
  /** Clients written to at the end of the emission (connections over tls, streams over h2). */
  clients: number;
  /** Bytes of one event line (without the chunk framing). */
  lineBytes: number;
}

const RESPONSE_HEAD = Buffer.from('HTTP/1.1 200 OK\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1');
const HEAD_END = '\r\n\r\n';

const { values } = parseArgs({ options: { transport: { type: 'string', default: 'tls' }, object: { type: 'string' }, 'client-ca-file': { type: 'string' } } });
const transport = values.transport as FloorTransport;
if (transport !== 'tls' && transport !== 'h2') throw new Error(`--transport tls|h2, got ${transport}`);
const template = JSON.parse(values.object ?? '{}') as KubeObject;
let revision = 1_000_000;
let lineBytes = 0;

/** The event line of the next change: the template with a new resourceVersion and emitted-at stamp. */
function nextLine(): string {
  const metadata = { ...template.metadata, resourceVersion: String(++revision), annotations: { ...template.metadata.annotations, [EMITTED_AT_ANNOTATION]: (performance.timeOrigin + performance.now()).toFixed(3) } };
  const line = `{"type":"MODIFIED","object":${JSON.stringify({ ...template, metadata })}}\n`;
  lineBytes = Buffer.byteLength(line);
  return line;
}

const ca = await createCertificateAuthority('raw-floor-ca');
const serving = await issueCertificate(ca, { commonName: 'raw-floor', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
const sockets = new Set<tls.TLSSocket>();
const streams = new Set<http2.ServerHttp2Stream>();

/** A TLS client becomes a watcher once its request head has arrived. */
function onSecureConnection(socket: tls.TLSSocket): void {
  let head = '';
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(socket));
  const onData = (data: Buffer) => {
    head += data.toString('latin1');
    if (!head.includes(HEAD_END)) return;
    socket.off('data', onData);
    socket.on('data', () => undefined);
    socket.write(RESPONSE_HEAD);
    sockets.add(socket);
  };
  socket.on('data', onData);
}

function onStream(stream: http2.ServerHttp2Stream): void {
  stream.on('error', () => undefined);
  stream.on('close', () => streams.delete(stream));
  stream.respond({ ':status': 200, 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  streams.add(stream);
}

const clientCaFile = values['client-ca-file'];
const verifyClients = clientCaFile ? { ca: readFileSync(clientCaFile), requestCert: true, rejectUnauthorized: true } : {};
const options = { cert: serving.certPem, key: serving.keyPem, ...verifyClients };
const server = transport === 'tls' ? tls.createServer(options, onSecureConnection) : http2.createSecureServer(options).on('stream', onStream);
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));

const CRLF = Buffer.from('\r\n', 'latin1');

/** One batch of `count` events: encoded once (one HTTP/1.1 chunk over TLS), one write per client. */
function writeBatch(count: number): void {
  const lines = Array.from({ length: count }, nextLine).join('');
  if (transport === 'tls') {
    const body = Buffer.from(lines);
    const frame = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, CRLF]);
    for (const socket of sockets) socket.write(frame);
  } else {
    const data = Buffer.from(lines);
    for (const stream of streams) stream.write(data);
  }
}

async function run(command: FloorCommand): Promise<FloorReply> {
  const { emitted, elapsedMs } = await pace({ eventsPerSecond: command.eventsPerSecond, durationMs: command.durationMs }, writeBatch).done;
  return { emitted, elapsedMs, clients: transport === 'tls' ? sockets.size : streams.size, lineBytes };
}

const stop = () => {
  for (const socket of sockets) socket.destroy();
  for (const stream of streams) stream.close();
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    run(JSON.parse(line) as FloorCommand).then(
      (reply) => process.stdout.write(`${JSON.stringify(reply)}\n`),
      (err: unknown) => process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`),
    );
  })
  .on('close', stop);
process.stdout.write(`${JSON.stringify({ url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caPem: ca.certPem })}\n`);
