// What an operator sees of a running proxy: /healthz and /readyz on both listeners (ready only while the
// API server answers), one JSON log line per request, a graceful shutdown (in-flight requests finish,
// watches end cleanly at an event boundary, new connections are refused), serving certificates reloaded
// from disk or generated with a CA to trust, and a CLI whose --help documents every flag.
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { envName, helpText, parseConfig, type Config } from '../../src/server/config.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../src/server/pki.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { KubeHttp } from '../support/kube-http.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { UpstreamDouble } from '../support/upstream-double.ts';

interface Context {
  cp: ControlPlane;
  double: UpstreamDouble;
  dir: string;
  /** Proxies a test started; stopped after each test (stop is a no-op on one already shut down). */
  proxies: RunningProxy[];
}

const test = suite<Context>('operations');
const suffix = Math.random().toString(36).slice(2, 7);
const ALICE_TOKEN = `ops-alice-${suffix}`;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The proxy probes the upstream's /readyz this often (src/server/upstream-probe.ts). */
const PROBE_INTERVAL_MS = 5_000;
/** Given certificate files are polled this often (src/server/serving-tls.ts). */
const TLS_POLL_INTERVAL_MS = 2_000;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.double = await UpstreamDouble.start();
  ctx.double.users.set(ALICE_TOKEN, { username: 'alice', groups: ['oil-team'] });
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'operations-'));
  ctx.proxies = [];
});

test.after.each(async (ctx) => {
  for (const p of ctx.proxies.splice(0)) await p.stop();
  ctx.double.ready = true;
});

test.after(async (ctx) => {
  await ctx.double?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

async function track(ctx: Context, proxy: Promise<RunningProxy>): Promise<RunningProxy> {
  const p = await proxy;
  ctx.proxies.push(p);
  return p;
}

/** A proxy in front of the upstream double (a fresh Upstream each: shutdown closes it). */
async function doubleProxy(ctx: Context, options: { captureLogs?: boolean } = {}): Promise<RunningProxy> {
  return track(ctx, startProxy(undefined, { upstream: await ctx.double.upstream(ctx.dir), ...options }));
}

/** GET on the plain-HTTP metrics listener. */
async function metricsGet(p: RunningProxy, urlPath: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${p.metricsPort}${urlPath}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** GET on the HTTPS listener without any credentials. */
async function anonymousGet(p: RunningProxy, urlPath: string): Promise<{ status: number; body: string }> {
  const client = new KubeHttp(p.url, { caPem: p.caPem });
  try {
    const r = await client.request('GET', urlPath, { timeoutMs: 5_000 });
    return { status: r.status, body: r.body };
  } finally {
    client.close();
  }
}

async function waitFor<T>(probe: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what} (last: ${JSON.stringify(last)})`);
    await sleep(200);
  }
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what}`);
    await sleep(25);
  }
}

/** Opens a TLS connection and reports what the server presented; 'refused' if nothing listens. */
function presented(port: number, options: tls.ConnectionOptions = {}): Promise<{ fingerprint: string; serial: string; authorized: boolean; authorizationError: string } | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    socket.setTimeout(5_000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      resolve({ fingerprint: cert.fingerprint256, serial: cert.serialNumber, authorized: socket.authorized, authorizationError: String(socket.authorizationError ?? '') });
      socket.destroy();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err)));
  });
}

