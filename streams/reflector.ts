// One upstream list+watch of one resource type, for the whole process, pushed into an RxJS stream.
//
// Owns the loop @kubernetes/client-node's informer gets wrong for a long-running server: it asks for
// bookmarks; on 410 Gone it relists and emits the *difference* from what it had (never a reset that
// watchers would see as a storm of DELETED + ADDED); on any other failure it retries with jittered
// exponential backoff, forever, logging each failure — it never stops silently. It keeps the current
// objects, so every event carries the previous state of its object.
//
// Ordering: events are emitted in upstream order, synchronously from the socket's data handler, after
// the store is updated. A type the apiserver does not serve (404, e.g. a CRD not installed) is reported
// `absent` and retried slowly.
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Subject, type Observable } from 'rxjs';
import type { RequestSource, StreamLog } from './ports.ts';
import { objectKey, resourceVersionOf, withResourceVersion, type KubeObject } from './kube-object.ts';
import { collectionPath, qualifiedResource, type ResourceType } from './resource-type.ts';

const LIST_PAGE_SIZE = 500;
const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * A type the apiserver does not serve is tried again after 1 s, doubling up to 30 s: one just reported
 * absent is often in transition (a CRD's version being installed, its handler not yet answering).
 */
const ABSENT_RETRY_FIRST_MS = 1_000;
const ABSENT_RETRY_MAX_MS = 30_000;
/** The apiserver's own watch timeout window for client-go reflectors: 5–10 minutes. */
const WATCH_TIMEOUT_MIN_S = 300;
/** Silence after which a watch is presumed dead (bookmarks come at least every minute). */
const WATCH_IDLE_TIMEOUT_MS = 150_000;
const REQUEST_TIMEOUT_MS = 60_000;

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export type ReflectorEvent =
  | { type: ChangeType; object: KubeObject; previous: KubeObject | undefined; rv: number }
  /** Upstream progress without a change. */
  | { type: 'BOOKMARK'; rv: number }
  /** The store now holds a complete list (first list, or a relist after 410, whose diff came before). */
  | { type: 'SYNCED'; rv: number }
  /** The API server does not serve the type (404): nothing is held (what was is DELETED first). */
  | { type: 'ABSENT'; rv: number };

export type ReflectorState = 'starting' | 'synced' | 'absent' | 'stopped';

class HttpStatusError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export class Reflector {
  /** The type at the version it is listed and watched at (retarget() may change the version). */
  #type: ResourceType;
  readonly #upstream: RequestSource;
  readonly #log: StreamLog;
  readonly #events = new Subject<ReflectorEvent>();
  readonly #store = new Map<string, KubeObject>();
  #state: ReflectorState = 'starting';
  #resourceVersion = '';
  #lastMessageAt = Date.now();
  #failures = 0;
  #lastError = '';
  /** Since when (epoch ms) every list and watch has failed; undefined while one succeeds. */
  #failingSince: number | undefined;
  #stopped = false;
  #current: { destroy(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wakeUp: (() => void) | undefined;
  /** Relist at the next turn of the loop, even though synced (the version to watch changed). */
  #relistNeeded = false;
  /**
   * The next relist compares content, not only resourceVersions: the same stored object read at another
   * version, or converted differently, keeps its resourceVersion.
   */
  #compareContent = false;
  /** Tries since the type was found absent (the retry backs off). */
  #absentRetries = 0;
  readonly stats = { relists: 0, watches: 0, events: 0, failures: 0 };

  constructor(type: ResourceType, upstream: RequestSource, log: StreamLog) {
    this.#type = type;
    this.#upstream = upstream;
    this.#log = log.child({ resource: qualifiedResource(type) });
  }

  get type(): ResourceType {
    return this.#type;
  }

  /**
   * Lists and watches at another version of the same resource from now on (a CRD's storage version
   * changed). The objects held stay: the relist at the new version emits only what differs, so views and
   * their watchers carry on. A type waiting as absent is tried at once.
   */
  retarget(type: ResourceType): void {
    if (type.version === this.#type.version) return;
    this.#log.info({ from: this.#type.version, to: type.version }, 'listing and watching another version');
    this.#type = type;
    this.#relistNeeded = true;
    this.#compareContent = true;
    if (this.#state === 'absent') this.#state = 'starting';
    this.#current?.destroy();
    this.wake();
  }

  /**
   * Lists again now, then watches from that list. The difference emitted includes objects whose content
   * changed at the same resourceVersion (what the API server serves for them changed: a CRD's conversion).
   */
  relist(reason: string): void {
    if (this.#stopped) return;
    this.#log.info({ reason }, 'listing again');
    this.#relistNeeded = true;
    this.#compareContent = true;
    this.#current?.destroy();
    this.wake();
  }

  /** Ends a wait (backoff, or the slow retry of an absent type) now: e.g. its CRD was just installed. */
  wake(): void {
    clearTimeout(this.#timer);
    this.#wakeUp?.();
  }

  get events$(): Observable<ReflectorEvent> {
    return this.#events.asObservable();
  }

  get state(): ReflectorState {
    return this.#state;
  }

  /** Why the last list or watch failed ("" after a successful list): the upstream's own answer. */
  /** How long every upstream list and watch of the type has failed (0 while they succeed). */
  get failingForMs(): number {
    return this.#failingSince === undefined ? 0 : Date.now() - this.#failingSince;
  }

  get lastError(): string {
    return this.#lastError;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Milliseconds since the upstream last said anything (event, bookmark, list). */
  get lagMs(): number {
    return Date.now() - this.#lastMessageAt;
  }

  get(key: string): KubeObject | undefined {
    return this.#store.get(key);
  }

  list(): IterableIterator<KubeObject> {
    return this.#store.values();
  }

  get size(): number {
    return this.#store.size;
  }

  /**
   * Before start(): the objects and resourceVersion another process listed (a new leader taking over
   * the deployment's state from its change log). The reflector then watches from that resourceVersion
   * instead of listing; a 410 relists and emits only the difference from these objects.
   */
  seed(objects: Iterable<KubeObject>, resourceVersion: string): void {
    for (const object of objects) this.#store.set(objectKey(object), object);
    this.#resourceVersion = resourceVersion;
    this.#state = 'synced';
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    this.#current?.destroy();
    this.#events.complete();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (this.#state !== 'synced' || this.#relistNeeded) {
          this.#relistNeeded = false;
          await this.#relist();
        }
        await this.#watch();
        this.#failures = 0;
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof HttpStatusError && err.code === 410) {
          this.#log.info({ resourceVersion: this.#resourceVersion }, 'watch expired (410): relisting');
          await this.#relistAfterExpiry();
          continue;
        }
        if (err instanceof HttpStatusError && err.code === 404) {
          if (this.#state !== 'absent') {
            this.#log.warn('resource not served upstream; retrying slowly');
            // Served before (its CRD deleted): none of its objects exist any more.
            if (this.#state === 'synced') this.#forgetAll();
            this.#absentRetries = 0;
            this.#state = 'absent';
            this.#emit({ type: 'ABSENT', rv: Number(this.#resourceVersion) || 0 });
          }
          await this.#sleep(Math.min(ABSENT_RETRY_MAX_MS, ABSENT_RETRY_FIRST_MS * 2 ** Math.min(this.#absentRetries++, 10)));
          continue;
        }
        this.#failures++;
        this.stats.failures++;
        this.#failingSince ??= Date.now();
        this.#lastError = (err as Error).message;
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(this.#failures - 1, 10));
        const jittered = delay / 2 + Math.random() * (delay / 2);
        this.#log.warn({ err: (err as Error).message, failures: this.#failures, retryInMs: Math.round(jittered) }, 'upstream list/watch failed');
        await this.#sleep(jittered);
      }
    }
  }

  async #relistAfterExpiry(): Promise<void> {
    try {
      await this.#relist();
    } catch (err) {
      if (this.#stopped) return;
      this.#failures++;
      this.#failingSince ??= Date.now();
      this.#lastError = (err as Error).message;
      this.#log.warn({ err: (err as Error).message }, 'relist failed');
      await this.#sleep(BACKOFF_INITIAL_MS);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wakeUp = undefined;
        resolve();
      };
      this.#wakeUp = done;
      this.#timer = setTimeout(done, ms);
    });
  }

  /** Every object held is gone (the type is no longer served): DELETED for each, at the last version seen. */
  #forgetAll(): void {
    const rv = Number(this.#resourceVersion) || 0;
    for (const [key, previous] of this.#store) {
      this.#store.delete(key);
      this.#emit({ type: 'DELETED', object: previous, previous, rv });
    }
  }

  /** Lists everything (paginated, one consistent snapshot) and emits the difference from the store. */
  async #relist(): Promise<void> {
    const items: KubeObject[] = [];
    let continueToken = '';
    let listRv = '';
    do {
      const query = new URLSearchParams({ limit: String(LIST_PAGE_SIZE) });
      if (continueToken) query.set('continue', continueToken);
      const page = (await this.#getJson(`${collectionPath(this.#type)}?${query}`)) as { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] };
      if (!listRv) listRv = page.metadata?.resourceVersion ?? '';
      for (const item of page.items ?? []) items.push(this.#typed(item));
      continueToken = page.metadata?.continue ?? '';
    } while (continueToken);
    this.stats.relists++;
    this.#lastMessageAt = Date.now();
    const rv = Number(listRv);
    const seen = new Set<string>();
    const compareContent = this.#compareContent;
    this.#compareContent = false;
    for (const object of items) {
      const key = objectKey(object);
      seen.add(key);
      const previous = this.#store.get(key);
      if (previous && previous.metadata.resourceVersion === object.metadata.resourceVersion && (!compareContent || JSON.stringify(previous) === JSON.stringify(object))) continue;
      this.#store.set(key, object);
      this.#emit({ type: previous ? 'MODIFIED' : 'ADDED', object, previous, rv: resourceVersionOf(object) });
    }
    for (const [key, previous] of this.#store) {
      if (seen.has(key)) continue;
      this.#store.delete(key);
      // Its final state is unknown: the last one seen, at the list's revision (as the watch cache does).
      this.#emit({ type: 'DELETED', object: withResourceVersion(previous, listRv), previous, rv });
    }
    this.#resourceVersion = listRv;
    this.#lastError = '';
    this.#failingSince = undefined;
    this.#state = 'synced';
    this.#emit({ type: 'SYNCED', rv });
    this.#log.debug({ resourceVersion: listRv, items: items.length }, 'listed');
  }

  /** Lists carry kind/apiVersion only on the list; watch events carry them on each object. */
  #typed(object: KubeObject): KubeObject {
    if (object.kind && object.apiVersion) return object;
    const type = this.#type;
    return { kind: type.kind, apiVersion: type.group ? `${type.group}/${type.version}` : type.version, ...object };
  }

  #emit(event: ReflectorEvent): void {
    if (event.type !== 'SYNCED') this.stats.events++;
    this.#events.next(event);
  }

  async #getJson(path: string): Promise<unknown> {
    const res = await this.#open(path, REQUEST_TIMEOUT_MS);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode ?? 0, `GET ${path}: ${res.statusCode} ${body.slice(0, 300)}`);
    return JSON.parse(body) as unknown;
  }

  async #open(path: string, timeoutMs: number): Promise<IncomingMessage> {
    const options = await this.#upstream.requestOptions('GET', path, { accept: 'application/json' });
    return new Promise((resolve, reject) => {
      const req = https.request(options, resolve);
      this.#current = req;
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path}: no data for ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Watches from the current resourceVersion until the server ends the watch; throws on failures. */
  async #watch(): Promise<void> {
    const timeoutSeconds = WATCH_TIMEOUT_MIN_S + Math.floor(Math.random() * WATCH_TIMEOUT_MIN_S);
    const query = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true', resourceVersion: this.#resourceVersion, timeoutSeconds: String(timeoutSeconds) });
    const res = await this.#open(`${collectionPath(this.#type)}?${query}`, WATCH_IDLE_TIMEOUT_MS);
    this.stats.watches++;
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw new HttpStatusError(res.statusCode ?? 0, `watch: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`);
    }
    this.#failingSince = undefined;
    this.#lastMessageAt = Date.now();
    let buffered = '';
    let failure: Error | undefined;
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) failure ??= this.#apply(line);
          if (failure) {
            res.destroy();
            return;
          }
        }
      });
      res.on('end', resolve);
      res.on('close', resolve);
      res.on('error', reject);
    });
    if (failure) throw failure;
  }

  /** Applies one watch event line; returns an error that must end this watch. */
  #apply(line: string): Error | undefined {
    this.#lastMessageAt = Date.now();
    let event: { type: string; object: KubeObject & { code?: number; message?: string } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return new Error(`malformed watch event: ${line.slice(0, 200)}`);
    }
    const { type, object } = event;
    if (type === 'ERROR') return new HttpStatusError(object.code ?? 500, `watch error: ${object.message ?? line.slice(0, 200)}`);
    const rv = object.metadata?.resourceVersion ?? '';
    if (type === 'BOOKMARK') {
      this.#resourceVersion = rv;
      this.#emit({ type: 'BOOKMARK', rv: Number(rv) });
      return undefined;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return new Error(`unknown watch event type ${type}`);
    const key = objectKey(object);
    const previous = this.#store.get(key);
    if (type === 'DELETED') this.#store.delete(key);
    else this.#store.set(key, object);
    this.#resourceVersion = rv;
    this.#emit({ type, object, previous, rv: Number(rv) });
    return undefined;
  }
}
