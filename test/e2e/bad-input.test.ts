// The malformed, thrown at a running proxy in front of the real control plane, each with the answer the
// proxy must give written next to it — the apiserver's own code and reason where the apiserver answers
// the same request (checked against it, as admin, with dryRun), the proxy's where it alone decides —
// and, after all of it, a live and ready proxy that still serves the tenant. The bodies and query values
// are thrown over HTTP/1.1 and over an HTTP/2 session alike (the listener speaks both, and the answers
// must not differ). What is HTTP/1.1's own stays HTTP/1.1-only: request heads, Host, Content-Length
// against Transfer-Encoding, the head and keep-alive timers, websocket upgrades (HTTP/2 has no such
// thing: HEADERS frames have a length, the settings bound their size, idle sessions and floods are
// tested in http2.test.ts, http2-abuse.test.ts, http2-limits.test.ts).
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import type { ControlPlane } from '../support/control-plane.ts';
import { digitSuffix, gatewayClass, node, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { eventually, waitUntil } from '../support/eventually.ts';
import { createTenant } from '../support/fixtures.ts';
import { H2Requests, type Requests } from '../support/h2-requests.ts';
import type { Credentials, HttpResult, KubeHttp } from '../support/kube-http.ts';
import type { KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { RawConnection } from '../support/raw-client.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';
import { WebSocket } from 'ws';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  ownerCredentials: Credentials;
  /** The owner's credentials, trusting the proxy's serving certificate. */
  viaProxy: Credentials;
  owner: KubeHttp;
  /** The owner over HTTP/2 (a new session whenever the proxy closed the last one: its idle timeout is short here). */
  ownerH2: H2Requests;
}

const test = suite<Context>('bad input');
const s = digitSuffix();
const n = (base: string): string => `bi-${base}-${s}`;
const OWNER = n('owner');
const TENANT = n('tenant');
const LABEL = `bad-input.test/mine-${s}`;
const NODE = n('node');
const GATEWAY_CLASS = n('gw');
const NODE_PATH = `/api/v1/nodes/${NODE}`;
const GW_PATH = `/apis/gateway.networking.k8s.io/v1/gatewayclasses/${GATEWAY_CLASS}`;
const NS = '/api/v1/namespaces';
/** Short limits, so that each can be seen to act within a test. */
const HANDSHAKE_TIMEOUT_S = 1;
const HEADER_TIMEOUT_S = 1;
const IDLE_TIMEOUT_S = 2;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  ctx.proxy = await startProxy(ctx.cp, {
    flags: ['--tls-handshake-timeout', `${HANDSHAKE_TIMEOUT_S}s`, '--request-header-timeout', `${HEADER_TIMEOUT_S}s`, '--client-idle-timeout', `${IDLE_TIMEOUT_S}s`],
    captureLogs: true,
  });
  const mine = { [LABEL]: 'yes' };
  await ctx.tracker.apply(node(NODE, mine), gatewayClass(GATEWAY_CLASS, mine));
  trackTenant(ctx.tracker, TENANT, [n('ns'), n('ns2')]);
  const grant = (kind: 'Nodes' | 'GatewayClasses') => ({ kind, operations: ['List' as const, 'Update' as const, 'Delete' as const] });
  await createTenant(ctx.cp.admin, {
    name: TENANT,
    owners: [{ kind: 'User', name: OWNER, proxySettings: [grant('Nodes'), grant('GatewayClasses')] }],
    namespaces: [n('ns'), n('ns2')],
    spec: { nodeSelector: mine, gatewayOptions: { allowedClasses: { matchLabels: mine } } },
  });
  await waitReady(ctx.proxy);
  ctx.ownerCredentials = await ctx.cp.clientCertificate(OWNER);
  ctx.viaProxy = { ...ctx.ownerCredentials, caPem: ctx.proxy.caPem };
  ctx.owner = ctx.proxy.client(ctx.ownerCredentials);
  for (const path of [NODE_PATH, GW_PATH]) await eventually(() => ctx.owner.request('GET', path), (r) => r.status === 200, `${OWNER} sees ${path}`);
  ctx.ownerH2 = new H2Requests(ctx.proxy.url, ctx.viaProxy);
});

