// Scenario fan-out-h2 (issue 16, HTTP/2 to clients): the same watches through tenant-proxy over HTTP/2 and
// over HTTP/1.1, in one run with one tenant mix. Each tenant has one owner identity with a client
// certificate; over HTTP/2 all of an owner's watches are streams of one session (100 tenants × 100 watches
// = 10,000 watches over 100 connections), over HTTP/1.1 each watch has its own TLS connection (10,000).
// A fresh proxy per transport, so that each one's memory per watch starts from the same baseline.
// Measured as fan-out does (bench/scenarios/fan-out.ts). Upstream: the replay upstream, as fan-out.
import { startTarget } from '../fleet.ts';
import type { Figures } from '../harness.ts';
import type { WatchTransport } from '../load/watchers.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench, WATCHED_TYPES } from '../upstream.ts';
import { measureFanOut, type FanOutSizes } from './fan-out.ts';

export type FanOutH2Params = FanOutSizes;

/** The columns of the result, HTTP/2 first. */
export const FAN_OUT_H2_COLUMNS: { key: string; transport: WatchTransport; heading: string }[] = [
  { key: 'http2', transport: 'http2', heading: 'HTTP/2 (one session per identity)' },
  { key: 'http1', transport: 'http', heading: 'HTTP/1.1 (one TLS connection per watch)' },
];

export async function fanOutH2(params: FanOutH2Params, log: (m: string) => void): Promise<ScenarioResult> {
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: params.namespacesPerTenant, nodes: 10, storageClasses: 4 });
  const figures: Record<string, Figures> = {};
  const notes: string[] = [];
  try {
    for (const column of FAN_OUT_H2_COLUMNS) {
      const target = await startTarget('multiplexer', upstream.kubeconfig, ids, tenantsByUser);
      try {
        figures[column.key] = await measureFanOut(upstream, target, ids, users, { ...params, transport: column.transport }, column.key, log, notes);
      } finally {
        await target.stop();
      }
    }
  } finally {
    await upstream.stop();
  }
  return {
    scenario: 'fan-out-h2',
    upstream: 'replay',
    upstreamWhy: 'as fan-out: kube-apiserver and etcd cannot write these namespace changes on these 2 cores beside the proxy and 10,000 client watches',
    params: { ...params, resourceTypes: WATCHED_TYPES },
    figures,
    columns: FAN_OUT_H2_COLUMNS.map(({ key, heading }) => ({ key, heading })),
    notes,
  };
}
