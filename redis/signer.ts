// HMAC-SHA256 under the deployment's shared key (--shared-auth-key-file): what the replicas write to
// Redis and read back carries it, so whoever can write to Redis, but does not hold the key, cannot make a
// replica serve, or act on, what the leader never wrote. Every signature covers a purpose and the place
// the value is stored at, besides the value: a value signed for one place does not verify at another.
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';

/** Shorter keys are refused: the HMAC is only as strong as its key. */
export const MIN_SHARED_KEY_BYTES = 32;

export class Signer {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < MIN_SHARED_KEY_BYTES) throw new Error(`the shared key has ${key.length} bytes; at least ${MIN_SHARED_KEY_BYTES} are needed`);
    this.#key = key;
  }

  /** The signature of `parts`, NUL-separated, as base64url (43 characters, no dot). */
  sign(...parts: string[]): string {
    return this.start(...parts).digest('base64url');
  }

  verify(signature: string, ...parts: string[]): boolean {
    return sameSignature(signature, this.sign(...parts));
  }

  /** An HMAC over `parts` so far, for values too long to join first (a snapshot's pages). */
  start(...parts: string[]): Hmac {
    const hmac = createHmac('sha256', this.#key);
    parts.forEach((part, i) => (i === 0 ? hmac.update(part) : hmac.update('\0').update(part)));
    return hmac;
  }
}

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `<signature>.<value>`, the form signed values are stored in. */
export function sealed(signature: string, value: string): string {
  return `${signature}.${value}`;
}

/** The signature and value of a stored `<signature>.<value>`; undefined when it has none. */
export function unseal(stored: string): { signature: string; value: string } | undefined {
  const dot = stored.indexOf('.');
  // A JSON value ('{', '[', '"') is never a signature: an unsigned value is not taken for a signed one.
  if (dot <= 0 || !/^[A-Za-z0-9_-]+$/.test(stored.slice(0, dot))) return undefined;
  return { signature: stored.slice(0, dot), value: stored.slice(dot + 1) };
}