test.after(async (ctx) => {
  ctx.ownerH2?.close();
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

function statusOf(r: HttpResult): { code?: number; reason?: string; message?: string } {
  try {
    return JSON.parse(r.body) as { code?: number; reason?: string; message?: string };
  } catch {
    return {};
  }
}

const withDryRun = (path: string): string => `${path}${path.includes('?') ? '&' : '?'}dryRun=All`;

/** The owner's requests over each protocol of the listener. */
function overEachProtocol(ctx: Context): Requests[] {
  const h1: Requests = { protocol: 'HTTP/1.1', request: (method, path, options) => ctx.owner.request(method, path, options) };
  return [h1, ctx.ownerH2];
}

// ── bodies of the writes and reviews the proxy performs or answers ──

const GARBAGE = 'garbage';
const TRUNCATED = '{"metadata":{"labels":';
const BIG = `{"metadata":{"annotations":{"a":"${'x'.repeat(3 * 1024 * 1024)}"}}}`;

/** [what, method, path, content type ('' = none), body, expected code, expected reason ('' = none), the apiserver answers it alike] */
type BodyCase = [string, string, string, string, string, number, string, boolean];
const SSAR = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const SSRR = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
const SSR = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const BODY_CASES: BodyCase[] = [
  ['PUT garbage', 'PUT', NODE_PATH, 'application/json', GARBAGE, 400, 'BadRequest', true],
  ['PUT truncated', 'PUT', NODE_PATH, 'application/json', TRUNCATED, 400, 'BadRequest', true],
  ['PUT YAML garbage', 'PUT', NODE_PATH, 'application/yaml', ': : [', 400, 'BadRequest', true],
  ['PUT text/plain', 'PUT', NODE_PATH, 'text/plain', '{}', 415, 'UnsupportedMediaType', true],
  // The apiserver takes protobuf; the proxy, which must check what it sends, does not.
  ['PUT protobuf', 'PUT', NODE_PATH, 'application/vnd.kubernetes.protobuf', 'k8s\0garbage', 415, 'UnsupportedMediaType', false],
  ['PUT past 3 MiB', 'PUT', NODE_PATH, 'application/json', BIG, 413, 'RequestEntityTooLarge', true],
  ['merge patch garbage', 'PATCH', NODE_PATH, 'application/merge-patch+json', GARBAGE, 500, '', true],
  ['merge patch truncated', 'PATCH', NODE_PATH, 'application/merge-patch+json', TRUNCATED, 500, '', true],
  ['JSON patch garbage', 'PATCH', NODE_PATH, 'application/json-patch+json', GARBAGE, 400, 'BadRequest', true],
  ['JSON patch not a list', 'PATCH', NODE_PATH, 'application/json-patch+json', '{}', 400, 'BadRequest', true],
  ['strategic merge patch truncated', 'PATCH', NODE_PATH, 'application/strategic-merge-patch+json', TRUNCATED, 400, 'BadRequest', true],
  ['apply patch garbage', 'PATCH', `${NODE_PATH}?fieldManager=bad-input`, 'application/apply-patch+yaml', ': : [', 400, 'BadRequest', true],
  ['patch as text/plain', 'PATCH', NODE_PATH, 'text/plain', '{}', 415, 'UnsupportedMediaType', true],
  ['patch as application/json', 'PATCH', NODE_PATH, 'application/json', '{}', 415, 'UnsupportedMediaType', true],
  ['patch without a content type', 'PATCH', NODE_PATH, '', '{}', 415, 'UnsupportedMediaType', true],
  ['strategic merge patch of a custom resource', 'PATCH', GW_PATH, 'application/strategic-merge-patch+json', '{}', 415, 'UnsupportedMediaType', true],
  ['patch past 3 MiB', 'PATCH', NODE_PATH, 'application/merge-patch+json', BIG, 413, 'RequestEntityTooLarge', true],
  ['delete options garbage', 'DELETE', NODE_PATH, 'application/json', GARBAGE, 500, '', true],
  ['delete options as text/plain', 'DELETE', NODE_PATH, 'text/plain', '{}', 415, 'UnsupportedMediaType', true],
  ['access review garbage', 'POST', SSAR, 'application/json', GARBAGE, 400, 'BadRequest', true],
  ['access review truncated', 'POST', SSAR, 'application/json', '{"spec":', 400, 'BadRequest', true],
  ['access review as text/plain', 'POST', SSAR, 'text/plain', '{}', 415, 'UnsupportedMediaType', true],
  ['access review past 3 MiB', 'POST', SSAR, 'application/json', BIG, 413, 'RequestEntityTooLarge', true],
  ['rules review garbage', 'POST', SSRR, 'application/json', GARBAGE, 400, 'BadRequest', true],
  // Absent from 1.20: the proxy answers it itself, as newer apiservers do.
  ['self subject review garbage', 'POST', SSR, 'application/json', GARBAGE, 400, 'BadRequest', false],
];

test('garbage, truncated, oversized and mistyped bodies of every served write and review, over HTTP/1.1 and HTTP/2: the apiserver\'s code and reason, nothing written', async (ctx) => {
  const before = await ctx.cp.admin.json<KubeObject>('GET', NODE_PATH);
  for (const [i, client] of overEachProtocol(ctx).entries()) {
    for (const [what, method, path, contentType, body, code, reason, apiserverAlike] of BODY_CASES) {
      const r = await client.request(method, path, { body, contentType });
      const status = statusOf(r);
      const named = `${what} (${client.protocol})`;
      assert.is(r.status, code, `${named}: ${r.status} ${r.body.slice(0, 300)}`);
      assert.is(status.reason ?? '', reason, `${named}: reason`);
      assert.is(status.code, code, `${named}: a Status`);
      if (apiserverAlike && i === 0) {
        const direct = await ctx.cp.admin.request(method, withDryRun(path), { body, contentType });
        assert.equal([direct.status, statusOf(direct).reason ?? ''], [code, reason], `${what}: the apiserver answers the same`);
      }
    }
  }
  const after = await ctx.cp.admin.json<KubeObject>('GET', NODE_PATH);
  assert.is(after.metadata.resourceVersion, before.metadata.resourceVersion, 'the node was not written');
});

test('absurd query values on a served list: what the apiserver answers', async (ctx) => {
  const cases: [string, number, string][] = [
    ['limit=-1', 200, ''],
    ['limit=1e99', 400, 'BadRequest'],
    ['limit=99999999999999999999', 400, 'BadRequest'],
    ['timeoutSeconds=-5', 200, ''],
    ['limit=1&limit=abc', 200, ''],
    ['resourceVersion=abc', 500, ''],
    ['labelSelector=a%20in%20(b&labelSelector=c', 400, 'BadRequest'],
    ['fieldSelector=spec.nodeName%3Dx', 400, 'BadRequest'],
  ];
  for (const [query, code, reason] of cases) {
    for (const client of overEachProtocol(ctx)) {
      const r = await client.request('GET', `${NS}?${query}`);
      assert.equal([r.status, statusOf(r).reason ?? ''], [code, reason], `?${query} (${client.protocol}): ${r.body.slice(0, 200)}`);
    }
    const direct = await ctx.cp.admin.request('GET', `${NS}?${query}`);
    assert.equal([direct.status, statusOf(direct).reason ?? ''], [code, reason], `?${query} at the apiserver`);
  }
  // Repeated parameters: the first counts, as for the apiserver.
  for (const client of overEachProtocol(ctx)) {
    const first = JSON.parse((await client.request('GET', `${NS}?limit=1&limit=abc`)).body) as { items: unknown[]; metadata: { continue?: string } };
    assert.is(first.items.length, 1, client.protocol);
    assert.ok(first.metadata.continue, `the tenant has more (${client.protocol})`);
  }
});

test('a quiet view listed as a Table every 250 ms for 10 s keeps a bounded cache of bodies', async (ctx) => {
  const table = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
  const deadline = Date.now() + 10_000;
  let peak = 0;
  while (Date.now() < deadline) {
    assert.is((await ctx.owner.request('GET', NS, { headers: table })).status, 200);
    peak = Math.max(peak, await ctx.proxy.metric('tenant_proxy_list_cache_entries'));
    await new Promise((r) => setTimeout(r, 250));
  }
  const views = await ctx.proxy.metric('tenant_proxy_views');
  // One Table body per second would be 10 or more for this view alone.
  assert.ok(peak <= 8 * views && peak < 10, `peak ${peak} cached bodies for ${views} views`);
});

// ── request heads ──

test('headers past 32 KiB get 431 with a Status; a 20 KiB header is fine', async (ctx) => {
  const big = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  big.write(`GET ${NS} HTTP/1.1\r\nhost: localhost\r\nx-filler: ${'a'.repeat(40 * 1024)}\r\n\r\n`);
  assert.ok(await big.closedWithin(5_000), 'closed after answering');
  const answer = big.response();
  assert.is(answer.status, 431);
  assert.match(answer.body, '"code":431');
  assert.match(answer.body, 'larger than 32768 bytes');
  const fine = await ctx.owner.request('GET', NS, { headers: { 'x-filler': 'a'.repeat(20 * 1024) } });
  assert.is(fine.status, 200);
});

test('an HTTP/1.1 request without Host gets 400 (the listener also speaks HTTP/2; HTTP/1.1 keeps its rules)', async (ctx) => {
  const hostless = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  hostless.write(`GET ${NS} HTTP/1.1\r\n\r\n`);
  assert.ok(await hostless.closedWithin(5_000), 'closed after answering');
  assert.is(hostless.response().status, 400);
});

test('duplicated headers: conflicting lengths are refused; the first credential counts, as for the apiserver; doubled impersonation is refused', async (ctx) => {
  const lengths = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  lengths.write(`PATCH ${NODE_PATH} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/merge-patch+json\r\ncontent-length: 2\r\ncontent-length: 40\r\n\r\n{}`);
  assert.ok(await lengths.closedWithin(5_000));
  assert.is(lengths.response().status, 400);
  assert.match(lengths.response().body, '"reason":"BadRequest"');

  const smuggled = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  smuggled.write(`PATCH ${NODE_PATH} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/merge-patch+json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`);
  assert.ok(await smuggled.closedWithin(5_000));
  assert.is(smuggled.response().status, 400);

  const bob = ctx.cp.tokenCredentials('bob');
  const proxyCa = { caPem: ctx.proxy.caPem };
  const twice = async (first: string, second: string) => {
    const c = await RawConnection.tls(ctx.proxy.port, proxyCa);
    c.write(`GET /version HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${first}\r\nauthorization: Bearer ${second}\r\nconnection: close\r\n\r\n`);
    await c.closedWithin(5_000);
    return c.response().status;
  };
  assert.is(await twice(bob.token ?? '', 'garbage'), 200, 'the first of two Authorization headers is the credential');
  assert.is(await twice('garbage', bob.token ?? ''), 401);

  for (const client of overEachProtocol(ctx)) {
    const impersonating = await client.request('GET', NS, { headers: { 'impersonate-user': ['admin', 'admin'] } });
    assert.is(impersonating.status, 403, `${client.protocol}: ${impersonating.body}`);
  }
});

test('half-open TLS and silent clients are disconnected; a trickled head gets 408; a long watch is never cut', async (ctx) => {
  const errorsBefore = await ctx.proxy.metric('tenant_proxy_client_errors_total', { reason: 'tls-handshake-timeout' });
  const halfOpen = await RawConnection.tcp(ctx.proxy.port);
  halfOpen.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // a TLS record header, and nothing after it
  const watch = await WatchReader.open(ctx.owner, `${NS}?watch=1`);
  assert.ok(await halfOpen.closedWithin((HANDSHAKE_TIMEOUT_S + 3) * 1000), 'half-open TLS closed');
  assert.ok((halfOpen.closedAfterMs ?? 0) >= HANDSHAKE_TIMEOUT_S * 1000 - 100, `not before --tls-handshake-timeout: ${halfOpen.closedAfterMs} ms`);
  assert.is(await ctx.proxy.metric('tenant_proxy_client_errors_total', { reason: 'tls-handshake-timeout' }), errorsBefore + 1);

  const silent = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  assert.ok(await silent.closedWithin((HEADER_TIMEOUT_S + 3) * 1000), 'a client that sends nothing after the handshake is disconnected');
  assert.is(silent.response().status, 408);
  assert.match(silent.response().body, '"reason":"Timeout"');

  const trickle = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  trickle.write(`GET ${NS} HTTP/1.1\r\nhost: localhost\r\n`);
  const dripper = setInterval(() => trickle.write('x'), 100);
  try {
    assert.ok(await trickle.closedWithin((HEADER_TIMEOUT_S + 3) * 1000), 'a head trickled byte by byte still times out');
  } finally {
    clearInterval(dripper);
  }
  assert.is(trickle.response().status, 408);

  // The watch opened before all this has outlived every limit and still delivers.
  assert.is(watch.endedAtMs, undefined, 'the watch is still open');
  const extra = n('late-ns');
  ctx.tracker.track({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } });
  await ctx.cp.admin.json('POST', NS, { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra, labels: { 'capsule.clastix.io/tenant': TENANT } } } });
  await watch.waitFor((e) => e.type === 'ADDED' && e.object.metadata?.name === extra, 'the late namespace arrives on the long watch');
  watch.close();
});

