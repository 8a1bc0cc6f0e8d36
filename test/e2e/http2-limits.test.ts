// The connection limits over HTTP/2. A session is one TLS connection: --max-connections and
// --max-connections-per-address count it as one, and a session past them is closed at once, as an
// HTTP/1.1 connection would be. The requests open at once over HTTP/2 (streams, across every session) are
// held to --max-connections too: a request past it gets 429 TooManyRequests with Retry-After, counted as
// stream-limit, while the open watches on every session go on and the next request after one ends is
// served.
import * as assert from 'uvu/assert';
import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { waitUntil } from '../support/eventually.ts';
import { createTenant } from '../support/fixtures.ts';
import { H2Client, H2Watch } from '../support/h2-client.ts';
import type { Credentials } from '../support/kube-http.ts';
import { patch } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  tracker: Tracker;
  /** The owner's credentials (their CA is replaced by each proxy's). */
  owner: Credentials;
}

const test = suite<Context>('HTTP/2 connection and stream limits');
const suffix = Math.random().toString(36).slice(2, 7);
const tenant = `h2lim-${suffix}`;
const namespace = `h2lim-a-${suffix}`;
const owner = `h2lim-owner-${suffix}`;
const NS = '/api/v1/namespaces';

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, tenant, [namespace]);
  await createTenant(ctx.cp.admin, { name: tenant, owners: [{ kind: 'User', name: owner }], namespaces: [namespace] });
  ctx.owner = await ctx.cp.clientCertificate(owner);
});

test.after(async (ctx) => {
  await ctx.tracker?.removeAll();
});

/** A proxy with these flags, ready and serving the tenant's namespace to the owner. */
async function limitedProxy(ctx: Context, flags: string[]): Promise<RunningProxy> {
  const proxy = await startProxy(ctx.cp, flags);
  await waitReady(proxy);
  const probe = await H2Client.connect(proxy.url, { ...ctx.owner, caPem: proxy.caPem });
  try {
    await eventuallyPasses('the tenant is served', async () => assert.equal(await names(probe), [namespace]));
  } finally {
    probe.close();
  }
  await waitUntil(async () => (await proxy.metric('tenant_proxy_client_connections')) === 0, 'the probe session closed');
  return proxy;
}

async function names(client: H2Client): Promise<string[]> {
  const r = await client.request('GET', NS);
  assert.is(r.status, 200, r.body);
  return (JSON.parse(r.body) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
}

/**
 * An HTTP/2 session from `localAddress` (any 127.x.y.z reaches the loopback listener): the session once
 * the server's SETTINGS are in, or the error the client got instead.
 */
function session(proxy: RunningProxy, credentials: Credentials, localAddress = '127.0.0.1'): Promise<ClientHttp2Session | Error> {
  return new Promise((resolve) => {
    const s = http2.connect(proxy.url, {
      createConnection: () => tls.connect({ socket: net.connect({ host: '127.0.0.1', port: proxy.port, localAddress }), servername: 'localhost', ALPNProtocols: ['h2'], ca: proxy.caPem, cert: credentials.certPem, key: credentials.keyPem }),
    });
    s.once('error', (err) => resolve(err));
    s.once('close', () => resolve(new Error('closed before the session was up')));
    // 'connect' comes with the TLS handshake; the server's SETTINGS show that the session is served.
    s.once('remoteSettings', () => {
      s.on('error', () => {});
      resolve(s);
    });
  });
}

async function listOn(s: ClientHttp2Session): Promise<{ status: number; body: string }> {
  const stream = s.request({ ':method': 'GET', ':path': NS, accept: 'application/json' });
  const status = await new Promise<number>((resolve, reject) => {
    stream.once('response', (h) => resolve(Number(h[':status'])));
    stream.once('error', reject);
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status, body: Buffer.concat(chunks).toString('utf8') };
}

function isSession(s: ClientHttp2Session | Error): s is ClientHttp2Session {
  return !(s instanceof Error);
}

test('--max-connections counts each HTTP/2 session as a connection: the one past it is closed and counted, the others are served', async (ctx) => {
  const proxy = await limitedProxy(ctx, ['--max-connections', '3']);
  const open: ClientHttp2Session[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const s = await session(proxy, ctx.owner);
      if (!isSession(s)) throw new Error(`session ${i + 1} of 3 within the limit: ${s.message}`);
      open.push(s);
    }
    await waitUntil(async () => (await proxy.metric('tenant_proxy_http2_sessions')) === 3, 'three sessions');
    const refused = await session(proxy, ctx.owner);
    assert.ok(!isSession(refused), 'the fourth session is refused');
    assert.is(await proxy.metric('tenant_proxy_client_connections_rejected_total', { reason: 'limit' }), 1);
    for (const s of open) assert.is((await listOn(s)).status, 200, 'the sessions within the limit are served');
    // One ends: a new one takes its place.
    open.shift()?.close();
    await waitUntil(async () => (await proxy.metric('tenant_proxy_client_connections')) === 2, 'a connection freed');
    const next = await session(proxy, ctx.owner);
    if (!isSession(next)) throw new Error(`a session after one closed: ${next.message}`);
    open.push(next);
    assert.is((await listOn(next)).status, 200);
  } finally {
    for (const s of open) s.destroy();
    await proxy.stop();
  }
});

test('--max-connections-per-address: the third session from one address is closed and counted; another address is served', async (ctx) => {
  const proxy = await limitedProxy(ctx, ['--max-connections-per-address', '2']);
  const open: ClientHttp2Session[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = await session(proxy, ctx.owner);
      if (!isSession(s)) throw new Error(`session ${i + 1} of 2 from 127.0.0.1: ${s.message}`);
      open.push(s);
    }
    const refused = await session(proxy, ctx.owner);
    assert.ok(!isSession(refused), 'a third session from 127.0.0.1 is refused');
    assert.is(await proxy.metric('tenant_proxy_client_connections_rejected_total', { reason: 'address-limit' }), 1);
    const elsewhere = await session(proxy, ctx.owner, '127.0.0.2');
    if (!isSession(elsewhere)) throw new Error(`a session from 127.0.0.2: ${elsewhere.message}`);
    open.push(elsewhere);
    for (const s of open) assert.is((await listOn(s)).status, 200, 'every session within its address\'s limit is served');
  } finally {
    for (const s of open) s.destroy();
    await proxy.stop();
  }
});

