// The benchmarks' replay upstream over loopback HTTPS (no control plane): the dataset, lists with
// pagination and selectors, one global resourceVersion, watches (resume, 410 Expired, bookmarks, deadline,
// selector crossings), paced emission, backpressure on a client that stops reading, the process entry
// point — and, above all, that the proxy's own Reflector syncs from it and receives what it emits.
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { makeDataset, TENANT_LABEL } from '../../bench/dataset.ts';
import { EMITTED_AT_ANNOTATION, ReplayUpstream, userToken, wallClockMs } from '../../bench/replay-upstream.ts';
import { Reflector, type ReflectorEvent } from '../../streams/reflector.ts';
import { NAMESPACES, NODES, PROXY_SETTINGS, STORAGE_CLASSES, TENANTS } from '../../streams/resource-type.ts';
import { createLogger } from '../../src/basics/log.ts';
import { loadUpstream, type Upstream } from '../../src/basics/upstream.ts';
import { waitUntil } from '../support/eventually.ts';
import { KubeHttp } from '../support/kube-http.ts';
import { WatchReader } from '../support/watch-reader.ts';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const test = suite('replay upstream');

interface List {
  kind?: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: { kind?: string; metadata: { name: string; resourceVersion: string; labels?: Record<string, string> } }[];
}

let replay: ReplayUpstream;
let client: KubeHttp;
let dir: string;
const readers: WatchReader[] = [];

async function watch(path: string): Promise<WatchReader> {
  const reader = await WatchReader.open(client, path);
  readers.push(reader);
  return reader;
}

const names = (list: List) => list.items.map((i) => i.metadata.name);
const rvOf = (o: { metadata?: { resourceVersion?: string } } | undefined) => Number(o?.metadata?.resourceVersion);

test.before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'replay-test-'));
  replay = await ReplayUpstream.start({ dataset: { tenants: 30, namespacesPerTenant: 20, nodes: 8, storageClasses: 3 }, bookmarkIntervalMs: 200 });
  client = new KubeHttp(replay.url, { caPem: replay.ca.certPem, token: 'anything' });
});

test.after.each(() => {
  for (const r of readers.splice(0)) r.close();
});

test.after(async () => {
  client.close();
  await replay.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the dataset: tenants owned by users, labelled namespaces, pooled nodes, classes; deterministic', () => {
  const d = makeDataset({ tenants: 3, namespacesPerTenant: 2, nodes: 5, storageClasses: 3, seed: 7 });
  assert.is(d.tenants.length, 3);
  assert.is(d.namespaces.length, 6);
  assert.is(d.nodes.length, 5);
  assert.is(d.storageClasses.length, 3);
  const t1 = d.tenants[1] as unknown as { kind?: string; apiVersion?: string; spec: { owners: { kind: string; name: string }[]; nodeSelector: Record<string, string>; storageClasses: { allowed: string[] } } };
  assert.is(t1.kind, 'Tenant');
  assert.is(t1.apiVersion, 'capsule.clastix.io/v1beta2');
  assert.equal(t1.spec.owners[0], { kind: 'User', name: 'user-t1', proxySettings: [{ kind: 'Nodes', operations: ['List'] }, { kind: 'StorageClasses', operations: ['List'] }] });
  assert.equal(t1.spec.nodeSelector, { pool: 'pool-b' });
  assert.equal(t1.spec.storageClasses.allowed, ['sc-1', 'sc-2']);
  assert.equal(d.namespaces.map((n) => `${n.metadata.name}:${n.metadata.labels?.[TENANT_LABEL]}`), ['t0-ns0:t0', 't0-ns1:t0', 't1-ns0:t1', 't1-ns1:t1', 't2-ns0:t2', 't2-ns1:t2']);
  assert.ok(d.namespaces.every((n) => n.kind === 'Namespace' && n.apiVersion === 'v1'));
  assert.ok(d.nodes.every((n) => n.metadata.labels?.pool?.startsWith('pool-')));
  assert.is(d.tenantOfUser.get('user-t2'), 't2');
  assert.equal(d.factsOf.get('t2'), { tenant: 't2', user: 'user-t2', namespaces: ['t2-ns0', 't2-ns1'], pool: 'pool-c', storageClasses: ['sc-2', 'sc-0'] });
  assert.equal(makeDataset({ tenants: 3, namespacesPerTenant: 2, nodes: 5, storageClasses: 3, seed: 7 }), d);
});