test('an idle kept-alive connection is closed after --client-idle-timeout; so is one that stops reading a served list', async (ctx) => {
  const kept = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  kept.write(`GET ${NS} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
  assert.ok(await kept.closedWithin((IDLE_TIMEOUT_S + 3) * 1000), 'closed once idle');
  assert.is(kept.response().status, 200);
  assert.ok((kept.closedAfterMs ?? 0) >= IDLE_TIMEOUT_S * 1000 - 100, `after the idle timeout: ${kept.closedAfterMs} ms`);

  const stalled = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
  stalled.socket.once('data', () => stalled.socket.pause());
  stalled.write(`GET ${NS} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
  // Others are served meanwhile.
  assert.is((await ctx.owner.request('GET', NS)).status, 200);
  assert.ok(await stalled.closedWithin((IDLE_TIMEOUT_S + 3) * 1000), 'the connection of a client that stopped reading is closed');
});

// ── websockets ──

function websocket(ctx: Context, path: string, options: { headers?: Record<string, string> } = {}): WebSocket {
  return new WebSocket(ctx.proxy.url.replace('https:', 'wss:') + path, { ca: ctx.proxy.caPem, cert: ctx.ownerCredentials.certPem, key: ctx.ownerCredentials.keyPem, ...options });
}

test('a watch client\'s websocket messages are ignored; one past 4 KiB closes it (1009)', async (ctx) => {
  const ws = websocket(ctx, `${NS}?watch=1`);
  const messages: string[] = [];
  ws.on('message', (m) => messages.push(m.toString()));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  await waitUntil(() => messages.length > 0, 'the initial events');
  for (let i = 0; i < 20; i++) ws.send(`hello ${i}`);
  const extra = n('ws-ns');
  ctx.tracker.track({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } });
  await ctx.cp.admin.json('POST', NS, { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra, labels: { 'capsule.clastix.io/tenant': TENANT } } } });
  await waitUntil(() => messages.some((m) => m.includes(`"name":"${extra}"`)), 'events still arrive after the client talked');
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send('x'.repeat(8 * 1024));
  assert.is(await closed, 1009);
});