test('streams across sessions are held to --max-connections: the request past it gets 429 TooManyRequests, counted; open watches go on', async (ctx) => {
  // Four streams in all: three watches on one session, one on another.
  const proxy = await limitedProxy(ctx, ['--max-connections', '4']);
  const credentials = { ...ctx.owner, caPem: proxy.caPem };
  const a = await H2Client.connect(proxy.url, credentials);
  const b = await H2Client.connect(proxy.url, credentials);
  const watches: H2Watch[] = [];
  try {
    for (const client of [a, a, a, b]) {
      const { stream, status } = await client.open('GET', `${NS}?watch=1`);
      assert.is(status, 200);
      watches.push(new H2Watch(stream));
    }
    await waitUntil(async () => (await proxy.metric('tenant_proxy_http2_streams')) === 4, 'four streams open');

    const refused = await b.request('GET', NS);
    assert.is(refused.status, 429, refused.body);
    assert.is(refused.headers['retry-after'], '1');
    const status = JSON.parse(refused.body) as { kind: string; code: number; reason: string; message: string; details?: { retryAfterSeconds?: number } };
    assert.is(status.kind, 'Status');
    assert.is(status.code, 429);
    assert.is(status.reason, 'TooManyRequests');
    assert.match(status.message, '--max-connections');
    assert.is(status.details?.retryAfterSeconds, 1);
    const refusedWatch = await a.open('GET', `${NS}?watch=1`);
    assert.is(refusedWatch.status, 429, 'a watch past the bound too');
    refusedWatch.stream.resume();
    assert.is(await proxy.metric('tenant_proxy_client_connections_rejected_total', { reason: 'stream-limit' }), 2);
    const health = await b.request('GET', '/readyz');
    assert.is(health.status, 200, `a saturated proxy still answers its health over h2: ${health.body}`);
    assert.is(await proxy.metric('tenant_proxy_watchers'), 4);
    assert.not.ok(a.session.closed || b.session.closed, 'both sessions go on');

    // Every open watch, on either session, still gets changes.
    const mark = `l${Date.now()}`;
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, { metadata: { labels: { 'h2-limits': mark } } });
    await eventuallyPasses('MODIFIED on every watch', async () => {
      for (const w of watches) assert.ok(w.events.some((e) => e.type === 'MODIFIED' && e.object.metadata?.labels?.['h2-limits'] === mark));
    });

    // One watch ends: the next request is served.
    watches.shift()?.close();
    await waitUntil(async () => (await proxy.metric('tenant_proxy_http2_streams')) === 3, 'a stream freed');
    assert.equal(await names(b), [namespace]);
  } finally {
    for (const w of watches) w.close();
    a.close();
    b.close();
    await proxy.stop();
  }
});

test.run();
