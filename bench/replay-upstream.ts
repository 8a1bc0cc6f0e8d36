// A fast stand-in for kube-apiserver + etcd in benchmarks: serves a generated cluster (bench/dataset.ts)
// over HTTPS on 127.0.0.1 with the apiserver's list/watch protocol, and changes namespaces at a controlled
// rate — rates and object counts the real control plane cannot produce on a 2-core machine.
//
// Owns: the objects of every type the proxy watches at start (src/server/tenant-engine.ts), one global strictly
// increasing resourceVersion (as etcd revisions), a bounded history per type, LIST (limit/continue over
// pinned snapshots, label and field selectors, list resourceVersion), WATCH (resume from a
// resourceVersion, ERROR 410 Expired when too old, bookmarks, timeoutSeconds), minimal discovery,
// /version, /readyz, /healthz, TokenReviews (`userToken(user)` authenticates as `user`; any other token
// is rejected) and SubjectAccessReviews (always allowed). Any bearer token may list and watch.
// Does not own: writes over HTTP (create/modify/delete are methods), protobuf, Tables, admission.
//
// Watch delivery and backpressure: replay/watch-fanout.ts (a slow client is never queued for; it
// replays from history when its socket drains, or gets 410). Each change is encoded once (the product's
// encoder, src/views/encoder.ts); each type's history is the product's ring (MemoryEventLog,
// src/views/event-log.ts), positions being the replay's revisions with seq 0.
//
// Run as a process (the benchmark harness does):
//   node --import tsx bench/replay-upstream.ts --tenants 1000 --namespaces-per-tenant 10 --nodes 1000 \
//        [--storage-classes 4] [--seed 1] [--history 100000] [--bookmark-interval-ms 5000] [--dir DIR]
// When ready it prints one line `{"url":…,"kubeconfig":…,"caFile":…}`. Then each stdin line is a JSON
// command, answered by one stdout line (with the command's "id" echoed when given; `emit` answers when
// the emission ends, the others at once, so answers may come out of order — use ids):
//   {"cmd":"emit","eventsPerSecond":2000,"durationMs":10000,"spread":"tenants"|"random","tenants":["t1"],"minBatchIntervalMs":0}
//      → {"ok":true,"emitted":N,"elapsedMs":X}
//   {"cmd":"modify","name":"t0-ns0"}  → {"ok":true,"resourceVersion":"…"}
//   {"cmd":"stats"}                   → {"ok":true,"stats":{…ReplayStats}}
//   {"cmd":"stop"}                    → {"ok":true}, then the process exits (so does stdin's end or SIGTERM)
//   errors                            → {"ok":false,"error":"…"}
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { objectKey, type KubeObject, type ObjectMeta } from '../streams/kube-object.ts';
import { CUSTOM_RESOURCE_DEFINITIONS, groupVersion, NAMESPACES, qualifiedResource, STORAGE_CLASSES, NODES, TENANTS, typeId, type ResourceType } from '../streams/resource-type.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type KeyPairPem } from '../src/server/pki.ts';
import { parseRequestInfo, type RequestInfo } from '../src/front/request-info.ts';
import { parseListOptions, parseResourceVersion } from '../src/query/list-options.ts';
import type { FieldSelector } from '../src/query/field-selector.ts';
import { jsonList } from '../src/serve/encoding.ts';
import { objectJson } from '../src/views/encoder.ts';
import { MemoryEventLog } from '../src/views/event-log.ts';
import { BUILT_IN_SERVED } from '../src/serve/served-types.ts';
import { failure, notFound, sendStatus, StatusError } from '../src/basics/status.ts';
import { TENANCY_TYPES } from '../src/server/tenant-engine.ts';
import { makeDataset, seededRandom, TENANT_LABEL, type Dataset, type DatasetParams } from './dataset.ts';
import { Collection, type Snapshot } from './replay/collection.ts';
import { discoveryDocuments } from './replay/discovery.ts';
import { pace, type Pacer } from './replay/pacer.ts';
import { answerReview, PROXY_TOKEN } from './replay/reviews.ts';
import { decodeContinue, encodeContinue, Snapshots } from './replay/snapshots.ts';
import { changeFrame, WatchFanout, type ChangeType, type ReplayEvent } from './replay/watch-fanout.ts';
import { serveCommands } from './replay/commands.ts';

