// The import graph of streams/, redis/ and src/, type-only imports included, points down the layers
// DEVELOPERS.md names, and has no circle: a type import couples the design as much as a call does.
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const test = suite('layers');

/** From the bottom up; a module may import its own layer and those below. */
const LAYERS: readonly (readonly string[])[] = [
  ['streams'],
  ['redis'],
  ['src/basics'],
  ['src/kinds'],
  ['src/query', 'src/table', 'src/tenancy'],
  ['src/views'],
  ['src/front'],
  ['src/serve'],
  ['src/server'],
  ['src/cli.ts'],
];

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

const relative = (file: string) => path.relative(ROOT, file);
const files = ['streams', 'redis', 'src'].flatMap((dir) => sources(path.join(ROOT, dir)));
const graph = new Map(files.map((f) => [relative(f), importsOf(f).map(relative)]));

/** The layer of a module: the index of the entry its path falls under (a file, or a directory). */
function layerOf(module: string): { index: number; name: string } | undefined {
  for (const [index, entries] of LAYERS.entries()) {
    const name = entries.find((e) => module === e || module.startsWith(`${e}/`));
    if (name) return { index, name };
  }
  return undefined;
}

test('every module of streams/, redis/ and src/ belongs to a layer', () => {
  assert.equal([...graph.keys()].filter((m) => layerOf(m) === undefined), []);
});

test('imports point down the layers (or within one)', () => {
  const upward: string[] = [];
  for (const [module, imports] of graph) {
    const from = layerOf(module);
    for (const target of imports) {
      const to = layerOf(target);
      if (from && to && to.index > from.index) upward.push(`${module} → ${target} (${from.name} below ${to.name})`);
    }
  }
  assert.equal(upward, []);
});

test('the import graph has no circle', () => {
  // Tarjan's strongly connected components: any component of more than one module is a circle.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  assert.equal(circles, []);
});

test('the graph is what the test thinks it is (a known downward import is seen)', () => {
  assert.ok(graph.get('src/views/view.ts')?.includes('src/tenancy/scope.ts'));
});

test.run();
