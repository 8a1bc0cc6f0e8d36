// Watches over HTTP/2 as client-go runs them: bookmarks when asked for (and only then), a watch ended
// and resumed from the last resourceVersion it saw gets exactly the changes after it, and a
// resourceVersion the history no longer reaches gets HTTP 200 then one ERROR 410 Expired and the end of
// the stream — as over HTTP/1.1 (tenant-wire.test.ts, watch-history.test.ts). Real control plane, a proxy
// with a 1 s watch history (a quiet view keeps its last VIEW_HISTORY_KEPT events whatever their age).
import * as assert from 'uvu/assert';
import { comparePositions, parsePosition, type Position } from '../../streams/position.ts';
import { VIEW_HISTORY_KEPT } from '../../src/views/view.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { H2Client, H2Watch, type H2WatchEvent } from '../support/h2-client.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH as NS, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

const HISTORY_MS = 1_000;

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
  h2: H2Client;
  next: number;
}

const test = suite<Context>('watch bookmarks and resume over HTTP/2');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'h2resume', ['--watch-history', `${HISTORY_MS}ms`]);
  ctx.h2 = await H2Client.connect(ctx.tenant.proxy.url, ctx.tenant.owner.credentials);
  assert.is(ctx.h2.session.alpnProtocol, 'h2');
  ctx.next = 0;
});

test.after(async (ctx) => {
  ctx.h2?.close();
  await ctx.tenant?.remove();
});

async function change(ctx: Context): Promise<number> {
  const seq = ctx.next++;
  await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { seq: String(seq) } } });
  return seq;
}

const seqOf = (e: H2WatchEvent) => e.object.metadata?.annotations?.seq;
const rvOf = (e: H2WatchEvent | undefined): Position => {
  const p = parsePosition(e?.object.metadata?.resourceVersion ?? '');
  if (!p) throw new Error(`not a resourceVersion: ${JSON.stringify(e?.object.metadata)}`);
  return p;
};

async function h2ListRv(ctx: Context): Promise<string> {
  const r = await ctx.h2.request('GET', NS);
  assert.is(r.status, 200, r.body);
  return (JSON.parse(r.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
}

test('allowWatchBookmarks over h2: the change, then a BOOKMARK before the deadline, then a clean end of stream; none unless asked', async (ctx) => {
  const rv = await h2ListRv(ctx);
  const [bookmarked, plain] = [await ctx.h2.watch(`${NS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=${rv}`), await ctx.h2.watch(`${NS}?watch=1&timeoutSeconds=4&resourceVersion=${rv}`)];
  const seq = String(await change(ctx));
  const [end, plainEnd] = await Promise.all([bookmarked.waitForEnd(15_000), plain.waitForEnd(15_000)]);
  assert.equal(end, { kind: 'end' }, 'the deadline ends the stream cleanly');
  assert.equal(plainEnd, { kind: 'end' });
  assert.equal(bookmarked.types(), ['MODIFIED', 'BOOKMARK'], 'the change, then one bookmark');
  assert.is(seqOf(bookmarked.events[0] as H2WatchEvent), seq);
  const bookmark = bookmarked.events[1];
  assert.is(bookmark?.object.kind, 'Namespace');
  assert.is(bookmark?.object.apiVersion, 'v1');
  // As the apiserver's: no name, only the resourceVersion (and the empty creationTimestamp Go serializes).
  assert.equal(bookmark?.object.metadata, { creationTimestamp: null, resourceVersion: bookmark?.object.metadata?.resourceVersion } as H2WatchEvent['object']['metadata']);
  assert.ok(comparePositions(rvOf(bookmark), rvOf(bookmarked.events[0])) >= 0, 'the bookmark does not go back');
  assert.equal(plain.types(), ['MODIFIED'], 'no bookmarks unless asked');
  assert.not.ok(ctx.h2.session.closed, 'the session outlives its watches');
});

test('a watch ended and resumed over h2 from the last resourceVersion it saw gets exactly the changes after it', async (ctx) => {
  const rv = await h2ListRv(ctx);
  const first = await ctx.h2.watch(`${NS}?watch=1&resourceVersion=${rv}`);
  const before = [await change(ctx), await change(ctx), await change(ctx)].map(String);
  let last: H2WatchEvent;
  try {
    last = await first.waitFor((e) => seqOf(e) === before.at(-1), 'the third change');
    assert.equal(first.events.map(seqOf), before, 'the first watch: its three changes, in order');
  } finally {
    first.close();
  }
  assert.equal(await first.waitForEnd(), { kind: 'reset', code: 8 }, 'cancelled by the client (NGHTTP2_CANCEL)');
  // While no watch is open, more changes (fewer than the view keeps: the history still reaches back).
  const missed: string[] = [];
  for (let i = 0; i < VIEW_HISTORY_KEPT - 2; i++) missed.push(String(await change(ctx)));

  const resumed = await ctx.h2.watch(`${NS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=${last.object.metadata?.resourceVersion ?? ''}`);
  await resumed.waitFor((e) => seqOf(e) === missed.at(-1), 'the last missed change');
  assert.equal(await resumed.waitForEnd(15_000), { kind: 'end' });
  const changes = resumed.events.filter((e) => e.type !== 'BOOKMARK');
  assert.equal(changes.map((e) => `${e.type} ${seqOf(e) ?? ''}`), missed.map((s) => `MODIFIED ${s}`), 'exactly the missed changes, in order, none twice');
  for (let i = 1; i < changes.length; i++) assert.ok(comparePositions(rvOf(changes[i]), rvOf(changes[i - 1])) > 0, 'resourceVersions increase');
  assert.ok(comparePositions(rvOf(changes[0]), rvOf(last)) > 0, 'all after the resumed-from resourceVersion');
  assert.is(resumed.types().at(-1), 'BOOKMARK', 'and a bookmark before the deadline');
});

test('a resourceVersion older than the history over h2: HTTP 200, one ERROR 410 Expired, then a clean end of stream', async (ctx) => {
  const old = await h2ListRv(ctx);
  for (let i = 0; i < VIEW_HISTORY_KEPT + 2; i++) await change(ctx);
  const lastSeq = String(ctx.next - 1);
  // The proxy has seen every change, and the history (plus the trimmer's period) has passed them by.
  const live = await ctx.h2.watch(`${NS}?watch=1`);
  try {
    await live.waitFor((e) => seqOf(e) === lastSeq, 'the last change through the proxy');
  } finally {
    live.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 2 * HISTORY_MS + 500));

  const { stream, status } = await ctx.h2.open('GET', `${NS}?watch=1&resourceVersion=${old}`);
  assert.is(status, 200, 'the watch is accepted');
  const tooOld = new H2Watch(stream);
  assert.equal(await tooOld.waitForEnd(10_000), { kind: 'end' });
  assert.equal(tooOld.types(), ['ERROR'], 'one ERROR event, then the end');
  const s = tooOld.events[0]?.object as Record<string, unknown> | undefined;
  const message = String(s?.message);
  assert.ok(message.startsWith(`too old resource version: ${old} (`), message);
  assert.equal(s, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 });

  // A fresh list's resourceVersion resumes: no events, the stream stays open until its deadline.
  const fresh = await ctx.h2.watch(`${NS}?watch=1&timeoutSeconds=2&resourceVersion=${await h2ListRv(ctx)}`);
  assert.equal(await fresh.waitForEnd(10_000), { kind: 'end' });
  assert.equal(fresh.types(), []);
});

test.run();
