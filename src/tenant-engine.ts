// Assembles the multiplexer: the shared informers (streams/), the tenant directory, the per-tenant
// projections and the tenant API that serves from them. One per proxy process.
import { InformerHub } from '../streams/informer-hub.ts';
import type { ResourceType } from '../streams/resource-type.ts';
import { CUSTOM_RESOURCE_DEFINITIONS, GLOBAL_PROXY_SETTINGS, NAMESPACES, PERSISTENT_VOLUME_CLAIMS, PROXY_SETTINGS, ROLE_BINDINGS, TENANTS, qualifiedResource, typeId } from '../streams/resource-type.ts';
import type { ReadinessCheck } from './readiness.ts';
import type { Logger } from './log.ts';
import type { ProxyMetrics } from './metrics.ts';
import { Printers } from './serve/printers.ts';
import { BUILT_IN_SERVED, ServedTypes } from './serve/served-types.ts';
import { TenantApi } from './serve/tenant-api.ts';
import { TenantDirectory } from './tenancy/directory.ts';
import type { Upstream } from './upstream.ts';
import { Projections } from './views/projections.ts';
import { RuleInformers } from './tenancy/rule-informers.ts';
import { CapsuleCrds } from './tenancy/capsule-crds.ts';

/** What every tenant answer depends on. */
/**
 * What every tenant answer depends on. The CRDs too: they say which version of each Capsule kind to
 * watch (a Tenant informer still at a version the cluster does not serve has seen nothing yet).
 */
export const TENANCY_TYPES: readonly ResourceType[] = [TENANTS, NAMESPACES, PROXY_SETTINGS, GLOBAL_PROXY_SETTINGS, ROLE_BINDINGS, PERSISTENT_VOLUME_CLAIMS, CUSTOM_RESOURCE_DEFINITIONS];
const VIEW_COLLECT_INTERVAL_MS = 60_000;

export interface EngineOptions {
  /** Groups whose members are forwarded unfiltered. */
  ignoredGroups: readonly string[];
  /** How long watch events stay in the views' histories (a resume from before then answers 410). */
  watchHistoryMs: number;
  /** See TenantApiDependencies. */
  clientIdleTimeoutMs: number;
}

export class TenantEngine {
  readonly hub: InformerHub;
  readonly directory = new TenantDirectory();
  readonly projections: Projections;
  readonly served = new ServedTypes();
  readonly api: TenantApi;
  readonly ruleInformers: RuleInformers;
  readonly capsuleCrds: CapsuleCrds;
  readonly #collector: NodeJS.Timeout;
  readonly #historyTrimmer: NodeJS.Timeout;

  constructor(upstream: Upstream, log: Logger, options: EngineOptions, metrics?: ProxyMetrics) {
    const { ignoredGroups, watchHistoryMs } = options;
    this.hub = new InformerHub(upstream, log);
    const hub = this.hub;
    this.projections = new Projections(
      { clock: hub.clock, changes$: hub.changes$, store: (type) => hub.reflector(type) },
      this.directory,
    );
    const printers = new Printers(() => hub.reflector(CUSTOM_RESOURCE_DEFINITIONS));
    this.api = new TenantApi({
      clock: hub.clock,
      projections: this.projections,
      directory: this.directory,
      served: this.served,
      printers,
      reflector: (type) => hub.reflector(type),
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
      isCustom: (type) => hub.reflector(CUSTOM_RESOURCE_DEFINITIONS)?.get(`${type.resource}.${type.group}`) !== undefined,
      fixed: [...TENANCY_TYPES, ...BUILT_IN_SERVED],
    });
    this.capsuleCrds = new CapsuleCrds(hub.changes$, hub, (versions, converted) => {
      this.served.setVersions(TENANTS, versions, converted);
      this.api.endWatchesServedElsewhere(TENANTS);
    }, log);
    this.projections.onAccessChange({ prepare: () => {}, commit: () => this.ruleInformers.changed() });
    this.#collector = setInterval(() => this.projections.collectIdle(), VIEW_COLLECT_INTERVAL_MS);
    this.#collector.unref();
    // History is what grows with the event rate: it is bounded in time, not only per view, so that memory
    // stays bounded whatever the number of views (each view's ring alone would reach 1,000 events).
    this.#historyTrimmer = setInterval(() => this.projections.expireHistory(Date.now() - watchHistoryMs), Math.min(5_000, Math.max(250, watchHistoryMs / 4)));
    this.#historyTrimmer.unref();
    metrics?.observeEngine(this);
  }

  /** Starts one upstream list+watch per type the proxy needs. */
  start(): void {
    const types = new Map<string, ResourceType>();
    for (const t of [...TENANCY_TYPES, ...BUILT_IN_SERVED, CUSTOM_RESOURCE_DEFINITIONS]) types.set(typeId(t), t);
    for (const t of types.values()) this.hub.ensure(t);
  }

  get synced(): boolean {
    return this.api.ready();
  }

  /** One check per informer a tenant answer depends on, with the upstream's answer when it fails. */
  readinessChecks(): ReadinessCheck[] {
    return TENANCY_TYPES.map((type) => {
      const reflector = this.hub.reflector(type);
      const state = reflector?.state ?? 'not started';
      const ok = state === 'synced' || state === 'absent';
      return { name: `informer:${qualifiedResource(type)}`, ok, reason: ok ? '' : reflector?.lastError || `not listed yet (${state})` };
    });
  }

  stop(): void {
    clearInterval(this.#collector);
    clearInterval(this.#historyTrimmer);
    this.ruleInformers.stop();
    this.capsuleCrds.stop();
    this.api.close();
    this.projections.stop();
    this.hub.stop();
  }
}