test('health, version and discovery for the types the proxy watches', async () => {
  assert.is((await client.request('GET', '/readyz')).body, 'ok');
  assert.is((await client.request('GET', '/healthz')).status, 200);
  assert.is((await client.json<{ gitVersion: string }>('GET', '/version')).gitVersion, 'v1.20.2-replay');
  const core = await client.json<{ resources: { name: string; verbs: string[] }[] }>('GET', '/api/v1');
  assert.ok(core.resources.some((r) => r.name === 'namespaces' && r.verbs.includes('watch')));
  const groups = await client.json<{ groups: { name: string; preferredVersion: { version: string } }[] }>('GET', '/apis');
  assert.ok(groups.groups.some((g) => g.name === 'capsule.clastix.io'));
  assert.ok(groups.groups.some((g) => g.name === 'storage.k8s.io' && g.preferredVersion.version === 'v1'));
  const storage = await client.json<{ resources: { name: string }[] }>('GET', '/apis/storage.k8s.io/v1');
  assert.equal(storage.resources.map((r) => r.name), ['storageclasses']);
  assert.is((await client.request('GET', '/api/v1/pods')).status, 404);
});

test('list: pages pinned to the first page’s revision, remainingItemCount, 410 for a lost snapshot', async () => {
  const first = await client.json<List>('GET', '/api/v1/namespaces?limit=250');
  assert.is(first.kind, 'NamespaceList');
  assert.is(first.items.length, 250);
  assert.is(first.metadata.remainingItemCount, 350);
  assert.is(first.items[0]?.kind, undefined, 'built-in list items carry no kind');
  const rv = first.metadata.resourceVersion;
  assert.is(rv, replay.resourceVersion);
  // Changes between pages are not seen by later pages.
  replay.modify('t29-ns19');
  replay.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'zzz-late' } });
  const all = [...first.items];
  let cont = first.metadata.continue;
  let pages = 1;
  while (cont) {
    const page = await client.json<List>('GET', `/api/v1/namespaces?limit=250&continue=${encodeURIComponent(cont)}`);
    assert.is(page.metadata.resourceVersion, rv);
    all.push(...page.items);
    cont = page.metadata.continue;
    pages++;
    if (!cont) assert.is(page.metadata.remainingItemCount, undefined);
  }
  assert.is(pages, 3);
  assert.is(all.length, 600);
  const sorted = all.map((i) => i.metadata.name);
  assert.equal(sorted, [...sorted].sort());
  assert.ok(all.every((i) => rvOf(i) <= Number(rv)));
  const now = await client.json<List>('GET', '/api/v1/namespaces');
  assert.is(now.items.length, 601);
  assert.is(Number(now.metadata.resourceVersion), Number(rv) + 2);
  replay.delete('zzz-late');
  const forged = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 3, start: 't1\u0000' })).toString('base64url');
  const expired = await client.request('GET', `/api/v1/namespaces?limit=5&continue=${forged}`);
  assert.is(expired.status, 410);
  assert.is(JSON.parse(expired.body).reason, 'Expired');
  assert.is((await client.request('GET', '/api/v1/namespaces?limit=5&continue=garbage')).status, 400);
});

