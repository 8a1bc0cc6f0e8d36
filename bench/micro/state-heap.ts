// Micro-benchmark of the proxy's state on the heap at a steady change rate, without the watch connections:
// what a full (mark-compact) collection costs once the watch history is full, the objects by the
// structure that owns them, what each change leaves alive, and how fast the old generation grows (what
// paces V8's major collections). The marking behind the 500 events/s tail is per live object
// (bench/micro/GC-TAIL.md); this separates the state's share from the connections'.
//
// The proxy runs alone in a forked child (what is measured, as in fan-out, where the replay upstream and
// the load generators are other processes); this process runs the replay upstream (fan-out's shape:
// tenants × 10 namespaces) and one watch per tenant, so that every tenant's view exists and keeps its
// history, and asks the child for collections, snapshots and old-space figures.
//
// `node --expose-gc --import tsx bench/micro/state-heap.ts [tenants=1000] [rate=500] [seconds=20]`
// The history is filled first: --watch-history (75 s) of changes at `rate`, emitted at 4× the rate.
// STATE_HEAP_PATHS=1 also prints the biggest owners' paths from the roots, their objects by kind, and
// sample paths of objects of one kind (STATE_HEAP_TYPE, default `concatenated string`).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createLogger } from '../../src/basics/log.ts';
import { loadUpstream } from '../../src/basics/upstream.ts';
import { parseConfig } from '../../src/server/config.ts';
import { TenantProxy } from '../../src/server/proxy.ts';
import { ReplayUpstream, userToken } from '../replay-upstream.ts';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
}

function readSnapshot(file: string): Snapshot {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  rmSync(file);
  return snapshot;
}

// Node ids persist between snapshots of one isolate, but not monotonically for every node type (the
// embedder's native nodes get ids of their own): a node is new when its id was not in the earlier snapshot.
function nodeIds(s: Snapshot): Set<number> {
  const fields = s.snapshot.meta.node_fields;
  const idAt = fields.indexOf('id');
  const ids = new Set<number>();
  for (let i = idAt; i < s.nodes.length; i += fields.length) ids.add(s.nodes[i] ?? 0);
  return ids;
}

interface Group {
  count: number;
  bytes: number;
}

/**
 * The objects of `s` not in `earlier`, by constructor, and by the nearest older object holding them
 * (its constructor and the edge's name): which long-lived structure keeps what the changes brought.
 */
function newObjects(s: Snapshot, earlier: Set<number>): { byConstructor: Map<string, Group>; byHolder: Map<string, Group>; total: Group } {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number, number];
  const [edgeTypeAt, edgeNameAt, toAt] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const nodeCount = s.nodes.length / nf.length;
  const label = (n: number): string => {
    const type = nodeTypes[s.nodes[n * nf.length + typeAt] ?? 0] ?? '?';
    const name = s.strings[s.nodes[n * nf.length + nameAt] ?? 0] ?? '?';
    return type === 'object' || type === 'closure' ? `${name}${type === 'closure' ? '()' : ''}` : `(${type})`;
  };
  const isNew = (n: number): boolean => !earlier.has(s.nodes[n * nf.length + idAt] ?? 0);
  // One retainer per new node (the first strong edge met), enough to walk up to an older holder.
  const retainer = new Int32Array(nodeCount).fill(-1);
  const retainerEdge = new Array<string>(nodeCount);
  let edge = 0;
  for (let n = 0; n < nodeCount; n++) {
    const edges = s.nodes[n * nf.length + edgeCountAt] ?? 0;
    for (let e = 0; e < edges; e++, edge += ef.length) {
      const to = (s.edges[edge + toAt] ?? 0) / nf.length;
      const edgeType = edgeTypes[s.edges[edge + edgeTypeAt] ?? 0] ?? '?';
      if (edgeType === 'weak' || retainer[to] !== -1 || !isNew(to)) continue;
      retainer[to] = n;
      const nameOrIndex = s.edges[edge + edgeNameAt] ?? 0;
      retainerEdge[to] = edgeType === 'element' || edgeType === 'hidden' ? `[${edgeType}]` : (s.strings[nameOrIndex] ?? '?');
    }
  }
  const byConstructor = new Map<string, Group>();
  const byHolder = new Map<string, Group>();
  const total = { count: 0, bytes: 0 };
  const add = (map: Map<string, Group>, key: string, bytes: number): void => {
    const g = map.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += bytes;
    map.set(key, g);
  };
  for (let n = 0; n < nodeCount; n++) {
    if (!isNew(n)) continue;
    const bytes = s.nodes[n * nf.length + sizeAt] ?? 0;
    total.count++;
    total.bytes += bytes;
    add(byConstructor, label(n), bytes);
    let at = n;
    let via = '';
    for (let hops = 0; hops < 64 && retainer[at] !== -1 && isNew(at); hops++) {
      via = retainerEdge[at] ?? '?';
      at = retainer[at] ?? -1;
    }
    add(byHolder, isNew(at) ? '(no older holder found)' : `${label(at)} .${via}`, bytes);
  }
  if (process.env.STATE_HEAP_PATHS) {
    const big: number[] = [];
    for (let n = 0; n < nodeCount; n++) if (isNew(n)) big.push(n);
    big.sort((a, b) => (s.nodes[b * nf.length + sizeAt] ?? 0) - (s.nodes[a * nf.length + sizeAt] ?? 0));
    for (const n of big.slice(0, 15)) {
      const chain: string[] = [];
      for (let at = n, hops = 0; at !== -1 && hops < 8; hops++) { chain.push(`${label(at)}${isNew(at) ? '*' : ''}`); const up = retainer[at] ?? -1; if (up !== -1) chain.push(`.${retainerEdge[at]}`); at = up; }
      process.stdout.write(`${s.nodes[n * nf.length + sizeAt]} B ${chain.join(' <- ')}\n`);
    }
  }
  return { byConstructor, byHolder, total };
}

