// Scenario apiserver-watch (issue 17's yardstick): kube-apiserver's own cost of watches, in the same run
// as the proxy's figures. N watches of `/api/v1/namespaces` straight on the real local control plane
// (admin client certificate, one HTTP/1.1 TLS connection each, the load generators of fan-out), the
// apiserver's RSS growth per watch, then namespace creations each stamped with the time it was sent:
// the fan-out latency from the create request to every watch's receipt (write through etcd and the
// watch cache included), p50/p99. Nothing of tenant-proxy runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlane } from '../../test/support/control-plane.ts';
import { Fleet } from '../fleet.ts';
import { cpuSeconds, percentiles, round, rssBytes, type Figures } from '../harness.ts';
import { EMITTED_AT_ANNOTATION, wallClockMs } from '../replay-upstream.ts';
import type { ScenarioResult } from '../results.ts';
import { WATCH_PATH } from './fan-out.ts';

export interface ApiserverWatchParams {
  watches: number;
  /** Namespaces created while the watches are open, one every CHANGE_INTERVAL_MS. */
  changes: number;
  loadProcesses: number;
}

/** Long enough for 2,000 deliveries (≈ 0.1 s) to end before the next change. */
const CHANGE_INTERVAL_MS = 1_000;
const ADMIN = 'admin';

export async function apiserverWatch(params: ApiserverWatchParams, log: (m: string) => void): Promise<ScenarioResult> {
  const cp = await ControlPlane.start({ log, controllerManager: false });
  const f: Figures = {};
  const notes: string[] = [];
  try {
    const pid = Number((JSON.parse(readFileSync(path.join(cp.dir, 'pids.json'), 'utf8')) as Record<string, number>)['kube-apiserver']);
    const { certPem, keyPem } = cp.adminCredentials();
    if (certPem === undefined || keyPem === undefined) throw new Error('apiserver-watch: the admin credentials carry no client certificate');
    await sleep(2_000);
    const rss0 = rssBytes(pid);
    log(`opening ${params.watches} watches on kube-apiserver`);
    const users = Array.from({ length: params.watches }, () => ADMIN);
    const { fleet, opened, failed, connections, ms, firstError } = await Fleet.open({ url: cp.server, caPem: cp.caPem }, { certs: new Map([[ADMIN, { certPem, keyPem }]]) }, users, params.loadProcesses, WATCH_PATH);
    if (failed > 0) notes.push(`${failed} watches failed to open (${firstError ?? ''})`);
    try {
      await sleep(2_000);
      const rss1 = rssBytes(pid);
      f.watches_opened = { value: opened, unit: 'watches' };
      f.client_connections = { value: connections, unit: 'connections' };
      f.connect_time = { value: round(ms / 1000, 1), unit: 's' };
      f.apiserver_rss_per_watch = { value: round((rss1 - rss0) / 1024 / Math.max(1, opened), 1), unit: 'KiB' };
      f.apiserver_rss_total = { value: round(rss1 / 2 ** 20, 0), unit: 'MiB' };
      fleet.reset();
      const cpu0 = cpuSeconds(pid);
      for (let i = 0; i < params.changes; i++) {
        const body = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-watch-${i}`, annotations: { [EMITTED_AT_ANNOTATION]: wallClockMs().toFixed(3) } } };
        await cp.admin.json('POST', '/api/v1/namespaces', { body });
        await sleep(CHANGE_INTERVAL_MS);
      }
      await sleep(1_000);
      const cpu = cpuSeconds(pid) - cpu0;
      const report = await fleet.report();
      const p = percentiles(report.samples);
      f.change_p50 = { value: round(p.p50), unit: 'ms' };
      f.change_p99 = { value: round(p.p99), unit: 'ms' };
      f.change_max = { value: round(p.max), unit: 'ms' };
      f.change_deliveries = { value: p.count, unit: 'events' };
      f.change_deliveries_expected = { value: params.changes * opened, unit: 'events' };
      f.apiserver_cpu_per_delivery = { value: round((cpu * 1e6) / Math.max(1, p.count), 1), unit: 'µs' };
      log(`${params.changes} namespace creations reached ${p.count} of ${params.changes * opened} expected watches: p50 ${round(p.p50)} ms, p99 ${round(p.p99)} ms; apiserver RSS ${f.apiserver_rss_per_watch.value} KiB per watch`);
    } finally {
      await fleet.close();
    }
  } finally {
    await cp.stop();
  }
  return {
    scenario: 'apiserver-watch',
    upstream: 'control-plane',
    upstreamWhy: "the yardstick is kube-apiserver's own per-watch memory and fan-out latency, which only the real apiserver answers",
    params: { ...params, changeIntervalMs: CHANGE_INTERVAL_MS, watchPath: WATCH_PATH },
    figures: { apiserver: f },
    columns: [{ key: 'apiserver', heading: 'kube-apiserver 1.20 (watch cache on), HTTP/1.1 watches' }],
    notes,
  };
}