test('websocket handshakes ws refuses get a Status, are logged and counted', async (ctx) => {
  const raw = async (request: string) => {
    const c = await RawConnection.tls(ctx.proxy.port, ctx.viaProxy);
    c.write(request);
    assert.ok(await c.closedWithin(5_000), `closed: ${request.split('\r\n')[0]}`);
    return c.response();
  };
  const upgrade = 'upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n';
  const rejectedBefore = await ctx.proxy.metric('tenant_proxy_requests_total', { route: 'rejected' });
  const badKey = await raw(`GET ${NS}?watch=1 HTTP/1.1\r\nhost: localhost\r\n${upgrade}sec-websocket-key: short\r\n\r\n`);
  assert.is(badKey.status, 400);
  assert.match(badKey.body, 'Sec-WebSocket-Key');
  const badVersion = await raw(`GET ${NS}?watch=1 HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 12\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  assert.is(badVersion.status, 400);
  assert.match(badVersion.body, '"reason":"BadRequest"');
  const post = await raw(`POST /api/v1/watch/namespaces HTTP/1.1\r\nhost: localhost\r\n${upgrade}sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\ncontent-length: 0\r\n\r\n`);
  assert.is(post.status, 405);
  assert.match(post.body, '"reason":"MethodNotAllowed"');
  await waitUntil(async () => (await ctx.proxy.metric('tenant_proxy_requests_total', { route: 'rejected' })) >= rejectedBefore + 3, 'counted as rejected');
  const logged = ctx.proxy.logs.filter((l) => l.msg === 'request' && l.route === 'rejected' && l.upgrade === 'websocket').map((l) => l.status);
  assert.ok([400, 400, 405].every((code) => logged.includes(code)), `logged: ${JSON.stringify(logged)}`);
});

// ── many connections ──

/** Opens `count` TCP connections from another process (this one's file descriptors hold the proxy's side). */
function holdConnections(port: number, count: number, holdMs: number): Promise<{ opened: number; closedByServer: number }> {
  const script = `
    const net = require('node:net');
    let opened = 0, closedByServer = 0, done = false;
    const sockets = [];
    const finish = () => { if (done) return; done = true; for (const s of sockets) s.destroy(); process.stdout.write(JSON.stringify({ opened, closedByServer })); process.exit(0); };
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ host: '127.0.0.1', port: ${port} });
      s.on('connect', () => { opened++; if (opened === ${count}) process.stderr.write('all open\\n'); });
      s.on('close', () => { if (!done) closedByServer++; });
      s.on('error', () => {});
      sockets.push(s);
    }
    setTimeout(finish, ${holdMs});
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as { opened: number; closedByServer: number });
      } catch (err) {
        reject(err);
      }
    });
  });
}

