// A watch over HTTP/2 whose client stops reading its stream: the proxy takes backpressure from that
// stream only (flow control fills its window, write() returns false), pauses the watcher, and catches it
// up from the view's history, complete and in order, once the client reads again. The session's other
// streams are not held up (the client's connection window is large, as Go's client makes it).
import * as assert from 'uvu/assert';
import { VIEW_HISTORY_CAPACITY } from '../../src/views/view.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { waitUntil } from '../support/eventually.ts';
import { H2Client, H2Watch } from '../support/h2-client.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH as NS, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

const PAYLOAD = 'x'.repeat(100 * 1024);
const MAX_CHANGES_TO_FILL = 400;

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
  h2: H2Client;
  next: number;
}

const test = suite<Context>('slow watchers over HTTP/2');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'slowh2');
  ctx.h2 = await H2Client.connect(ctx.tenant.proxy.url, ctx.tenant.owner.credentials);
  // Go's HTTP/2 client (kubectl, controllers) opens a 1 GiB connection window: one stalled stream cannot block the others.
  ctx.h2.session.setLocalWindowSize(1 << 30);
  ctx.next = 0;
});

test.after(async (ctx) => {
  ctx.h2?.close();
  await ctx.tenant?.remove();
});

async function change(ctx: Context, payload = PAYLOAD): Promise<number> {
  const seq = ctx.next++;
  await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { seq: String(seq), payload } } });
  return seq;
}

const paused = (ctx: Context) => ctx.tenant.proxy.metric('tenant_proxy_watchers_paused');
const sequenceOf = (e: H2Watch['events'][number]): number => Number(e.object.metadata?.annotations?.seq ?? NaN);

test('a stream its client stops reading is paused, then caught up from history, complete and in order', async (ctx) => {
  const { stream, status } = await ctx.h2.open('GET', `${NS}?watch=true&resourceVersion=${await ctx.tenant.listRv()}`);
  assert.is(status, 200);
  const w = new H2Watch(stream);
  try {
    stream.pause();
    const first = ctx.next;
    let last = -1;
    for (let i = 0; ; i++) {
      if (i >= MAX_CHANGES_TO_FILL) throw new Error(`the watcher was not paused after ${MAX_CHANGES_TO_FILL} changes`);
      last = await change(ctx);
      if (i % 5 === 4 && (await paused(ctx)) >= 1) break;
    }
    for (let i = 0; i < 20; i++) last = await change(ctx);
    assert.ok(last - first < VIEW_HISTORY_CAPACITY / 2, `the history still reaches back (${last - first + 1} changes)`);
    assert.is(await ctx.tenant.proxy.metric('tenant_proxy_watchers'), 1, 'the paused watcher is still open');
    // The session's other streams are served meanwhile.
    const other = await ctx.h2.request('GET', NS, { timeoutMs: 10_000 });
    assert.is(other.status, 200);

    stream.resume();
    await waitUntil(() => w.events.some((e) => sequenceOf(e) === last), `change ${last}`, 30_000);
    const seqs = w.events.map(sequenceOf);
    assert.is(seqs.length, last - first + 1, `every change from ${first} to ${last} arrived (got ${seqs.length})`);
    seqs.forEach((seq, i) => assert.is(seq, first + i, `change ${first + i} arrives in order, once`));
    await waitUntil(async () => (await paused(ctx)) === 0, 'the watcher no longer paused');
    const afterwards = await change(ctx, 'small');
    await waitUntil(() => w.events.some((e) => sequenceOf(e) === afterwards), 'a change after the catch-up');
  } finally {
    w.close();
  }
});

test.run();
