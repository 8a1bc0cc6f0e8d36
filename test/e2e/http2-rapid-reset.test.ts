// HTTP/2 rapid reset (CVE-2023-44487): a client opening streams and cancelling each at once, thousands in
// a row on one session, must not take the proxy down or leave work behind: the session is ended (Node's
// nghttp2 limits stream resets and answers past it with GOAWAY), other clients are served all along,
// every watch the attacker opened is gone, and the proxy keeps serving h2.
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, Tracker, trackTenant, waitReady } from '../support/cluster-objects.ts';
import { createTenant } from '../support/fixtures.ts';
import { H2Client } from '../support/h2-client.ts';
import type { Credentials } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  owner: Credentials;
}

const test = suite<Context>('HTTP/2 rapid reset');
const suffix = Math.random().toString(36).slice(2, 7);
const tenant = `h2rr-${suffix}`;
const namespaces = [`h2rr-a-${suffix}`];
const owner = `h2rr-owner-${suffix}`;
const STREAMS = 5_000;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, tenant, namespaces);
  await createTenant(ctx.cp.admin, { name: tenant, owners: [{ kind: 'User', name: owner }], namespaces });
  ctx.proxy = await startProxy(ctx.cp);
  await waitReady(ctx.proxy);
  ctx.owner = { ...(await ctx.cp.clientCertificate(owner)), caPem: ctx.proxy.caPem };
});

test.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

async function listNamespaces(client: H2Client): Promise<string[]> {
  const r = await client.request('GET', '/api/v1/namespaces');
  assert.is(r.status, 200, r.body);
  return (JSON.parse(r.body) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name).sort();
}

test('thousands of streams opened and cancelled at once: others are served meanwhile, nothing is left behind', async (ctx) => {
  const bystander = await H2Client.connect(ctx.proxy.url, ctx.owner);
  await eventuallyPasses('the tenant is served', async () => assert.equal(await listNamespaces(bystander), namespaces));

  const attacker = await H2Client.connect(ctx.proxy.url, ctx.owner);
  let goaway: number | undefined;
  attacker.session.on('goaway', (code: number) => (goaway = code));
  let sent = 0;
  // Watches and lists, each cancelled as soon as it is sent; in bursts, so that the bystander's requests
  // run between them on the proxy's event loop.
  const bystanderAnswers: string[][] = [];
  while (sent < STREAMS && !attacker.session.closed && !attacker.session.destroyed) {
    for (let i = 0; i < 250 && sent < STREAMS && !attacker.session.closed; i++, sent++) {
      const path = i % 2 === 0 ? '/api/v1/namespaces?watch=true' : '/api/v1/namespaces';
      const stream = attacker.session.request({ ':method': 'GET', ':path': path, accept: 'application/json' });
      stream.on('error', () => {});
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    bystanderAnswers.push(await listNamespaces(bystander));
  }
  attacker.close();
  process.stdout.write(`  rapid reset: ${sent} streams opened and cancelled; the proxy ${goaway === undefined ? 'kept the session' : `sent GOAWAY (code ${goaway})`}\n`);
  assert.ok(sent >= 250, `the attacker got streams out (${sent})`);
  assert.ok(goaway !== undefined && sent < STREAMS, `the proxy ends a session that resets streams as fast as it opens them (GOAWAY after ${sent} of ${STREAMS})`);
  for (const answer of bystanderAnswers) assert.equal(answer, namespaces, 'the bystander was served between the bursts');

  // No watch the attacker opened outlives its cancelled stream.
  await eventuallyPasses('no served watch is left', async () => assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), 0));
  // The listener goes on: a new session, a list and a watch.
  const after = await H2Client.connect(ctx.proxy.url, ctx.owner);
  assert.equal(await listNamespaces(after), namespaces);
  const { stream, status } = await after.open('GET', '/api/v1/namespaces?watch=true');
  assert.is(status, 200);
  assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), 1);
  stream.close(http2.constants.NGHTTP2_CANCEL);
  after.close();
  bystander.close();
});

test.run();
