// What each identity may see, computed once per directory version: every request and every watcher
// re-resolution asks, and most of them between two tenancy changes.
import type { Identity } from '../basics/identity.ts';
import type { Access, TenantDirectory } from './directory.ts';

const ACCESS_CACHE_SIZE = 10_000;

/** The key of what access depends on: the user and its groups (not uid or extra). */
export function identityKey(identity: Identity): string {
  return JSON.stringify([identity.user, [...identity.groups].sort()]);
}

export class AccessCache {
  readonly #directory: TenantDirectory;
  readonly #entries = new Map<string, { version: number; access: Access }>();

  constructor(directory: TenantDirectory) {
    this.#directory = directory;
  }

  of(identity: Identity): Access {
    const key = identityKey(identity);
    const version = this.#directory.version;
    const cached = this.#entries.get(key);
    if (cached && cached.version === version) return cached.access;
    const access = this.#directory.accessOf(identity);
    if (this.#entries.size >= ACCESS_CACHE_SIZE) this.#entries.clear();
    this.#entries.set(key, { version, access });
    return access;
  }
}
