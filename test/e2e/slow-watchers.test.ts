// A watch client that stops reading. The proxy queues nothing for it: once the socket is full it stops
// writing and remembers its position (the tenant_proxy_watchers_paused gauge counts it). When the client
// reads again it catches up from the view's history, complete and in order; if the history no longer
// reaches back that far, the client gets what had been sent, then one ERROR 410 Expired, and the stream
// ends. The upstream is the real control plane: namespaces patched with large annotations fill the
// socket buffers within a few hundred changes.
import * as assert from 'uvu/assert';
import { VIEW_HISTORY_CAPACITY } from '../../src/views/view.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { waitUntil } from '../support/eventually.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH as NS, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader, type WatchEvent } from '../support/watch-reader.ts';

/** Per change; the apiserver allows 256 KiB of annotations. */
const PAYLOAD = 'x'.repeat(100 * 1024);
/** Changes after which a socket that is never read must have filled (buffers here hold tens of MiB). */
const MAX_CHANGES_TO_FILL = 800;

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
  proxy: RunningProxy;
  owner: KubeHttp;
  /** The sequence number of the next change. */
  next: number;
}

const test = suite<Context>('slow watchers');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'slow');
  ctx.proxy = ctx.tenant.proxy;
  ctx.owner = ctx.tenant.owner;
  ctx.next = 0;
});

test.after(async (ctx) => {
  await ctx.tenant?.remove();
});

const listRv = (ctx: Context): Promise<string> => ctx.tenant.listRv();

const sequenceOf = (e: WatchEvent): number => Number(e.object.metadata?.annotations?.seq ?? NaN);

/** One change of the namespace: a large annotation and a sequence number. */
async function change(ctx: Context, payload = PAYLOAD): Promise<number> {
  const seq = ctx.next++;
  await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { seq: String(seq), payload } } });
  return seq;
}

/** This file's proxy serves no other watch: a test starts once the previous one's has closed. */
const noWatchOpen = (ctx: Context) => waitUntil(async () => (await ctx.proxy.metric('tenant_proxy_watchers')) === 0, 'no watch open on the proxy');

const paused = (ctx: Context) => ctx.proxy.metric('tenant_proxy_watchers_paused');

/** Changes the namespace until the proxy reports the watcher paused; returns the last sequence number. */
async function fillSocket(ctx: Context): Promise<number> {
  for (let i = 0; i < MAX_CHANGES_TO_FILL; i++) {
    const seq = await change(ctx);
    if (i % 10 === 9 && (await paused(ctx)) >= 1) return seq;
  }
  throw new Error(`the watcher was not paused after ${MAX_CHANGES_TO_FILL} changes of ${PAYLOAD.length} bytes`);
}

function assertContiguous(events: readonly WatchEvent[], first: number, last: number): void {
  const seqs = events.map(sequenceOf);
  assert.is(seqs.length, last - first + 1, `every change from ${first} to ${last} arrived (got ${seqs.length})`);
  seqs.forEach((seq, i) => assert.is(seq, first + i, `change ${first + i} arrives in order, once`));
  for (const e of events) assert.is(e.type, 'MODIFIED');
}

test('a client that stops reading is paused, then caught up from history, complete and in order', async (ctx) => {
  await noWatchOpen(ctx);
  const w = await WatchReader.open(ctx.owner, `${NS}?watch=true&resourceVersion=${await listRv(ctx)}`);
  try {
    w.pause();
    const first = ctx.next;
    const filledAt = await fillSocket(ctx);
    // Changes while it is paused go to the view's history only.
    let last = filledAt;
    for (let i = 0; i < 20; i++) last = await change(ctx);
    assert.ok(last - first < VIEW_HISTORY_CAPACITY / 2, `the history still reaches back (${last - first + 1} changes)`);
    assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), 1, 'the paused watcher is still open');

    w.resume();
    await w.waitFor((e) => sequenceOf(e) === last, `change ${last}`, 30_000);
    assertContiguous(w.events.map((e) => e.event), first, last);
    await waitUntil(async () => (await paused(ctx)) === 0, 'the watcher no longer paused');
    const afterwards = await change(ctx, 'small');
    await w.waitFor((e) => sequenceOf(e) === afterwards, 'a change after the catch-up');
  } finally {
    w.close();
  }
});

test('a client that stays away longer than the history reaches: what was sent, then ERROR 410 Expired, then the end', async (ctx) => {
  await noWatchOpen(ctx);
  const w = await WatchReader.open(ctx.owner, `${NS}?watch=true&resourceVersion=${await listRv(ctx)}`);
  try {
    w.pause();
    const first = ctx.next;
    await fillSocket(ctx);
    // Small changes push the paused position out of the view's history; the hub's ticker then expires
    // the watcher, which closes it. (While the kernel still grows the socket's buffers, a drain can let
    // the watcher catch up and pause again further on, so the number of changes needed varies.)
    const expired = async () => (await ctx.proxy.metric('tenant_proxy_watchers')) === 0;
    for (let i = 0; !(i % 100 === 99 && (await expired())); i++) {
      if (i >= 4 * VIEW_HISTORY_CAPACITY) throw new Error(`the paused watcher was not expired after ${i} more changes`);
      await change(ctx, 'small');
    }
    assert.is(await paused(ctx), 0);

    w.resume();
    await w.waitForEnd(15_000);
    const events = w.events.map((e) => e.event);
    const error = events.at(-1);
    assert.is(error?.type, 'ERROR', 'the last event is an ERROR');
    const status = error?.object as { code?: number; reason?: string; message?: string };
    assert.is(status.code, 410);
    assert.is(status.reason, 'Expired');
    assert.match(status.message ?? '', /^too old resource version: /);
    const delivered = events.slice(0, -1);
    assert.ok(delivered.length > 0, 'the changes written before the socket filled were delivered');
    assertContiguous(delivered, first, first + delivered.length - 1);

    // The client does what informers do after 410: list again, and watch from there.
    const fresh = await WatchReader.open(ctx.owner, `${NS}?watch=true&resourceVersion=${await listRv(ctx)}`);
    try {
      const seq = await change(ctx, 'small');
      await fresh.waitFor((e) => sequenceOf(e) === seq, 'a change after relisting');
    } finally {
      fresh.close();
    }
  } finally {
    w.close();
  }
});

test.run();
