// HTTP/2 to clients: a client that offers h2 (ALPN) gets it, and over one session sees what an HTTP/1.1
// client sees: served lists, Tables and watches (several at once on the session), forwarded requests,
// errors as Status; kubectl, which negotiates h2 by itself, works as before (get, get -w, -o wide Tables).
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventuallyPasses, Tracker, trackTenant, waitReady, withoutAges } from '../support/cluster-objects.ts';
import { MAX_HEADER_BYTES } from '../../src/server/client-connections.ts';
import { createTenant } from '../support/fixtures.ts';
import { waitUntil } from '../support/eventually.ts';
import { H2Client, H2Watch } from '../support/h2-client.ts';
import type { Credentials, KubeHttp } from '../support/kube-http.ts';
import { kubectl, KubectlStream } from '../support/kubectl.ts';
import { patch } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  tracker: Tracker;
  alice: Credentials;
  h1: KubeHttp;
  h2: H2Client;
}

const test = suite<Context>('HTTP/2 to clients');
const suffix = Math.random().toString(36).slice(2, 7);
const t = { tenant: `h2t-${suffix}`, dev: `h2t-dev-${suffix}`, prod: `h2t-prod-${suffix}` };
const owner = `h2-owner-${suffix}`;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.tracker = new Tracker(ctx.cp);
  trackTenant(ctx.tracker, t.tenant, [t.dev, t.prod]);
  await createTenant(ctx.cp.admin, { name: t.tenant, owners: [{ kind: 'User', name: owner }], namespaces: [t.dev, t.prod] });
  ctx.proxy = await startProxy(ctx.cp, { captureLogs: true });
  await waitReady(ctx.proxy);
  ctx.alice = await ctx.cp.clientCertificate(owner);
  ctx.h1 = ctx.proxy.client(ctx.alice);
  ctx.h2 = await H2Client.connect(ctx.proxy.url, { ...ctx.alice, caPem: ctx.proxy.caPem });
  // The tenant's namespaces reach the proxy's state.
  await eventuallyPasses('the tenant is served', async () => {
    const r = await ctx.h2.request('GET', '/api/v1/namespaces');
    assert.is(r.status, 200, r.body);
    assert.equal(names(r.body), [t.dev, t.prod].sort());
  });
});

test.after(async (ctx) => {
  ctx.h2?.close();
  ctx.h1?.close();
  await ctx.proxy?.stop();
  await ctx.tracker?.removeAll();
});

function names(body: string): string[] {
  const list = JSON.parse(body) as { items: { metadata: { name: string } }[] };
  return list.items.map((i) => i.metadata.name).sort();
}

/** A body without what changes between two reads of the same state. */
function stable(body: string): unknown {
  const parsed = JSON.parse(body) as { metadata?: Record<string, unknown> };
  delete parsed.metadata?.resourceVersion;
  return parsed;
}

test('ALPN: a client offering h2 gets h2; an HTTP/1.1 client still gets HTTP/1.1', async (ctx) => {
  assert.is(ctx.h2.session.alpnProtocol, 'h2');
  assert.is(await ctx.proxy.metric('tenant_proxy_http2_sessions'), 1);
  const { req, res } = await ctx.h1.stream('GET', '/api/v1/namespaces');
  res.resume();
  assert.is(res.httpVersion, '1.1');
  assert.is(res.statusCode, 200);
  req.destroy();
});

test('namespace list and Table: the same over h2 as over HTTP/1.1', async (ctx) => {
  const table = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
  for (const headers of [{}, table]) {
    await eventuallyPasses('same bodies', async () => {
      const over2 = await ctx.h2.request('GET', '/api/v1/namespaces', { headers });
      const over1 = await ctx.h1.request('GET', '/api/v1/namespaces', { headers });
      assert.is(over2.status, 200);
      assert.is(over2.headers['content-type'], over1.headers['content-type']);
      assert.equal(stable(over2.body), stable(over1.body));
    });
  }
  const single = await ctx.h2.request('GET', `/api/v1/namespaces/${t.dev}`);
  assert.is(single.status, 200);
  assert.is((JSON.parse(single.body) as { metadata: { name: string } }).metadata.name, t.dev);
});