export { userToken } from './replay/reviews.ts';

export const EMITTED_AT_ANNOTATION = 'bench.tenant-proxy/emitted-at';
/** Every type the proxy lists and watches at start; those the dataset lacks are empty collections. */
export const REPLAY_TYPES: readonly ResourceType[] = [...new Map([...TENANCY_TYPES, ...BUILT_IN_SERVED, CUSTOM_RESOURCE_DEFINITIONS].map((t) => [typeId(t), t])).values()];
/**
 * Changes kept per type for watch resumption. 100,000 namespace changes hold ≈ 120 MB (measured: 42 MB of
 * objects, 78 MB of encoded frames) and cover 50 s at 2,000 events/s (the apiserver's cacher keeps up to
 * 102,400 events, sized for ≥ 75 s).
 */
const DEFAULT_HISTORY_EVENTS = 100_000;
const DEFAULT_BOOKMARK_INTERVAL_MS = 5_000;
/** The apiserver picks 1800 s × [1, 2) when a watch gives no timeoutSeconds. */
const DEFAULT_WATCH_TIMEOUT_MS = 1_800_000;
/** ObjectMeta's field order in Go, so re-serialized objects match the apiserver's bytes. */
const META_ORDER = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'clusterName', 'managedFields'];

/** `performance.timeOrigin + performance.now()` as the annotation carries it: comparable across processes. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

export interface ReplayOptions {
  /** The cluster to serve (or the parameters to generate it); default a tiny one. */
  dataset?: Dataset | DatasetParams;
  historyEvents?: number;
  bookmarkIntervalMs?: number;
  /** The label watchers and lists are indexed by. */
  indexLabel?: string;
}

export interface EmitOptions {
  eventsPerSecond: number;
  durationMs: number;
  /** `tenants`: round-robin over tenants, each tenant's namespaces in turn; `random`: seeded random. */
  spread?: 'tenants' | 'random';
  /** Only these tenants' namespaces (default all). */
  tenants?: readonly string[];
  minBatchIntervalMs?: number;
  seed?: number;
}

export interface EmitResult {
  emitted: number;
  elapsedMs: number;
}

export interface ReplayStats {
  resourceVersion: string;
  /** `review`: TokenReviews and access reviews. */
  requests: { list: number; watch: number; review: number; other: number };
  requestsByResource: Record<string, { list: number; watch: number; get: number }>;
  watches: { open: number; byResource: Record<string, number>; blocked: number; opened: number; expired: number };
  connections: { open: number; accepted: number };
  events: { changes: number; emitted: number; writes: number; bytes: number; bookmarks: number };
  process: { cpuUserMs: number; cpuSystemMs: number; rssBytes: number; heapUsedBytes: number };
}

export class ReplayUpstream {
  readonly ca: CertificateAuthority;
  readonly dataset: Dataset;
  readonly #server: https.Server;
  readonly #types = new Map<string, ResourceType>();
  readonly #collections = new Map<string, Collection>();
  readonly #history = new Map<string, MemoryEventLog<ReplayEvent>>();
  readonly #snapshots = new Snapshots();
  readonly #fanout: WatchFanout;
  readonly #sockets = new Set<Socket>();
  #discovery = new Map<string, Buffer>();
  #port = 0;
  readonly #requests = { list: 0, watch: 0, review: 0, other: 0 };
  readonly #byResource = new Map<string, { list: number; watch: number; get: number }>();
  #revision = 0;
  #changes = 0;
  #emitted = 0;
  readonly #emittedByTenant = new Map<string, number>();
  #accepted = 0;
  #pacer: Pacer | undefined;