test('list: label selectors (=, in, !=), field selector metadata.name, custom resources with kind', async () => {
  const one = await client.json<List>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TENANT_LABEL}=t3`)}`);
  assert.equal(names(one), Array.from({ length: 20 }, (_, j) => `t3-ns${j}`).sort());
  assert.is(one.metadata.remainingItemCount, undefined);
  const two = await client.json<List>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TENANT_LABEL} in (t4,t12)`)}&limit=500`);
  assert.is(two.items.length, 40);
  assert.ok(two.items.every((i) => ['t4', 't12'].includes(i.metadata.labels?.[TENANT_LABEL] ?? '')));
  assert.is(two.metadata.continue, undefined);
  // A page of a selected list continues over the same snapshot.
  const paged = await client.json<List>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TENANT_LABEL} in (t4,t12)`)}&limit=15`);
  assert.is(paged.items.length, 15);
  assert.ok(paged.metadata.continue);
  const rest = await client.json<List>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TENANT_LABEL} in (t4,t12)`)}&limit=100&continue=${paged.metadata.continue}`);
  assert.equal([...names(paged), ...names(rest)], names(two));
  const not = await client.json<List>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TENANT_LABEL}!=t3`)}`);
  assert.is(not.items.length, 580);
  const named = await client.json<List>('GET', '/api/v1/namespaces?fieldSelector=metadata.name%3Dt7-ns3');
  assert.equal(names(named), ['t7-ns3']);
  const bad = await client.request('GET', '/api/v1/namespaces?fieldSelector=spec.nope%3Dx');
  assert.is(bad.status, 400);
  assert.is((await client.request('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent('a in (')}`)).status, 400);
  const tenants = await client.json<List>('GET', '/apis/capsule.clastix.io/v1beta2/tenants?limit=10');
  assert.is(tenants.items.length, 10);
  assert.is(tenants.items[0]?.kind, 'Tenant', 'custom resource list items carry their kind');
  assert.is(tenants.metadata.remainingItemCount, 20);
  const pools = await client.json<List>('GET', '/api/v1/nodes?labelSelector=pool%3Dpool-a');
  assert.is(pools.items.length, 2);
  const empty = await client.json<List>('GET', '/apis/capsule.clastix.io/v1beta1/proxysettings');
  assert.equal(empty.items, []);
  assert.is((await client.json<{ metadata: { name: string } }>('GET', '/api/v1/namespaces/t2-ns1')).metadata.name, 't2-ns1');
  assert.is((await client.request('GET', '/api/v1/namespaces/nope')).status, 404);
});

test('one global, strictly increasing resourceVersion across types', async () => {
  const before = Number(replay.resourceVersion);
  const a = replay.modify('t1-ns1');
  const b = replay.modify('node-1', { type: NODES });
  const c = replay.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'sc-new' }, provisioner: 'x' });
  const d = replay.delete('sc-new', STORAGE_CLASSES);
  assert.equal([a, b, c, d].map(rvOf), [before + 1, before + 2, before + 3, before + 4]);
  const nodes = await client.json<List>('GET', '/api/v1/nodes');
  assert.is(nodes.metadata.resourceVersion, String(before + 4));
  assert.is(nodes.items.find((n) => n.metadata.name === 'node-1')?.metadata.resourceVersion, String(before + 2));
});

