// redis/ sits beside src/, on top of streams/: it imports streams/ and redis/ modules, ioredis and
// Node's own modules, and nothing else (the hub in streams/ must be able to use its interfaces).
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const test = suite('redis layer');

test('redis/ imports only streams/, redis/, ioredis and node: modules', () => {
  const outside: string[] = [];
  for (const name of readdirSync(path.join(ROOT, 'redis')).filter((n) => n.endsWith('.ts'))) {
    const file = path.join(ROOT, 'redis', name);
    const text = readFileSync(file, 'utf8');
    for (const [, target = ''] of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      if (target === 'ioredis' || target.startsWith('node:')) continue;
      const resolved = path.relative(ROOT, path.resolve(path.dirname(file), target));
      if (!target.startsWith('.') || !/^(streams|redis)\//.test(resolved)) outside.push(`redis/${name} → ${target}`);
    }
  }
  assert.equal(outside, []);
});

test.run();
