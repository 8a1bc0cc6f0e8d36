// Scenario 4, slow consumers: fan-out at a fixed rate, twice with every watcher reading (the difference
// between those two runs is the noise), then with 1 % of the watchers no longer reading. The readers'
// p99 must not move by more than noise; the stalled ones must not grow memory; they stay resumable
// while the view's history covers them and are closed with 410 when it no longer does. Upstream: replay.
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, heapBytes, startTarget, type ProxyKind } from '../fleet.ts';
import { percentiles, round, rssBytes, scrape, type Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench } from '../upstream.ts';
import { WATCH_PATH } from './fan-out.ts';

export interface SlowParams {
  tenants: number;
  watchersPerTenant: number;
  rate: number;
  seconds: number;
  stalledFraction: number;
  loadProcesses: number;
  proxies: ProxyKind[];
}

export async function slowConsumers(params: SlowParams, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: 10, nodes: 10, storageClasses: 4 });
  const figures: Record<ProxyKind, Figures> = { multiplexer: {}, forwarding: {} };
  try {
    for (const kind of params.proxies) {
      const target = await startTarget(kind, upstream.kubeconfig, ids, tenantsByUser);
      // Interleave users so the stalled 1 % (the first watchers of each process) spread over tenants.
      const watcherUsers = Array.from({ length: params.watchersPerTenant }, () => users).flat();
      const { fleet, opened } = await Fleet.open(target, ids, watcherUsers, params.loadProcesses, WATCH_PATH);
      const f = figures[kind];
      try {
        const run = async () => {
          fleet.reset();
          await upstream.emit(params.rate, params.seconds * 1000);
          await sleep(1_000);
          return fleet.report();
        };
        // The first emission after 10,000 connections meets the proxy's post-connect garbage collection
        // and cold code paths; run it unrecorded so that `a` and `b` are two identical steady-state runs.
        await run();
        const a = percentiles((await run()).samples);
        const b = percentiles((await run()).samples);
        const rss0 = rssBytes(target.pid);
        const heap0 = await heapBytes(target);
        fleet.stall(params.stalledFraction);
        log(`${kind}: ${Math.round(opened * params.stalledFraction)} of ${opened} watchers stop reading`);
        const stalledRun = await run();
        // Watchers the proxy stopped writing to because their socket was full (multiplexer only).
        const pausedByProxy = target.metricsPort === undefined ? undefined : await scrape(target.metricsPort, 'tenant_proxy_watchers_paused');
        const c = percentiles(stalledRun.samples);
        const rss1 = rssBytes(target.pid);
        const heap1 = await heapBytes(target);
        f.watchers = { value: opened, unit: 'watches' };
        f.p99_all_reading = { value: round(a.p99), unit: 'ms' };
        f.p99_noise = { value: round(Math.abs(b.p99 - a.p99)), unit: 'ms' };
        f.p99_with_stalled = { value: round(c.p99), unit: 'ms' };
        f.p50_all_reading = { value: round(a.p50), unit: 'ms' };
        f.p50_with_stalled = { value: round(c.p50), unit: 'ms' };
        f.stalled = { value: stalledRun.stalled, unit: 'watches' };
        if (pausedByProxy !== undefined) f.stalled_paused_by_proxy = { value: pausedByProxy, unit: 'watches' };
        f.stalled_closed_by_proxy = { value: stalledRun.stalledEnded, unit: 'watches' };
        f.rss_growth_while_stalled = { value: round((rss1 - rss0) / 2 ** 20, 1), unit: 'MiB' };
        if (heap0 !== undefined && heap1 !== undefined) f.heap_growth_while_stalled = { value: round((heap1 - heap0) / 2 ** 20, 1), unit: 'MiB' };
      } finally {
        await fleet.close();
        await target.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
  return { scenario: 'slow-consumers', upstream: 'replay', upstreamWhy: 'a steady, exactly paced event rate across thousands of watches', params: { ...params }, figures };
}