test('watch: resume after a resourceVersion, in order, as chunked JSON lines; from 0: ADDED for each object first', async () => {
  const from = replay.resourceVersion;
  replay.modify('t5-ns0');
  replay.modify('node-2', { type: NODES });
  replay.modify('t5-ns1');
  const w = await watch(`/api/v1/namespaces?watch=true&resourceVersion=${from}`);
  assert.is(w.status, 200);
  assert.is(w.headers['content-type'], 'application/json');
  assert.is(w.headers['transfer-encoding'], 'chunked');
  const events = await w.waitForCount(2, 'two replayed events');
  assert.equal(events.map((e) => `${e.event.type} ${e.event.object.metadata?.name}`), ['MODIFIED t5-ns0', 'MODIFIED t5-ns1']);
  assert.ok(rvOf(events[0]!.event.object) < rvOf(events[1]!.event.object));
  assert.match(events[0]!.line, /^\{"type":"MODIFIED","object":\{"kind":"Namespace","apiVersion":"v1","metadata":\{"name":"t5-ns0"/);
  const live = replay.modify('t5-ns2');
  const third = await w.waitFor((e) => e.object.metadata?.name === 't5-ns2', 'the live change');
  assert.is(third.event.object.metadata?.resourceVersion, live.metadata.resourceVersion);
  assert.is(w.events.length, 3);

  const tenants = await watch('/apis/capsule.clastix.io/v1beta2/tenants?watch=1&resourceVersion=0');
  await tenants.waitForCount(30, 'an ADDED per tenant');
  assert.ok(tenants.events.every((e) => e.event.type === 'ADDED' && e.event.object.kind === 'Tenant'));
  replay.modify('t0', { type: TENANTS });
  await tenants.waitFor((e) => e.type === 'MODIFIED' && e.object.metadata?.name === 't0', 'the tenant change');
});

test('watch: a resourceVersion older than the history is ERROR 410 Expired, then the stream ends', async () => {
  const small = await ReplayUpstream.start({ dataset: { tenants: 2, namespacesPerTenant: 2, nodes: 1, storageClasses: 1 }, historyEvents: 3 });
  const c = new KubeHttp(small.url, { caPem: small.ca.certPem, token: 'x' });
  try {
    const start = Number(small.resourceVersion);
    for (let i = 0; i < 5; i++) small.modify('t0-ns0');
    const oldest = start + 2; // changes start+1 … start+5; the last 3 are kept
    const ok = await WatchReader.open(c, `/api/v1/namespaces?watch=true&resourceVersion=${oldest}`);
    readers.push(ok);
    await ok.waitForCount(3, 'the three kept changes');
    const w = await WatchReader.open(c, `/api/v1/namespaces?watch=true&resourceVersion=${start}`);
    readers.push(w);
    assert.is(w.status, 200);
    await w.waitForEnd();
    assert.equal(w.events.map((e) => e.line), [`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: ${start} (${oldest})","reason":"Expired","code":410}}`]);
    assert.is(small.stats().watches.expired, 1);
  } finally {
    c.close();
    await small.stop();
  }
});

test('watch: each type keeps its own history of the global revisions; a resume between two of its changes misses nothing', async () => {
  const small = await ReplayUpstream.start({ dataset: { tenants: 2, namespacesPerTenant: 2, nodes: 2, storageClasses: 1 }, historyEvents: 2 });
  const c = new KubeHttp(small.url, { caPem: small.ca.certPem, token: 'x' });
  try {
    const start = Number(small.resourceVersion);
    const nodeNames = small.dataset.nodes.map((n) => n.metadata.name ?? '');
    small.modify(nodeNames[0] ?? '', { type: NODES }); // start+1
    small.modify('t0-ns0'); // start+2
    small.modify(nodeNames[1] ?? '', { type: NODES }); // start+3
    for (let i = 0; i < 3; i++) small.modify('t1-ns0'); // start+4 … start+6: evicts only namespaces
    const nodes = await WatchReader.open(c, `/api/v1/nodes?watch=true&resourceVersion=${start + 2}`);
    readers.push(nodes);
    await nodes.waitForCount(1, 'the node change after the namespace one');
    assert.equal(nodes.events.map((e) => rvOf(e.event.object)), [start + 3]);
    const fromStart = await WatchReader.open(c, `/api/v1/nodes?watch=true&resourceVersion=${start}`);
    readers.push(fromStart);
    await fromStart.waitForCount(2, 'both node changes');
    assert.equal(fromStart.events.map((e) => rvOf(e.event.object)), [start + 1, start + 3]);
    const namespaces = await WatchReader.open(c, `/api/v1/namespaces?watch=true&resourceVersion=${start + 4}`);
    readers.push(namespaces);
    await namespaces.waitForCount(2, 'the two kept namespace changes');
    assert.equal(namespaces.events.map((e) => rvOf(e.event.object)), [start + 5, start + 6]);
    const tooOld = await WatchReader.open(c, `/api/v1/namespaces?watch=true&resourceVersion=${start + 3}`);
    readers.push(tooOld);
    await tooOld.waitForEnd();
    assert.equal(tooOld.events.map((e) => e.event.type), ['ERROR']);
  } finally {
    c.close();
    await small.stop();
  }
});

test('watch: bookmarks only when asked, at the current revision; the stream ends at timeoutSeconds', async () => {
  const started = Date.now();
  const w = await watch('/api/v1/nodes?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=' + replay.resourceVersion);
  const plain = await watch('/api/v1/nodes?watch=true&timeoutSeconds=1&resourceVersion=' + replay.resourceVersion);
  const bookmark = await w.waitFor((e) => e.type === 'BOOKMARK', 'a bookmark');
  assert.equal(bookmark.event.object, { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: replay.resourceVersion, creationTimestamp: null }, spec: {}, status: { daemonEndpoints: { kubeletEndpoint: { Port: 0 } }, nodeInfo: { machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: '', containerRuntimeVersion: '', kubeletVersion: '', kubeProxyVersion: '', operatingSystem: '', architecture: '' } } });
  await w.waitForEnd(5_000);
  await plain.waitForEnd(5_000);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 950 && elapsed < 2_500, `ended after ${elapsed} ms`);
  assert.ok(w.events.length >= 3, `bookmarks every 200 ms: ${w.types()}`);
  assert.equal(plain.events, []);
});

test('watch: a label selector sees only its tenant; leaving it is DELETED, entering it ADDED', async () => {
  const w = await watch(`/api/v1/namespaces?watch=true&resourceVersion=${replay.resourceVersion}&labelSelector=${encodeURIComponent(`${TENANT_LABEL}=t9`)}`);
  const all = await watch(`/api/v1/namespaces?watch=true&resourceVersion=${replay.resourceVersion}`);
  replay.modify('t8-ns0');
  replay.modify('t9-ns0');
  replay.modify('t9-ns1', { labels: { [TENANT_LABEL]: 't10' } });
  replay.modify('t8-ns1', { labels: { [TENANT_LABEL]: 't9' } });
  replay.modify('t9-ns1', { labels: { [TENANT_LABEL]: 't9' } });
  await all.waitForCount(5, 'every change');
  await w.waitForCount(4, 'four events for t9');
  assert.equal(w.events.map((e) => `${e.event.type} ${e.event.object.metadata?.name} ${e.event.object.metadata?.labels?.[TENANT_LABEL]}`), [
    'MODIFIED t9-ns0 t9',
    'DELETED t9-ns1 t9',
    'ADDED t8-ns1 t9',
    'ADDED t9-ns1 t9',
  ]);
  const deleted = w.events[1]!.event.object;
  assert.is(deleted.metadata?.resourceVersion, all.events[2]!.event.object.metadata?.resourceVersion, 'the last visible state at the change’s revision');
  replay.modify('t8-ns1', { labels: { [TENANT_LABEL]: 't8' } });
  await w.waitFor((e) => e.type === 'DELETED' && e.object.metadata?.name === 't8-ns1', 't8-ns1 leaving');
});

test('emit: a fixed schedule at the asked rate, spread round-robin over tenants, stamped with a cross-process clock', async () => {
  const w = await watch(`/api/v1/namespaces?watch=true&resourceVersion=${replay.resourceVersion}`);
  const result = await replay.emit({ eventsPerSecond: 600, durationMs: 1_000, spread: 'tenants' });
  assert.is(result.emitted, 600);
  assert.ok(result.elapsedMs >= 990 && result.elapsedMs < 1_300, `elapsed ${result.elapsedMs} ms`);
  const events = await w.waitForCount(600, 'every emitted event');
  const receivedAt = wallClockMs();
  const stamps = events.map((e) => Number(e.event.object.metadata?.annotations?.[EMITTED_AT_ANNOTATION]));
  assert.ok(stamps.every((s) => Number.isFinite(s) && s <= receivedAt && receivedAt - s < 5_000));
  assert.ok(stamps.every((s, i) => i === 0 || s >= stamps[i - 1]!), 'stamps in emission order');
  // The schedule is even: the stamps span ~1 s and no 100 ms window holds far more than its share.
  const span = stamps[stamps.length - 1]! - stamps[0]!;
  assert.ok(span > 900 && span < 1_300, `span ${span} ms`);
  const perWindow = new Map<number, number>();
  for (const s of stamps) perWindow.set(Math.floor((s - stamps[0]!) / 100), (perWindow.get(Math.floor((s - stamps[0]!) / 100)) ?? 0) + 1);
  assert.ok(Math.max(...perWindow.values()) <= 90, `per 100 ms: ${[...perWindow.values()]}`);
  const perTenant = new Map<string, number>();
  for (const e of events) perTenant.set(e.event.object.metadata?.labels?.[TENANT_LABEL] ?? '', (perTenant.get(e.event.object.metadata?.labels?.[TENANT_LABEL] ?? '') ?? 0) + 1);
  assert.is(perTenant.size, 30);
  assert.ok([...perTenant.values()].every((n) => n === 20), 'round-robin: 20 per tenant');
  const rvs = events.map((e) => rvOf(e.event.object));
  assert.ok(rvs.every((rv, i) => i === 0 || rv > rvs[i - 1]!));
  const random = await replay.emit({ eventsPerSecond: 2_000, durationMs: 250, spread: 'random', tenants: ['t1', 't2'] });
  assert.is(random.emitted, 500);
  await w.waitForCount(1_100, 'the random emission');
  assert.ok(w.events.slice(600).every((e) => ['t1', 't2'].includes(e.event.object.metadata?.labels?.[TENANT_LABEL] ?? '')));
  const running = replay.emit({ eventsPerSecond: 10, durationMs: 100 });
  const second = await replay.emit({ eventsPerSecond: 10, durationMs: 100 }).then(() => 'ran', (err: Error) => err.message);
  assert.match(second, /already running/);
  assert.is((await running).emitted, 1);
});

test('backpressure: a client that stops reading is skipped, then caught up from history, in order and complete', async () => {
  const from = Number(replay.resourceVersion);
  const { req, res } = await new Promise<{ req: ReturnType<typeof https.request>; res: IncomingMessage }>((resolve, reject) => {
    const r = https.request(`${replay.url}/api/v1/namespaces?watch=true&resourceVersion=${from}`, { ca: replay.ca.certPem, agent: false }, (response) => resolve({ req: r, res: response }));
    r.on('error', reject);
    r.end();
  });
  try {
    // Nothing reads: kernel buffers fill, then the socket's, then the watcher is skipped.
    const rss0 = process.memoryUsage().rss;
    let sent = 0;
    while (replay.stats().watches.blocked === 0 && sent < 200_000) {
      for (let i = 0; i < 1_000; i++) replay.modify(`t${i % 30}-ns${(i >> 5) % 20}`);
      sent += 1_000;
      await new Promise((r) => setImmediate(r));
    }
    assert.is(replay.stats().watches.blocked, 1, `blocked after ${sent} changes`);
    for (let i = 0; i < 5_000; i++) replay.modify(`t${i % 30}-ns3`);
    sent += 5_000;
    assert.ok(process.memoryUsage().rss - rss0 < 200 * 2 ** 20, 'no per-client queue');
    const rvs: number[] = [];
    let partial = '';
    res.setEncoding('utf8');
    res.on('data', (text: string) => {
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        rvs.push(rvOf((JSON.parse(partial.slice(0, nl)) as { object: { metadata: { resourceVersion: string } } }).object));
        partial = partial.slice(nl + 1);
      }
    });
    await waitUntil(() => rvs.length >= sent, `all ${sent} changes after resuming (got ${rvs.length})`, 30_000);
    assert.is(rvs.length, sent);
    assert.ok(rvs.every((rv, i) => rv === from + 1 + i), 'every change exactly once, in order');
    assert.is(replay.stats().watches.blocked, 0);
  } finally {
    req.destroy();
  }
});

