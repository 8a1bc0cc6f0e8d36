// Watch history is bounded in time (--watch-history), as the apiserver's watch cache is: a client
// resuming from a resourceVersion whose following events have been forgotten gets ERROR 410 Expired and
// relists; a quiet tenant view keeps its last 10 events whatever their age, so a recent resourceVersion
// still resumes. Real control plane, proxy with a 1 s history.
import * as assert from 'uvu/assert';
import { VIEW_HISTORY_KEPT } from '../../src/views/view.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';

const HISTORY_MS = 1_000;
const CHANGES = VIEW_HISTORY_KEPT + 2;

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
}

const test = suite<Context>('watch history');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'history', ['--watch-history', `${HISTORY_MS}ms`]);
});

test.after(async (ctx) => {
  await ctx.tenant?.remove();
});

const watchFrom = (ctx: Context, rv: string) => WatchReader.open(ctx.tenant.owner, `${NAMESPACES_PATH}?watch=true&resourceVersion=${encodeURIComponent(rv)}`);

test('a resourceVersion older than the history answers 410 Expired; the last events of a quiet view still resume', async (ctx) => {
  const listed = await ctx.tenant.listRv();
  // A live watcher records the resourceVersion of each change as the proxy serves it.
  const live = await watchFrom(ctx, listed);
  const rvs: string[] = [];
  try {
    for (let seq = 0; seq < CHANGES; seq++) {
      await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { seq: String(seq) } } });
      const event = await live.waitFor((e) => e.object.metadata?.annotations?.seq === String(seq), `change ${seq}`);
      rvs.push(event.event.object.metadata?.resourceVersion ?? '');
    }
  } finally {
    live.close();
  }
  // Past the history (plus the trimmer's period), only the view's last VIEW_HISTORY_KEPT events remain.
  await new Promise((r) => setTimeout(r, 2 * HISTORY_MS + 500));

  const tooOld = await watchFrom(ctx, listed);
  try {
    await tooOld.waitForEnd(10_000);
    const events = tooOld.events.map((e) => e.event);
    assert.is(events.length, 1, `only the ERROR event (got ${events.map((e) => e.type).join(', ')})`);
    const status = events[0]?.object as { code?: number; reason?: string; message?: string };
    assert.is(events[0]?.type, 'ERROR');
    assert.is(status.code, 410);
    assert.is(status.reason, 'Expired');
    assert.match(status.message ?? '', /^too old resource version: /);
  } finally {
    tooOld.close();
  }

  // The change after rvs[1] is the oldest one kept: resuming there replays the kept ones, in order.
  const resumed = await watchFrom(ctx, rvs[1] ?? '');
  try {
    const kept = Array.from({ length: VIEW_HISTORY_KEPT }, (_, i) => String(i + 2));
    await resumed.waitFor((e) => e.object.metadata?.annotations?.seq === kept.at(-1), 'the last change');
    assert.equal(
      resumed.events.map((e) => e.event.object.metadata?.annotations?.seq),
      kept,
    );
    assert.ok(resumed.events.every((e) => e.event.type === 'MODIFIED'));
    assert.not.ok(resumed.ended, 'the watch stays open');
  } finally {
    resumed.close();
  }

  // One event further back has been forgotten.
  const forgotten = await watchFrom(ctx, rvs[0] ?? '');
  try {
    await forgotten.waitForEnd(10_000);
    assert.equal(forgotten.events.map((e) => [e.event.type, (e.event.object as { code?: number }).code]), [['ERROR', 410]]);
  } finally {
    forgotten.close();
  }
});

test.run();
