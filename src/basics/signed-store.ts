// Who can write to Redis must not be able to choose who a token is: every shared auth result carries an
// HMAC-SHA256 under a key only the replicas hold (--shared-auth-key-file), over its cache, key and value.
// An entry that does not verify is refused (counted and warned about as an error) and reviewed again.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SharedRead, SharedStore, SharedWrite } from './shared-cache.ts';

/** Shorter keys are refused: the HMAC is only as strong as its key. */
export const MIN_SHARED_KEY_BYTES = 32;

export class SignedStore implements SharedStore {
  readonly #store: SharedStore;
  readonly #key: Buffer;

  constructor(store: SharedStore, key: Buffer) {
    if (key.length < MIN_SHARED_KEY_BYTES) throw new Error(`the shared auth key has ${key.length} bytes; at least ${MIN_SHARED_KEY_BYTES} are needed`);
    this.#store = store;
    this.#key = key;
  }

  #mac(space: string, key: string, value: string): string {
    return createHmac('sha256', this.#key).update(space).update('\0').update(key).update('\0').update(value).digest('base64url');
  }

  async read(space: string, key: string): Promise<SharedRead> {
    const read = await this.#store.read(space, key);
    if (!read.ok || !read.found) return read;
    const dot = read.found.value.indexOf('.');
    const mac = Buffer.from(read.found.value.slice(0, Math.max(0, dot)));
    const value = read.found.value.slice(dot + 1);
    const expected = Buffer.from(this.#mac(space, key, value));
    if (dot < 0 || mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      return { ok: false, error: new Error(`an entry of the shared ${space} cache is not signed with this deployment's key: ignored`) };
    }
    return { ok: true, found: { value, ttlMs: read.found.ttlMs } };
  }

  write(space: string, key: string, value: string, ttlMs: number): Promise<SharedWrite> {
    return this.#store.write(space, key, `${this.#mac(space, key, value)}.${value}`, ttlMs);
  }
}
