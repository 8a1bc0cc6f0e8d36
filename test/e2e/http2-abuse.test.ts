// HTTP/2 clients that abuse the protocol rather than the API, each beside a bystander session that must
// be served all along: a watch whose flow-control window the client never opens (the proxy pauses it,
// buffers nothing more, and ends the stream, not the session, once the history no longer reaches back);
// SETTINGS and PING floods, all at once or paced to be acknowledged (the session is ended, counted in
// tenant_proxy_client_errors_total, the proxy goes on). The floods are written frame by frame
// (support/h2-frames.ts): Node's client will not send them.
import * as assert from 'uvu/assert';
import http2, { type ClientHttp2Session } from 'node:http2';
import type { ControlPlane } from '../support/control-plane.ts';
import { waitUntil } from '../support/eventually.ts';
import { H2Client, H2Watch } from '../support/h2-client.ts';
import { ERROR_CODE, FLAG, FRAME, H2FrameConnection, pingFrame, settingsFrame, SETTING } from '../support/h2-frames.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH as NS, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

const PAYLOAD = 'x'.repeat(100 * 1024);
/** A short history, so that a stalled watch falls out of it within a test (each view keeps its last 10 events too). */
const WATCH_HISTORY = '1s';
const FLOOD_FRAMES = 10_000;

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
  bystander: H2Client;
  /** The bystander's watch, open through every test. */
  watch: H2Watch;
  next: number;
}

const test = suite<Context>('HTTP/2 abuse');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'h2ab', ['--watch-history', WATCH_HISTORY]);
  ctx.bystander = await H2Client.connect(ctx.tenant.proxy.url, ctx.tenant.owner.credentials);
  const { stream, status } = await ctx.bystander.open('GET', `${NS}?watch=1&resourceVersion=${await ctx.tenant.listRv()}`);
  assert.is(status, 200);
  ctx.watch = new H2Watch(stream);
  ctx.next = 0;
});

test.after(async (ctx) => {
  ctx.watch?.close();
  ctx.bystander?.close();
  await ctx.tenant?.remove();
});

async function change(ctx: Context, payload = PAYLOAD): Promise<number> {
  const seq = ctx.next++;
  await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { seq: String(seq), payload } } });
  return seq;
}

const sequenceOf = (e: H2Watch['events'][number]): number => Number(e.object.metadata?.annotations?.seq ?? NaN);
const metric = (ctx: Context, name: string, labels?: Record<string, string>) => ctx.tenant.proxy.metric(name, labels);

/** The bystander is served: a list on its session, and its watch gets a change made now. */
async function bystanderServed(ctx: Context, what: string): Promise<void> {
  const list = await ctx.bystander.request('GET', NS, { timeoutMs: 10_000 });
  assert.is(list.status, 200, `${what}: the bystander's list`);
  const seq = await change(ctx, 'small');
  await waitUntil(() => ctx.watch.events.some((e) => sequenceOf(e) === seq), `${what}: change ${seq} on the bystander's watch`);
}

function connectWithClosedWindow(ctx: Context): Promise<ClientHttp2Session> {
  const { caPem, certPem, keyPem } = ctx.tenant.owner.credentials;
  return new Promise((resolve, reject) => {
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send no DATA on any stream until the client opens
    // that stream's window, which this client never does.
    const session = http2.connect(ctx.tenant.proxy.url, { ca: caPem, cert: certPem, key: keyPem, settings: { initialWindowSize: 0 } });
    session.once('error', reject);
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => {});
      resolve(session);
    });
  });
}