function openWatch(port: number, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.once('secureConnect', () => socket.write(`GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\n\r\n`));
    socket.once('data', (data: Buffer) => {
      if (data.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error(`watch answered ${data.subarray(0, 200).toString('latin1')}`));
      socket.on('data', () => undefined);
    });
    socket.once('error', reject);
  });
}

type ProxyCommand = { cmd: 'gc' } | { cmd: 'snapshot'; file: string } | { cmd: 'old-space' };
type ProxyReply = { port: number } | { gcMs: number; heapUsed: number } | { file: string } | { oldSpace: number };

/** The child: the proxy in front of the replay's kubeconfig, answering the parent's commands. */
async function runProxy(kubeconfig: string, dir: string, maxConnections: number): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  const upstream = await loadUpstream({ kubeconfig });
  const parsed = parseConfig(['--listen', '127.0.0.1:0', '--cert-dir', path.join(dir, 'serving'), '--max-connections', String(maxConnections)], {});
  if (parsed.kind !== 'config') throw new Error('unexpected --help');
  const proxy = await TenantProxy.create(parsed.config, { upstream, log: createLogger('silent') });
  const { port } = await proxy.start();
  while (!proxy.ready) await sleep(100);
  const reply = (r: ProxyReply): void => void process.send?.(r);
  process.on('message', (command: ProxyCommand) => {
    if (command.cmd === 'gc') {
      collectGarbage();
      reply({ gcMs: fullGcMs(), heapUsed: v8.getHeapStatistics().used_heap_size });
    } else if (command.cmd === 'snapshot') {
      collectGarbage();
      reply({ file: v8.writeHeapSnapshot(command.file) });
    } else {
      reply({ oldSpace: v8.getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0 });
    }
  });
  reply({ port });
}

const GENERIC = new Set(['Object', 'Array', 'Map', 'Set', 'WeakMap', 'String', 'Buffer', 'Uint8Array', 'ArrayBuffer', 'Promise', 'Error', 'system / Context', 'Function', 'Number']);

/**
 * Every object of `s` by its owner: the nearest named class (ours or Node's) above it on a shortest path
 * from the roots, so that plain objects, arrays and strings count for the structure that keeps them.
 */