test('the proxy’s Reflector lists (paginated), syncs and receives emitted events; empty types sync too', async () => {
  const kubeconfig = replay.kubeconfig(dir);
  const upstream: Upstream = await loadUpstream({ kubeconfig });
  const log = createLogger('silent');
  const namespaces = new Reflector(NAMESPACES, upstream, log);
  const tenants = new Reflector(TENANTS, upstream, log);
  const settings = new Reflector(PROXY_SETTINGS, upstream, log);
  const before = replay.stats();
  try {
    const synced = (r: Reflector) => firstValueFrom(r.events$.pipe(filter((e: ReflectorEvent) => e.type === 'SYNCED')));
    const all = [namespaces, tenants, settings];
    const syncs = all.map(synced);
    for (const r of all) r.start();
    await Promise.all(syncs);
    assert.is(namespaces.size, 600);
    assert.is(tenants.size, 30);
    assert.is(settings.size, 0);
    assert.is(namespaces.get('t3-ns3')?.kind, 'Namespace', 'list items typed by the reflector');
    await waitUntil(() => replay.stats().watches.byResource.namespaces !== undefined && replay.stats().watches.byResource['tenants.capsule.clastix.io'] !== undefined, 'the reflectors to watch');
    const received = firstValueFrom(namespaces.events$.pipe(filter((e) => e.type === 'MODIFIED'), take(200), toArray()));
    const { emitted } = await replay.emit({ eventsPerSecond: 1_000, durationMs: 200 });
    assert.is(emitted, 200);
    const events = await received;
    assert.is(events.length, 200);
    const last = events[events.length - 1]!;
    assert.ok(last.type === 'MODIFIED' && last.object.metadata.annotations?.[EMITTED_AT_ANNOTATION] !== undefined);
    assert.is(namespaces.resourceVersion, replay.resourceVersion);
    const after = replay.stats();
    assert.is(after.requestsByResource.namespaces!.list - (before.requestsByResource.namespaces?.list ?? 0), 2, '600 namespaces in two pages of 500');
    assert.is(after.requestsByResource.namespaces!.watch - (before.requestsByResource.namespaces?.watch ?? 0), 1);
    assert.ok(after.connections.open >= 1);
  } finally {
    for (const r of [namespaces, tenants, settings]) r.stop();
    upstream.close();
  }
});

