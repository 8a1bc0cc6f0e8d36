// The import graph, type-only imports included, points down the layers DEVELOPERS.md names: streams/
// depends on nothing of src/; the kind registry (kinds/) only on streams/ and the basics; tenancy/ on
// nothing of views/ or serve/. (The full order, and no circle in src/, is the rest of the structure issue.)
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const test = suite('layers');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** Every relative module a file imports (import and export … from, type-only or not), resolved. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((m) => path.resolve(path.dirname(file), m[1] ?? ''));
}

function violations(layer: string, forbidden: string[]): string[] {
  return sources(path.join(ROOT, layer)).flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden.some((f) => target.startsWith(path.join(ROOT, f) + path.sep)))
      .map((target) => `${path.relative(ROOT, file)} → ${path.relative(ROOT, target)}`),
  );
}

test('streams/ imports nothing of src/', () => {
  assert.equal(violations('streams', ['src']), []);
});

test('tenancy/ imports nothing of views/ or serve/', () => {
  assert.equal(violations('src/tenancy', ['src/views', 'src/serve']), []);
});

test('kinds/ (the kind registry) imports only streams/ and the basics', () => {
  const allowed = ['streams', 'src/kinds'].map((dir) => path.join(ROOT, dir) + path.sep);
  const basics = ['status', 'log', 'config'].map((name) => path.join(ROOT, 'src', `${name}.ts`));
  const outside = sources(path.join(ROOT, 'src/kinds')).flatMap((file) =>
    importsOf(file)
      .filter((target) => !allowed.some((dir) => target.startsWith(dir)) && !basics.includes(target))
      .map((target) => `${path.relative(ROOT, file)} → ${path.relative(ROOT, target)}`),
  );
  assert.equal(outside, []);
});

test.run();
