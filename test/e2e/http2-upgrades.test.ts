// Upgrades stay on HTTP/1.1 (clients negotiate them so) beside HTTP/2 on the same listener: while one
// h2 session holds a served and a forwarded watch open and makes requests, a websocket exec and a SPDY
// upgrade on the same proxy port are relayed both ways, and the h2 watches keep getting their events
// before, during and after. An upstream double stands in for the apiserver (no kubelet here): it holds
// the proxy's informer watches and the forwarded watch open and sends the events the test asks for.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { waitUntil } from '../support/eventually.ts';
import { H2Client, type H2Watch } from '../support/h2-client.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { suite } from '../support/suite.ts';
import { UpstreamDouble } from '../support/upstream-double.ts';

interface Context {
  double: UpstreamDouble;
  proxy: RunningProxy;
  h2: H2Client;
}

const test = suite<Context>('upgrades over HTTP/1.1 beside HTTP/2');
const TOKEN = 'alice-token';
const NS = 'oil-dev';
const TENANT_LABEL = 'capsule.clastix.io/tenant';

const namespace = (resourceVersion: string, step: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: NS, uid: 'u-oil-dev', resourceVersion, labels: { [TENANT_LABEL]: 'oil', step } },
  spec: { finalizers: ['kubernetes'] },
  status: { phase: 'Active' },
});

test.before(async (ctx) => {
  ctx.double = await UpstreamDouble.start();
  ctx.double.users.set(TOKEN, { username: 'alice', groups: ['oil-team'] });
  ctx.double.collections.set('capsule.clastix.io/tenants', [
    { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: 'oil', uid: 'u-oil', resourceVersion: '1' }, spec: { owners: [{ kind: 'User', name: 'alice' }] }, status: { state: 'Active', size: 1, namespaces: [NS] } },
  ]);
  ctx.double.collections.set('/namespaces', [namespace('1', '0')]);
  ctx.proxy = await startProxy(undefined, { upstream: await ctx.double.upstream(mkdtempSync(path.join(tmpdir(), 'h2-upgrades-'))) });
  await waitUntil(() => ctx.proxy.proxy.ready, 'the proxy is ready', 15_000);
  ctx.h2 = await H2Client.connect(ctx.proxy.url, { caPem: ctx.proxy.caPem, token: TOKEN });
});

test.after(async (ctx) => {
  ctx.h2?.close();
  await ctx.proxy?.stop();
  await ctx.double?.stop();
});

/** The double sends a change of the tenant namespace on the proxy's informer watch. */
function changeNamespace(ctx: Context, resourceVersion: string, step: string): void {
  const sent = ctx.double.emit('/namespaces', { type: 'MODIFIED', object: namespace(resourceVersion, step) });
  assert.is(sent, 1, 'the proxy watches namespaces once');
}

const steps = (w: H2Watch) => w.events.map((e) => `${e.type} ${e.object.metadata?.labels?.step ?? e.object.metadata?.name ?? ''}`);

