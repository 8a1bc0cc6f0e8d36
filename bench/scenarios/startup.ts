// Scenario 5, start-up: time from starting the proxy process to /readyz 200 (all informers listed), and
// its memory then, with many namespaces, tenants and nodes upstream. Upstream: replay (seeding 1,000
// nodes and 10,000 namespaces into the local apiserver takes minutes, and lists from the replay are
// as large).
import { setTimeout as sleep } from 'node:timers/promises';
import { heapBytes, startTarget, type ProxyKind } from '../fleet.ts';
import { makeIdentities, round, rssBytes, type Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startBenchUpstream } from '../upstream.ts';

export interface StartupParams {
  tenants: number;
  namespacesPerTenant: number;
  nodes: number;
  proxies: ProxyKind[];
}

export async function startup(params: StartupParams, log: (m: string) => void): Promise<ScenarioResult> {
  const upstream = await startBenchUpstream({ tenants: params.tenants, namespacesPerTenant: params.namespacesPerTenant, nodes: params.nodes, storageClasses: 8 });
  const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
  try {
    const ids = await makeIdentities([]);
    for (const kind of params.proxies) {
      const target = await startTarget(kind, upstream.kubeconfig, ids, {});
      try {
        await sleep(500);
        const heap = await heapBytes(target);
        figures[kind].time_to_ready = { value: round(target.readyMs / 1000, 2), unit: 's' };
        figures[kind].rss_at_ready = { value: round(rssBytes(target.pid) / 2 ** 20, 0), unit: 'MiB' };
        if (heap !== undefined) figures[kind].heap_at_ready = { value: round(heap / 2 ** 20, 0), unit: 'MiB' };
        log(`${kind}: ready in ${round(target.readyMs / 1000, 2)} s`);
      } finally {
        await target.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
  return { scenario: 'startup', upstream: 'replay', upstreamWhy: 'large lists at once, without minutes of seeding', params: { ...params }, figures, notes: ['The forwarding baseline holds no state: its time to ready is only process start-up.'] };
}
