// In a cluster the proxy's own credentials are the service-account token kubelet projects into
// /var/run/secrets/kubernetes.io/serviceaccount, and kubelet replaces that token long before it expires.
// A fake in-cluster root directory stands for "/": the proxy must follow a rotation of the token file
// (kubelet's atomic symlink swap) once the old token stops working — while a proxy that was handed the
// old token statically stops working with it.
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadUpstream } from '../../src/basics/upstream.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  dir: string;
  secrets: string[];
  proxies: RunningProxy[];
}

const test = suite<Context>('in-cluster credentials follow token rotation');
const suffix = Math.random().toString(36).slice(2, 7);
const SA_NAMESPACE = 'tenant-proxy';
const SA_NAME = 'tenant-proxy';
/** TokenFileSource looks at the file at most this often (src/basics/upstream.ts). */
const TOKEN_FILE_CHECK_MS = 1_000;

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'in-cluster-'));
  ctx.secrets = [];
  ctx.proxies = [];
});

test.after(async (ctx) => {
  for (const p of ctx.proxies ?? []) await p.stop();
  for (const name of ctx.secrets ?? []) await ctx.cp.admin.request('DELETE', `/api/v1/namespaces/${SA_NAMESPACE}/secrets/${name}`);
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

/** A token of the proxy's service account that is valid only while Secret `secret` exists. */
async function boundToken(ctx: Context, secret: string): Promise<string> {
  await ctx.cp.admin.json('POST', `/api/v1/namespaces/${SA_NAMESPACE}/secrets`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret }, type: 'Opaque' } });
  ctx.secrets.push(secret);
  const review = await ctx.cp.admin.json<{ status: { token: string } }>('POST', `/api/v1/namespaces/${SA_NAMESPACE}/serviceaccounts/${SA_NAME}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3_600, boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: secret } } },
  });
  return review.status.token;
}

/**
 * Kubelet's projected-volume layout (AtomicWriter): the files live in a timestamped directory, `..data`
 * links to it, and each visible file links through `..data`. An update writes a new directory, points a
 * new link at it and renames that link over `..data` — one atomic step for every file.
 */
class ServiceAccountVolume {
  readonly dir: string;
  #generation = 0;

  constructor(root: string) {
    this.dir = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(this.dir, { recursive: true });
  }

  write(files: Record<string, string>): void {
    const name = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${++this.#generation}`;
    mkdirSync(path.join(this.dir, name));
    for (const [file, content] of Object.entries(files)) writeFileSync(path.join(this.dir, name, file), content);
    let previous: string | undefined;
    try {
      previous = readlinkSync(path.join(this.dir, '..data'));
    } catch {
      previous = undefined;
    }
    symlinkSync(name, path.join(this.dir, '..data_tmp'));
    renameSync(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    for (const file of Object.keys(files)) {
      try {
        symlinkSync(path.join('..data', file), path.join(this.dir, file));
      } catch {
        // already linked through ..data
      }
    }
    if (previous) rmSync(path.join(this.dir, previous), { recursive: true, force: true });
  }
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting: ${what}`);
    await sleep(250);
  }
}

test('after kubelet rotates the token file and the old token dies, requests through the proxy still work', async (ctx) => {
  const { cp } = ctx;
  const tokenA = await boundToken(ctx, `proxy-token-a-${suffix}`);
  const tokenB = await boundToken(ctx, `proxy-token-b-${suffix}`);
  const root = path.join(ctx.dir, 'root');
  const volume = new ServiceAccountVolume(root);
  volume.write({ token: tokenA, 'ca.crt': cp.caPem, namespace: SA_NAMESPACE });

  const upstream = await loadUpstream({ inClusterRoot: root, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(cp.state.apiserverPort) } });
  assert.is(upstream.server.href, `${cp.server}/`, 'the service address comes from the given environment');
  assert.match(upstream.source, 'in-cluster service account');
  const inCluster = await startProxy(undefined, { upstream });
  ctx.proxies.push(inCluster);

  // The control: the same token A handed over statically, in a kubeconfig.
  const kubeconfig = cp.writeKubeconfig(path.join(ctx.dir, 'static-a.kubeconfig'), { caPem: cp.caPem, token: tokenA }, 'tenant-proxy');
  const staticA = await startProxy(undefined, { upstream: await loadUpstream({ kubeconfig }) });
  ctx.proxies.push(staticA);

  const adminVia = (p: RunningProxy) => p.client(cp.adminCredentials());
  // Both work with token A: a certificate user (impersonation with the proxy's token) and a token user
  // (a TokenReview with the proxy's token).
  for (const p of [inCluster, staticA]) {
    const list = await adminVia(p).request('GET', '/api/v1/namespaces');
    assert.is(list.status, 200, list.body);
    const bob = await p.client(cp.tokenCredentials('bob')).request('GET', '/version');
    assert.is(bob.status, 200, bob.body);
  }

  // Kubelet rotates: token B (bound to another Secret) replaces A in the file; then A dies.
  volume.write({ token: tokenB, 'ca.crt': cp.caPem, namespace: SA_NAMESPACE });
  await sleep(TOKEN_FILE_CHECK_MS + 200);
  await cp.admin.json('DELETE', `/api/v1/namespaces/${SA_NAMESPACE}/secrets/proxy-token-a-${suffix}`);
  // The apiserver caches successful token authentications for 10 s: wait until A is really refused.
  await waitUntil(async () => (await adminVia(staticA).request('GET', '/api/v1/namespaces')).status === 401, 'token A is refused once its Secret is gone', 30_000);
  const refused = await adminVia(staticA).request('GET', '/api/v1/namespaces');
  assert.is(refused.status, 401, 'the proxy holding token A statically is locked out');

  // The in-cluster proxy re-read the file: every kind of request works, first time.
  const list = await adminVia(inCluster).request('GET', '/api/v1/namespaces');
  assert.is(list.status, 200, list.body);
  // carol's token was never reviewed before: this TokenReview is made with token B.
  const carol = await inCluster.client(cp.tokenCredentials('carol')).request('GET', '/version');
  assert.is(carol.status, 200, carol.body);
  const ready = await fetch(`http://127.0.0.1:${inCluster.metricsPort}/readyz`);
  assert.is(ready.status, 200, 'and it is ready');
});

test.run();