  private constructor(ca: CertificateAuthority, serving: KeyPairPem, dataset: Dataset, options: ReplayOptions) {
    this.ca = ca;
    this.dataset = dataset;
    const indexLabel = options.indexLabel ?? TENANT_LABEL;
    const historyEvents = options.historyEvents ?? DEFAULT_HISTORY_EVENTS;
    if (!Number.isInteger(historyEvents) || historyEvents < 1) throw new Error(`history capacity must be a positive integer, got ${historyEvents}`);
    for (const type of REPLAY_TYPES) {
      this.#types.set(`${type.group}/${type.version}/${type.resource}`, type);
      this.#collections.set(typeId(type), new Collection(type, indexLabel));
    }
    // Load in creation order; every object gets its own revision, like objects created one by one.
    const initial: [ResourceType, readonly KubeObject[]][] = [[STORAGE_CLASSES, dataset.storageClasses], [NODES, dataset.nodes], [TENANTS, dataset.tenants], [NAMESPACES, dataset.namespaces]];
    for (const [type, objects] of initial) {
      const collection = this.#collection(type);
      for (const object of objects) collection.put(stamped(object, ++this.#revision, type));
    }
    for (const type of REPLAY_TYPES) this.#history.set(typeId(type), new MemoryEventLog<ReplayEvent>(historyEvents, { rv: this.#revision, seq: 0 }));
    this.#fanout = new WatchFanout(
      { revision: () => this.#revision, objects: (t) => this.#collection(t).values(), history: (t) => this.#ring(t) },
      indexLabel,
      options.bookmarkIntervalMs ?? DEFAULT_BOOKMARK_INTERVAL_MS,
    );
    this.#server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
    this.#server.keepAliveTimeout = 60_000;
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      this.#accepted++;
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: ReplayOptions = {}): Promise<ReplayUpstream> {
    const ca = await createCertificateAuthority('replay-upstream-ca');
    const serving = await issueCertificate(ca, { commonName: 'replay-upstream', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
    const input = options.dataset ?? { tenants: 2, namespacesPerTenant: 2, nodes: 2, storageClasses: 2 };
    const dataset = 'facts' in input ? input : makeDataset(input);
    const replay = new ReplayUpstream(ca, serving, dataset, options);
    await new Promise<void>((resolve, reject) => {
      replay.#server.once('error', reject);
      replay.#server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve());
    });
    replay.#port = (replay.#server.address() as AddressInfo).port;
    replay.#discovery = discoveryDocuments(REPLAY_TYPES, `127.0.0.1:${replay.#port}`);
    return replay;
  }

  /** `https://127.0.0.1:<port>` */
  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** The latest revision, as a list would report it. */
  get resourceVersion(): string {
    return String(this.#revision);
  }

  /** Writes `replay-upstream.kubeconfig` (server, CA, a static token) and `replay-ca.crt` into `dir`. */
  kubeconfig(dir: string): string {
    const file = path.join(dir, 'replay-upstream.kubeconfig');
    writeFileSync(path.join(dir, 'replay-ca.crt'), this.ca.certPem);
    writeFileSync(file, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'replay', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.ca.certPem).toString('base64') } }],
      users: [{ name: 'proxy', user: { token: PROXY_TOKEN } }],
      contexts: [{ name: 'replay', context: { cluster: 'replay', user: 'proxy' } }],
      'current-context': 'replay',
    }));
    return file;
  }

  /** A client certificate (CN = user, O = groups) from the replay's CA — the proxy's default client CA. */
  clientCertificate(user: string, groups: readonly string[] = []): Promise<KeyPairPem> {
    return issueCertificate(this.ca, { commonName: user, organizations: groups, usage: 'client' });
  }

  get(name: string, type: ResourceType = NAMESPACES): KubeObject | undefined {
    return this.#collection(type).get(name);
  }

  /** A MODIFIED of `name` with a new revision and a fresh emitted-at annotation (plus label changes). */
  modify(name: string, options: { type?: ResourceType; labels?: Record<string, string | null> } = {}): KubeObject {
    const type = options.type ?? NAMESPACES;
    const previous = this.#collection(type).get(name);
    if (!previous) throw new Error(`modify: ${qualifiedResource(type)} "${name}" not found`);
    let labels = previous.metadata.labels;
    if (options.labels) {
      const next: Record<string, string> = { ...labels };
      for (const [k, v] of Object.entries(options.labels)) if (v === null) delete next[k]; else next[k] = v;
      labels = next;
    }
    const object = stamped({ ...previous, metadata: { ...previous.metadata, labels } }, ++this.#revision, type, true);
    this.#commit(type, 'MODIFIED', object, previous);
    return object;
  }

  /** An ADDED; the type comes from the object's apiVersion and kind. */
  create(input: KubeObject): KubeObject {
    const type = REPLAY_TYPES.find((t) => t.kind === input.kind && groupVersion(t) === input.apiVersion);
    if (!type) throw new Error(`create: the replay does not serve ${input.apiVersion} ${input.kind}`);
    if (this.#collection(type).get(objectKey(input))) throw new Error(`create: ${qualifiedResource(type)} "${objectKey(input)}" already exists`);
    const metadata = { uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ...input.metadata };
    const object = stamped({ ...input, metadata }, ++this.#revision, type, true);
    this.#commit(type, 'ADDED', object, undefined);
    return object;
  }

  /** A DELETED carrying the last state at the deletion's revision (and its emitted-at annotation). */
  delete(name: string, type: ResourceType = NAMESPACES): KubeObject | undefined {
    const previous = this.#collection(type).get(name);
    if (!previous) return undefined;
    const object = stamped(previous, ++this.#revision, type, true);
    this.#commit(type, 'DELETED', object, previous);
    return object;
  }

  /**
   * Changes tenant namespaces at `eventsPerSecond` for `durationMs` on a fixed schedule (see
   * replay/pacer.ts); the events of one wake-up go out as one batch. One emission at a time.
   */
  emit(options: EmitOptions): Promise<EmitResult> {
    if (this.#pacer) return Promise.reject(new Error('emit: an emission is already running'));
    let emitted = 0;
    const namespaces = this.#collection(NAMESPACES);
    let pacer: Pacer;
    try {
      const next = this.#targets(options);
      pacer = pace(options, (count) =>
        this.#fanout.batch(() => {
          for (let i = 0; i < count; i++) {
            const name = next();
            const namespace = namespaces.get(name);
            if (!namespace) continue; // deleted since the emission started
            this.modify(name);
            emitted++;
            const tenant = namespace.metadata.labels?.[TENANT_LABEL] ?? '';
            this.#emittedByTenant.set(tenant, (this.#emittedByTenant.get(tenant) ?? 0) + 1);
          }
        }),
      );
    } catch (err) {
      return Promise.reject(err);
    }
    this.#pacer = pacer;
    return pacer.done.then(
      (r) => {
        this.#pacer = undefined;
        this.#emitted += emitted;
        return { emitted, elapsedMs: r.elapsedMs };
      },
      (err: unknown) => {
        this.#pacer = undefined;
        throw err;
      },
    );
  }

  /** Namespace changes emitted so far, per tenant. */
  emittedByTenant(): ReadonlyMap<string, number> {
    return new Map(this.#emittedByTenant);
  }

  stats(): ReplayStats {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const f = this.#fanout.stats;
    return {
      resourceVersion: String(this.#revision),
      requests: { ...this.#requests },
      requestsByResource: Object.fromEntries([...this.#byResource].map(([k, v]) => [k, { ...v }])),
      watches: { open: this.#fanout.size, byResource: this.#fanout.openByResource(), blocked: this.#fanout.blocked, opened: f.opened, expired: f.expired },
      connections: { open: this.#sockets.size, accepted: this.#accepted },
      events: { changes: this.#changes, emitted: this.#emitted, writes: f.writes, bytes: f.bytes, bookmarks: f.bookmarks },
      process: { cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    };
  }

  async stop(): Promise<void> {
    this.#pacer?.stop();
    this.#fanout.closeAll();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  // ── state ──

  #collection(type: ResourceType): Collection {
    const c = this.#collections.get(typeId(type));
    if (!c) throw new Error(`the replay does not serve ${qualifiedResource(type)}`);
    return c;
  }

  #ring(type: ResourceType): MemoryEventLog<ReplayEvent> {
    const r = this.#history.get(typeId(type));
    if (!r) throw new Error(`the replay does not serve ${qualifiedResource(type)}`);
    return r;
  }

  #commit(type: ResourceType, change: ChangeType, object: KubeObject, previous: KubeObject | undefined): void {
    const collection = this.#collection(type);
    if (change === 'DELETED') collection.remove(objectKey(object));
    else collection.put(object);
    const event: ReplayEvent = { position: { rv: this.#revision, seq: 0 }, type: change, object, previous, frame: changeFrame(change, object) };
    this.#ring(type).append(event);
    this.#changes++;
    this.#fanout.publish(event, type);
  }

  /** The namespace each successive emitted event changes. */
  #targets(options: EmitOptions): () => string {
    const only = options.tenants ? new Set(options.tenants) : undefined;
    const byTenant = new Map<string, string[]>();
    for (const ns of this.#collection(NAMESPACES).values()) {
      const tenant = ns.metadata.labels?.[TENANT_LABEL];
      if (tenant === undefined || (only && !only.has(tenant))) continue;
      let names = byTenant.get(tenant);
      if (!names) byTenant.set(tenant, (names = []));
      names.push(ns.metadata.name ?? '');
    }
    const groups = [...byTenant.values()];
    if (groups.length === 0) throw new Error('emit: no tenant namespaces to change');
    if (options.spread === 'random') {
      const random = seededRandom(options.seed ?? 1);
      return () => {
        const names = groups[Math.floor(random() * groups.length)] ?? [];
        return names[Math.floor(random() * names.length)] ?? '';
      };
    }
    let k = 0;
    return () => {
      const names = groups[k % groups.length] ?? [];
      const name = names[Math.floor(k / groups.length) % names.length] ?? '';
      k++;
      return name;
    };
  }

  // ── HTTP ──

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#route(req, res);
    } catch (err) {
      if (err instanceof StatusError) sendStatus(res, err.status);
      else sendStatus(res, failure(500, 'InternalError', `replay upstream: ${(err as Error).message}`));
    }
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q >= 0 ? url.slice(0, q) : url;
    if (method === 'GET' && (pathname === '/readyz' || pathname === '/healthz' || pathname === '/livez')) {
      this.#requests.other++;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 2 }).end('ok');
      return;
    }
    const doc = method === 'GET' ? this.#discovery.get(pathname.replace(/\/$/, '')) : undefined;
    if (doc) {
      this.#requests.other++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': doc.length }).end(doc);
      return;
    }
    const info = parseRequestInfo(method, url);
    const type = info.isResourceRequest ? this.#types.get(`${info.apiGroup}/${info.apiVersion}/${info.resource}`) : undefined;
    if (type && !info.subresource && (info.verb === 'list' || info.verb === 'watch' || info.verb === 'get')) {
      const counts = this.#countsOf(type);
      if (info.verb === 'list') {
        this.#requests.list++;
        counts.list++;
        this.#list(type, info, res);
      } else if (info.verb === 'watch') {
        this.#requests.watch++;
        counts.watch++;
        this.#watch(type, info, req, res);
      } else {
        this.#requests.other++;
        counts.get++;
        this.#get(type, info, res);
      }
      return;
    }
    if (method === 'POST' && info.isResourceRequest && (info.apiGroup === 'authentication.k8s.io' || info.apiGroup === 'authorization.k8s.io')) {
      this.#requests.review++;
      answerReview(info.resource, req, res);
      return;
    }
    this.#requests.other++;
    if (type) throw new StatusError(405, 'MethodNotAllowed', `the replay upstream serves only get, list and watch of ${qualifiedResource(type)}`);
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  #countsOf(type: ResourceType): { list: number; watch: number; get: number } {
    const key = qualifiedResource(type);
    let counts = this.#byResource.get(key);
    if (!counts) this.#byResource.set(key, (counts = { list: 0, watch: 0, get: 0 }));
    return counts;
  }

  #list(type: ResourceType, info: RequestInfo, res: ServerResponse): void {
    const options = parseListOptions(info.query, type.group, type.resource, { namespaced: type.namespaced });
    const collection = this.#collection(type);
    const labels = options.labelSelector;
    const fields = inNamespace(options.fieldSelector, type.namespaced ? info.namespace : '');
    // As the watch cache: resourceVersion=0 answers the whole list, whatever the limit.
    const limit = options.resourceVersion === '0' && !options.continue ? 0 : Math.max(0, options.limit);
    let source: Snapshot;
    let after = '';
    if (options.continue) {
      const token = decodeContinue(options.continue);
      source = this.#snapshots.resume(typeId(type), token);
      after = token.after;
    } else {
      // The live arrays (or the index's picks), read synchronously: the state at the current revision.
      const candidates = fields.empty ? collection.candidates(labels) : undefined;
      const items = candidates?.map((k) => collection.get(k)).filter((o): o is KubeObject => o !== undefined);
      source = { revision: this.#revision, keys: candidates ?? collection.keys(), items: items ?? collection.values() };
    }
    const page = collection.page(source.keys, source.items, after, limit, labels, fields);
    let cont: string | undefined;
    if (page.nextStartAfter !== undefined) {
      this.#snapshots.pin(typeId(type), source.revision, () => collection.snapshot(source.revision));
      cont = encodeContinue({ rv: source.revision, after: page.nextStartAfter });
    }
    const body = jsonList(type, groupVersion(type), page.items, { resourceVersion: String(source.revision), continue: cont, remainingItemCount: page.remaining });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-cache, private' }).end(body);
  }

  #watch(type: ResourceType, info: RequestInfo, req: IncomingMessage, res: ServerResponse): void {
    const options = parseListOptions(info.query, type.group, type.resource, { namespaced: type.namespaced });
    const rv = options.resourceVersion;
    const after = rv === '' || rv === '0' ? undefined : Number(parseResourceVersion(rv));
    const labels = options.labelSelector;
    const fields = inNamespace(options.fieldSelector, type.namespaced ? info.namespace : '');
    const match = labels.empty && fields.empty ? undefined : (o: KubeObject) => labels.matches(o.metadata.labels) && fields.matches(o as Record<string, unknown>);
    const timeoutMs = options.timeoutSeconds !== undefined && options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : DEFAULT_WATCH_TIMEOUT_MS * (1 + Math.random());
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    this.#fanout.open({ type, labels, match, bookmarks: options.allowWatchBookmarks, timeoutMs, after }, req, res);
  }

  #get(type: ResourceType, info: RequestInfo, res: ServerResponse): void {
    const key = type.namespaced ? `${info.namespace}/${info.name}` : info.name;
    const object = this.#collection(type).get(key);
    if (!object) throw notFound(type.resource, type.group, info.name);
    const body = Buffer.from(`${objectJson(object)}\n`);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  }
}

/** The object with metadata in the apiserver's field order, the given revision and, when asked, a fresh emitted-at stamp. */
function stamped(object: KubeObject, revision: number, type: ResourceType, emittedAt = false): KubeObject {
  const previous = object.metadata;
  const meta: ObjectMeta = { ...previous, resourceVersion: String(revision) };
  if (emittedAt) meta.annotations = { ...previous.annotations, [EMITTED_AT_ANNOTATION]: wallClockMs().toFixed(3) };
  // A spread keeps the keys' order: re-order only when a key was added (or on first load).
  if (emittedAt && previous.resourceVersion !== undefined && previous.annotations !== undefined) return { ...object, metadata: meta };
  const metadata: ObjectMeta = {};
  if (type.custom) {
    for (const k of Object.keys(meta).sort()) metadata[k] = meta[k];
  } else {
    for (const k of META_ORDER) if (meta[k] !== undefined) metadata[k] = meta[k];
    for (const k of Object.keys(meta)) if (!(k in metadata) && meta[k] !== undefined) metadata[k] = meta[k];
  }
  return { ...object, metadata };
}

/** A field selector further restricted to one namespace (namespaced collection paths). */
function inNamespace(fields: FieldSelector, namespace: string): FieldSelector {
  if (!namespace) return fields;
  return { ...fields, empty: false, matches: (o) => (o as KubeObject).metadata?.namespace === namespace && fields.matches(o) };
}

// ── the process entry point ──

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '10' },
      'namespaces-per-tenant': { type: 'string', default: '10' },
      nodes: { type: 'string', default: '10' },
      'storage-classes': { type: 'string', default: '4' },
      seed: { type: 'string', default: '1' },
      history: { type: 'string', default: String(DEFAULT_HISTORY_EVENTS) },
      'bookmark-interval-ms': { type: 'string', default: String(DEFAULT_BOOKMARK_INTERVAL_MS) },
      dir: { type: 'string' },
    },
  });
  const replay = await ReplayUpstream.start({
    dataset: { tenants: Number(values.tenants), namespacesPerTenant: Number(values['namespaces-per-tenant']), nodes: Number(values.nodes), storageClasses: Number(values['storage-classes']), seed: Number(values.seed) },
    historyEvents: Number(values.history),
    bookmarkIntervalMs: Number(values['bookmark-interval-ms']),
  });
  const dir = values.dir ?? mkdtempSync(path.join(tmpdir(), 'replay-upstream-'));
  const kubeconfig = replay.kubeconfig(dir);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await replay.stop();
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  serveCommands(replay, process.stdin, (line) => process.stdout.write(`${line}\n`), () => void shutdown());
  process.stdout.write(`${JSON.stringify({ url: replay.url, kubeconfig, caFile: path.join(dir, 'replay-ca.crt') })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`replay upstream failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
