// Snapshots in Redis, in pages: no single command carries more than one page (a big GET or SET blocks
// every other client of the single-threaded server). Pages are written with an expiry, then one script
// checks them all, drops their expiry, writes the header and switches the `current` pointer: a reader
// follows the pointer, so it only ever sees a complete snapshot, and an abandoned one expires by itself.
//
// Page format: lines `<type index>\t<object JSON>`; the header (JSON) lists the types, their state and
// object counts, the position, and the page count. With the deployment's key the header also carries a
// signature over the snapshot's ID, every page in order and the rest of the header: a replica with the
// key loads no snapshot it cannot verify.
import type { Hmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LeaderToken, Unavailable } from '../streams/change-log.ts';
import type { KubeObject } from '../streams/kube-object.ts';
import type { Snapshot, SnapshotLoadResult, SnapshotStore, SnapshotSummary, SnapshotType, SnapshotWriteResult } from '../streams/snapshot-store.ts';
import { replicationKeys, DEFAULT_KEY_PREFIX, type ReplicationKeys } from './keys.ts';
import { leaseValue, replyOf, script, type Script } from './scripts.ts';
import { sameSignature, type Signer } from './signer.ts';

export interface RedisSnapshotsOptions {
  keyPrefix?: string;
  /** Bytes per page (a page may exceed it by one object). */
  pageBytes?: number;
  /** Snapshots kept (the newest and the one before, by default). */
  keep?: number;
  /** How long an uncommitted page lives: a snapshot must be written within it. */
  pendingPageTtlMs?: number;
  /** Signs what is written and verifies what is loaded (the deployment's key); without it, nothing is checked. */
  signer?: Signer;
}

interface Header extends SnapshotSummary {
  types: (Omit<SnapshotType, 'objects'> & { objects: number })[];
  /** Last, so that the header without it is the JSON it was computed over. */
  signature?: string;
}

/** The purpose a snapshot's signature covers (redis/signer.ts). */
const SIGNED_AS = 'snapshot';

/** A page's part of a snapshot's signature: its number, then its text. */
function signPage(hmac: Hmac | undefined, page: number, text: string): void {
  hmac?.update(`\0${page}\0`).update(text);
}

/** A reader racing a writer that drops the snapshot it reads retries with the new current one. */
const LOAD_ATTEMPTS = 3;

const unavailable = (error: unknown, doing: string): Unavailable => ({ ok: false, reason: 'unavailable', error: new Error(`${doing}: ${error instanceof Error ? error.message : String(error)}`) });

function isHeader(value: unknown): value is Header {
  const h = value as Partial<Header> | null;
  return !!h && typeof h.id === 'string' && typeof h.pages === 'number' && typeof h.position?.rv === 'number' && Array.isArray(h.types);
}

export class RedisSnapshots implements SnapshotStore {
  readonly #redis: Redis;
  readonly #keys: ReplicationKeys;
  readonly #prefix: string;
  readonly #commit: Script;
  readonly #pageBytes: number;
  readonly #keep: number;
  readonly #pendingPageTtlMs: number;
  readonly #signer: Signer | undefined;

  constructor(redis: Redis, options: RedisSnapshotsOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#keys = replicationKeys(this.#prefix);
    this.#commit = script(redis, 'tenantProxyCommitSnapshot');
    this.#pageBytes = options.pageBytes ?? 256 * 1024;
    this.#keep = options.keep ?? 2;
    this.#pendingPageTtlMs = options.pendingPageTtlMs ?? 10 * 60_000;
    this.#signer = options.signer;
  }

