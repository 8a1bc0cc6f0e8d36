// Scenario upstream-protocol (issue 16: "the upstream side may stay HTTP/1.1 or use HTTP/2: measure both
// and say why"): tenant-proxy's upstream leg, played by one client process with the proxy's credentials
// (its bearer token, impersonating a user as forwarded requests do) against the real kube-apiserver, over
// HTTP/1.1 (a keep-alive https.Agent configured as the proxy's) and over HTTP/2 (one session, more only
// when the apiserver's stream limit is reached). (a) Forwarded-style GETs of a configmap list, a fixed
// number in flight: throughput, latency, client CPU per request, connections opened. (b) Long-lived
// watches of that namespace's configmaps: client and apiserver memory per watch, connections, and the
// delivery latency of a change. The product's own upstream code is not used or changed: this measures
// the choice, not the implementation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlane } from '../../test/support/control-plane.ts';
import { LoadProcess, percentiles, round, rssBytes, type Figures } from '../harness.ts';
import type { UpstreamProtocol, UpstreamReply, UpstreamTarget } from '../load/upstream-client.ts';
import { EMITTED_AT_ANNOTATION } from '../replay-upstream.ts';
import type { ScenarioResult } from '../results.ts';

export interface UpstreamProtocolParams {
  /** ConfigMaps in the namespace the GETs list (each with ~512 bytes of data). */
  configMaps: number;
  /** GETs per protocol and concurrency. */
  requests: number;
  /** Requests in flight, one measurement each. */
  concurrencies: number[];
  /** Concurrent upstream watches per protocol. */
  watches: number;
  /** Changes made while the watches are open, one every CHANGE_INTERVAL_MS. */
  changes: number;
}

const NAMESPACE = 'bench-upstream-protocol';
/** The user the forwarded requests impersonate; it may view the namespace. */
const USER = 'bench-forwarded-user';
const WATCHED = 'watched';
const CHANGE_INTERVAL_MS = 250;
const PROTOCOLS: { key: UpstreamProtocol; heading: string }[] = [
  { key: 'http1', heading: 'HTTP/1.1 (keep-alive https.Agent)' },
  { key: 'http2', heading: 'HTTP/2 (streams of one session)' },
];

async function seed(cp: ControlPlane, configMaps: number): Promise<void> {
  await cp.admin.json('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } });
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}`;
  await cp.admin.json('POST', `${rbac}/roles`, { body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'configmap-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] } });
  await cp.admin.json('POST', `${rbac}/rolebindings`, {
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'forwarded-user-reads' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }] },
  });
  for (const name of [WATCHED, ...Array.from({ length: Math.max(0, configMaps - 1) }, (_, i) => `cm-${i}`)]) {
    await cp.admin.json('POST', `/api/v1/namespaces/${NAMESPACE}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value: 'x'.repeat(512) } } });
  }
}

/** A fresh client process for one measurement, closed afterwards whatever happens. */
async function withClient<T>(run: (client: LoadProcess<UpstreamReply>) => Promise<T>): Promise<T> {
  const client = new LoadProcess<UpstreamReply>('bench/load/upstream-client.ts');
  try {
    return await run(client);
  } finally {
    await client.request({ cmd: 'close' }, 'closed', 30_000).catch(() => undefined);
    await client.stop();
  }
}

async function measureRequests(target: UpstreamTarget, params: UpstreamProtocolParams, f: Figures, log: (m: string) => void): Promise<void> {
  for (const concurrency of params.concurrencies) {
    const reply = await withClient((client) => client.request({ cmd: 'requests', target, path: `/api/v1/namespaces/${NAMESPACE}/configmaps`, count: params.requests, concurrency }, 'requested', 600_000));
    const p = percentiles(reply.samples);
    f[`throughput_at_${concurrency}`] = { value: round(p.count / (reply.ms / 1000), 0), unit: 'requests/s' };
    f[`p50_at_${concurrency}`] = { value: round(p.p50), unit: 'ms' };
    f[`p99_at_${concurrency}`] = { value: round(p.p99), unit: 'ms' };
    f[`client_cpu_per_request_at_${concurrency}`] = { value: round(reply.cpuMicros / Math.max(1, params.requests), 0), unit: 'µs' };
    f[`connections_at_${concurrency}`] = { value: reply.connections, unit: 'connections' };
    f[`errors_at_${concurrency}`] = { value: reply.errors, unit: 'requests' };
    log(`${target.protocol} GETs, ${concurrency} in flight: ${round(p.count / (reply.ms / 1000), 0)}/s, p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms, ${reply.connections} connections${reply.firstError ? `, first error: ${reply.firstError}` : ''}`);
  }
}