test('a watch whose window is never opened: paused at once, nothing more buffered, its stream (not its session) ended once the history moved past it', async (ctx) => {
  const attacker = await connectWithClosedWindow(ctx);
  try {
    const stream = attacker.request({ ':method': 'GET', ':path': `${NS}?watch=1&resourceVersion=${await ctx.tenant.listRv()}`, accept: 'application/json' });
    stream.on('error', () => {});
    let received = 0;
    stream.on('data', (d: Buffer) => (received += d.length));
    const closed = new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode ?? -1)));
    const status = await new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    assert.is(status, 200, 'the head is not flow-controlled: the watch is accepted');
    await waitUntil(async () => (await metric(ctx, 'tenant_proxy_watchers')) === 2, 'the attacker\'s watcher beside the bystander\'s');

    // The first event (100 KiB) is more than a stream buffers: the watcher stops writing at once. (The
    // bystander's watcher pauses too on each such event, for as long as its client takes to read it.)
    const first = await change(ctx);
    const caughtUp = (seq: number) => waitUntil(() => ctx.watch.events.some((e) => sequenceOf(e) === seq), `change ${seq} on the bystander's watch`);
    await caughtUp(first);
    await waitUntil(async () => (await metric(ctx, 'tenant_proxy_watchers_paused')) === 1, 'the attacker\'s watcher paused after the first change');
    // Twenty more (2 MiB) go to the view's history only: nothing is written for the stalled stream. (With
    // a 1 s history the watcher may be expired meanwhile: no assertion on when.)
    let last = first;
    for (let i = 0; i < 20; i++) last = await change(ctx);
    await caughtUp(last);
    assert.is(received, 0, 'nothing got through the closed window');
    await bystanderServed(ctx, 'while the attacker\'s watch is stalled');
    const seqs = ctx.watch.events.map(sequenceOf).filter((s) => s >= first);
    seqs.forEach((seq, i) => assert.is(seq, first + i, `the bystander got change ${first + i} in order`));

    // Small changes push the stalled position out of the history (1 s, and the view's last 10): the
    // hub's ticker expires the watcher; the ERROR event cannot get through a closed window either, so
    // the stream is cancelled after the grace period.
    for (let i = 0; (await metric(ctx, 'tenant_proxy_watchers')) > 1; i++) {
      if (i >= 200) throw new Error(`the stalled watcher was not expired after ${i} changes`);
      await change(ctx, 'small');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitUntil(async () => (await metric(ctx, 'tenant_proxy_watchers_paused')) === 0, 'no watcher paused');
    let timer: NodeJS.Timeout | undefined;
    const rstCode = await Promise.race([closed, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still open'), 30_000)))]);
    clearTimeout(timer);
    assert.is(rstCode, http2.constants.NGHTTP2_CANCEL, 'the proxy cancelled the stalled stream');
    assert.is(received, 0, 'not one byte got through the closed window');
    await waitUntil(async () => (await metric(ctx, 'tenant_proxy_http2_streams')) === 1, 'only the bystander\'s watch stream left');
    assert.not.ok(attacker.closed || attacker.destroyed, 'the session is not ended for one stream');
    assert.is(await metric(ctx, 'tenant_proxy_http2_sessions'), 2);
    await bystanderServed(ctx, 'after the stalled watch ended');
  } finally {
    attacker.destroy();
  }
});

/** Opens a raw h2 connection, runs `flood`, and checks the outcome beside the bystander. */
async function floodCase(ctx: Context, what: string, flood: (c: H2FrameConnection) => Promise<void>): Promise<H2FrameConnection> {
  await bystanderServed(ctx, `before the ${what}`);
  const sessionsBefore = await metric(ctx, 'tenant_proxy_http2_sessions');
  const c = await H2FrameConnection.open(ctx.tenant.proxy.port, { caPem: ctx.tenant.proxy.caPem });
  await waitUntil(async () => (await metric(ctx, 'tenant_proxy_http2_sessions')) === sessionsBefore + 1, 'the flooding session is up');
  try {
    await flood(c);
    assert.ok(await c.closedWithin(15_000), `${what}: the proxy ended the session`);
  } finally {
    c.destroy();
  }
  await waitUntil(async () => (await metric(ctx, 'tenant_proxy_http2_sessions')) === sessionsBefore, `${what}: the flooding session gone`);
  await bystanderServed(ctx, `after the ${what}`);
  assert.ok(ctx.tenant.proxy.proxy.ready, 'the proxy is still ready');
  return c;
}

const floods = async (ctx: Context): Promise<number> =>
  (await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-flood' })) + (await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-settings-flood' }));

test('a SETTINGS flood in one write: the session is ended and counted, the bystander is served', async (ctx) => {
  const before = await floods(ctx);
  const frames = Buffer.concat(Array.from({ length: FLOOD_FRAMES }, () => settingsFrame([[SETTING.INITIAL_WINDOW_SIZE, 65_535]])));
  await floodCase(ctx, 'SETTINGS flood', (c) => c.write(frames));
  assert.is(await floods(ctx), before + 1);
});

test('SETTINGS frames paced to be acknowledged: past 1,000 the session gets GOAWAY ENHANCE_YOUR_CALM', async (ctx) => {
  const before = await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-settings-flood' });
  const batch = Buffer.concat(Array.from({ length: 100 }, () => settingsFrame([[SETTING.INITIAL_WINDOW_SIZE, 65_535]])));
  let sent = 0;
  const c = await floodCase(ctx, 'paced SETTINGS flood', async (conn) => {
    // Each batch once the previous one is acknowledged: nothing piles up for nghttp2 to call a flood.
    for (let i = 0; i < 50 && !conn.isClosed; i++) {
      await conn.write(batch);
      sent += 100;
      await waitUntil(() => conn.isClosed || conn.count(FRAME.SETTINGS, FLAG.ACK) >= sent + 1, `the ACKs of ${sent} SETTINGS frames`, 10_000, 5);
    }
  });
  assert.ok(sent <= 1_100, `ended soon after the bound (${sent} frames written)`);
  assert.is(c.goaway?.errorCode, ERROR_CODE.ENHANCE_YOUR_CALM, `GOAWAY ${JSON.stringify(c.goaway)}`);
  assert.is(await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-settings-flood' }), before + 1);
});

test('a PING flood in one write: the session is ended and counted, the bystander is served', async (ctx) => {
  const before = await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-flood' });
  const frames = Buffer.concat(Array.from({ length: FLOOD_FRAMES }, (_, i) => pingFrame(i)));
  await floodCase(ctx, 'PING flood', (c) => c.write(frames));
  assert.is(await metric(ctx, 'tenant_proxy_client_errors_total', { reason: 'http2-flood' }), before + 1);
});

test.run();