async function websocketExec(ctx: Context): Promise<{ ws: WebSocket; replies: string[] }> {
  const ws = new WebSocket(`wss://127.0.0.1:${ctx.proxy.port}/api/v1/namespaces/${NS}/pods/web/exec?command=sh&stdin=true&stdout=true`, ['v5.channel.k8s.io'], { ca: ctx.proxy.caPem, headers: { authorization: `Bearer ${TOKEN}` } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.on('unexpected-response', (_q, res) => reject(new Error(`websocket exec: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const replies: string[] = [];
  ws.on('message', (d) => replies.push(d.toString()));
  return { ws, replies };
}

test('an exec (websocket) and a SPDY upgrade over HTTP/1.1 on the port an h2 session is watching through: both relayed, the h2 watches go on', async (ctx) => {
  assert.is(ctx.h2.session.alpnProtocol, 'h2');
  const list = await ctx.h2.request('GET', '/api/v1/namespaces');
  assert.is(list.status, 200, list.body);
  const listed = JSON.parse(list.body) as { metadata: { resourceVersion: string }; items: { metadata: { name: string } }[] };
  assert.equal(listed.items.map((i) => i.metadata.name), [NS]);
  const served = await ctx.h2.watch(`/api/v1/namespaces?watch=1&resourceVersion=${listed.metadata.resourceVersion}`);
  const forwarded = await ctx.h2.watch(`/api/v1/namespaces/${NS}/configmaps?watch=1`);
  try {
    await waitUntil(() => ctx.double.watching('/configmaps') === 1, 'the forwarded watch open at the double');
    changeNamespace(ctx, '2', 'before');
    await served.waitFor((e) => e.object.metadata?.labels?.step === 'before', 'the change before the upgrades');

    // A websocket exec on the same port, over HTTP/1.1.
    const { ws, replies } = await websocketExec(ctx);
    assert.is(ws.protocol, 'v5.channel.k8s.io');
    ws.send('\x00ls\n');
    await waitUntil(() => replies.length === 1, 'the exec echo');
    // The h2 session meanwhile: a served change, a forwarded event, a request.
    changeNamespace(ctx, '3', 'during-exec');
    assert.is(ctx.double.emit('/configmaps', { type: 'ADDED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: NS, resourceVersion: '3' } } }), 1);
    await served.waitFor((e) => e.object.metadata?.labels?.step === 'during-exec', 'the served change during the exec');
    await forwarded.waitFor((e) => e.type === 'ADDED' && e.object.metadata?.name === 'cm', 'the forwarded event during the exec');
    const got = await ctx.h2.request('GET', `/api/v1/namespaces/${NS}`);
    assert.is(got.status, 200, got.body);
    assert.is((JSON.parse(got.body) as { metadata: { labels: Record<string, string> } }).metadata.labels.step, 'during-exec');
    ws.send('\x00exit\n');
    await waitUntil(() => replies.length === 2, 'the second exec echo');
    assert.equal(replies, ['echo:\x00ls\n', 'echo:\x00exit\n'], 'the exec relayed both ways, undisturbed');

    // A SPDY upgrade (a client offering no ALPN protocol gets HTTP/1.1) while the websocket is still open.
    const socket = tls.connect({ host: '127.0.0.1', port: ctx.proxy.port, ca: ctx.proxy.caPem });
    try {
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      assert.is(socket.alpnProtocol, false, 'no ALPN: HTTP/1.1');
      socket.write(`POST /api/v1/namespaces/${NS}/pods/web/attach?stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n`);
      let received = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
      await waitUntil(() => received.includes('\r\n\r\n'), 'the 101 answer');
      assert.match(received.toString('latin1'), /^HTTP\/1\.1 101 /);
      const afterHead = received.indexOf('\r\n\r\n') + 4;
      const frame = Buffer.from([0x80, 0x03, 0x00, 0x01, 0xff, 0x00]);
      socket.write(frame);
      changeNamespace(ctx, '4', 'during-spdy');
      await waitUntil(() => received.length >= afterHead + frame.length, 'the SPDY bytes echoed back');
      assert.ok(received.subarray(afterHead).equals(frame));
      await served.waitFor((e) => e.object.metadata?.labels?.step === 'during-spdy', 'the served change during the SPDY upgrade');
      assert.is(await ctx.proxy.metric('tenant_proxy_http2_sessions'), 1, 'one h2 session; the upgrades are HTTP/1.1 connections');
    } finally {
      socket.destroy();
      ws.close();
    }

    // After the upgrades: the same session and watches go on.
    changeNamespace(ctx, '5', 'after');
    await served.waitFor((e) => e.object.metadata?.labels?.step === 'after', 'the change after the upgrades');
    assert.equal(steps(served), ['MODIFIED before', 'MODIFIED during-exec', 'MODIFIED during-spdy', 'MODIFIED after'], 'every change once, in order');
    assert.equal(steps(forwarded), ['ADDED cm']);
    assert.not.ok(ctx.h2.session.closed);
    assert.is(served.end, undefined, 'the served watch is still open');
    assert.is(forwarded.end, undefined, 'the forwarded watch is still open');
  } finally {
    served.close();
    forwarded.close();
  }
  // The upgrades reached the upstream as the caller.
  for (const sub of ['/exec', '/attach']) {
    const seen = ctx.double.requests.find((r) => r.url.includes(`/pods/web${sub}`));
    assert.ok(seen, `${sub} reached the double`);
    assert.is(seen.headers['impersonate-user'], 'alice');
  }
});

test.run();