test('TokenReview: userToken(user) is that user; any other token is rejected', async () => {
  const review = (token: string) => client.json<{ status: { authenticated: boolean; user?: { username: string } } }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
  assert.equal((await review(userToken('user-t4'))).status.user?.username, 'user-t4');
  assert.is((await review('nope')).status.authenticated, false);
  const sar = await client.json<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { body: { spec: {} } });
  assert.is(sar.status.allowed, true);
});

test('stats: requests by kind and resource, open watches, writes', async () => {
  const s0 = replay.stats();
  await client.request('GET', '/api/v1/nodes');
  const w = await watch(`/api/v1/nodes?watch=true&resourceVersion=${replay.resourceVersion}`);
  replay.modify('node-3', { type: NODES });
  await w.waitForCount(1, 'the node change');
  const s1 = replay.stats();
  assert.is(s1.requests.list - s0.requests.list, 1);
  assert.is(s1.requests.watch - s0.requests.watch, 1);
  assert.is(s1.requestsByResource.nodes!.watch - (s0.requestsByResource.nodes?.watch ?? 0), 1);
  assert.is(s1.watches.byResource.nodes, 1);
  assert.ok(s1.events.writes > s0.events.writes);
  assert.ok(s1.process.cpuUserMs > 0);
  w.close();
  await waitUntil(() => replay.stats().watches.byResource.nodes === undefined, 'the closed watch to be gone');
});

