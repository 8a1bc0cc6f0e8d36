// Pinned list snapshots for `limit`/`continue`: the first page of a paginated list pins the collection
// as of the list's revision, later pages read that snapshot — so every page reports the first page's
// resourceVersion and together they are one consistent list, as etcd serves pages at one revision.
//
// Bounds: SNAPSHOTS_MAX snapshots (oldest dropped first), each kept SNAPSHOT_TTL_MS after its last use; a
// continue token whose snapshot is gone is 410 Expired with the apiserver's message, as after an etcd
// compaction. Tokens have the apiserver's shape: base64url of {"v":"meta.k8s.io/v1","rv":N,"start":"key\0"}.
import { StatusError } from '../../src/basics/status.ts';
import type { Snapshot } from './collection.ts';

/** etcd's default compaction interval. */
const SNAPSHOT_TTL_MS = 5 * 60_000;
/** A snapshot of 10,000 namespaces is 2 arrays of 10,000 references (≈ 160 KB). */
const SNAPSHOTS_MAX = 32;
const EXPIRED_MESSAGE = 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to retrieve the remainder of the results. Continuing from this point will return an inconsistent list.';

export interface ContinueToken {
  rv: number;
  /** The last key returned (the next page starts after it). */
  after: string;
}

export class Snapshots {
  readonly #pinned = new Map<string, { snapshot: Snapshot; at: number }>();

  /** Keeps `take()` as the snapshot of `type` at its revision, unless one is pinned already. */
  pin(typeKey: string, revision: number, take: () => Snapshot): void {
    const key = `${typeKey}@${revision}`;
    const now = Date.now();
    const existing = this.#pinned.get(key);
    if (existing) {
      existing.at = now;
      return;
    }
    this.#pinned.set(key, { snapshot: take(), at: now });
    for (const [k, v] of this.#pinned) {
      if (this.#pinned.size <= SNAPSHOTS_MAX && now - v.at <= SNAPSHOT_TTL_MS) break;
      this.#pinned.delete(k);
    }
  }

  /** The snapshot a continue token refers to; 410 Expired when it is gone. */
  resume(typeKey: string, token: ContinueToken): Snapshot {
    const pinned = this.#pinned.get(`${typeKey}@${token.rv}`);
    if (!pinned || Date.now() - pinned.at > SNAPSHOT_TTL_MS) throw new StatusError(410, 'Expired', EXPIRED_MESSAGE);
    return pinned.snapshot;
  }
}

export function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.rv, start: `${token.after}\0` })).toString('base64url');
}

export function decodeContinue(text: string): ContinueToken {
  try {
    const decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { v?: unknown; rv?: unknown; start?: unknown };
    if (decoded.v !== 'meta.k8s.io/v1' || typeof decoded.rv !== 'number' || typeof decoded.start !== 'string') throw new Error('not a continue token');
    return { rv: decoded.rv, after: decoded.start.replace(/\0$/, '') };
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `continue key is not valid: ${(err as Error).message}`);
  }
}
