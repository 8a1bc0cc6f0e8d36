// Scenario 2, cached LIST: a tenant's `kubectl get ns` (`/api/v1/namespaces?limit=500`, JSON and Table)
// with 10,000 namespaces in 1,000 tenants, through the multiplexer (answered from its views) and
// through the forwarding baseline (a label-selector list on the API server). Upstream: the real local
// control plane (kube-apiserver 1.20 + etcd), which carries this load.
import https from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlPlane } from '../../test/support/control-plane.ts';
import { collectionPath } from '../../test/support/manifests.ts';
import { startTarget, type ProxyKind } from '../fleet.ts';
import { LoadProcess, makeIdentities, percentiles, round, type Figures } from '../harness.ts';
import type { ListReply } from '../load/lister.ts';
import type { ScenarioResult } from '../results.ts';

export interface CachedListParams {
  tenants: number;
  namespacesPerTenant: number;
  /** Distinct tenant users issuing the requests (round robin). */
  users: number;
  requests: number;
  concurrency: number;
  maxSeconds: number;
  proxies: ProxyKind[];
}

export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

/** Creates objects with a keep-alive connection pool (the tests' client opens one connection each). */
async function createAll(cp: ControlPlane, objects: { apiVersion: string; kind: string; metadata: { name: string } }[], concurrency: number): Promise<void> {
  const creds = cp.adminCredentials();
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: creds.caPem, cert: creds.certPem, key: creds.keyPem });
  const server = new URL(cp.server);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const obj = objects[next++];
      if (!obj) break;
      const body = JSON.stringify(obj);
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request({ host: server.hostname, port: server.port, method: 'POST', path: collectionPath(obj.apiVersion, obj.kind), agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      if (status !== 201 && status !== 409) throw new Error(`create ${obj.kind} ${obj.metadata.name}: ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
}

export async function cachedList(params: CachedListParams, log: (m: string) => void): Promise<ScenarioResult> {
  // No controller manager: it would spend the measurement creating a service account and a token
  // secret in each of the 10,000 new namespaces, competing for the same 2 cores.
  const cp = await ControlPlane.start({ log, controllerManager: false });
  try {
    log(`seeding ${params.tenants} tenants and ${params.tenants * params.namespacesPerTenant} namespaces`);
    const tenants = Array.from({ length: params.tenants }, (_, i) => `t${i}`);
    const seedStarted = performance.now();
    await createAll(cp, tenants.map((t) => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: t }, spec: { owners: [{ kind: 'User', name: `user-${t}` }] } })), 16);
    await createAll(cp, tenants.flatMap((t) => Array.from({ length: params.namespacesPerTenant }, (_, j) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${t}-ns${j}`, labels: { 'capsule.clastix.io/tenant': t } } }))), 32);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const users = tenants.slice(0, params.users).map((t) => `user-${t}`);
    const ids = await makeIdentities(users);
    const tenantsByUser = Object.fromEntries(tenants.map((t) => [`user-${t}`, [t]]));
    const kubeconfig = cp.writeKubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'bench-list-')), 'proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');
    const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
    for (const kind of params.proxies) {
      log(`${kind}: ${params.requests} LISTs per format, ${params.concurrency} in flight`);
      const target = await startTarget(kind, kubeconfig, ids, tenantsByUser);
      try {
        for (const [format, accept] of [['json', 'application/json'], ['table', TABLE_ACCEPT]] as const) {
          const lister = new LoadProcess<ListReply>('bench/load/lister.ts');
          const reply = await lister.request({ cmd: 'list', url: target.url, caPem: target.caPem, clients: users.map((u) => ids.certs.get(u)), path: '/api/v1/namespaces?limit=500', accept, count: params.requests, concurrency: params.concurrency, maxMs: params.maxSeconds * 1000 }, 'listed', (params.maxSeconds + 60) * 1000);
          await lister.stop();
          const p = percentiles(reply.samples);
          figures[kind][`${format}_p50`] = { value: round(p.p50, 3), unit: 'ms' };
          figures[kind][`${format}_p99`] = { value: round(p.p99, 3), unit: 'ms' };
          const first = percentiles(reply.warmUps);
          figures[kind][`${format}_first_request_p50`] = { value: round(first.p50, 3), unit: 'ms' };
          figures[kind][`${format}_first_request_p99`] = { value: round(first.p99, 3), unit: 'ms' };
          figures[kind][`${format}_requests`] = { value: p.count, unit: 'requests' };
          figures[kind][`${format}_errors`] = { value: reply.errors + Object.entries(reply.statuses).filter(([s]) => s !== '200').reduce((n, [, c]) => n + c, 0), unit: 'requests' };
          figures[kind][`${format}_bytes_per_answer`] = { value: round(reply.bytes / Math.max(1, p.count), 0), unit: 'bytes' };
        }
      } finally {
        await target.stop();
      }
    }
    return {
      scenario: 'cached-list',
      upstream: 'control-plane',
      upstreamWhy: 'kube-apiserver 1.20 + etcd hold 10,000 namespaces without trouble; the baseline pays its real list cost',
      params: { ...params, seedSeconds: round(seedSeconds, 1) },
      figures,
    };
  } finally {
    await cp.stop();
  }
}