function objectsByOwner(s: Snapshot): Map<string, Group> {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const [typeAt, nameAt, sizeAt, edgeCountAt] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [edgeTypeAt, toAt] = ['type', 'to_node'].map((f) => ef.indexOf(f)) as [number, number];
  const nodeCount = s.nodes.length / nf.length;
  const firstEdge = new Int32Array(nodeCount + 1);
  for (let n = 0; n < nodeCount; n++) firstEdge[n + 1] = (firstEdge[n] ?? 0) + (s.nodes[n * nf.length + edgeCountAt] ?? 0) * ef.length;
  const ownerName = (n: number): string | undefined => {
    const type = nodeTypes[s.nodes[n * nf.length + typeAt] ?? 0];
    if (type !== 'object') return undefined;
    const name = s.strings[s.nodes[n * nf.length + nameAt] ?? 0] ?? '';
    return /^[A-Z_#]/.test(name) && !GENERIC.has(name) ? name : undefined;
  };
  const owner = new Array<string | undefined>(nodeCount);
  owner[0] = '(roots)';
  const parent = new Int32Array(nodeCount).fill(-1);
  const parentEdge = new Array<string>(nodeCount);
  const ownerNode = new Int32Array(nodeCount).fill(0);
  const queue = new Int32Array(nodeCount);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const n = queue[head++] ?? 0;
    for (let e = firstEdge[n] ?? 0; e < (firstEdge[n + 1] ?? 0); e += ef.length) {
      if (edgeTypes[s.edges[e + edgeTypeAt] ?? 0] === 'weak') continue;
      const to = (s.edges[e + toAt] ?? 0) / nf.length;
      if (owner[to] !== undefined) continue;
      owner[to] = ownerName(to) ?? owner[n];
      ownerNode[to] = ownerName(to) !== undefined ? to : (ownerNode[n] ?? 0);
      parent[to] = n;
      const et = edgeTypes[s.edges[e + edgeTypeAt] ?? 0];
      const nameOrIndex = s.edges[e + ef.indexOf('name_or_index')] ?? 0;
      parentEdge[to] = et === 'element' || et === 'hidden' ? `[${nameOrIndex}]` : (s.strings[nameOrIndex] ?? '?');
      queue[tail++] = to;
    }
  }
  if (process.env.STATE_HEAP_PATHS) {
    const perInstance = new Map<number, number>();
    for (let n = 0; n < nodeCount; n++) perInstance.set(ownerNode[n] ?? 0, (perInstance.get(ownerNode[n] ?? 0) ?? 0) + 1);
    const label = (n: number): string => `${s.strings[s.nodes[n * nf.length + nameAt] ?? 0] ?? '?'}`.slice(0, 40);
    for (const [n, count] of [...perInstance].sort(([, a], [, b]) => b - a).slice(0, 12)) {
      const chain: string[] = [];
      for (let at = n, hops = 0; at > 0 && hops < 14; hops++, at = parent[at] ?? -1) chain.push(`${label(at)}.${parentEdge[at]}`);
      process.stdout.write(`${count} objects under ${chain.join(' <- ')}\n`);
      const kinds = new Map<string, number>();
      for (let m = 0; m < nodeCount; m++) {
        if (ownerNode[m] !== n) continue;
        const type = nodeTypes[s.nodes[m * nf.length + typeAt] ?? 0] ?? '?';
        const k = type === 'object' ? label(m) : `(${type})`;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      let shown = 0;
      for (let m = 0; m < nodeCount && shown < 3; m++) {
        if (ownerNode[m] !== n || nodeTypes[s.nodes[m * nf.length + typeAt] ?? 0] !== (process.env.STATE_HEAP_TYPE ?? 'concatenated string')) continue;
        shown++;
        const path: string[] = [];
        for (let at = m, hops = 0; at > 0 && hops < 10; hops++, at = parent[at] ?? -1) path.push(`${label(at)}.${parentEdge[at]}`);
        process.stdout.write(`    e.g. ${path.join(' <- ')}\n`);
      }
      process.stdout.write(`    ${[...kinds].sort(([, a], [, b]) => b - a).slice(0, 12).map(([k, c]) => `${k} ${c}`).join(', ')}\n`);
    }
  }
  const byOwner = new Map<string, Group>();
  for (let n = 0; n < nodeCount; n++) {
    const key = owner[n] ?? '(unreachable)';
    const g = byOwner.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[n * nf.length + sizeAt] ?? 0;
    byOwner.set(key, g);
  }
  return byOwner;
}

const top = (map: Map<string, Group>, per: number, n: number): string =>
  [...map].sort(([, a], [, b]) => b.bytes - a.bytes).slice(0, n)
    .map(([k, g]) => `  ${(g.bytes / per).toFixed(0).padStart(6)} B  ${(g.count / per).toFixed(2).padStart(6)} objects  ${k}`).join('\n');

/** Milliseconds of a forced full collection, the median of three. */
function fullGcMs(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    gc();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[1] ?? NaN;
}

class ProxyProcess {
  readonly #child: ChildProcess;
  #waiting: ((reply: ProxyReply) => void) | undefined;

  constructor(kubeconfig: string, dir: string, maxConnections: number) {
    this.#child = fork(fileURLToPath(import.meta.url), ['--proxy', kubeconfig, dir, String(maxConnections)], { execArgv: ['--expose-gc', '--import', 'tsx'] });
    this.#child.on('message', (reply: ProxyReply) => this.#waiting?.(reply));
  }

  ask<R extends ProxyReply>(command: ProxyCommand | undefined): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#child.once('exit', (code) => reject(new Error(`the proxy exited (${code})`)));
      this.#waiting = (reply) => resolve(reply as R);
      if (command) this.#child.send(command);
    });
  }

  stop(): void {
    this.#child.kill();
  }
}

