// Scenario broadcast (issue 17): one change every watcher sees — the storage class every tenant of the
// dataset may use (one class in the cluster: each tenant's `storageClasses.allowed` holds it) — through
// tenant-proxy to N watches of storage classes (one TLS connection each, as their tenant's owner), and the
// same event bytes from a bare Node TLS server to the same N watches in the same run (the raw floor,
// bench/scenarios/raw-floor.ts). Measured the same way for both (`measureBroadcast`): delivery p50/p99 of
// isolated broadcasts, then the CPU per delivery at about one core. The targets are checked where
// every report is made (bench/results.ts, targetChecks), never asserted.
import { STORAGE_CLASSES } from '../../streams/resource-type.ts';
import { startTarget } from '../fleet.ts';
import type { Figures } from '../harness.ts';
import type { ScenarioResult } from '../results.ts';
import { startReplayBench } from '../upstream.ts';
import { BROADCAST_RATE, measureBroadcast, measureRawFloor, openMeasured, type BroadcastSizes } from './raw-floor.ts';

export interface BroadcastParams extends BroadcastSizes {
  tenants: number;
  watchersPerTenant: number;
}

const CLASS_WATCH_PATH = '/apis/storage.k8s.io/v1/storageclasses?watch=true';
export const BROADCAST_COLUMNS = [
  { key: 'proxy', heading: 'tenant-proxy (HTTP/1.1, one TLS connection per watch)' },
  { key: 'floor', heading: 'raw floor: bare TLS server, same bytes, same watches, verifying the same client certificates' },
];

export async function broadcast(params: BroadcastParams, log: (m: string) => void): Promise<ScenarioResult> {
  // One storage class: every tenant's allowed list is that class, so each of its changes reaches every watch.
  const { upstream, ids, users, tenantsByUser } = await startReplayBench({ tenants: params.tenants, namespacesPerTenant: 1, nodes: 10, storageClasses: 1 });
  const [storageClass] = upstream.dataset.storageClasses;
  const className = storageClass?.metadata.name;
  if (!storageClass || !className) throw new Error('broadcast: the dataset has no storage class');
  const watcherUsers = users.flatMap((u) => Array.from({ length: params.watchersPerTenant }, () => u));
  const figures: Record<string, Figures> = {};
  const notes: string[] = [];
  try {
    const target = await startTarget('multiplexer', upstream.kubeconfig, ids, tenantsByUser);
    try {
      const { fleet, opened, figures: memory } = await openMeasured(target, ids, watcherUsers, params.loadProcesses, CLASS_WATCH_PATH, 'http', 'proxy', log, notes);
      try {
        const emitter = { emit: (rate: number, durationMs: number) => upstream.broadcast(STORAGE_CLASSES, className, rate, durationMs) };
        figures.proxy = { ...memory, ...(await measureBroadcast(emitter, fleet, target, opened, params, 'proxy', log)) };
      } finally {
        await fleet.close();
      }
    } finally {
      await target.stop();
    }
    const compareAtRate = figures.proxy?.saturation_rate?.value;
    figures.floor = await measureRawFloor('tls', true, storageClass, ids, watcherUsers, { ...params, ...(compareAtRate === undefined ? {} : { compareAtRate }) }, 'floor', log, notes);
  } finally {
    await upstream.stop();
  }
  return {
    scenario: 'broadcast',
    upstream: 'replay',
    upstreamWhy: 'as fan-out: the saturation rate (events/s × 10,000 watches) is beyond what kube-apiserver and etcd write on these cores beside the proxy and the watchers',
    params: { ...params, broadcastRate: BROADCAST_RATE, watchPath: CLASS_WATCH_PATH },
    figures,
    columns: BROADCAST_COLUMNS,
    notes,
  };
}
