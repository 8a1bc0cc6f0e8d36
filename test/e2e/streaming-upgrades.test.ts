// Bodies pass through unbuffered and byte for byte, a client that leaves closes the upstream watch, and
// upgraded connections (websocket, SPDY) are relayed both ways with the upstream's 101 answer. Upgrades
// and faults use an upstream double: the local control plane has no kubelet.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { freePort } from '../support/free-port.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { KubeHttp } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { UpstreamDouble } from '../support/upstream-double.ts';
import { loadUpstream } from '../../src/basics/upstream.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  double: UpstreamDouble;
  doubleProxy: RunningProxy;
}

const test = suite<Context>('streaming and upgrades');
const suffix = Math.random().toString(36).slice(2, 7);
const ALICE_TOKEN = `alice-token-${suffix}`;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.proxy = await startProxy(ctx.cp);
  ctx.double = await UpstreamDouble.start();
  ctx.double.users.set(ALICE_TOKEN, { username: 'alice', groups: ['oil-team'] });
  ctx.doubleProxy = await startProxy(undefined, { upstream: await ctx.double.upstream(mkdtempSync(path.join(tmpdir(), 'double-'))), flags: ['--upstream-timeout', '1s'] });
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.doubleProxy?.stop();
  await ctx.double?.stop();
});

test('each watch event reaches the client as it happens', async (ctx) => {
  const name = `streamed-${suffix}`;
  const admin = ctx.proxy.client(ctx.cp.adminCredentials());
  const { req, res } = await admin.stream('GET', `/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3D${name}`);
  assert.is(res.statusCode, 200);
  const events: { type: string; object: { metadata: { name: string } } }[] = [];
  let buffer = '';
  res.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buffer.slice(0, nl)) as (typeof events)[number]);
      buffer = buffer.slice(nl + 1);
    }
  });
  await ctx.cp.admin.json('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  await waitUntil(() => events.length >= 1, 'the ADDED event arrives while the watch stays open');
  assert.is(events[0]?.type, 'ADDED');
  assert.is(events[0]?.object.metadata.name, name);
  await ctx.cp.admin.json('PATCH', `/api/v1/namespaces/${name}`, { body: { metadata: { labels: { x: 'y' } } }, contentType: 'application/merge-patch+json' });
  await waitUntil(() => events.length >= 2, 'then the MODIFIED event');
  assert.is(events[1]?.type, 'MODIFIED');
  assert.ok(!res.complete, 'the stream is still open');

  // The client goes away: the proxy closes its upstream watch (the apiserver logs the watch complete).
  const watchUri = `/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3D${name}`;
  const upstreamWatchEnded = () => ctx.cp.auditEvents().some((e) => e.verb === 'watch' && e.requestURI === watchUri && e.stage === 'ResponseComplete');
  assert.not.ok(upstreamWatchEnded(), 'the upstream watch is open while the client is');
  req.destroy();
  await waitUntil(upstreamWatchEnded, 'the upstream watch ends when the client leaves');
  await ctx.cp.admin.request('DELETE', `/api/v1/namespaces/${name}`);
});

test('protobuf bodies pass byte for byte, status and headers preserved', async (ctx) => {
  const accept = { accept: 'application/vnd.kubernetes.protobuf' };
  const direct = new KubeHttp(ctx.cp.server, ctx.cp.adminCredentials());
  const viaProxy = ctx.proxy.client(ctx.cp.adminCredentials());
  const [a, b] = await Promise.all([rawBody(direct, '/api/v1/namespaces/default', accept), rawBody(viaProxy, '/api/v1/namespaces/default', accept)]);
  direct.close();
  assert.is(b.status, 200);
  assert.is(b.contentType, 'application/vnd.kubernetes.protobuf');
  assert.ok(a.body.equals(b.body), 'identical bytes');
  const missing = await viaProxy.request('GET', '/api/v1/namespaces/does-not-exist');
  assert.is(missing.status, 404);
  assert.is(JSON.parse(missing.body).message, 'namespaces "does-not-exist" not found');
});

async function rawBody(client: KubeHttp, path: string, headers: Record<string, string>): Promise<{ status: number; contentType: string; body: Buffer }> {
  const { res } = await client.stream('GET', path, { headers });
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return { status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks) };
}

