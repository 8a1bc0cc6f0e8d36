// Paginated lists (limit/continue): the first page pins a snapshot of the filtered, sorted items, and
// continue tokens point into it, so later pages keep the first page's resourceVersion and content, as
// the apiserver's etcd-backed lists do. Snapshots are shared object references (no copies of objects)
// and expire like an etcd compaction would: expired or unknown → 410 Expired.
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../../streams/kube-object.ts';
import { StatusError } from '../status.ts';

const SNAPSHOT_TTL_MS = 5 * 60_000;
const MAX_SNAPSHOTS = 2_000;

export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

interface Snapshot {
  items: readonly KubeObject[];
  resourceVersion: string;
  createdAt: number;
}

interface Token {
  v: string;
  rv: string;
  start: string;
  snapshot: string;
  index: number;
}

export interface Page {
  items: readonly KubeObject[];
  resourceVersion: string;
  continue: string | undefined;
  remainingItemCount: number | undefined;
}

export class ListSnapshots {
  readonly #snapshots = new Map<string, Snapshot>();

  /** The first page of `items`; pins a snapshot when more remain. */
  first(items: readonly KubeObject[], resourceVersion: string, limit: number, countRemaining: boolean): Page {
    if (limit <= 0 || items.length <= limit) return { items, resourceVersion, continue: undefined, remainingItemCount: undefined };
    this.#evict();
    const id = randomUUID();
    this.#snapshots.set(id, { items, resourceVersion, createdAt: Date.now() });
    return this.#page(id, items, resourceVersion, 0, limit, countRemaining);
  }

  /** A later page, from a continue token. */
  next(token: string, limit: number, countRemaining: boolean): Page {
    const decoded = decodeToken(token);
    const snapshot = this.#snapshots.get(decoded.snapshot);
    if (!snapshot || Date.now() - snapshot.createdAt > SNAPSHOT_TTL_MS) throw new StatusError(410, 'Expired', CONTINUE_EXPIRED_MESSAGE);
    return this.#page(decoded.snapshot, snapshot.items, snapshot.resourceVersion, decoded.index, limit, countRemaining);
  }

  #page(id: string, items: readonly KubeObject[], resourceVersion: string, start: number, limit: number, countRemaining: boolean): Page {
    const end = limit > 0 ? Math.min(items.length, start + limit) : items.length;
    const page = items.slice(start, end);
    if (end >= items.length) {
      this.#snapshots.delete(id);
      return { items: page, resourceVersion, continue: undefined, remainingItemCount: undefined };
    }
    const last = page[page.length - 1]?.metadata.name ?? '';
    const token: Token = { v: 'meta.k8s.io/v1', rv: resourceVersion, start: `${last}\u0000`, snapshot: id, index: end };
    return { items: page, resourceVersion, continue: Buffer.from(JSON.stringify(token)).toString('base64'), remainingItemCount: countRemaining ? items.length - end : undefined };
  }

  #evict(): void {
    const now = Date.now();
    for (const [id, s] of this.#snapshots) if (now - s.createdAt > SNAPSHOT_TTL_MS) this.#snapshots.delete(id);
    while (this.#snapshots.size >= MAX_SNAPSHOTS) {
      const oldest = this.#snapshots.keys().next().value;
      if (oldest === undefined) break;
      this.#snapshots.delete(oldest);
    }
  }
}

function decodeToken(token: string): Token {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `invalid continue token: continue key is not valid: ${(err as Error).message}`);
  }
  const t = parsed as Partial<Token>;
  if (t.v !== 'meta.k8s.io/v1') throw new StatusError(400, 'BadRequest', `invalid continue token: continue key is not valid: server does not recognize this encoded key`);
  if (typeof t.snapshot !== 'string' || typeof t.index !== 'number' || typeof t.rv !== 'string') throw new StatusError(410, 'Expired', CONTINUE_EXPIRED_MESSAGE);
  return t as Token;
}
