// Shutdown with watches open over HTTP/2: a forwarded watch (configmaps in a tenant namespace, passed
// through to the apiserver) and a served one on the same session. The client gets a GOAWAY and a clean
// end of each stream (END_STREAM, not a reset), the proxy closes its upstream watch, and it stops as soon
// as they have ended rather than when its shutdown grace runs out (a stream still open then would be
// reset when the sessions are destroyed).
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { waitUntil } from '../support/eventually.ts';
import { createTenant } from '../support/fixtures.ts';
import { H2Client } from '../support/h2-client.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

/** Far longer than the test waits: stopping must not take it. */
const GRACE_MS = 120_000;
const STOP_BOUND_MS = 60_000;

interface Context {
  cp: ControlPlane;
  tracker: Tracker;
  proxy: RunningProxy;
}

const test = suite<Context>('shutdown with HTTP/2 watches open');
const suffix = Math.random().toString(36).slice(2, 7);
const tenant = `h2s-${suffix}`;
const ns = `h2s-${suffix}-a`;
const owner = `h2s-owner-${suffix}`;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, tenant, [ns]);
  await createTenant(ctx.cp.admin, { name: tenant, owners: [{ kind: 'User', name: owner }], namespaces: [ns] });
  ctx.proxy = await startProxy(ctx.cp, { captureLogs: true });
  await waitReady(ctx.proxy);
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

test('a forwarded and a served watch over h2 at shutdown: GOAWAY, clean ends of stream, the upstream watch closed, the proxy stops without waiting out its grace', async (ctx) => {
  const client = await H2Client.connect(ctx.proxy.url, { ...(await ctx.cp.clientCertificate(owner)), caPem: ctx.proxy.caPem });
  try {
    const goaway = new Promise<void>((resolve) => client.session.once('goaway', () => resolve()));
    const forwardedPath = `/api/v1/namespaces/${ns}/configmaps?watch=1&fieldSelector=metadata.name%3Dat-shutdown`;
    const forwarded = await client.watch(forwardedPath);
    const served = await client.watch('/api/v1/namespaces?watch=1');
    await ctx.cp.admin.json('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'at-shutdown' }, data: { a: '1' } } });
    await forwarded.waitFor((e) => e.type === 'ADDED' && e.object.metadata?.name === 'at-shutdown', 'the forwarded event');
    await served.waitFor((e) => e.type === 'ADDED' && e.object.metadata?.name === ns, 'the served initial event');
    const upstreamWatchEnded = () => ctx.cp.auditEvents().some((e) => e.verb === 'watch' && e.requestURI === forwardedPath && e.stage === 'ResponseComplete');
    assert.not.ok(upstreamWatchEnded(), 'the upstream watch is open while the client watches');

    let stopped = false;
    const stopping = ctx.proxy.proxy.shutdown(GRACE_MS).then(() => (stopped = true));
    const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the proxy had not stopped ${STOP_BOUND_MS} ms into a ${GRACE_MS} ms grace`)), STOP_BOUND_MS).unref());
    await Promise.race([stopping, bound]);
    assert.ok(stopped);
    await goaway;
    assert.equal(await forwarded.waitForEnd(), { kind: 'end' }, 'the forwarded watch: END_STREAM, not a reset');
    assert.equal(await served.waitForEnd(), { kind: 'end' }, 'the served watch: END_STREAM, not a reset');
    assert.equal(forwarded.types(), ['ADDED'], 'no ERROR, nothing half-written');
    await waitUntil(upstreamWatchEnded, 'the upstream watch closed (the apiserver logs it complete)');

    // The proxy's own account: both watches were in flight at the start of the shutdown and ended before it stopped.
    const at = (pred: (l: Record<string, unknown>) => boolean) => ctx.proxy.logs.findIndex(pred);
    const shuttingDown = ctx.proxy.logs.find((l) => l.msg === 'shutting down');
    assert.ok(Number(shuttingDown?.inFlight) >= 2 && Number(shuttingDown?.http2Sessions) >= 1, JSON.stringify(shuttingDown));
    const forwardedLogged = at((l) => l.msg === 'request' && l.verb === 'watch' && l.route === 'forwarded' && l.http === '2.0' && String(l.path).includes('/configmaps'));
    const servedLogged = at((l) => l.msg === 'request' && l.verb === 'watch' && l.route === 'served' && l.http === '2.0');
    const stoppedLogged = at((l) => l.msg === 'stopped');
    assert.ok(forwardedLogged >= 0 && servedLogged >= 0 && stoppedLogged > forwardedLogged && stoppedLogged > servedLogged, 'both watches logged as ended before "stopped"');
    assert.is(ctx.proxy.logs[forwardedLogged]?.status, 200);
  } finally {
    client.close();
  }
});

test.run();
