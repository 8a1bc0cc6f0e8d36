// The current objects of one resource type in the replay upstream, in etcd key order (namespace/name),
// with an index by one label (the tenant label) so that the forwarding baseline's per-tenant lists do not
// scan every object.
//
// Owns: ordering, lookup, the label index, page selection over a snapshot. Does not own revisions (the
// caller stamps objects before putting them) or encoding. Objects are immutable once put: a snapshot is
// a copy of the ordered array of references, valid for as long as anyone holds it.
import type { KubeObject } from '../../streams/kube-object.ts';
import { objectKey } from '../../streams/kube-object.ts';
import type { LabelSelector } from '../../src/query/label-selector.ts';
import type { FieldSelector } from '../../src/query/field-selector.ts';
import type { ResourceType } from '../../streams/resource-type.ts';

/** An ordered, immutable view of a collection at one revision. */
export interface Snapshot {
  readonly revision: number;
  readonly keys: readonly string[];
  readonly items: readonly KubeObject[];
}

export interface Page {
  items: KubeObject[];
  /** The last key examined when more keys remain after it (the next page starts after it). */
  nextStartAfter: string | undefined;
  /** Keys after this page, when no selector restricted it (the apiserver omits it otherwise). */
  remaining: number | undefined;
}

export class Collection {
  readonly type: ResourceType;
  readonly #indexLabel: string;
  #keys: string[] = [];
  #items: KubeObject[] = [];
  /** label value → keys of objects carrying it. */
  readonly #byLabel = new Map<string, Set<string>>();

  constructor(type: ResourceType, indexLabel: string) {
    this.type = type;
    this.#indexLabel = indexLabel;
  }

  get size(): number {
    return this.#items.length;
  }

  get(key: string): KubeObject | undefined {
    const at = this.#find(key);
    return at >= 0 ? this.#items[at] : undefined;
  }

  /** Inserts or replaces; returns the previous object. */
  put(object: KubeObject): KubeObject | undefined {
    const key = objectKey(object);
    const at = this.#find(key);
    const previous = at >= 0 ? this.#items[at] : undefined;
    if (previous) this.#items[at] = object;
    else {
      const insertAt = -at - 1;
      this.#keys.splice(insertAt, 0, key);
      this.#items.splice(insertAt, 0, object);
    }
    this.#reindex(key, previous, object);
    return previous;
  }

  remove(key: string): KubeObject | undefined {
    const at = this.#find(key);
    if (at < 0) return undefined;
    const previous = this.#items[at];
    this.#keys.splice(at, 1);
    this.#items.splice(at, 1);
    this.#reindex(key, previous, undefined);
    return previous;
  }

  /** The live ordered objects (do not hold across changes; take a snapshot for that). */
  values(): readonly KubeObject[] {
    return this.#items;
  }

  keys(): readonly string[] {
    return this.#keys;
  }

  /** Keys carrying the index label with `value`, if the selector pins that label (else undefined). */
  candidates(selector: LabelSelector): string[] | undefined {
    const requirement = selector.requirements.find((r) => r.key === this.#indexLabel && (r.operator === '=' || r.operator === '==' || r.operator === 'in'));
    if (!requirement) return undefined;
    const keys: string[] = [];
    for (const value of new Set(requirement.values)) for (const key of this.#byLabel.get(value) ?? []) keys.push(key);
    return keys.sort();
  }

  snapshot(revision: number): Snapshot {
    return { revision, keys: this.#keys.slice(), items: this.#items.slice() };
  }

  /**
   * One page, as the etcd3 store pages: objects after `startAfter` in key order that match, up to
   * `limit` matches (0 = all); `nextStartAfter` is set when keys remain after the last one examined,
   * even if none of them would match.
   */
  page(keys: readonly string[], items: readonly KubeObject[], startAfter: string, limit: number, labels: LabelSelector, fields: FieldSelector): Page {
    let at = startAfter ? upperBound(keys, startAfter) : 0;
    const out: KubeObject[] = [];
    const filtered = !labels.empty || !fields.empty;
    for (; at < items.length; at++) {
      const item = items[at];
      if (!item) continue;
      if (filtered && !(labels.matches(item.metadata.labels) && fields.matches(item as Record<string, unknown>))) continue;
      out.push(item);
      if (limit > 0 && out.length >= limit) {
        at++;
        break;
      }
    }
    const more = at < items.length;
    return { items: out, nextStartAfter: more ? keys[at - 1] : undefined, remaining: more && !filtered ? items.length - at : undefined };
  }

  #reindex(key: string, before: KubeObject | undefined, after: KubeObject | undefined): void {
    const was = before?.metadata.labels?.[this.#indexLabel];
    const now = after?.metadata.labels?.[this.#indexLabel];
    if (was === now) return;
    if (was !== undefined) {
      const set = this.#byLabel.get(was);
      set?.delete(key);
      if (set?.size === 0) this.#byLabel.delete(was);
    }
    if (now !== undefined) {
      let set = this.#byLabel.get(now);
      if (!set) this.#byLabel.set(now, (set = new Set()));
      set.add(key);
    }
  }

  /** Index of `key`, or -(insertion point) - 1. */
  #find(key: string): number {
    let lo = 0;
    let hi = this.#keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.#keys[mid] ?? '';
      if (k < key) lo = mid + 1;
      else if (k > key) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  }
}

/** First index whose key is greater than `key`. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] ?? '') <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