test('watches: several on one session, each gets ADDED then MODIFIED when a tenant namespace changes', async (ctx) => {
  const paths = ['/api/v1/namespaces?watch=1', `/api/v1/namespaces?watch=1&fieldSelector=metadata.name%3D${t.dev}`, `/api/v1/namespaces?watch=1&labelSelector=capsule.clastix.io%2Ftenant%3D${t.tenant}`];
  const watches: H2Watch[] = [];
  for (const p of paths) {
    const { stream, status, headers } = await ctx.h2.open('GET', p);
    assert.is(status, 200);
    assert.is(headers['transfer-encoding'], undefined);
    assert.is(headers.connection, undefined);
    watches.push(new H2Watch(stream));
  }
  await eventuallyPasses('initial ADDED events', async () => {
    for (const w of watches) assert.ok(w.events.some((e) => e.type === 'ADDED' && e.object.metadata?.name === t.dev), JSON.stringify(w.events));
  });
  const mark = `m${Date.now()}`;
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.dev } }, { metadata: { labels: { 'h2-test': mark } } });
  await eventuallyPasses('MODIFIED events', async () => {
    for (const w of watches) assert.ok(w.events.some((e) => e.type === 'MODIFIED' && e.object.metadata?.labels?.['h2-test'] === mark), JSON.stringify(w.events.map((e) => e.type)));
  });
  // Closing one watch leaves the session and the other watches alone.
  watches[0]?.close();
  const after = await ctx.h2.request('GET', `/api/v1/namespaces/${t.prod}`);
  assert.is(after.status, 200);
  const mark2 = `n${Date.now()}`;
  await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.dev } }, { metadata: { labels: { 'h2-test': mark2 } } });
  await eventuallyPasses('MODIFIED on the watches left', async () => {
    for (const w of watches.slice(1)) assert.ok(w.events.some((e) => e.type === 'MODIFIED' && e.object.metadata?.labels?.['h2-test'] === mark2));
  });
  for (const w of watches) w.close();
  assert.not.ok(ctx.h2.session.closed);
});

test('50 watches on one session: every one gets the change', async (ctx) => {
  const watches: H2Watch[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      const { stream, status } = await ctx.h2.open('GET', i % 2 === 0 ? '/api/v1/namespaces?watch=1' : `/api/v1/namespaces?watch=1&fieldSelector=metadata.name%3D${t.prod}`);
      assert.is(status, 200);
      watches.push(new H2Watch(stream));
    }
    await eventuallyPasses('initial ADDED on every watch', async () => {
      for (const w of watches) assert.ok(w.events.some((e) => e.type === 'ADDED' && e.object.metadata?.name === t.prod));
    });
    const mark = `c${Date.now()}`;
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.prod } }, { metadata: { labels: { 'h2-test': mark } } });
    await eventuallyPasses('MODIFIED on every watch', async () => {
      for (const w of watches) assert.ok(w.events.some((e) => e.type === 'MODIFIED' && e.object.metadata?.labels?.['h2-test'] === mark));
    });
    await eventuallyPasses('50 watchers open on the proxy', async () => assert.is(await ctx.proxy.metric('tenant_proxy_watchers'), 50));
  } finally {
    for (const w of watches) w.close();
  }
});

test('forwarded: create and read a configmap in a tenant namespace over h2', async (ctx) => {
  const base = `/api/v1/namespaces/${t.dev}/configmaps`;
  const created = await ctx.h2.request('POST', base, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'over-h2' }, data: { a: 'b' } } });
  assert.is(created.status, 201, created.body);
  const read = await ctx.h2.request('GET', `${base}/over-h2`);
  assert.is(read.status, 200, read.body);
  assert.equal((JSON.parse(read.body) as { data: Record<string, string> }).data, { a: 'b' });
  const listed = await ctx.h2.request('GET', base);
  assert.ok(names(listed.body).includes('over-h2'));
});