test('a websocket exec upgrade is impersonated and piped both ways', async (ctx) => {
  const tokenProtocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(ALICE_TOKEN).toString('base64url')}`;
  const ws = new WebSocket(`wss://127.0.0.1:${ctx.doubleProxy.port}/api/v1/namespaces/oil/pods/web/exec?command=sh&stdin=true&stdout=true`, [tokenProtocol, 'v5.channel.k8s.io', 'v4.channel.k8s.io'], { ca: ctx.doubleProxy.caPem });
  let upgradeHeaders: Record<string, string | string[] | undefined> = {};
  ws.on('upgrade', (res) => (upgradeHeaders = res.headers));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.on('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
  assert.is(ws.protocol, 'v5.channel.k8s.io');
  assert.is(upgradeHeaders['x-stream-protocol-version'], 'v5.channel.k8s.io');
  const replies: string[] = [];
  ws.on('message', (d) => replies.push(d.toString()));
  ws.send('\x00ls\n');
  ws.send('\x00exit\n');
  await waitUntil(() => replies.length === 2, 'both messages echoed back');
  assert.equal(replies, ['echo:\x00ls\n', 'echo:\x00exit\n']);
  ws.close();

  const seen = ctx.double.requests.find((r) => r.url.includes('/pods/web/exec'));
  assert.ok(seen);
  assert.is(seen.headers['impersonate-user'], 'alice');
  assert.is(seen.headers['impersonate-group'], 'oil-team');
  assert.is(seen.headers.authorization, 'Bearer proxy-token', 'upstream sees the proxy credentials');
  assert.is(seen.headers['sec-websocket-protocol'], 'v5.channel.k8s.io, v4.channel.k8s.io', 'the token subprotocol is not passed on');
});

test('a SPDY/3.1 upgrade (POST) gets the upstream 101 and raw bytes both ways', async (ctx) => {
  const socket = tls.connect({ host: '127.0.0.1', port: ctx.doubleProxy.port, ca: ctx.doubleProxy.caPem });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  socket.write(`POST /api/v1/namespaces/oil/pods/web/portforward HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ALICE_TOKEN}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n`);
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  await waitUntil(() => received.includes('\r\n\r\n'), 'the 101 answer');
  const head = received.toString('latin1');
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /X-Stream-Protocol-Version: v4\.channel\.k8s\.io/i);
  const afterHead = received.indexOf('\r\n\r\n') + 4;
  const frame = Buffer.from([0x80, 0x03, 0x00, 0x01, 0xff, 0x00]);
  socket.write(frame);
  await waitUntil(() => received.length >= afterHead + frame.length, 'the bytes echoed back');
  assert.ok(received.subarray(afterHead).equals(frame));
  socket.destroy();
  assert.is(ctx.double.requests.find((r) => r.url.endsWith('/portforward'))?.headers['impersonate-user'], 'alice');
});

test('a refused upgrade passes the upstream answer through', async (ctx) => {
  const ws = new WebSocket(`wss://127.0.0.1:${ctx.doubleProxy.port}/api/v1/namespaces/oil/pods/web/attach?refuse=403`, ['v5.channel.k8s.io'], { ca: ctx.doubleProxy.caPem, headers: { authorization: `Bearer ${ALICE_TOKEN}` } });
  const answer = await new Promise<{ code: number; body: string }>((resolve) => {
    ws.on('unexpected-response', (_q, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
  });
  assert.is(answer.code, 403);
  assert.is(JSON.parse(answer.body).message, 'refused by the double');
});

test('an upgrade without valid credentials is 401', async (ctx) => {
  const ws = new WebSocket(`wss://127.0.0.1:${ctx.doubleProxy.port}/api/v1/namespaces/oil/pods/web/exec`, ['v5.channel.k8s.io', 'base64url.bearer.authorization.k8s.io.'], { ca: ctx.doubleProxy.caPem });
  const code = await new Promise<number>((resolve) => ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)));
  assert.is(code, 401);
});

test('no answer from upstream in time → 504 Status; unreachable upstream → 502 Status', async (ctx) => {
  const alice = ctx.doubleProxy.client({ caPem: '', token: ALICE_TOKEN });
  const slow = await alice.request('GET', '/hang');
  assert.is(slow.status, 504);
  assert.equal(JSON.parse(slow.body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the API server did not answer within 1s', reason: 'Timeout', code: 504 });

  const dir = mkdtempSync(path.join(tmpdir(), 'unreachable-'));
  const closedPort = await freePort();
  const kubeconfig = ctx.cp.writeKubeconfig(path.join(dir, 'kc'), ctx.cp.adminCredentials(), 'admin', `https://127.0.0.1:${closedPort}`);
  const orphan = await startProxy(undefined, { upstream: await loadUpstream({ kubeconfig }) });
  try {
    const r = await orphan.client(ctx.cp.adminCredentials()).request('GET', '/api/v1/namespaces');
    assert.is(r.status, 502);
    const status = JSON.parse(r.body) as { reason: string; message: string };
    assert.is(status.reason, 'BadGateway');
    assert.match(status.message, 'ECONNREFUSED');
    const ready = await fetch(`http://127.0.0.1:${orphan.metricsPort}/readyz`);
    assert.is(ready.status, 503, 'not ready while upstream does not answer');
  } finally {
    await orphan.stop();
  }
});

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(25);
  }
}

test.run();