test('10,000 idle connections: the proxy keeps serving, counts them, and closes every one after the handshake timeout', async (ctx) => {
  const handshakeS = 6;
  const busy = await startProxy(ctx.cp, ['--tls-handshake-timeout', `${handshakeS}s`]);
  try {
    await waitReady(busy);
    const owner = busy.client(ctx.ownerCredentials);
    await eventually(() => owner.request('GET', NODE_PATH), (r) => r.status === 200, 'the owner served');
    const holding = holdConnections(busy.port, 10_000, (handshakeS + 10) * 1000);
    await waitUntil(async () => (await busy.metric('tenant_proxy_client_connections')) >= 9_000, 'the connections counted', 20_000, 200);
    const served = await owner.request('GET', NODE_PATH);
    assert.is(served.status, 200, 'served while they are open');
    const result = await holding;
    assert.is(result.opened, 10_000);
    assert.is(result.closedByServer, 10_000, 'every idle connection was closed by the proxy');
    assert.is(await busy.metric('tenant_proxy_client_errors_total', { reason: 'tls-handshake-timeout' }), 10_000);
  } finally {
    await busy.stop();
  }
});

test('--max-connections and --max-connections-per-address: connections past them are closed at once and counted', async (ctx) => {
  const limited = await startProxy(ctx.cp, ['--max-connections', '30', '--max-connections-per-address', '20', '--tls-handshake-timeout', '20s']);
  try {
    const perAddress = await Promise.all(Array.from({ length: 25 }, () => RawConnection.tcp(limited.port)));
    await waitUntil(() => perAddress.filter((c) => c.closedAfterMs !== undefined).length === 5, '5 over the per-address limit closed');
    assert.is(await limited.metric('tenant_proxy_client_connections_rejected_total', { reason: 'address-limit' }), 5);
    for (const c of perAddress) c.destroy();
    await waitUntil(async () => (await limited.metric('tenant_proxy_client_connections')) === 0, 'all closed');
  } finally {
    await limited.stop();
  }
  const total = await startProxy(ctx.cp, ['--max-connections', '30', '--tls-handshake-timeout', '20s']);
  try {
    const many = await Promise.all(Array.from({ length: 40 }, () => RawConnection.tcp(total.port)));
    await waitUntil(() => many.filter((c) => c.closedAfterMs !== undefined).length === 10, '10 over the total limit closed');
    assert.is(await total.metric('tenant_proxy_client_connections_rejected_total', { reason: 'limit' }), 10);
    for (const c of many) c.destroy();
  } finally {
    await total.stop();
  }
});

test('after all of it: ready, and still serving the tenant', async (ctx) => {
  assert.is((await fetch(`http://127.0.0.1:${ctx.proxy.metricsPort}/readyz`)).status, 200);
  const list = JSON.parse((await ctx.owner.request('GET', NS)).body) as { items: KubeObject[] };
  assert.ok(list.items.some((o) => o.metadata.name === n('ns')));
  assert.is((await ctx.owner.request('GET', NODE_PATH)).status, 200);
});

test.run();
