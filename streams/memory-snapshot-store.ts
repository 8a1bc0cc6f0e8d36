// Snapshots in one process's memory: the SnapshotStore the unit tests and the benchmarks hold a
// replica to without Redis. Snapshots are stored as JSON text, as Redis would hold them, so a loaded
// snapshot shares no object with the replica it was taken from and `bytes` means what it does in Redis.
import { sameToken, type LeaderToken, type Unavailable } from './change-log.ts';
import type { Snapshot, SnapshotLoadResult, SnapshotStore, SnapshotSummary, SnapshotWriteResult } from './snapshot-store.ts';

export interface MemorySnapshotStoreOptions {
  leaseHolder: () => LeaderToken | undefined;
  /** Snapshots kept (the newest and the one before, by default, as in Redis). */
  keep?: number;
  now?: () => number;
}

interface Held {
  summary: SnapshotSummary;
  text: string;
}

export class MemorySnapshotStore implements SnapshotStore {
  readonly #leaseHolder: () => LeaderToken | undefined;
  readonly #keep: number;
  readonly #now: () => number;
  /** Newest first. */
  #kept: Held[] = [];
  #sequence = 0;

  constructor(options: MemorySnapshotStoreOptions) {
    this.#leaseHolder = options.leaseHolder;
    this.#keep = options.keep ?? 2;
    this.#now = options.now ?? Date.now;
  }

  async write(token: LeaderToken, snapshot: Snapshot): Promise<SnapshotWriteResult> {
    const holder = this.#leaseHolder();
    if (!sameToken(holder, token)) return { ok: false, reason: 'deposed', detail: holder ? `the lease is held by ${holder.holder} at epoch ${holder.epoch}` : 'nobody holds the lease' };
    const text = JSON.stringify(snapshot);
    const summary: SnapshotSummary = { id: String(++this.#sequence), position: snapshot.position, takenAt: this.#now(), pages: 1, bytes: Buffer.byteLength(text) };
    this.#kept = [{ summary, text }, ...this.#kept].slice(0, this.#keep);
    return { ok: true, summary };
  }

  async loadNewest(): Promise<SnapshotLoadResult> {
    return this.load(this.#kept[0]?.summary.id ?? '');
  }

  async load(id: string): Promise<SnapshotLoadResult> {
    const held = this.#kept.find((h) => h.summary.id === id);
    if (!held) return { ok: false, reason: 'none' };
    return { ok: true, snapshot: JSON.parse(held.text) as Snapshot, summary: held.summary };
  }

  async kept(): Promise<{ ok: true; snapshots: SnapshotSummary[] } | Unavailable> {
    return { ok: true, snapshots: this.#kept.map((held) => held.summary) };
  }
}