async function writeServing(ca: CertificateAuthority, certFile: string, keyFile: string): Promise<string> {
  const pair = await issueCertificate(ca, { commonName: 'tenant-proxy', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
  writeFileSync(certFile, pair.certPem);
  writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
  return new X509Certificate(pair.certPem).fingerprint256;
}

// ── health ──

/** A started proxy loads the cluster state before it is ready: wait for that, bounded. */
async function untilReady(p: RunningProxy): Promise<void> {
  await waitFor(() => metricsGet(p, '/readyz'), (r) => r.status === 200, 'the proxy becomes ready after start', 15_000);
}

test('/healthz, /livez and /readyz answer 200 on the HTTPS listener without credentials and on the metrics listener', async (ctx) => {
  const p = await track(ctx, startProxy(ctx.cp));
  await untilReady(p);
  for (const urlPath of ['/healthz', '/livez', '/readyz']) {
    const https = await anonymousGet(p, urlPath);
    assert.is(https.status, 200, `HTTPS ${urlPath}: ${https.body}`);
    assert.is(https.body, 'ok');
    const plain = await metricsGet(p, urlPath);
    assert.is(plain.status, 200, `metrics ${urlPath}: ${plain.body}`);
    assert.is(plain.body, 'ok');
  }
  // Everything else on the HTTPS listener still needs credentials.
  assert.is((await anonymousGet(p, '/version')).status, 401);
});

test('/readyz turns 503 while the upstream is not ready, and 200 again when it recovers; /healthz stays 200', async (ctx) => {
  const p = await doubleProxy(ctx);
  await untilReady(p);
  assert.is((await anonymousGet(p, '/readyz')).status, 200);
  ctx.double.ready = false;
  const notReady = await waitFor(() => metricsGet(p, '/readyz'), (r) => r.status === 503, 'the next probe sees the upstream not ready', PROBE_INTERVAL_MS * 2 + 2_000);
  // The operator's listener says which check fails and what the upstream answered; the public one
  // says only that it is not ready.
  assert.is(notReady.body, '[-]upstream failed: /readyz answered 500: not ready\nreadyz check failed\n');
  const verbose = await metricsGet(p, '/readyz?verbose');
  assert.match(verbose.body, /^\[-\]upstream failed: \/readyz answered 500: not ready\n\[\+\]informer:tenants.capsule.clastix.io ok\n[^]*\[\+\]informer:namespaces ok\n/);
  assert.match(verbose.body, '[+]shutdown ok\nreadyz check failed\n');
  const https = await anonymousGet(p, '/readyz');
  assert.is(https.status, 503, 'the HTTPS listener agrees');
  assert.is(https.body, 'readyz check failed\n', 'and withholds the reason');
  const httpsVerbose = await anonymousGet(p, '/readyz?verbose');
  assert.match(httpsVerbose.body, '[-]upstream failed: reason withheld\n[+]informer:tenants.capsule.clastix.io ok\n');
  assert.not.match(httpsVerbose.body, 'not ready\n');
  assert.is((await metricsGet(p, '/healthz')).status, 200, 'alive, just not ready');
  assert.is((await anonymousGet(p, '/healthz')).status, 200);

  ctx.double.ready = true;
  await waitFor(() => metricsGet(p, '/readyz'), (r) => r.status === 200, 'ready again after the upstream recovers', PROBE_INTERVAL_MS * 2 + 2_000);
  assert.is((await anonymousGet(p, '/readyz')).status, 200);
  assert.match((await metricsGet(p, '/readyz?verbose')).body, /^\[\+\]upstream ok\n[^]*\[\+\]shutdown ok\nreadyz check passed\n$/);
});

// ── logs ──

test('one JSON log line per request: user, verb, path, status, durationMs; a rejected request without a user', async (ctx) => {
  const p = await track(ctx, startProxy(ctx.cp, { captureLogs: true }));
  const bob = p.client(ctx.cp.tokenCredentials('bob'));
  const alice = p.client(await ctx.cp.clientCertificate('alice', ['oil-team']));
  const admin = p.client(ctx.cp.adminCredentials());
  const requests: { client: KubeHttp; method: string; path: string; user: string | undefined; verb: string; body?: unknown }[] = [
    { client: bob, method: 'GET', path: '/version', user: 'bob', verb: 'get' },
    { client: bob, method: 'GET', path: `/api/v1/namespaces/default/configmaps?limit=7`, user: 'bob', verb: 'list' },
    { client: bob, method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', user: 'bob', verb: 'create', body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'namespaces' } } } },
    { client: alice, method: 'GET', path: '/api/v1/namespaces/default', user: 'alice', verb: 'get' },
    { client: admin, method: 'GET', path: '/api/v1/namespaces', user: 'admin', verb: 'list' },
    { client: admin, method: 'GET', path: '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1', user: 'admin', verb: 'watch' },
  ];
  const seen = new Map<string, number>();
  for (const r of requests) {
    const answer = await r.client.request(r.method, r.path, r.body === undefined ? {} : { body: r.body });
    seen.set(r.path, answer.status);
  }
  // Rejected before forwarding: an unknown token and no credentials at all.
  const stranger = p.client({ caPem: ctx.cp.caPem, token: `nobody-${suffix}` });
  const rejectedPath = `/api/v1/namespaces/default/secrets?labelSelector=from%3Dstranger`;
  assert.is((await stranger.request('GET', rejectedPath)).status, 401);
  const anonymousPath = `/api/v1/namespaces/default/secrets?labelSelector=from%3Danonymous`;
  assert.is((await anonymousGet(p, anonymousPath)).status, 401);

  const linesFor = (urlPath: string) => p.logs.filter((l) => l.msg === 'request' && l.path === urlPath);
  await waitUntil(() => [...requests.map((r) => r.path), rejectedPath, anonymousPath].every((x) => linesFor(x).length > 0), 'a log line for every request');
  for (const r of requests) {
    const lines = linesFor(r.path);
    assert.is(lines.length, 1, `exactly one line for ${r.method} ${r.path}`);
    const line = lines[0] ?? {};
    assert.is(line.user, r.user, `user of ${r.path}`);
    assert.is(line.verb, r.verb, `verb of ${r.path}`);
    assert.is(line.method, r.method);
    assert.is(line.status, seen.get(r.path), `the status the client saw for ${r.path}`);
    assert.type(line.durationMs, 'number');
    assert.ok((line.durationMs as number) >= 0);
    assert.is(line.level, 30, 'info');
  }
  assert.equal(linesFor('/api/v1/namespaces/default')[0]?.groups, ['oil-team'], 'certificate groups are logged');
  const watchLine = linesFor('/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1')[0];
  assert.is(watchLine?.status, 200);
  assert.ok(Number(watchLine?.durationMs) >= 900, 'a watch is logged when it ends, with its whole duration');
  for (const x of [rejectedPath, anonymousPath]) {
    const lines = linesFor(x);
    assert.is(lines.length, 1);
    assert.is(lines[0]?.status, 401);
    assert.is(lines[0]?.verb, 'list');
    assert.not.ok('user' in (lines[0] ?? {}), 'no user on a rejected request');
    assert.type(lines[0]?.durationMs, 'number');
  }
  // Query values that can carry secrets (continue tokens, exec commands, anything unknown) are logged by
  // name only; list and watch options stay readable.
  const secretToken = `continue-${suffix}-secret`;
  await bob.request('GET', `/api/v1/namespaces/default/configmaps?limit=1&continue=${secretToken}&command=${secretToken}`);
  await waitUntil(() => linesFor('/api/v1/namespaces/default/configmaps?limit=1&continue=redacted&command=redacted').length === 1, 'the list with a continue token is logged, redacted');
  // The token itself never reaches the log.
  const text = JSON.stringify(p.logs);
  assert.not.ok(text.includes(secretToken), 'no continue token in the logs');
  assert.not.ok(text.includes(ctx.cp.tokenCredentials('bob').token ?? '(none)'), 'no bearer token in the logs');
  assert.not.ok(text.includes(`nobody-${suffix}`));
});

// ── graceful shutdown ──

test('shutdown ends an open watch cleanly at an event boundary and then refuses new connections', async (ctx) => {
  const { cp } = ctx;
  const p = await track(ctx, startProxy(cp));
  const name = `ops-churn-${suffix}`;
  await cp.admin.json('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  const { res } = await p.client(cp.adminCredentials()).stream('GET', '/api/v1/namespaces?watch=true');
  assert.is(res.statusCode, 200);
  const watch = collectWatch(res);
  await waitUntil(() => watch.lines.length > 0, 'the initial ADDED events');

  // Keep events flowing while the proxy shuts down, so that the end falls amid a stream of events.
  let churning = true;
  const churn = (async () => {
    for (let i = 0; churning; i++) {
      await cp.admin.request('PATCH', `/api/v1/namespaces/${name}`, { body: { metadata: { labels: { churn: String(i) } } }, contentType: 'application/merge-patch+json' });
      await sleep(10);
    }
  })();
  await waitUntil(() => watch.lines.some((l) => l.includes('"churn"')), 'churn events arrive through the watch');
  const lineCountAtShutdown = watch.lines.length;
  const shutdown = p.proxy.shutdown(5_000);
  // Once shutdown has begun: not ready (or not listening at all), and no new HTTPS connections.
  const ready = await metricsGet(p, '/readyz').catch(() => 'refused' as const);
  assert.ok(ready === 'refused' || ready.status === 503, `readyz during shutdown: ${JSON.stringify(ready)}`);
  assert.is(await presented(p.port), 'refused', 'the HTTPS listener no longer accepts connections');
  await shutdown;
  churning = false;
  await churn;

  await waitUntil(() => watch.outcome !== undefined, 'the watch response to finish');
  assert.is(watch.outcome, 'end', 'the response ended normally, not aborted');
  assert.ok(res.complete, 'the terminating chunk arrived');
  assert.is(watch.partial, '', 'no half event at the end');
  assert.ok(watch.lines.length >= lineCountAtShutdown);
  for (const line of watch.lines) {
    const event = JSON.parse(line) as { type?: string; object?: { kind?: string; metadata?: { name?: string } } };
    assert.ok(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK'].includes(event.type ?? ''), line.slice(0, 200));
    assert.is(event.object?.kind, 'Namespace');
  }
  assert.is(await presented(p.port), 'refused', 'still refused after shutdown');
  assert.is(await metricsGet(p, '/readyz').then((r) => String(r.status), () => 'refused'), 'refused', 'the metrics listener is closed too');
  await cp.admin.request('DELETE', `/api/v1/namespaces/${name}`);
});

test('shutdown lets an in-flight request finish with 200 while /readyz says 503 and new connections are refused', async (ctx) => {
  const p = await doubleProxy(ctx);
  const alice = p.client({ caPem: '', token: ALICE_TOKEN });
  const before = ctx.double.requests.length;
  const slow = alice.request('GET', '/slow?ms=1500', { timeoutMs: 10_000 }).then(
    (r) => ({ status: r.status, body: r.body }),
    (err: Error) => ({ status: 0, body: err.message }),
  );
  await waitUntil(() => ctx.double.requests.slice(before).some((r) => r.url === '/slow?ms=1500'), 'the slow request reaches the upstream');
  const started = Date.now();
  const shutdown = p.proxy.shutdown(10_000);
  const ready = await metricsGet(p, '/readyz');
  assert.is(ready.status, 503, 'not ready once shutdown has begun');
  assert.match(ready.body, 'shutting down');
  assert.is(await presented(p.port), 'refused', 'no new connections during shutdown');
  const answer = await slow;
  assert.equal(answer, { status: 200, body: 'slow answer' }, 'the in-flight request finished normally');
  await shutdown;
  assert.ok(Date.now() - started >= 1_000, 'shutdown waited for the in-flight request');
  assert.is(await presented(p.port), 'refused', 'refused after shutdown');
});

interface WatchCollector {
  lines: string[];
  partial: string;
  outcome: 'end' | 'aborted' | `error: ${string}` | 'closed without end' | undefined;
}

function collectWatch(res: IncomingMessage): WatchCollector {
  const c: WatchCollector = { lines: [], partial: '', outcome: undefined };
  res.on('data', (d: Buffer) => {
    c.partial += d.toString('utf8');
    let nl: number;
    while ((nl = c.partial.indexOf('\n')) >= 0) {
      c.lines.push(c.partial.slice(0, nl));
      c.partial = c.partial.slice(nl + 1);
    }
  });
  res.on('end', () => (c.outcome ??= 'end'));
  res.on('aborted', () => (c.outcome ??= 'aborted'));
  res.on('error', (err) => (c.outcome ??= `error: ${err.message}`));
  res.on('close', () => setImmediate(() => (c.outcome ??= 'closed without end')));
  return c;
}

// ── serving certificates ──

test('a given serving certificate is reloaded when its files change', async (ctx) => {
  const dir = mkdtempSync(path.join(ctx.dir, 'serving-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  const ca1 = await createCertificateAuthority(`ops-serving-ca-1-${suffix}`);
  const ca2 = await createCertificateAuthority(`ops-serving-ca-2-${suffix}`);
  const first = await writeServing(ca1, certFile, keyFile);
  const p = await track(ctx, startProxy(ctx.cp, { flags: ['--tls-cert-file', certFile, '--tls-key-file', keyFile] }));
  assert.is(p.proxy.servingCaFile, undefined, 'nothing generated');

  const before = await presented(p.port, { ca: ca1.certPem });
  assert.ok(before !== 'refused');
  assert.is(before.fingerprint, first);
  assert.ok(before.authorized, `verified by the first CA: ${before.authorizationError}`);

  const second = await writeServing(ca2, certFile, keyFile);
  assert.is.not(second, first);
  const after = await waitFor(() => presented(p.port, { ca: ca2.certPem }), (r) => r !== 'refused' && r.fingerprint === second, 'new connections present the new certificate', TLS_POLL_INTERVAL_MS * 3 + 2_000);
  assert.ok(after !== 'refused' && after.authorized, 'verified by the second CA');
  assert.is.not(after.serial, before.serial);
  const oldTrust = await presented(p.port, { ca: ca1.certPem });
  assert.ok(oldTrust !== 'refused' && !oldTrust.authorized, 'the old CA no longer verifies it');

  // Client certificates are still verified after the swap: a full request as admin works.
  const admin = new KubeHttp(p.url, { ...ctx.cp.adminCredentials(), caPem: ca2.certPem });
  try {
    const r = await admin.request('GET', '/api/v1/namespaces?limit=1');
    assert.is(r.status, 200, r.body);
  } finally {
    admin.close();
  }
});

test('a broken certificate file keeps the current certificate', async (ctx) => {
  const dir = mkdtempSync(path.join(ctx.dir, 'serving-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  const ca = await createCertificateAuthority(`ops-serving-ca-3-${suffix}`);
  const fingerprint = await writeServing(ca, certFile, keyFile);
  const p = await track(ctx, startProxy(ctx.cp, { flags: ['--tls-cert-file', certFile, '--tls-key-file', keyFile], captureLogs: true }));
  writeFileSync(certFile, 'not a certificate\n');
  await waitUntil(() => p.logs.some((l) => String(l.msg).startsWith('could not reload TLS material')), 'the failed reload is logged', TLS_POLL_INTERVAL_MS * 3 + 2_000);
  const now = await presented(p.port, { ca: ca.certPem });
  assert.ok(now !== 'refused' && now.fingerprint === fingerprint && now.authorized, 'still serving the last good certificate');
});

test('without --tls-cert-file: a generated certificate, verified by the CA file the proxy exposes and logs, kept in --cert-dir', async (ctx) => {
  const certDir = path.join(ctx.dir, `generated-${suffix}`);
  const p = await track(ctx, startProxy(ctx.cp, { flags: ['--cert-dir', certDir], captureLogs: true }));
  const caFile = p.proxy.servingCaFile;
  assert.ok(caFile, 'the proxy exposes its CA file');
  assert.ok(caFile.startsWith(certDir), caFile);
  assert.ok(p.logs.some((l) => l.ca === caFile), 'the log says where the CA is');
  const caPem = readFileSync(caFile, 'utf8');
  for (const servername of [undefined, 'localhost']) {
    const r = await presented(p.port, { ca: caPem, ...(servername ? { servername } : {}) });
    assert.ok(r !== 'refused' && r.authorized, `verified for ${servername ?? '127.0.0.1'}: ${r === 'refused' ? r : r.authorizationError}`);
  }
  const untrusted = await presented(p.port);
  assert.ok(untrusted !== 'refused' && !untrusted.authorized, 'not trusted by the system roots: self-signed');
  const first = untrusted.fingerprint;
  await p.stop();

  // A restart with the same --cert-dir keeps serving the same certificate (clients keep trusting it).
  const again = await track(ctx, startProxy(ctx.cp, { flags: ['--cert-dir', certDir] }));
  assert.is(again.proxy.servingCaFile, caFile);
  const second = await presented(again.port, { ca: caPem });
  assert.ok(second !== 'refused' && second.authorized && second.fingerprint === first, 'same certificate after a restart');
});

// ── command line ──

const FLAGS = ['listen', 'tls-cert-file', 'tls-key-file', 'cert-dir', 'client-ca-file', 'kubeconfig', 'context', 'ignored-user-groups', 'token-cache-ttl', 'token-negative-cache-ttl', 'token-cache-size', 'access-review-cache-ttl', 'upstream-timeout', 'watch-history', 'shutdown-grace-period', 'tls-handshake-timeout', 'request-header-timeout', 'client-idle-timeout', 'max-connections', 'max-connections-per-address', 'metrics-listen', 'log-level', 'redis', 'redis-key-prefix', 'lease-ttl', 'replica-id', 'shared-auth-key-file', 'insecure-unsigned-redis'];

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/tenant-proxy.js'), ...args], { cwd: ROOT, timeout: 30_000, env: { ...process.env, KUBECONFIG: '/nonexistent', ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('tenant-proxy --help documents every flag with its environment variable', async () => {
  const r = await runCli(['--help']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), helpText().trim());
  const documented = [...r.stdout.matchAll(/^\s+--([a-z][a-z-]*)/gm)].map((m) => m[1]);
  assert.equal(documented.filter((f) => f !== 'help').sort(), [...FLAGS].sort(), 'exactly the known flags');
  for (const flag of FLAGS) {
    const line = r.stdout.split('\n').find((l) => new RegExp(`^\\s+--${flag}\\b`).test(l)) ?? '';
    assert.ok(line.includes(`(${envName(flag)})`), `--${flag} names ${envName(flag)}: ${line}`);
  }
  assert.match(r.stdout, /Every flag can also be set by its environment variable/);
});

test('a flag beats its environment variable, which beats the default', () => {
  const cases: [flag: string, key: keyof Config, fromEnv: string, fromFlag: string, expectEnv: unknown, expectFlag: unknown, expectDefault: unknown][] = [
    ['listen', 'listen', '127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:1', '127.0.0.1:2', '0.0.0.0:9001'],
    ['metrics-listen', 'metricsListen', '127.0.0.1:3', '', '127.0.0.1:3', '', '0.0.0.0:9002'],
    ['ignored-user-groups', 'ignoredUserGroups', 'a,b', 'c', ['a', 'b'], ['c'], ['system:masters']],
    ['token-cache-ttl', 'tokenCacheTtlMs', '30s', '500ms', 30_000, 500, 120_000],
    ['token-cache-size', 'tokenCacheSize', '5', '6', 5, 6, 10_000],
    ['upstream-timeout', 'upstreamTimeoutMs', '1m', '2s', 60_000, 2_000, 75_000],
    ['shutdown-grace-period', 'shutdownGracePeriodMs', '1h', '0s', 3_600_000, 0, 30_000],
    ['log-level', 'logLevel', 'debug', 'warn', 'debug', 'warn', 'info'],
  ];
  const config = (argv: string[], env: NodeJS.ProcessEnv): Config => {
    const parsed = parseConfig(argv, env);
    if (parsed.kind !== 'config') throw new Error('unexpected help');
    return parsed.config;
  };
  for (const [flag, key, fromEnv, fromFlag, expectEnv, expectFlag, expectDefault] of cases) {
    const env = { [envName(flag)]: fromEnv };
    assert.equal(config([], {})[key], expectDefault, `--${flag} default`);
    assert.equal(config([], env)[key], expectEnv, `${envName(flag)} alone`);
    assert.equal(config([`--${flag}`, fromFlag], env)[key], expectFlag, `--${flag} over ${envName(flag)}`);
    assert.equal(config([`--${flag}=${fromFlag}`], env)[key], expectFlag, `--${flag}= over ${envName(flag)}`);
  }
  // The environment variables are the ones --help names.
  assert.equal(config([], { TENANT_PROXY_TLS_CERT_FILE: '/c', TENANT_PROXY_TLS_KEY_FILE: '/k' }).tlsKeyFile, '/k');
  // A switch is on when named alone, and never takes the next argument as its value.
  const unsigned = { TENANT_PROXY_INSECURE_UNSIGNED_REDIS: 'true' };
  assert.is(config([], {}).insecureUnsignedRedis, false, '--insecure-unsigned-redis default');
  assert.is(config([], unsigned).insecureUnsignedRedis, true, 'TENANT_PROXY_INSECURE_UNSIGNED_REDIS alone');
  assert.is(config(['--insecure-unsigned-redis=false'], unsigned).insecureUnsignedRedis, false, '--insecure-unsigned-redis=false over its variable');
  const named = config(['--insecure-unsigned-redis', '--log-level', 'warn'], {});
  assert.equal([named.insecureUnsignedRedis, named.logLevel], [true, 'warn'], 'a switch named alone, then another flag');
});

test('an unknown flag or a bad value exits 2 with a message', async () => {
  const unknown = await runCli(['--no-such-flag', 'x']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, 'unknown flag --no-such-flag');
  assert.is(unknown.stdout, '');
  const bad = await runCli(['--upstream-timeout', 'forever']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, '--upstream-timeout: invalid duration "forever"');
  const stray = await runCli(['listen']);
  assert.is(stray.code, 2);
  assert.match(stray.stderr, 'unexpected argument "listen"');
  const notSwitch = await runCli(['--insecure-unsigned-redis=yes']);
  assert.is(notSwitch.code, 2);
  assert.match(notSwitch.stderr, '--insecure-unsigned-redis: "yes" is neither true nor false');
});

test('replicas refuse to start on an unsigned Redis unless told to', async () => {
  // Whoever can write to that Redis would decide what every replica serves and which writes the proxy
  // performs with its own credentials: a deployment key is required, or an explicit opt-out.
  const unsigned = await runCli(['--redis', 'redis://127.0.0.1:1']);
  assert.is(unsigned.code, 2);
  assert.match(unsigned.stderr, '--redis needs --shared-auth-key-file');
  assert.match(unsigned.stderr, '--insecure-unsigned-redis');
  assert.is(unsigned.stdout, '');
  const fromEnv = await runCli([], { TENANT_PROXY_REDIS: 'redis://127.0.0.1:1' });
  assert.is(fromEnv.code, 2, 'the same when --redis comes from its environment variable');
});

test.run();
