// The upstream the replay scenarios run against: the replay upstream (bench/replay-upstream.ts) in the
// harness's own process (the proxies and the load generators are other processes), behind the few
// operations the scenarios need.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Dataset, DatasetParams } from './dataset.ts';
import { makeIdentities, type Identities } from './harness.ts';
import { pace } from './replay/pacer.ts';
import type { ResourceType } from '../streams/resource-type.ts';
import { REPLAY_TYPES, ReplayUpstream } from './replay-upstream.ts';

/**
 * Resource types tenant-proxy watches upstream: its target for upstream watch connections (on a cluster
 * whose Tenant CRD converts through a webhook, one more per other served Tenant version; the replay
 * upstream's does not).
 */
export const WATCHED_TYPES = REPLAY_TYPES.length;

export interface BenchUpstream {
  dataset: Dataset;
  kubeconfig: string;
  emit(eventsPerSecond: number, durationMs: number): Promise<{ emitted: number; elapsedMs: number }>;
  /** Changes one object (a storage class every tenant may see: a broadcast) at `eventsPerSecond`, on emit's schedule. */
  broadcast(type: ResourceType, name: string, eventsPerSecond: number, durationMs: number): Promise<{ emitted: number; elapsedMs: number }>;
  /** Watch connections open on the upstream right now. */
  openWatches(): number;
  /** Resource requests (lists and watches) the upstream has answered so far; health probes excluded. */
  requestCount(): number;
  /** TokenReviews and access reviews asked so far. */
  reviewCount(): number;
  /** Namespace changes emitted so far, per tenant. */
  emittedByTenant(): ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

export async function startBenchUpstream(params: DatasetParams): Promise<BenchUpstream> {
  const replay = await ReplayUpstream.start({ dataset: params });
  const kubeconfig = replay.kubeconfig(mkdtempSync(path.join(tmpdir(), 'bench-replay-')));
  return {
    dataset: replay.dataset,
    kubeconfig,
    emit: (eventsPerSecond, durationMs) => replay.emit({ eventsPerSecond, durationMs, spread: 'tenants' }),
    broadcast: (type, name, eventsPerSecond, durationMs) =>
      pace({ eventsPerSecond, durationMs }, (count) => {
        for (let i = 0; i < count; i++) replay.modify(name, { type });
      }).done,
    openWatches: () => replay.stats().watches.open,
    requestCount: () => {
      const r = replay.stats().requests;
      return r.list + r.watch;
    },
    reviewCount: () => replay.stats().requests.review,
    emittedByTenant: () => replay.emittedByTenant(),
    stop: () => replay.stop(),
  };
}

/** A replay upstream with a certificate for each tenant owner, and the owners' tenants. */
export interface ReplayBench {
  upstream: BenchUpstream;
  ids: Identities;
  /** One owner per tenant, in tenant order. */
  users: string[];
  tenantsByUser: Record<string, string[]>;
}

export async function startReplayBench(params: DatasetParams): Promise<ReplayBench> {
  const upstream = await startBenchUpstream(params);
  const users = upstream.dataset.facts.map((f) => f.user);
  const tenantsByUser = Object.fromEntries(upstream.dataset.facts.map((f) => [f.user, [f.tenant]]));
  return { upstream, ids: await makeIdentities(users), users, tenantsByUser };
}
