// Scenario 3, reconnect storm: every watcher drops its connection and reconnects within a window with
// the last resourceVersion it saw (client-node does this after 30 s of silence). How long until all are
// back, how many upstream requests that caused, and the proxy's CPU meanwhile. Upstream: replay.
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, startTarget, type ProxyKind } from '../fleet.ts';
import { cpuSeconds, round, type Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench } from '../upstream.ts';
import { WATCH_PATH } from './fan-out.ts';

export interface StormParams {
  tenants: number;
  watchersPerTenant: number;
  windowSeconds: number;
  loadProcesses: number;
  proxies: ProxyKind[];
}

export async function reconnectStorm(params: StormParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: 10, nodes: 10, storageClasses: 4 });
  const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
  const notes: string[] = [];
  try {
    for (const kind of params.proxies) {
      const target = await startTarget(kind, upstream.kubeconfig, ids, tenantsByUser);
      const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
      const { fleet, opened } = await Fleet.open(target, ids, watcherUsers, params.loadProcesses, `${WATCH_PATH}&allowWatchBookmarks=true`, 'http', true);
      try {
        // Some traffic first, so that every watcher holds a recent resourceVersion.
        await upstream.emit(200, 2_000);
        await sleep(1_000);
        const requests0 = upstream.requestCount();
        const cpu0 = cpuSeconds(target.pid);
        log(`${kind}: ${opened} watchers reconnect within ${params.windowSeconds} s`);
        const r = await fleet.reconnect(params.windowSeconds * 1000);
        if (r.failed > 0) notes.push(`${kind}: ${r.failed} watches failed to reconnect (first: ${r.firstError ?? 'no message'})`);
        await sleep(500);
        const report = await fleet.report();
        figures[kind] = {
          watchers: { value: opened, unit: 'watches' },
          reestablished: { value: r.reconnected, unit: 'watches' },
          failed: { value: r.failed, unit: 'watches' },
          time_to_all_reestablished: { value: round(r.ms / 1000, 2), unit: 's' },
          upstream_requests_caused: { value: upstream.requestCount() - requests0, unit: 'requests' },
          proxy_cpu: { value: round(cpuSeconds(target.pid) - cpu0, 2), unit: 'CPU s' },
          expired_on_resume: { value: report.expired, unit: 'watches' },
        };
      } finally {
        await fleet.close();
        await target.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
  return { scenario: 'reconnect-storm', upstream: 'replay', upstreamWhy: 'the baseline\'s thousands of simultaneous upstream watches would measure the apiserver, not the proxies; the replay upstream counts every request', params: { ...params }, figures, notes };
}
