// A client that goes away while its watch waits for the proxy to reach the resourceVersion it asked for
// (one just ahead of the proxy's clock) leaves nothing behind: once the clock gets there, the watch that
// would have started finds its connection or stream closed and ends. Real control plane, both protocols.
import https from 'node:https';
import { constants as http2Constants } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { H2Client } from '../support/h2-client.ts';
import { patch } from '../support/manifests.ts';
import { NAMESPACES_PATH, oneNamespaceTenant, type OneNamespaceTenant } from '../support/one-namespace-tenant.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  tenant: OneNamespaceTenant;
  changes: number;
}

const test = suite<Context>('a watch whose client left while it waited');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tenant = await oneNamespaceTenant(ctx.cp, 'gone');
  ctx.changes = 0;
});

test.after(async (ctx) => {
  await ctx.tenant?.remove();
});

/** The path of a watch from the next upstream revision: the proxy waits for it before answering. */
async function watchAhead(ctx: Context): Promise<string> {
  const listed = await ctx.tenant.listRv();
  return `${NAMESPACES_PATH}?watch=true&resourceVersion=${Number(listed.split('.')[0]) + 1}`;
}

/** The revision the waiting watch asked for arrives. */
async function change(ctx: Context): Promise<void> {
  await patch(ctx.cp.admin, ctx.tenant.namespace, { metadata: { annotations: { change: String(++ctx.changes) } } });
}

const watchers = (ctx: Context) => ctx.tenant.proxy.metric('tenant_proxy_watchers');

test('HTTP/1.1: the connection closed before the answer; the watch ends once its resourceVersion is reached', async (ctx) => {
  const before = await watchers(ctx);
  const path = await watchAhead(ctx);
  const { server, credentials } = ctx.tenant.owner;
  const req = https.request({ host: server.hostname, port: server.port, path, ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem, headers: ctx.tenant.owner.headers() });
  req.on('error', () => {}); // destroyed on purpose
  req.end();
  await sleep(300);
  req.destroy();
  await change(ctx);
  await eventually(() => watchers(ctx), (n) => n === before, 'no watcher left behind', 10_000, 100);
});

test('HTTP/2: the stream cancelled before the answer; the watch ends, the session goes on', async (ctx) => {
  const before = await watchers(ctx);
  const path = await watchAhead(ctx);
  const client = await H2Client.connect(ctx.tenant.proxy.url, ctx.tenant.owner.credentials);
  try {
    const stream = client.session.request({ ':method': 'GET', ':path': path, ...(ctx.tenant.owner.headers() as Record<string, string>) });
    stream.on('error', () => {}); // cancelled on purpose
    await sleep(300);
    stream.close(http2Constants.NGHTTP2_CANCEL);
    await change(ctx);
    await eventually(() => watchers(ctx), (n) => n === before, 'no watcher left behind', 10_000, 100);
    const list = await client.request('GET', NAMESPACES_PATH);
    if (list.status !== 200) throw new Error(`the session serves on: got ${list.status} ${list.body.slice(0, 200)}`);
  } finally {
    client.close();
  }
});

test.run();