async function measureWatches(cp: ControlPlane, apiserverPid: number, target: UpstreamTarget, params: UpstreamProtocolParams, f: Figures, log: (m: string) => void): Promise<void> {
  const list = await cp.admin.json<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/namespaces/${NAMESPACE}/configmaps`);
  const watchPath = `/api/v1/namespaces/${NAMESPACE}/configmaps?watch=true&resourceVersion=${list.metadata.resourceVersion}`;
  await withClient(async (client) => {
    const apiserverRss0 = rssBytes(apiserverPid);
    const w = await client.request({ cmd: 'watch', target, path: watchPath, watches: params.watches }, 'watching', 600_000);
    const apiserverRss1 = rssBytes(apiserverPid);
    f.watches_opened = { value: w.opened, unit: 'watches' };
    f.watch_connections = { value: w.connections, unit: 'connections' };
    f.watch_open_time = { value: round(w.ms / 1000, 2), unit: 's' };
    f.client_rss_per_watch = { value: round((w.rssAfter - w.rssBefore) / 1024 / Math.max(1, w.opened), 1), unit: 'KiB' };
    f.client_heap_per_watch = { value: round((w.heapAfter - w.heapBefore) / 1024 / Math.max(1, w.opened), 2), unit: 'KiB' };
    f.apiserver_rss_per_watch = { value: round((apiserverRss1 - apiserverRss0) / 1024 / Math.max(1, w.opened), 1), unit: 'KiB' };
    log(`${target.protocol}: ${w.opened} watches over ${w.connections} connections in ${round(w.ms)} ms${w.firstError ? `, first error: ${w.firstError}` : ''}`);
    client.send({ cmd: 'reset' });
    for (let i = 0; i < params.changes; i++) {
      const stamp = String(performance.timeOrigin + performance.now());
      await cp.admin.json('PATCH', `/api/v1/namespaces/${NAMESPACE}/configmaps/${WATCHED}`, { body: { metadata: { annotations: { [EMITTED_AT_ANNOTATION]: stamp } } }, contentType: 'application/merge-patch+json' });
      await sleep(CHANGE_INTERVAL_MS);
    }
    await sleep(1_000);
    const report = await client.request({ cmd: 'report' }, 'report');
    const p = percentiles(report.samples);
    f.change_p50 = { value: round(p.p50), unit: 'ms' };
    f.change_p99 = { value: round(p.p99), unit: 'ms' };
    f.change_max = { value: round(p.max), unit: 'ms' };
    f.change_deliveries = { value: p.count, unit: 'events' };
    f.change_deliveries_expected = { value: params.changes * w.opened, unit: 'events' };
    log(`${target.protocol}: a change reached ${p.count} of ${params.changes * w.opened} expected watches: p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms`);
  });
}

/** The two protocols' figures side by side, one line per measurement (no target: they inform the choice). */
function comparisons(params: UpstreamProtocolParams, figures: Record<string, Figures>): string[] {
  const [h1, h2] = [figures.http1 ?? {}, figures.http2 ?? {}];
  const both = (name: string) => `${h1[name]?.value} vs ${h2[name]?.value}`;
  return [
    ...params.concurrencies.map((c) => `HTTP/1.1 vs HTTP/2, ${c} GETs in flight: ${both(`throughput_at_${c}`)} requests/s, p99 ${both(`p99_at_${c}`)} ms, client CPU ${both(`client_cpu_per_request_at_${c}`)} µs per request, ${both(`connections_at_${c}`)} connections.`),
    `HTTP/1.1 vs HTTP/2, ${both('watches_opened')} watches over ${both('watch_connections')} connections: client RSS ${both('client_rss_per_watch')} KiB per watch, apiserver RSS ${both('apiserver_rss_per_watch')} KiB per watch, a change delivered at p50 ${both('change_p50')} ms, p99 ${both('change_p99')} ms.`,
  ];
}

export async function upstreamProtocol(params: UpstreamProtocolParams, log: (m: string) => void): Promise<ScenarioResult> {
  const cp = await ControlPlane.start({ log, controllerManager: false });
  try {
    await seed(cp, params.configMaps);
    const apiserverPid = Number((JSON.parse(readFileSync(path.join(cp.dir, 'pids.json'), 'utf8')) as Record<string, number>)['kube-apiserver']);
    const credentials = cp.proxyCredentials();
    if (credentials.token === undefined) throw new Error('the proxy credentials carry no token');
    const figures: Record<string, Figures> = {};
    for (const { key } of PROTOCOLS) {
      const target: UpstreamTarget = { server: cp.server, caPem: credentials.caPem, token: credentials.token, user: USER, protocol: key };
      const f: Figures = {};
      await measureRequests(target, params, f, log);
      await measureWatches(cp, apiserverPid, target, params, f, log);
      figures[key] = f;
    }
    return {
      scenario: 'upstream-protocol',
      notes: comparisons(params, figures),
      upstream: 'control-plane',
      upstreamWhy: 'the question is how kube-apiserver serves each protocol, which only the real apiserver answers; the load (tens of requests in flight, hundreds of watches) is within what it carries on these cores',
      params: { ...params, changeIntervalMs: CHANGE_INTERVAL_MS },
      figures,
      columns: PROTOCOLS,
    };
  } finally {
    await cp.stop();
  }
}
