// Who can write to Redis must not be able to choose who a token is: every shared auth result carries an
// HMAC-SHA256 under a key only the replicas hold (--shared-auth-key-file), over its cache, key and value.
// An entry that does not verify is refused (counted and warned about as an error) and reviewed again.
import { sealed, unseal, type Signer } from '../../redis/signer.ts';
import type { SharedRead, SharedStore, SharedWrite } from './shared-cache.ts';

export class SignedStore implements SharedStore {
  readonly #store: SharedStore;
  readonly #signer: Signer;

  constructor(store: SharedStore, signer: Signer) {
    this.#store = store;
    this.#signer = signer;
  }

  async read(space: string, key: string): Promise<SharedRead> {
    const read = await this.#store.read(space, key);
    if (!read.ok || !read.found) return read;
    const stored = unseal(read.found.value);
    if (!stored || !this.#signer.verify(stored.signature, space, key, stored.value)) {
      return { ok: false, error: new Error(`an entry of the shared ${space} cache is not signed with this deployment's key: ignored`) };
    }
    return { ok: true, found: { value: stored.value, ttlMs: read.found.ttlMs } };
  }

  write(space: string, key: string, value: string, ttlMs: number): Promise<SharedWrite> {
    return this.#store.write(space, key, sealed(this.#signer.sign(space, key, value), value), ttlMs);
  }
}