  async write(token: LeaderToken, snapshot: Snapshot): Promise<SnapshotWriteResult> {
    try {
      const id = String(await this.#redis.incr(this.#keys.snapshotSequence));
      const hmac = this.#signer?.start(SIGNED_AS, id);
      const { pages, bytes } = await this.#writePages(id, snapshot.types, hmac);
      const header: Header = {
        id,
        position: snapshot.position,
        takenAt: Date.now(),
        pages,
        bytes,
        types: snapshot.types.map(({ objects, ...type }) => ({ ...type, objects: objects.length })),
      };
      if (hmac) header.signature = hmac.update('\0').update(JSON.stringify(header)).digest('base64url');
      const raw = await this.#commit(this.#keys.lease, this.#keys.snapshotCurrent, this.#keys.snapshotKept, this.#keys.snapshotHeader(id), leaseValue(token), id, pages, JSON.stringify(header), this.#keep, `${this.#prefix}snapshot:`);
      const [status, detail = ''] = replyOf(raw) ?? [];
      const { types: _types, signature: _signature, ...summary } = header;
      if (status === 'ok') return { ok: true, summary };
      if (status === 'deposed') return { ok: false, reason: 'deposed', detail: detail ? `the lease is held by ${detail}` : 'nobody holds the lease' };
      if (status === 'incomplete') return { ok: false, reason: 'incomplete', detail: `page ${detail} of snapshot ${id} expired before it was committed` };
      return unavailable(new Error(`unexpected reply ${JSON.stringify(raw)}`), 'committing a snapshot');
    } catch (err) {
      return unavailable(err, 'writing a snapshot');
    }
  }

  async #writePages(id: string, types: readonly SnapshotType[], hmac: Hmac | undefined): Promise<{ pages: number; bytes: number }> {
    let pages = 0;
    let bytes = 0;
    let page: string[] = [];
    let pageLength = 0;
    const flush = async () => {
      const text = page.join('\n');
      await this.#redis.set(this.#keys.snapshotPage(id, pages), text, 'PX', this.#pendingPageTtlMs);
      signPage(hmac, pages, text);
      pages++;
      bytes += Buffer.byteLength(text);
      page = [];
      pageLength = 0;
    };
    for (const [index, type] of types.entries()) {
      for (const object of type.objects) {
        const line = `${index}\t${JSON.stringify(object)}`;
        page.push(line);
        pageLength += line.length + 1;
        if (pageLength >= this.#pageBytes) await flush();
      }
    }
    if (page.length > 0) await flush();
    return { pages, bytes };
  }

  async loadNewest(): Promise<SnapshotLoadResult> {
    try {
      for (let attempt = 1; ; attempt++) {
        const id = await this.#redis.get(this.#keys.snapshotCurrent);
        if (!id) return { ok: false, reason: 'none' };
        const loaded = await this.#load(id);
        if (loaded.ok) return loaded;
        if (attempt >= LOAD_ATTEMPTS) return unavailable(new Error(loaded.detail), `loading snapshot ${id}`);
      }
    } catch (err) {
      return unavailable(err, 'loading the newest snapshot');
    }
  }

  async load(id: string): Promise<SnapshotLoadResult> {
    try {
      const loaded = await this.#load(id);
      if (loaded.ok) return loaded;
      return loaded.gone ? { ok: false, reason: 'none' } : unavailable(new Error(loaded.detail), `loading snapshot ${id}`);
    } catch (err) {
      return unavailable(err, `loading snapshot ${id}`);
    }
  }

  /** One snapshot, or why it could not be read whole: `gone`, dropped (before or while being read); else damaged. */
  async #load(id: string): Promise<{ ok: true; snapshot: Snapshot; summary: SnapshotSummary } | { ok: false; gone: boolean; detail: string }> {
    const headerText = await this.#redis.get(this.#keys.snapshotHeader(id));
    if (!headerText) return { ok: false, gone: true, detail: `snapshot ${id} has no header (dropped while being read)` };
    const header: unknown = JSON.parse(headerText);
    if (!isHeader(header)) return { ok: false, gone: false, detail: `snapshot ${id} has a header of unexpected shape` };
    if (this.#signer && typeof header.signature !== 'string') return { ok: false, gone: false, detail: `snapshot ${id} is not signed: refused (this replica holds the deployment's key; a snapshot written without it is not loaded)` };
    const hmac = this.#signer?.start(SIGNED_AS, id);
    const objects: KubeObject[][] = header.types.map(() => []);
    for (let page = 0; page < header.pages; page++) {
      const text = await this.#redis.get(this.#keys.snapshotPage(id, page));
      if (text === null) return { ok: false, gone: true, detail: `page ${page} of snapshot ${id} is gone (dropped while being read)` };
      signPage(hmac, page, text);
      for (const line of text.split('\n')) {
        const tab = line.indexOf('\t');
        const bucket = objects[Number(line.slice(0, tab))];
        if (tab < 0 || !bucket) return { ok: false, gone: false, detail: `page ${page} of snapshot ${id} has a line without a known type` };
        bucket.push(JSON.parse(line.slice(tab + 1)) as KubeObject);
      }
    }
    const { signature, ...signed } = header;
    if (hmac && !sameSignature(signature ?? '', hmac.update('\0').update(JSON.stringify(signed)).digest('base64url'))) {
      return { ok: false, gone: false, detail: `snapshot ${id} does not carry a signature of this deployment's key over its pages and header: refused` };
    }
    const types = header.types.map((type, index): SnapshotType => ({ resource: type.resource, state: type.state, resourceVersion: type.resourceVersion, objects: objects[index] ?? [] }));
    const miscounted = types.find((type, index) => type.objects.length !== header.types[index]?.objects);
    if (miscounted) return { ok: false, gone: false, detail: `snapshot ${id} holds ${miscounted.objects.length} objects of ${miscounted.resource.resource}, its header says otherwise` };
    const { types: _types, ...summary } = signed;
    return { ok: true, snapshot: { position: header.position, types }, summary };
  }

  async kept(): Promise<{ ok: true; snapshots: SnapshotSummary[] } | Unavailable> {
    try {
      const ids = await this.#redis.lrange(this.#keys.snapshotKept, 0, -1);
      const snapshots: SnapshotSummary[] = [];
      for (const id of ids) {
        const text = await this.#redis.get(this.#keys.snapshotHeader(id));
        const header: unknown = text ? JSON.parse(text) : undefined;
        if (isHeader(header)) {
          const { types: _types, signature: _signature, ...summary } = header;
          snapshots.push(summary);
        }
      }
      return { ok: true, snapshots };
    } catch (err) {
      return unavailable(err, 'listing the snapshots kept');
    }
  }
}

export { oldestKeptPosition } from '../streams/snapshot-store.ts';
