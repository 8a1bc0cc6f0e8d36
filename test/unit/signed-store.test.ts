// Shared auth results are signed with the replicas' key: what they wrote reads back; a value changed,
// moved to another key or cache, written without the key, or signed with another key is refused.
import * as assert from 'uvu/assert';
import type { SharedRead, SharedStore, SharedWrite } from '../../src/basics/shared-cache.ts';
import { SignedStore } from '../../src/basics/signed-store.ts';
import { Signer } from '../../redis/signer.ts';
import { suite } from '../support/suite.ts';

const test = suite('signed shared store');

class MemoryStore implements SharedStore {
  readonly values = new Map<string, string>();
  async read(space: string, key: string): Promise<SharedRead> {
    const value = this.values.get(`${space}/${key}`);
    return { ok: true, found: value === undefined ? undefined : { value, ttlMs: 1_000 } };
  }
  async write(space: string, key: string, value: string): Promise<SharedWrite> {
    this.values.set(`${space}/${key}`, value);
    return { ok: true };
  }
}

const KEY = new Signer(Buffer.alloc(32, 7));
const VALUE = JSON.stringify({ authenticated: true, user: 'alice', groups: [] });

test('what the replicas wrote reads back as it was', async () => {
  const store = new SignedStore(new MemoryStore(), KEY);
  await store.write('token', 'h1', VALUE, 1_000);
  assert.equal(await store.read('token', 'h1'), { ok: true, found: { value: VALUE, ttlMs: 1_000 } });
  assert.equal(await store.read('token', 'h2'), { ok: true, found: undefined });
});

test('forged, altered, moved or foreign-signed entries are refused', async () => {
  const memory = new MemoryStore();
  const store = new SignedStore(memory, KEY);
  await store.write('token', 'h1', VALUE, 1_000);
  const signed = memory.values.get('token/h1') ?? '';
  const refused = async (what: string) => {
    const read = await store.read('token', 'h1');
    assert.is(read.ok, false, what);
  };
  memory.values.set('token/h1', JSON.stringify({ authenticated: true, user: 'mallory', groups: ['system:masters'] }));
  await refused('written without the key');
  memory.values.set('token/h1', signed.replace('alice', 'mallo'));
  await refused('value altered');
  memory.values.set('token/h1', `${signed.split('.')[0]}.${JSON.stringify({ allowed: true })}`);
  await refused('another value under the same signature');
  memory.values.set('access/h1', signed);
  assert.is((await store.read('access', 'h1')).ok, false, 'moved to another cache');
  const other = new MemoryStore();
  await new SignedStore(other, new Signer(Buffer.alloc(32, 8))).write('token', 'h1', VALUE, 1_000);
  memory.values.set('token/h1', other.values.get('token/h1') ?? '');
  await refused('signed with another key');
});

test('a short key is refused', () => {
  assert.throws(() => new Signer(Buffer.alloc(16)), /at least 32/);
});

test.run();