async function main(tenants: number, rate: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'state-heap-'));
  const replay = await ReplayUpstream.start({ dataset: { tenants, namespacesPerTenant: 10, nodes: 100, storageClasses: 2 } });
  const proxy = new ProxyProcess(replay.kubeconfig(dir), dir, tenants * 2);
  try {
    const { port } = await proxy.ask<{ port: number }>(undefined);
    for (const fact of replay.dataset.facts) await openWatch(port, userToken(fact.user));
    const defaults = parseConfig([], {});
    if (defaults.kind !== 'config') throw new Error('unexpected --help');
    const historyMs = defaults.config.watchHistoryMs;
    const t0 = performance.now();
    await replay.emit({ eventsPerSecond: rate * 4, durationMs: historyMs / 4 });
    process.stdout.write(`history filled: ${Math.round((rate * historyMs) / 1000)} changes at ${rate * 4}/s in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    await sleep(2_000);
    const full = await proxy.ask<{ gcMs: number; heapUsed: number }>({ cmd: 'gc' });
    process.stdout.write(`full GC with the history full: ${full.gcMs.toFixed(1)} ms (median of 3), heap used ${(full.heapUsed / 2 ** 20).toFixed(1)} MiB\n`);
    // Both snapshots are written before either is read.
    const before = (await proxy.ask<{ file: string }>({ cmd: 'snapshot', file: path.join(dir, 'before.heapsnapshot') })).file;
    const oldBefore = (await proxy.ask<{ oldSpace: number }>({ cmd: 'old-space' })).oldSpace;
    const { emitted } = await replay.emit({ eventsPerSecond: rate, durationMs: seconds * 1000 });
    const oldAfter = (await proxy.ask<{ oldSpace: number }>({ cmd: 'old-space' })).oldSpace;
    await sleep(2_000);
    const afterFile = (await proxy.ask<{ file: string }>({ cmd: 'snapshot', file: path.join(dir, 'after.heapsnapshot') })).file;
    const beforeSnapshot = readSnapshot(before);
    const objectsBefore = beforeSnapshot.nodes.length / beforeSnapshot.snapshot.meta.node_fields.length;
    const owners = objectsByOwner(beforeSnapshot);
    const after = newObjects(readSnapshot(afterFile), nodeIds(beforeSnapshot));
    process.stdout.write(`${tenants} tenants, ${tenants * 10} namespaces, one watch per tenant\n`);
    process.stdout.write(`heap with the history full: ${(objectsBefore / 1e6).toFixed(2)} M objects; by owner:\n${top(owners, 1, 20)}\n`);
    process.stdout.write(`then ${emitted} changes at ${rate}/s: the old space grew ${((oldAfter - oldBefore) / emitted).toFixed(0)} B per change (no forced GC; a major GC in between makes it smaller)\n`);
    process.stdout.write(`alive afterwards, allocated during those changes: ${(after.total.bytes / emitted).toFixed(0)} B, ${(after.total.count / emitted).toFixed(1)} objects per change\n`);
    process.stdout.write(`by constructor:\n${top(after.byConstructor, emitted, 15)}\nby the older object holding them:\n${top(after.byHolder, emitted, 10)}\n`);
  } finally {
    proxy.stop();
    await replay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const proxyAt = process.argv.indexOf('--proxy');
if (proxyAt >= 0) await runProxy(process.argv[proxyAt + 1] ?? '', process.argv[proxyAt + 2] ?? '', Number(process.argv[proxyAt + 3]));
else await main(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 500), Number(process.argv[4] ?? 20));
