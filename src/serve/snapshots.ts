// Paginated lists (limit/continue): the first page pins a snapshot of the filtered, sorted items, and
// continue tokens point into it, so later pages keep the first page's resourceVersion and content, as
// the apiserver's etcd-backed lists do. Snapshots are shared object references (no copies of objects)
// and expire like an etcd compaction would: expired or unknown → 410 Expired. A snapshot is bound to who
// listed what (the caller, the view, the resource and its version): the same token from anyone or
// anywhere else is unknown too, so a token never reads another tenant's page.
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../../streams/kube-object.ts';
import { goQuote } from '../query/go-strconv.ts';
import { badRequest, StatusError } from '../basics/status.ts';

const SNAPSHOT_TTL_MS = 5 * 60_000;
const MAX_SNAPSHOTS = 2_000;

export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

interface Snapshot {
  /** Who listed what: the token is valid for this binding only. */
  binding: string;
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
  first(binding: string, items: readonly KubeObject[], resourceVersion: string, limit: number, countRemaining: boolean): Page {
    if (limit <= 0 || items.length <= limit) return { items, resourceVersion, continue: undefined, remainingItemCount: undefined };
    this.#evict();
    const id = randomUUID();
    this.#snapshots.set(id, { binding, items, resourceVersion, createdAt: Date.now() });
    return this.#page(id, items, resourceVersion, 0, limit, countRemaining);
  }

  /** A later page, from a continue token. */
  next(binding: string, token: string, limit: number, countRemaining: boolean): Page {
    const decoded = decodeToken(token);
    const snapshot = this.#snapshots.get(decoded.snapshot);
    if (!snapshot || snapshot.binding !== binding || Date.now() - snapshot.createdAt > SNAPSHOT_TTL_MS) throw new StatusError(410, 'Expired', CONTINUE_EXPIRED_MESSAGE);
    return this.#page(decoded.snapshot, snapshot.items, snapshot.resourceVersion, decoded.index, limit, countRemaining);
  }

  #page(id: string, items: readonly KubeObject[], resourceVersion: string, start: number, limit: number, countRemaining: boolean): Page {
    const end = limit > 0 ? Math.min(items.length, start + limit) : items.length;
    const page = items.slice(start, end);
    // The snapshot stays until it expires: a continue token can be used again, as with the apiserver.
    if (end >= items.length) return { items: page, resourceVersion, continue: undefined, remainingItemCount: undefined };
    const last = page[page.length - 1]?.metadata.name ?? '';
    const token: Token = { v: 'meta.k8s.io/v1', rv: resourceVersion, start: `${last}\u0000`, snapshot: id, index: end };
    return { items: page, resourceVersion, continue: Buffer.from(JSON.stringify(token)).toString('base64url'), remainingItemCount: countRemaining ? items.length - end : undefined };
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

const invalid = (why: string) => badRequest(`invalid continue token: continue key is not valid: ${why}`);

/** Go's base64.RawURLEncoding.DecodeString, with its error. */
function decodeBase64Url(token: string): Buffer {
  const bad = /[^A-Za-z0-9_-]/.exec(token);
  if (bad) throw invalid(`illegal base64 data at input byte ${bad.index}`);
  if (token.length % 4 === 1) throw invalid(`illegal base64 data at input byte ${token.length - 1}`);
  return Buffer.from(token, 'base64url');
}

/** The first error Go's encoding/json reports for the usual garbage: an invalid leading byte. */
function jsonError(bytes: Buffer): string {
  const first = bytes.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
  if (first < 0) return 'unexpected end of JSON input';
  const c = bytes[first] ?? 0;
  if (!'{["-0123456789tfn'.includes(String.fromCharCode(c))) {
    const quoted = c === 0x27 ? "'\\''" : c === 0x22 ? `'"'` : `'${goQuote(String.fromCharCode(c)).slice(1, -1)}'`;
    return `invalid character ${quoted} looking for beginning of value`;
  }
  return 'unexpected end of JSON input';
}

function decodeToken(token: string): Token {
  const bytes = decodeBase64Url(token);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(jsonError(bytes));
  }
  const t = (parsed ?? {}) as Partial<Token>;
  if (t.v !== 'meta.k8s.io/v1') throw invalid(`server does not recognize this encoded version ${goQuote(String(t.v ?? ''))}`);
  if (typeof t.snapshot !== 'string' || typeof t.index !== 'number' || typeof t.rv !== 'string') throw new StatusError(410, 'Expired', CONTINUE_EXPIRED_MESSAGE);
  return t as Token;
}
