// Informers for the resources that only clusterResources rules name (e.g. `clusterroles`, a CRD's
// kind): started when a rule first names a cluster-scoped, listable resource, stopped when no rule
// names it any more. Rules are expanded against the API server's discovery (group/version/resource,
// kind, scope), fetched by the proxy and cached briefly.
import type { Logger } from '../basics/log.ts';
import { parseUpstreamJson, type Upstream } from '../basics/upstream.ts';
import type { InformerHub } from '../../streams/informer-hub.ts';
import { typeId, type ResourceType } from '../../streams/resource-type.ts';
import { ruleMatches, type ClusterResourceRule } from './capsule.ts';

const DISCOVERY_TTL_MS = 60_000;
const RECONCILE_DELAY_MS = 100;

interface DiscoveryResource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
}

export class RuleInformers {
  readonly #hub: InformerHub;
  /** Where the proxy's answers are told which rule-named types it now serves, and stops serving. */
  readonly #served: { add(type: ResourceType): void; remove(type: ResourceType): void };
  readonly #upstream: Upstream;
  readonly #log: Logger;
  readonly #rules: () => ClusterResourceRule[];
  readonly #isCustom: (type: ResourceType) => boolean;
  readonly #fixed: Set<string>;
  readonly #acquired = new Map<string, ResourceType>();
  #discovery: { at: number; types: ResourceType[] } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(options: { hub: InformerHub; served: { add(type: ResourceType): void; remove(type: ResourceType): void }; upstream: Upstream; log: Logger; rules: () => ClusterResourceRule[]; isCustom: (type: ResourceType) => boolean; fixed: readonly ResourceType[] }) {
    this.#hub = options.hub;
    this.#served = options.served;
    this.#upstream = options.upstream;
    this.#log = options.log;
    this.#rules = options.rules;
    this.#isCustom = options.isCustom;
    this.#fixed = new Set(options.fixed.map(typeId));
  }

  /** Schedules a reconciliation (rules may have changed). */
  changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#running.then(() => this.reconcile()).catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'could not reconcile rule informers'));
    }, RECONCILE_DELAY_MS);
    this.#timer.unref();
  }

  /** Starts and stops informers so that exactly the rule-named resources are watched. */
  async reconcile(): Promise<void> {
    const rules = this.#rules();
    const wanted = new Map<string, ResourceType>();
    if (rules.length > 0) {
      for (const type of await this.#discover()) {
        if (this.#fixed.has(typeId(type))) continue;
        if (rules.some((r) => ruleMatches(r, type.group, type.version, type.resource))) wanted.set(typeId(type), { ...type, custom: this.#isCustom(type) });
      }
    }
    for (const [id, type] of wanted) {
      if (this.#acquired.has(id)) continue;
      this.#hub.acquire(type);
      this.#served.add(type);
      this.#acquired.set(id, type);
      this.#log.info({ resource: id }, 'a clusterResources rule names this resource: watching it');
    }
    for (const [id, type] of this.#acquired) {
      if (wanted.has(id)) continue;
      this.#served.remove(type);
      this.#hub.release(type);
      this.#acquired.delete(id);
    }
  }

  async #discover(): Promise<ResourceType[]> {
    if (this.#discovery && Date.now() - this.#discovery.at < DISCOVERY_TTL_MS) return this.#discovery.types;
    const types: ResourceType[] = [];
    const addFrom = async (group: string, version: string, path: string) => {
      const r = await this.#upstream.json('GET', path);
      if (r.status !== 200) return;
      const list = parseUpstreamJson<{ resources?: DiscoveryResource[] }>(r, `discovery of ${path}`);
      for (const res of list.resources ?? []) {
        if (res.namespaced || res.name.includes('/') || !(res.verbs ?? []).includes('watch') || !(res.verbs ?? []).includes('list')) continue;
        types.push({ group, version, resource: res.name, kind: res.kind, namespaced: false });
      }
    };
    await addFrom('', 'v1', '/api/v1');
    const groups = await this.#upstream.json('GET', '/apis');
    if (groups.status === 200) {
      const list = parseUpstreamJson<{ groups?: { name: string; preferredVersion?: { version: string } }[] }>(groups, 'discovery of /apis');
      for (const g of list.groups ?? []) {
        const version = g.preferredVersion?.version;
        if (version) await addFrom(g.name, version, `/apis/${g.name}/${version}`);
      }
    }
    this.#discovery = { at: Date.now(), types };
    return types;
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}