test('forwarded watch: events stream over h2; cancelling the stream ends the upstream watch, not the session', async (ctx) => {
  const { stream, status } = await ctx.h2.open('GET', `/api/v1/namespaces/${t.dev}/configmaps?watch=1&fieldSelector=metadata.name%3Dwatched-h2`);
  assert.is(status, 200);
  const watch = new H2Watch(stream);
  await ctx.cp.admin.json('POST', `/api/v1/namespaces/${t.dev}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched-h2' }, data: { x: '1' } } });
  await eventuallyPasses('ADDED over the forwarded watch', async () => {
    assert.ok(watch.events.some((e) => e.type === 'ADDED' && e.object.metadata?.name === 'watched-h2'), JSON.stringify(watch.events));
  });
  watch.close();
  // The proxy logs a request once its exchange is over: the upstream watch was aborted with the stream.
  await eventuallyPasses('the forwarded watch ended', async () => {
    assert.ok(ctx.proxy.logs.some((l) => l.msg === 'request' && l.verb === 'watch' && l.route === 'forwarded' && l.http === '2.0' && String(l.path).includes('/configmaps')));
  });
  const still = await ctx.h2.request('GET', `/api/v1/namespaces/${t.dev}/configmaps/watched-h2`);
  assert.is(still.status, 200);
});

test('errors: a Status over h2 (forbidden, not found)', async (ctx) => {
  const forbidden = await ctx.h2.request('GET', '/api/v1/namespaces/kube-system/configmaps');
  assert.is(forbidden.status, 403);
  const status = JSON.parse(forbidden.body) as { kind: string; code: number; reason: string };
  assert.is(status.kind, 'Status');
  assert.is(status.code, 403);
  assert.is(status.reason, 'Forbidden');
  const missing = await ctx.h2.request('GET', `/api/v1/namespaces/${t.dev}/configmaps/no-such-map`);
  assert.is(missing.status, 404);
  assert.is((JSON.parse(missing.body) as { kind: string; reason: string }).reason, 'NotFound');
  const otherNamespace = await ctx.h2.request('GET', '/api/v1/namespaces/kube-system');
  assert.ok(otherNamespace.status === 403 || otherNamespace.status === 404, otherNamespace.body);
  assert.is((JSON.parse(otherNamespace.body) as { kind: string }).kind, 'Status');
});

test('idle sessions: closed (GOAWAY) after the client idle timeout without a stream, never while a watch is open', async (ctx) => {
  const proxy = await startProxy(ctx.cp, ['--client-idle-timeout', '1s']);
  try {
    await waitReady(proxy);
    const idle = await H2Client.connect(proxy.url, { ...ctx.alice, caPem: proxy.caPem });
    const watching = await H2Client.connect(proxy.url, { ...ctx.alice, caPem: proxy.caPem });
    const idleGoaway = new Promise<void>((resolve) => idle.session.once('goaway', () => resolve()));
    let watchingGoaway = false;
    watching.session.once('goaway', () => (watchingGoaway = true));
    assert.is((await idle.request('GET', `/api/v1/namespaces/${t.dev}`)).status, 200);
    const { stream, status } = await watching.open('GET', '/api/v1/namespaces?watch=1');
    assert.is(status, 200);
    const watch = new H2Watch(stream);
    await idleGoaway;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.not.ok(watchingGoaway, 'a session with an open watch stays');
    const mark = `i${Date.now()}`;
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.dev } }, { metadata: { labels: { 'h2-test': mark } } });
    await eventuallyPasses('the watch still gets changes', async () => {
      assert.ok(watch.events.some((e) => e.type === 'MODIFIED' && e.object.metadata?.labels?.['h2-test'] === mark));
    });
    idle.close();
    watching.close();
  } finally {
    await proxy.stop();
  }
});

test('shutdown: an h2 client gets a GOAWAY, its served watch ends cleanly, and the proxy stops', async (ctx) => {
  const proxy = await startProxy(ctx.cp);
  try {
    await waitReady(proxy);
    const client = await H2Client.connect(proxy.url, { ...ctx.alice, caPem: proxy.caPem });
    const goaway = new Promise<void>((resolve) => client.session.once('goaway', () => resolve()));
    const { stream, status } = await client.open('GET', '/api/v1/namespaces?watch=1');
    assert.is(status, 200);
    const watch = new H2Watch(stream);
    const ended = new Promise<void>((resolve) => stream.once('end', () => resolve()));
    await eventuallyPasses('ADDED', async () => assert.ok(watch.events.length > 0));
    await proxy.stop();
    await ended;
    await goaway;
    client.close();
  } finally {
    await proxy.stop();
  }
});

test('bad input over h2: no credentials is a 401 Status; an oversized header list fails that stream only', async (ctx) => {
  const anonymous = await H2Client.connect(ctx.proxy.url, { caPem: ctx.proxy.caPem });
  try {
    const r = await anonymous.request('GET', '/api/v1/namespaces');
    assert.is(r.status, 401);
    assert.is((JSON.parse(r.body) as { kind: string; code: number }).code, 401);
  } finally {
    anonymous.close();
  }
  const big = await ctx.h2.request('GET', '/api/v1/namespaces', { headers: { 'x-big': 'x'.repeat(MAX_HEADER_BYTES + 1024) } }).then(
    (r) => r.status,
    (err: Error & { code?: string }) => err.code ?? err.message,
  );
  // Past the advertised SETTINGS_MAX_HEADER_LIST_SIZE the stream is reset (no 431 Status, unlike HTTP/1.1).
  assert.is(big, 'ERR_HTTP2_STREAM_ERROR', `oversized header list: ${String(big)}`);
  const after = await ctx.h2.request('GET', '/api/v1/namespaces');
  assert.is(after.status, 200, 'the session still serves');
});

test('kubectl (h2 by itself): get ns through the proxy', async (ctx) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-h2-'));
  const kubeconfig = ctx.proxy.kubeconfig(path.join(dir, 'owner'), ctx.alice, owner);
  const r = await kubectl(kubeconfig, ['get', 'ns', '-o', 'name']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').sort(), [`namespace/${t.dev}`, `namespace/${t.prod}`].sort());
  // It did talk HTTP/2 to the proxy.
  assert.ok(ctx.proxy.logs.some((l) => l.msg === 'request' && l.user === owner && l.http === '2.0' && typeof l.path === 'string' && l.path.startsWith('/api/v1/namespaces') && l.method === 'GET' && l.verb === 'list'), 'a list of namespaces over h2 in the proxy log');
});

/** Lines the proxy logged for the owner's requests of `verb` over HTTP/2 (logged once a request is over). */
const h2Requests = (ctx: Context, verb: string) => ctx.proxy.logs.filter((l) => l.msg === 'request' && l.user === owner && l.http === '2.0' && l.verb === verb && String(l.path).startsWith('/api/v1/namespaces'));

test('kubectl (h2 by itself): get ns -w sees a change over an h2 watch', async (ctx) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-h2-w-'));
  const kubeconfig = ctx.proxy.kubeconfig(path.join(dir, 'owner'), ctx.alice, owner);
  const watchesBefore = h2Requests(ctx, 'watch').length;
  const w = new KubectlStream(kubeconfig, ['get', 'ns', '-w', '--request-timeout=60s']);
  try {
    await w.waitFor(new RegExp(`^${t.dev}\\s+Active`));
    await w.waitFor(new RegExp(`^${t.prod}\\s+Active`));
    const rowsOfDev = () => w.lines.filter((l) => l.startsWith(`${t.dev} `)).length;
    const before = rowsOfDev();
    // kubectl watches from its list's resourceVersion: the change reaches it even if made before its watch opened.
    await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.dev } }, { metadata: { labels: { 'h2-kubectl': `w${Date.now()}` } } });
    await waitUntil(() => rowsOfDev() > before, `kubectl -w prints ${t.dev} again after its change`, 20_000);
    assert.ok(w.lines.every((l) => !l.startsWith('NAME') || /^NAME\s+STATUS\s+AGE$/.test(l)), w.lines.join('\n'));
  } finally {
    await w.stop();
  }
  // Its watch was served over HTTP/2 (the proxy logs it once kubectl has gone).
  await eventuallyPasses('the watch in the proxy log', async () => assert.ok(h2Requests(ctx, 'watch').length > watchesBefore, 'a watch of namespaces over h2 by the owner'));
});

test('kubectl (h2 by itself): get ns -o wide prints the apiserver\'s Table for the tenant namespaces', async (ctx) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-h2-wide-'));
  const viaProxy = ctx.proxy.kubeconfig(path.join(dir, 'owner'), ctx.alice, owner);
  const direct = ctx.cp.writeKubeconfig(path.join(dir, 'admin'), ctx.cp.adminCredentials(), 'admin');
  const listsBefore = h2Requests(ctx, 'list').length;
  const ours = withoutAges(await kubectl(viaProxy, ['get', 'ns', '-o', 'wide']));
  const theirs = withoutAges(await kubectl(direct, ['get', 'ns', '-o', 'wide']));
  assert.is(ours.code, 0, ours.stderr);
  assert.is(theirs.code, 0, theirs.stderr);
  const keep = (out: string) => out.split('\n').filter((l) => l.startsWith('NAME') || l.startsWith(`${t.dev} `) || l.startsWith(`${t.prod} `));
  assert.equal(ours.stdout.trim().split('\n'), keep(ours.stdout), 'only the header and the tenant namespaces');
  assert.equal(keep(ours.stdout), keep(theirs.stdout), 'the same columns and cells as the apiserver');
  assert.is(keep(ours.stdout).length, 3);
  assert.ok(h2Requests(ctx, 'list').length > listsBefore, 'the list went over h2');
});

test.run();