test('the process entry point: a ready line, JSON commands on stdin, exit on stop', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/replay-upstream.ts'), '--tenants', '3', '--namespaces-per-tenant', '2', '--nodes', '2'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const lines = createInterface({ input: child.stdout });
    const queue: string[] = [];
    const waiters: ((line: string) => void)[] = [];
    lines.on('line', (line) => (waiters.shift() ?? ((l: string) => queue.push(l)))(line));
    const next = () => new Promise<Record<string, unknown>>((resolve) => {
      const take = (line: string) => resolve(JSON.parse(line) as Record<string, unknown>);
      const queued = queue.shift();
      if (queued !== undefined) take(queued);
      else waiters.push(take);
    });
    const send = (command: unknown) => child.stdin.write(`${JSON.stringify(command)}\n`);
    const ready = (await next()) as { url: string; kubeconfig: string; caFile: string };
    assert.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(ready.kubeconfig.endsWith('.kubeconfig') && ready.caFile.endsWith('.crt'));
    const upstream = await loadUpstream({ kubeconfig: ready.kubeconfig });
    const list = JSON.parse((await upstream.json('GET', '/api/v1/namespaces')).body.toString('utf8')) as List;
    upstream.close();
    assert.is(list.items.length, 6);
    send({ cmd: 'emit', eventsPerSecond: 100, durationMs: 200, id: 1 });
    send({ cmd: 'stats', id: 2 });
    const stats = await next();
    assert.is(stats.id, 2);
    assert.is((stats.stats as { requests: { list: number } }).requests.list, 1);
    const emitted = await next();
    assert.equal({ id: emitted.id, ok: emitted.ok, emitted: emitted.emitted }, { id: 1, ok: true, emitted: 20 });
    send({ cmd: 'modify', name: 't1-ns1' });
    assert.is((await next()).ok, true);
    send({ cmd: 'nope' });
    assert.is((await next()).ok, false);
    send({ cmd: 'stop' });
    assert.equal(await next(), { ok: true });
    assert.is(await exited, 0);
  } finally {
    child.kill();
  }
});

test('bench/replay-cost.ts runs at a tiny size (its figures are the replay’s own CPU per event and write)', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/replay-cost.ts'), '--watchers', '3', '--rate', '200', '--seconds', '0.5', '--tenants', '4', '--namespaces-per-tenant', '2'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.is(code, 0);
  const figures = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { emitted: number; watcherWrites: number; linesReceived: number; cpuUsPerEvent: number };
  assert.is(figures.emitted, 100);
  assert.is(figures.watcherWrites, 300);
  assert.is(figures.linesReceived, 300);
  assert.ok(figures.cpuUsPerEvent > 0);
});

test.run();
