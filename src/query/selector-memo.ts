// Parsed selectors by their text, shared by every request that sends the same one: the watchers of one
// selector hold one matcher between them. Selectors are immutable values, so sharing is safe; a text that
// fails to parse is never kept (its error is thrown to each request). Bounded: when full, the entry kept
// longest goes.

/** Distinct selector texts kept; a tenant fleet's watches send a handful (most none at all). */
export const SELECTOR_MEMO_ENTRIES = 512;

export class SelectorMemo<T> {
  readonly #entries = new Map<string, T>();

  get(key: string, parse: () => T): T {
    const kept = this.#entries.get(key);
    if (kept !== undefined) return kept;
    const parsed = parse();
    if (this.#entries.size >= SELECTOR_MEMO_ENTRIES) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, parsed);
    return parsed;
  }
}
