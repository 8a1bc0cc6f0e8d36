// Assembles the multiplexer: the shared informers (streams/), the tenant directory, the per-tenant
// projections and the tenant API that serves from them. One per proxy process.
import { InformerHub } from '../../streams/informer-hub.ts';
import type { Observable } from 'rxjs';
import type { ChangeLog } from '../../streams/change-log.ts';
import type { SnapshotStore, SnapshotSummary } from '../../streams/snapshot-store.ts';
import type { Change } from '../../streams/informer-hub.ts';
import { LogReplica } from '../../streams/log-replica.ts';
import type { EventClock } from '../../streams/position.ts';
import type { Reflector } from '../../streams/reflector.ts';
import type { TypeStore } from '../../streams/type-store.ts';
import { replicationMetrics } from './replication-metrics.ts';
import { REPLICA_ROLES, Replicator, type LeaseControl } from './replicator.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { CUSTOM_RESOURCE_DEFINITIONS, GLOBAL_PROXY_SETTINGS, NAMESPACES, PERSISTENT_VOLUME_CLAIMS, PROXY_SETTINGS, ROLE_BINDINGS, TENANTS, qualifiedResource, typeId } from '../../streams/resource-type.ts';
import type { ReadinessCheck } from './readiness.ts';
import type { Logger } from '../basics/log.ts';
import { withTimeout } from '../basics/with-timeout.ts';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { Printers } from '../serve/printers.ts';
import { BUILT_IN_SERVED, ServedTypes } from '../serve/served-types.ts';
import { TenantApi } from '../serve/tenant-api.ts';
import { TenantDirectory } from '../tenancy/directory.ts';
import type { Upstream } from '../basics/upstream.ts';
import { Projections } from '../views/projections.ts';
import { RuleInformers } from '../tenancy/rule-informers.ts';
import { CapsuleCrds } from '../tenancy/capsule-crds.ts';

/** What every tenant answer depends on. */
/**
 * What every tenant answer depends on. The CRDs too: they say which version of each Capsule kind to
 * watch (a Tenant informer still at a version the cluster does not serve has seen nothing yet).
 */
export const TENANCY_TYPES: readonly ResourceType[] = [TENANTS, NAMESPACES, PROXY_SETTINGS, GLOBAL_PROXY_SETTINGS, ROLE_BINDINGS, PERSISTENT_VOLUME_CLAIMS, CUSTOM_RESOURCE_DEFINITIONS];
const VIEW_COLLECT_INTERVAL_MS = 60_000;
/** History older than this keeps its objects as JSON (or older than half of --watch-history, when that is shorter). */
const HISTORY_COMPACT_AFTER_MS = 5_000;
/** How long a metrics scrape waits for Redis to say which snapshot is the newest. */
const SNAPSHOT_SCRAPE_WAIT_MS = 200;
/** Fine below 100 ms, where a watch event's latency is judged (the bench's targets are 25 and 50 ms). */
const DELIVERY_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface EngineOptions {
  /** Groups whose members are forwarded unfiltered. */
  ignoredGroups: readonly string[];
  /** How long watch events stay in the views' histories (a resume from before then answers 410). */
  watchHistoryMs: number;
  /** See TenantApiDependencies. */
  clientIdleTimeoutMs: number;
  /** Replicas through a shared change log (--redis); without it the process is its own leader. */
  replication?: { log: ChangeLog; lease: LeaseControl; snapshots: SnapshotStore; degradeAfterMs: number };
}

/** Where the views, the readiness gate and the writes read the cluster's state from. */
interface StateSource {
  clock: EventClock;
  changes$: Observable<Change>;
  store(type: ResourceType): TypeStore | undefined;
}

/** `tenants.capsule.clastix.io`; a converted version's own informer as kubectl names it: `tenants.v1beta1.capsule.clastix.io`. */
function informerLabel(type: ResourceType): string {
  return type.converted ? `${type.resource}.${type.version}.${type.group}` : qualifiedResource(type);
}

export class TenantEngine {
  readonly hub: InformerHub;
  readonly directory = new TenantDirectory();
  readonly projections: Projections;
  readonly served = new ServedTypes();
  readonly api: TenantApi;
  readonly ruleInformers: RuleInformers;
  readonly capsuleCrds: CapsuleCrds;
  /** Set when replicated: the log read back (what this replica serves) and its part in leading. */
  readonly replica: LogReplica | undefined;
  readonly replicator: Replicator | undefined;
  readonly #source: StateSource;
  readonly #collector: NodeJS.Timeout;
  readonly #historyTrimmer: NodeJS.Timeout;
  #deliveryLag: Subscription | undefined;

  constructor(upstream: Upstream, log: Logger, options: EngineOptions, registry?: Registry) {
    const { ignoredGroups, watchHistoryMs } = options;
    const { replication } = options;
    // A replica that does not lead registers its informers but runs none of them.
    this.hub = new InformerHub(upstream, log, { running: replication === undefined });
    const hub = this.hub;
    if (replication) {
      const observer = registry ? replicationMetrics(registry) : undefined;
      const replica = new LogReplica(replication.log, log, replication.snapshots, observer);
      this.replica = replica;
      this.replicator = new Replicator(hub, replica, replication.log, replication.lease, log, { snapshots: replication.snapshots, watchHistoryMs, degradeAfterMs: replication.degradeAfterMs, observer });
      this.#source = { clock: replica.clock, changes$: replica.changes$, store: (type) => replica.store(type) };
    } else {
      this.#source = { clock: hub.clock, changes$: hub.changes$, store: (type) => hub.reflector(type) };
    }
    const source = this.#source;
    this.projections = new Projections(source, this.directory);
    const printers = new Printers(() => source.store(CUSTOM_RESOURCE_DEFINITIONS));
    const replica = this.replica;
    this.api = new TenantApi({
      clock: source.clock,
      servable: replica ? (position) => replica.servable(position) : () => true,
      projections: this.projections,
      directory: this.directory,
      served: this.served,
      printers,
      store: (type) => source.store(type),
      tenancyTypes: TENANCY_TYPES,
      ignoredGroups,
      clientIdleTimeoutMs: options.clientIdleTimeoutMs,
      upstream,
      log,
    });
    this.ruleInformers = new RuleInformers({
      hub,
      served: this.served,
      upstream,
      log,
      rules: () => this.directory.allRules(),
      isCustom: (type) => source.store(CUSTOM_RESOURCE_DEFINITIONS)?.get(`${type.resource}.${type.group}`) !== undefined,
      fixed: [...TENANCY_TYPES, ...BUILT_IN_SERVED],
    });
    this.capsuleCrds = new CapsuleCrds(source.changes$, hub, (versions, converted) => {
      this.served.setVersions(TENANTS, versions, converted);
      this.api.endWatchesServedElsewhere(TENANTS);
    }, log);
    this.projections.onAccessChange(() => this.ruleInformers.changed());
    this.#collector = setInterval(() => this.projections.collectIdle(), VIEW_COLLECT_INTERVAL_MS);
    this.#collector.unref();
    // History is what grows with the event rate: it is bounded in time, not only per view, so that memory
    // stays bounded whatever the number of views (each view's ring alone would reach 1,000 events).
    // Past its first seconds (when resumes and catch-ups are rare), history keeps its objects as JSON:
    // superseded versions are then one string each instead of parsed trees (views/compacted.ts).
    const compactAfterMs = Math.min(HISTORY_COMPACT_AFTER_MS, watchHistoryMs / 2);
    this.#historyTrimmer = setInterval(() => {
      const now = Date.now();
      this.projections.expireHistory(now - watchHistoryMs);
      this.projections.compactHistory(now - compactAfterMs);
    }, Math.min(5_000, Math.max(250, watchHistoryMs / 4)));
    this.#historyTrimmer.unref();
    if (registry) {
      this.#registerMetrics(registry);
      if (replication) this.#registerSnapshotMetrics(registry, replication.snapshots);
      this.#deliveryLag = this.#measureDeliveryLag(registry);
    }
  }

  /**
   * The proxy's share of a watch event's latency. Subscribed after the projections, so it runs once they
   * have applied a change and handed its events to every watcher's connection (written, or queued for the
   * write at the end of this turn): the kernel, the network and the client are not in it.
   */
  #measureDeliveryLag(registry: Registry): Subscription {
    const lag = new Histogram({
      name: 'tenant_proxy_watch_delivery_lag_seconds',
      help: 'Time from a change reaching the deployment (the informer of this process, or of the leader) to its watch events being handed to every watcher\'s connection here; on a follower it spans two hosts\' clocks (approximate)',
      buckets: DELIVERY_LAG_BUCKETS,
      registers: [registry],
    });
    return this.#source.changes$.subscribe((change) => {
      if (change.receivedAt !== undefined && !change.restored) lag.observe(Math.max(0, Date.now() - change.receivedAt) / 1000);
    });
  }

  /** Gauges read from the multiplexer at scrape time. */
  #registerMetrics(registry: Registry): void {
    const registers = [registry];
    const { api, projections, hub } = this;
    new Gauge({ name: 'tenant_proxy_watchers', help: 'Client watches served from tenant views', registers, collect() { this.set(api.watchHub.size); } });
    new Gauge({ name: 'tenant_proxy_watchers_paused', help: 'Client watches whose socket is full: the client stopped reading; they resume from history when it reads again', registers, collect() { this.set(api.watchHub.pausedCount); } });
    new Gauge({ name: 'tenant_proxy_watch_history_events', help: 'Watch events held in the tenant views\' histories for resuming clients (see --watch-history)', registers, collect() { this.set(projections.historyLength); } });
    new Gauge({ name: 'tenant_proxy_list_cache_entries', help: 'Serialized list bodies cached by the tenant views (at most 8 per view; Tables expire after a second)', registers, collect() { this.set(projections.listCacheEntries); } });
    new Gauge({ name: 'tenant_proxy_views', help: 'Tenant views (one per distinct scope and resource type)', registers, collect() { this.set(projections.viewCount); } });
    const perInformer = (name: string, help: string, read: (r: Reflector) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['resource'] as const,
        registers,
        collect() {
          this.reset();
          for (const r of hub.reflectors()) this.set({ resource: informerLabel(r.type) }, read(r));
        },
      });
    new Gauge({
      name: 'tenant_proxy_upstream_watches',
      help: 'Upstream watches the informers keep: one per listed resource type, plus one per Tenant version a conversion webhook converts',
      registers,
      collect() {
        this.set(hub.reflectors().filter((r) => r.state === 'synced').length);
      },
    });
    const replicator = this.replicator;
    if (replicator) {
      new Gauge({
        name: 'tenant_proxy_replica_role',
        help: '1 for the role this replica has now (leader: runs the upstream informers and records the change log; follower: serves from the log; degraded: cannot read the log, runs its own upstream informers)',
        labelNames: ['role'] as const,
        registers,
        collect() {
          for (const role of REPLICA_ROLES) this.set({ role }, replicator.role === role ? 1 : 0);
        },
      });
    }
    perInformer('tenant_proxy_informer_synced', '1 once the upstream list of the resource is complete', (r) => (r.state === 'synced' ? 1 : 0));
    perInformer('tenant_proxy_informer_lag_seconds', 'Seconds since the upstream watch of the resource last said anything', (r) => r.lagMs / 1000);
    perInformer('tenant_proxy_informer_objects', 'Objects held for the resource', (r) => r.size);
    perInformer('tenant_proxy_informer_relists_total', 'Upstream lists of the resource (start and after 410)', (r) => r.stats.relists);
    perInformer('tenant_proxy_informer_watches_total', 'Upstream watch requests of the resource', (r) => r.stats.watches);
    perInformer('tenant_proxy_informer_failures_total', 'Failed upstream list/watch attempts of the resource', (r) => r.stats.failures);
  }

  /** Snapshot and log-length gauges: the newest snapshot's as Redis holds it (every replica says the same), the rest this replica's. */
  #registerSnapshotMetrics(registry: Registry, snapshots: SnapshotStore): void {
    const registers = [registry];
    const { replica, replicator } = this;
    if (!replica || !replicator) return;
    // A scrape never waits on Redis for long (a frozen Redis would hang /metrics): the last answer stands.
    let last: SnapshotSummary | undefined;
    const newest = async (): Promise<SnapshotSummary | undefined> => {
      const kept = await withTimeout(snapshots.kept().catch(() => undefined), SNAPSHOT_SCRAPE_WAIT_MS);
      if (kept?.ok) last = kept.snapshots[0];
      return last;
    };
    new Gauge({
      name: 'tenant_proxy_snapshot_age_seconds',
      help: 'Seconds since the newest snapshot (what a starting replica loads) was written; absent when none is kept or Redis does not answer',
      registers,
      async collect() {
        this.reset();
        const summary = await newest();
        if (summary) this.set((Date.now() - summary.takenAt) / 1000);
      },
    });
    new Gauge({
      name: 'tenant_proxy_snapshot_bytes',
      help: 'Size of the newest snapshot in Redis (its pages, in bytes)',
      registers,
      async collect() {
        this.reset();
        const summary = await newest();
        if (summary) this.set(summary.bytes);
      },
    });
    const writer = replicator.snapshotWriter;
    const trimmer = replicator.logTrimmer;
    new Gauge({ name: 'tenant_proxy_snapshot_write_seconds', help: 'How long the last snapshot this replica wrote (as leader) took: taking it from the replica plus writing it to Redis', registers, collect() { this.reset(); if (writer?.last) this.set((writer.last.takeMs + writer.last.writeMs) / 1000); } });
    new Gauge({ name: 'tenant_proxy_snapshot_writes_total', help: 'Snapshots this replica wrote as leader', registers, collect() { this.set(writer?.stats.written ?? 0); } });
    new Gauge({ name: 'tenant_proxy_snapshot_write_failures_total', help: 'Snapshot writes that failed (Redis, lease lost, pages expired)', registers, collect() { this.set(writer?.stats.failed ?? 0); } });
    new Gauge({ name: 'tenant_proxy_snapshot_loads_total', help: 'Snapshots this replica loaded: at start, and again when the log was trimmed past its position', registers, collect() { this.set(replica.stats.loads); } });
    new Gauge({ name: 'tenant_proxy_change_log_gaps_total', help: 'Times the change log was trimmed past this replica\'s position before it read it (it then loads the newest snapshot)', registers, collect() { this.set(replica.stats.gaps); } });
    new Gauge({ name: 'tenant_proxy_change_log_trims_total', help: 'Trims of the change log by this replica (as leader) that dropped entries', registers, collect() { this.set(trimmer?.stats.trims ?? 0); } });
    new Gauge({
      name: 'tenant_proxy_change_log_entries_since_snapshot',
      help: 'Log entries after the newest snapshot, as the leader counts them: what a replica starting now replays after loading it (absent on followers)',
      registers,
      collect() {
        this.reset();
        if (replicator.role === 'leader' && writer?.last) this.set(replica.stats.applied - writer.appliedAtLastSnapshot);
      },
    });
  }

  /** Starts one upstream list+watch per type the proxy needs. */
  start(): void {
    const types = new Map<string, ResourceType>();
    for (const t of [...TENANCY_TYPES, ...BUILT_IN_SERVED, CUSTOM_RESOURCE_DEFINITIONS]) types.set(typeId(t), t);
    for (const t of types.values()) this.hub.ensure(t);
    this.replicator?.start();
  }

  get synced(): boolean {
    return this.api.gate.ready();
  }

  /** One check per informer a tenant answer depends on, with the upstream's answer when it fails. */
  readinessChecks(): ReadinessCheck[] {
    const checks: ReadinessCheck[] = TENANCY_TYPES.map((type) => {
      const state = this.#source.store(type)?.state ?? 'not started';
      const ok = state === 'synced' || state === 'absent';
      const reason = this.hub.reflector(type)?.lastError || (this.replica ? `not in the change log yet (${state})` : `not listed yet (${state})`);
      return { name: `informer:${qualifiedResource(type)}`, ok, reason: ok ? '' : reason };
    });
    const replicator = this.replicator;
    if (replicator) {
      const since = replicator.degradedSince;
      const note = since === undefined ? replicator.role : `degraded since ${new Date(since).toISOString()}: Redis does not answer, serving from this replica's own upstream informers`;
      checks.push({ name: 'replication', ok: true, reason: '', note });
    }
    return checks;
  }

  async stop(): Promise<void> {
    clearInterval(this.#collector);
    clearInterval(this.#historyTrimmer);
    this.ruleInformers.stop();
    this.capsuleCrds.stop();
    this.api.close();
    this.projections.stop();
    this.#deliveryLag?.unsubscribe();
    await this.replicator?.stop();
    this.hub.stop();
  }
}
