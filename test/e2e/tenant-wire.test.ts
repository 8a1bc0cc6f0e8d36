// The wire semantics of what the proxy serves a tenant owner, one by one, over raw HTTP (and a
// websocket), each checked against what the real kube-apiserver answers admin for the same query where
// the two can be compared: LIST (selectors, limit/continue, resourceVersion/resourceVersionMatch, bad
// input), WATCH (watch=true|1, resume, initial events, bookmarks and deadlines, sendInitialEvents, too
// old resourceVersions, websockets), Table output (list, get, watch, includeObject), 406, self access
// reviews, and 429 until the proxy's informers have synced.
//
// The oracle for selections: the apiserver's answer to the same selector as admin, narrowed to the
// tenant by its label (`<selector>,capsule.clastix.io/tenant=<tenant>`), must name the same namespaces.
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { VIEW_HISTORY_CAPACITY } from '../../src/views/view.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually, waitUntil } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, TENANT_LABEL, type OwnerInput } from '../support/fixtures.ts';
import { KubeHttp, type Credentials, type HttpResult } from '../support/kube-http.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxyLacking } from '../support/limited-proxy.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader, type WatchEvent } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  proxy: RunningProxy;
  ownerCredentials: Credentials;
  /** the tenant owner through the proxy */
  owner: KubeHttp;
  /** the same owner straight to the apiserver */
  ownerDirect: KubeHttp;
  saToken: string;
  tenant: KubeObject;
}

const test = suite<Context>('tenant wire semantics, as the apiserver');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const OWNER = `wire-owner-${suffix}`;
const SA = { namespace: 'default', name: `wire-sa-${suffix}` };
const TENANT = `wire-${suffix}`;
const OTHER_TENANT = `wirex-${suffix}`;
const ns = (id: string): string => `wire-${suffix}-${id}`;
const OTHER_NS = `wirex-${suffix}-a`;
const OTHER_OWNER = `wirex-owner-${suffix}`;
/** Namespaces of the tenant and their labels; `e` is held Terminating by a finalizer. */
const NAMESPACES: Record<string, Record<string, string>> = {
  a: { tier: 'web', env: 'prod' },
  b: { tier: 'web', env: 'dev' },
  c: { tier: 'db', env: 'prod' },
  d: { tier: 'db' },
  e: { env: 'staging' },
};
const HOLD_FINALIZER = 'tenant-proxy.test/hold';
const owners: OwnerInput[] = [{ kind: 'User', name: OWNER }, { kind: 'ServiceAccount', name: `system:serviceaccount:${SA.namespace}:${SA.name}` }];

const NS = '/api/v1/namespaces';
const TENANTS = '/apis/capsule.clastix.io/v1beta2/tenants';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const TENANT_SELECTOR = `${TENANT_LABEL}=${TENANT}`;
const NAMESPACE = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

interface List {
  kind: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

interface Status {
  kind: string;
  code: number;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[]; retryAfterSeconds?: number };
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.proxy = await startProxy(ctx.cp);
  ctx.saToken = await ctx.cp.serviceAccountToken(SA.namespace, SA.name);
  ctx.tenant = await createTenant(ctx.cp.admin, { name: TENANT, owners });
  for (const [id, labels] of Object.entries(NAMESPACES)) await addTenantNamespace(ctx.cp.admin, ctx.tenant, ns(id), owners, labels);
  // Another tenant, with a namespace matching the same selectors: never shown to this owner.
  const other = await createTenant(ctx.cp.admin, { name: OTHER_TENANT, owners: [{ kind: 'User', name: OTHER_OWNER }] });
  await addTenantNamespace(ctx.cp.admin, other, OTHER_NS, [], { tier: 'web', env: 'prod' });
  // e: Terminating until its finalizer is removed (after the tests).
  await patch(ctx.cp.admin, NAMESPACE(ns('e')), { metadata: { finalizers: [HOLD_FINALIZER] } });
  await remove(ctx.cp.admin, NAMESPACE(ns('e')));
  ctx.ownerCredentials = await ctx.cp.clientCertificate(OWNER);
  ctx.owner = ctx.proxy.client(ctx.ownerCredentials);
  ctx.ownerDirect = new KubeHttp(ctx.cp.server, ctx.ownerCredentials);
  const phaseOf = (l: List, name: string) => (l.items.find((n) => n.metadata.name === name)?.status as { phase?: string } | undefined)?.phase;
  await eventually(() => ownerList(ctx, ''), (l) => l.items.length === 5 && phaseOf(l, ns('e')) === 'Terminating', 'the tenant namespaces (e Terminating) through the proxy');
});

test.after(async (ctx) => {
  ctx.ownerDirect?.close();
  await ctx.proxy?.stop();
  const admin = ctx.cp.admin;
  await patch(admin, NAMESPACE(ns('e')), { metadata: { finalizers: null } }).catch(() => {});
  for (const id of Object.keys(NAMESPACES)) await remove(admin, NAMESPACE(ns(id))).catch(() => {});
  await remove(admin, NAMESPACE(OTHER_NS)).catch(() => {});
  await deleteTenant(admin, TENANT).catch(() => {});
  await deleteTenant(admin, OTHER_TENANT).catch(() => {});
  await remove(admin, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: SA }).catch(() => {});
});

// ── helpers ──

const query = (params: Record<string, string>): string => new URLSearchParams(params).toString();

async function ownerList(ctx: Context, q: string, client: KubeHttp = ctx.owner): Promise<List> {
  return client.json<List>('GET', `${NS}${q ? `?${q}` : ''}`);
}

/** The apiserver's selection of this tenant's namespaces for `params` (its labelSelector narrowed to the tenant). */
async function oracleNames(ctx: Context, params: Record<string, string>): Promise<string[]> {
  const narrowed = { ...params, labelSelector: params.labelSelector ? `${params.labelSelector},${TENANT_SELECTOR}` : TENANT_SELECTOR };
  const list = await ctx.cp.admin.json<List>('GET', `${NS}?${query(narrowed)}`);
  return list.items.map((n) => n.metadata.name);
}

const names = (list: List): string[] => list.items.map((n) => n.metadata.name);

function parseStatus(r: HttpResult): Status {
  return JSON.parse(r.body) as Status;
}

/** A resourceVersion the proxy hands out: an upstream revision, or `<rv>.<seq>`. */
function position(rv: string | undefined): [number, number] {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(rv ?? '');
  if (!m) throw new Error(`not a resourceVersion the proxy hands out: ${String(rv)}`);
  return [Number(m[1]), Number(m[2] ?? 0)];
}

function compareRv(a: string | undefined, b: string | undefined): number {
  const [ar, as] = position(a);
  const [br, bs] = position(b);
  return ar !== br ? ar - br : as - bs;
}

function nameOf(e: WatchEvent): string | undefined {
  return e.object.metadata?.name;
}

/** Runs `work` over `items` with at most `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

// ── LIST ──

const LABEL_SELECTORS = [
  '', 'tier=web', 'tier==web', 'tier!=web', 'tier in (web,db)', 'tier in (web)', 'tier notin (web)', 'env notin (prod,dev)', 'env', '!env', 'tier,!env',
  'tier=web,env=prod', 'env in (prod),tier notin (db)', 'env!=prod,tier', ' tier = db ', 'missing', '!missing', 'tier in (nothing)',
];

test('LIST labelSelector: every operator selects what the apiserver selects', async (ctx) => {
  const failures: string[] = [];
  for (const selector of LABEL_SELECTORS) {
    const params: Record<string, string> = selector ? { labelSelector: selector } : {};
    const ours = names(await ownerList(ctx, query(params)));
    const theirs = await oracleNames(ctx, params);
    if (ours.join() !== theirs.join()) failures.push(`labelSelector=${JSON.stringify(selector)}: proxy ${JSON.stringify(ours)}, apiserver ${JSON.stringify(theirs)}`);
  }
  assert.is(failures.join('\n'), '');
  assert.not.ok(names(await ownerList(ctx, query({ labelSelector: 'tier=web' }))).includes(OTHER_NS), "another tenant's namespace never matches");
});

test('LIST fieldSelector: metadata.name and status.phase select what the apiserver selects', async (ctx) => {
  const failures: string[] = [];
  const selectors = [`metadata.name=${ns('a')}`, `metadata.name==${ns('b')}`, `metadata.name!=${ns('a')}`, 'status.phase=Active', 'status.phase=Terminating', 'status.phase!=Active',
    `metadata.name=${ns('e')},status.phase=Terminating`, `metadata.name=${ns('e')},status.phase=Active`, `metadata.name=${OTHER_NS}`];
  for (const selector of selectors) {
    const ours = names(await ownerList(ctx, query({ fieldSelector: selector })));
    const theirs = await oracleNames(ctx, { fieldSelector: selector });
    if (ours.join() !== theirs.join()) failures.push(`fieldSelector=${selector}: proxy ${JSON.stringify(ours)}, apiserver ${JSON.stringify(theirs)}`);
  }
  // Both selectors at once.
  const both = { labelSelector: 'env', fieldSelector: 'status.phase=Active' };
  const ours = names(await ownerList(ctx, query(both)));
  const theirs = await oracleNames(ctx, both);
  if (ours.join() !== theirs.join()) failures.push(`${query(both)}: proxy ${JSON.stringify(ours)}, apiserver ${JSON.stringify(theirs)}`);
  assert.is(failures.join('\n'), '');
  assert.equal(names(await ownerList(ctx, query({ fieldSelector: 'status.phase=Terminating' }))), [ns('e')], 'the selection is not empty');
});

/** [query, Table?] — each answered by the apiserver with an error, which the proxy must repeat. */
const BAD_QUERIES: [string, boolean?][] = [
  ['labelSelector=a+in'],
  ['labelSelector=!!a'],
  ['labelSelector=a%3D%3D%3Db'],
  ['labelSelector=tier+in+(web'],
  ['fieldSelector=spec.finalizers%3Dkubernetes'],
  ['fieldSelector=metadata.namespace%3Dx'],
  ['fieldSelector=metadata.name'],
  ['fieldSelector=status.phase%3DActive,foo%3Dbar'],
  ['limit=abc'],
  ['limit=1.5'],
  ['timeoutSeconds=x'],
  ['resourceVersion=abc'],
  ['resourceVersion=-1'],
  ['resourceVersionMatch=Exact'],
  ['resourceVersionMatch=NotOlderThan'],
  ['resourceVersionMatch=Exact&resourceVersion=0'],
  ['resourceVersionMatch=foo&resourceVersion=1'],
  ['resourceVersionMatch=NotOlderThan&resourceVersion=1&continue=abc'],
  ['resourceVersionMatch=Exact&resourceVersion=1&watch=1'],
  ['watch=1&labelSelector=a+in'],
  ['watch=1&fieldSelector=spec.x%3Dy'],
  ['includeObject=foo', true],
  ['includeObject=metadata', true],
];

test('bad input: the apiserver status code and message, for list and watch', async (ctx) => {
  const failures: string[] = [];
  for (const [q, table = false] of BAD_QUERIES) {
    const headers = table ? { accept: TABLE_ACCEPT } : {};
    const theirs = await ctx.cp.admin.request('GET', `${NS}?${q}`, { headers });
    const ours = await ctx.owner.request('GET', `${NS}?${q}`, { headers });
    if (theirs.status < 400) throw new Error(`${q}: the apiserver accepts it (${theirs.status}); not a bad-input case`);
    let same = ours.status === theirs.status;
    try {
      assert.equal(parseStatus(ours), parseStatus(theirs));
    } catch {
      same = false;
    }
    if (!same) failures.push(`${q}${table ? ' (Table)' : ''}\n    apiserver: ${theirs.status} ${theirs.body.trim()}\n    proxy:     ${ours.status} ${ours.body.trim()}`);
  }
  assert.is(failures.join('\n'), '', `${failures.length} of ${BAD_QUERIES.length} differ`);
});

test('LIST sendInitialEvents: forbidden for a list (422), as a current apiserver', async (ctx) => {
  const r = await ctx.owner.request('GET', `${NS}?sendInitialEvents=true`);
  assert.is(r.status, 422);
  const status = parseStatus(r);
  assert.is(status.reason, 'Invalid');
  assert.match(status.message ?? '', 'sendInitialEvents is forbidden for list');
});

test('LIST limit/continue: pages of one snapshot, with the first page resourceVersion and remainingItemCount', async (ctx) => {
  const all = await ownerList(ctx, '');
  const expected = names(all);
  assert.is(expected.length, 5);
  const first = await ownerList(ctx, query({ limit: '2' }));
  assert.equal(names(first), expected.slice(0, 2));
  assert.is(first.metadata.remainingItemCount, 3);
  assert.type(first.metadata.continue, 'string');
  const rv = first.metadata.resourceVersion;
  position(rv);

  // A namespace joins the tenant between pages, sorting into the pages still to come: later pages keep
  // the first page's snapshot, as the apiserver's do.
  const joiner = ns('bb');
  await addTenantNamespace(ctx.cp.admin, ctx.tenant, joiner, owners);
  try {
    await eventually(() => ownerList(ctx, ''), (l) => names(l).includes(joiner), 'the joiner through the proxy');
    const second = await ownerList(ctx, query({ limit: '2', continue: first.metadata.continue ?? '' }));
    assert.equal(names(second), expected.slice(2, 4));
    assert.is(second.metadata.resourceVersion, rv, 'the first page resourceVersion');
    assert.is(second.metadata.remainingItemCount, 1);
    const third = await ownerList(ctx, query({ limit: '2', continue: second.metadata.continue ?? '' }));
    assert.equal(names(third), expected.slice(4));
    assert.is(third.metadata.resourceVersion, rv);
    assert.is(third.metadata.continue, undefined, 'no continue on the last page');
    assert.is(third.metadata.remainingItemCount, undefined, 'no remainingItemCount on the last page');
    // A fresh list sees the joiner.
    assert.ok(names(await ownerList(ctx, query({ limit: '10' }))).includes(joiner));
    // With a selector, remainingItemCount is omitted (as the apiserver does).
    const selected = await ownerList(ctx, query({ limit: '1', labelSelector: 'tier' }));
    assert.is(selected.items.length, 1);
    assert.type(selected.metadata.continue, 'string');
    assert.is(selected.metadata.remainingItemCount, undefined);
    const theirs = await ctx.cp.admin.json<List>('GET', `${NS}?${query({ limit: '1', labelSelector: `tier,${TENANT_SELECTOR}` })}`);
    assert.is(theirs.metadata.remainingItemCount, undefined, 'the apiserver omits it too');
  } finally {
    await remove(ctx.cp.admin, NAMESPACE(joiner));
  }
});

test('LIST continue: a token may be used again, as with the apiserver', async (ctx) => {
  // The apiserver: a continue token is not consumed; asking again gives the same page.
  const theirs = await ctx.cp.admin.json<List>('GET', `${NS}?${query({ limit: '2', labelSelector: TENANT_SELECTOR })}`);
  const theirToken = theirs.metadata.continue ?? '';
  const theirPages = [];
  for (let i = 0; i < 2; i++) theirPages.push(names(await ctx.cp.admin.json<List>('GET', `${NS}?${query({ limit: '10', labelSelector: TENANT_SELECTOR, continue: theirToken })}`)));
  assert.equal(theirPages[0], theirPages[1], 'the apiserver gives the same page twice');

  const first = await ownerList(ctx, query({ limit: '2' }));
  const token = first.metadata.continue ?? '';
  const rest = await ctx.owner.request('GET', `${NS}?${query({ limit: '10', continue: token })}`);
  assert.is(rest.status, 200, rest.body);
  const again = await ctx.owner.request('GET', `${NS}?${query({ limit: '10', continue: token })}`);
  assert.is(again.status, 200, `the same token, once more: ${again.body}`);
  assert.equal(names(JSON.parse(again.body) as List), names(JSON.parse(rest.body) as List));
});

test('LIST continue: a malformed token is 400, with the apiserver message', async (ctx) => {
  // Not base64url, not JSON, not a known token version, no version at all.
  const failures: string[] = [];
  for (const token of ['%%%', 'garbage', 'eyJ2Ijoibm9wZSJ9', 'e30']) {
    const q = `limit=2&continue=${encodeURIComponent(token)}`;
    const theirs = await ctx.cp.admin.request('GET', `${NS}?${q}`);
    const ours = await ctx.owner.request('GET', `${NS}?${q}`);
    assert.is(theirs.status, 400, `the apiserver: continue=${token}`);
    assert.is(ours.status, 400, `continue=${token}: ${ours.body}`);
    try {
      assert.equal(parseStatus(ours), parseStatus(theirs));
    } catch {
      failures.push(`continue=${token}\n    apiserver: ${parseStatus(theirs).message}\n    proxy:     ${parseStatus(ours).message}`);
    }
  }
  assert.is(failures.join('\n'), '');
});

test('LIST continue: a token the proxy no longer has (another replica, a restart) is 410 Expired', async (ctx) => {
  const first = await ownerList(ctx, query({ limit: '2' }));
  const token = first.metadata.continue ?? '';
  const other = await startProxy(ctx.cp);
  try {
    const client = other.client(ctx.ownerCredentials);
    await eventually(() => client.request('GET', NS), (r) => r.status === 200, 'the second proxy serves');
    const r = await client.request('GET', `${NS}?${query({ limit: '2', continue: token })}`);
    assert.is(r.status, 410, r.body);
    const status = parseStatus(r);
    assert.is(status.reason, 'Expired');
    assert.match(status.message ?? '', /^The provided continue parameter is too old to display a consistent list result\./);
  } finally {
    await other.stop();
  }
});

test('LIST resourceVersion: the list resourceVersion covers its items; 0, NotOlderThan and Exact are served', async (ctx) => {
  const before = await ownerList(ctx, '');
  for (const item of before.items) assert.ok(compareRv(item.metadata.resourceVersion, before.metadata.resourceVersion) <= 0, `${item.metadata.name} is not newer than the list`);
  const patched = await patch(ctx.cp.admin, NAMESPACE(ns('a')), { metadata: { labels: { rvtest: suffix } } });
  const after = await eventually(() => ownerList(ctx, ''), (l) => l.items.some((n) => n.metadata.labels?.rvtest === suffix), 'the change through the proxy');
  assert.ok(compareRv(after.metadata.resourceVersion, patched.metadata.resourceVersion) >= 0, `list ${after.metadata.resourceVersion} ≥ change ${patched.metadata.resourceVersion}`);
  assert.ok(compareRv(after.metadata.resourceVersion, before.metadata.resourceVersion) > 0, 'the list resourceVersion moved forward');

  const rv = after.metadata.resourceVersion ?? '';
  const queries: Record<string, string>[] = [{ resourceVersion: '0' }, { resourceVersion: rv }, { resourceVersion: rv, resourceVersionMatch: 'NotOlderThan' }, { resourceVersion: before.metadata.resourceVersion ?? '', resourceVersionMatch: 'NotOlderThan' }, { resourceVersion: rv, resourceVersionMatch: 'Exact' }];
  for (const q of queries) {
    const r = await ctx.owner.request('GET', `${NS}?${query(q)}`);
    assert.is(r.status, 200, `${query(q)}: ${r.body}`);
    const list = JSON.parse(r.body) as List;
    assert.equal(names(list), names(after), query(q));
    assert.ok(compareRv(list.metadata.resourceVersion, q.resourceVersion) >= 0, `${query(q)}: not older than asked`);
  }
  const exact = await ownerList(ctx, query({ resourceVersion: rv, resourceVersionMatch: 'Exact' }));
  assert.is(exact.metadata.resourceVersion, rv, 'Exact answers at exactly that resourceVersion');
  // The proxy keeps no past states: Exact before the view's last change is what the apiserver answers
  // for a compacted revision.
  const past = await ctx.owner.request('GET', `${NS}?${query({ resourceVersion: before.metadata.resourceVersion ?? '', resourceVersionMatch: 'Exact' })}`);
  assert.is(past.status, 410, past.body);
  assert.is((JSON.parse(past.body) as { reason?: string }).reason, 'Expired');
});

test('LIST resourceVersion newer than anything: 504 Timeout "Too large resource version" after ~3 s, as the apiserver', async (ctx) => {
  const current = (await ctx.cp.admin.json<List>('GET', `${NS}?limit=1`)).metadata.resourceVersion ?? '0';
  const future = String(Number(current) + 1_000_000);
  const timed = async (client: KubeHttp) => {
    const started = Date.now();
    const r = await client.request('GET', `${NS}?resourceVersion=${future}`);
    return { r, ms: Date.now() - started };
  };
  const [ours, theirs] = await Promise.all([timed(ctx.owner), timed(ctx.cp.admin)]);
  assert.is(theirs.r.status, 504);
  assert.is(ours.r.status, 504, ours.r.body);
  assert.ok(ours.ms >= 2_500 && ours.ms < 8_000, `answered after ${ours.ms} ms (the apiserver: ${theirs.ms} ms)`);
  const current$ = (s: Status) => ({ ...s, message: (s.message ?? '').replace(/current: \S+$/, 'current: <rv>') });
  assert.equal(current$(parseStatus(ours.r)), current$(parseStatus(theirs.r)));
  assert.match(parseStatus(ours.r).message ?? '', `Timeout: Too large resource version: ${future}, current: `);
  // A watch waits and answers the same, before accepting the stream.
  const watch = await ctx.owner.request('GET', `${NS}?watch=1&resourceVersion=${future}`);
  assert.is(watch.status, 504);
  assert.is(parseStatus(watch).reason, 'Timeout');
});

// ── WATCH ──

test('WATCH watch=true|1: 200 JSON stream; resourceVersion unset or "0" gives the initial ADDED events first; watch=false is a list', async (ctx) => {
  const expected = names(await ownerList(ctx, ''));
  for (const q of ['watch=true', 'watch=1', 'watch=1&resourceVersion=0', 'watch=True']) {
    const w = await WatchReader.open(ctx.owner, `${NS}?${q}&timeoutSeconds=30`);
    try {
      assert.is(w.status, 200, q);
      assert.is(w.headers['content-type'], 'application/json', q);
      assert.is(w.headers['transfer-encoding'], 'chunked', q);
      const initial = await w.waitForCount(expected.length, `${expected.length} initial events (${q})`);
      assert.equal(initial.map((e) => e.event.type), expected.map(() => 'ADDED'), q);
      assert.equal(initial.map((e) => nameOf(e.event)).sort(), [...expected].sort(), q);
      assert.ok(initial.every((e) => e.event.object.kind === 'Namespace' && e.event.object.apiVersion === 'v1'), `${q}: typed objects`);
    } finally {
      w.close();
    }
  }
  // After the initial events, changes as they happen.
  const w = await WatchReader.open(ctx.owner, `${NS}?watch=1&timeoutSeconds=30`);
  try {
    await w.waitForCount(expected.length, 'the initial events');
    await patch(ctx.cp.admin, NAMESPACE(ns('c')), { metadata: { labels: { live: suffix } } });
    const modified = await w.waitFor((e) => e.object.metadata?.labels?.live === suffix, 'the change');
    assert.is(modified.event.type, 'MODIFIED');
    assert.is(w.events.length, expected.length + 1, 'nothing else');
  } finally {
    w.close();
  }
  for (const q of ['watch=false', 'watch=0']) {
    const list = await ownerList(ctx, q);
    assert.is(list.kind, 'NamespaceList', q);
  }
});

test('WATCH resume from a list resourceVersion: only the changes after it', async (ctx) => {
  const list = await ownerList(ctx, '');
  const rv = list.metadata.resourceVersion ?? '';
  await patch(ctx.cp.admin, NAMESPACE(ns('b')), { metadata: { labels: { resumed: suffix } } });
  const w = await WatchReader.open(ctx.owner, `${NS}?watch=true&resourceVersion=${rv}&timeoutSeconds=30`);
  try {
    assert.is(w.status, 200);
    const change = await w.waitFor((e) => e.object.metadata?.labels?.resumed === suffix, 'the change after the list');
    assert.is(change, w.events[0], 'it is the first event: no initial ADDED');
    assert.is(change.event.type, 'MODIFIED');
    assert.is(nameOf(change.event), ns('b'));
    assert.ok(compareRv(change.event.object.metadata?.resourceVersion, rv) > 0);
  } finally {
    w.close();
  }
  // From a resourceVersion after that change: nothing.
  const later = await eventually(() => ownerList(ctx, ''), (l) => l.items.some((n) => n.metadata.labels?.resumed === suffix), 'the change through the proxy');
  const quiet = await WatchReader.open(ctx.owner, `${NS}?watch=true&resourceVersion=${later.metadata.resourceVersion ?? ''}&timeoutSeconds=2`);
  await quiet.waitForEnd(10_000);
  assert.equal(quiet.types(), [], 'no events from a resourceVersion after every change');
});

test('WATCH allowWatchBookmarks + timeoutSeconds: a BOOKMARK ~2 s before the deadline, then the stream ends without ERROR (as the apiserver)', async (ctx) => {
  const rv = (await ownerList(ctx, '')).metadata.resourceVersion ?? '';
  const adminRv = (await ctx.cp.admin.json<List>('GET', `${NS}?limit=1`)).metadata.resourceVersion ?? '';
  // (The 1.20 apiserver sends no bookmarks to a watch with a label selector, so its reference watch has none.)
  const [ours, plain, theirs] = await Promise.all([
    WatchReader.open(ctx.owner, `${NS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=${rv}`),
    WatchReader.open(ctx.owner, `${NS}?watch=1&timeoutSeconds=4&resourceVersion=${rv}`),
    WatchReader.open(ctx.cp.admin, `${NS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=${adminRv}`),
  ]);
  // One change early on (the apiserver bookmarks only a revision newer than what the watch has seen).
  await patch(ctx.cp.admin, NAMESPACE(ns('c')), { metadata: { labels: { bookmarked: suffix } } });
  const [end, plainEnd, theirEnd] = await Promise.all([ours.waitForEnd(15_000), plain.waitForEnd(15_000), theirs.waitForEnd(15_000)]);
  assert.ok(theirs.types().includes('BOOKMARK'), `the apiserver bookmarks too (${theirs.types().join()})`);
  assert.is(theirs.types().at(-1), 'BOOKMARK', 'the apiserver: a bookmark last');
  assert.not.ok([...ours.types(), ...theirs.types()].includes('ERROR'), 'no ERROR at the deadline');
  assert.equal(ours.types(), ['MODIFIED', 'BOOKMARK'], 'the proxy: the change, then one bookmark');
  const bookmark = ours.events[1];
  const theirBookmark = theirs.events.at(-1);
  assert.ok(bookmark && theirBookmark);
  assert.ok(bookmark.atMs >= 2_500 && bookmark.atMs < 5_000, `bookmark at ${bookmark.atMs} ms (the apiserver: ${theirBookmark.atMs} ms)`);
  assert.ok(end >= 4_500 && end < 7_000, `ended at ${end} ms (the apiserver: ${theirEnd} ms)`);
  assert.is(bookmark.event.object.kind, 'Namespace');
  assert.is(bookmark.event.object.apiVersion, 'v1');
  assert.equal(Object.keys(bookmark.event.object.metadata ?? {}).sort(), Object.keys(theirBookmark.event.object.metadata ?? {}).sort(), 'the same metadata fields as the apiserver bookmark');
  assert.ok(compareRv(bookmark.event.object.metadata?.resourceVersion, ours.events[0]?.event.object.metadata?.resourceVersion) >= 0, 'the bookmark does not go back');
  assert.equal(plain.types(), ['MODIFIED'], 'no bookmarks unless asked');
  assert.ok(plainEnd >= 3_500 && plainEnd < 6_000, `the plain watch ended at ${plainEnd} ms`);
});

test('WATCH with a labelSelector: an object entering the selection is ADDED, leaving it DELETED (as the apiserver)', async (ctx) => {
  const rv = (await ownerList(ctx, '')).metadata.resourceVersion ?? '';
  const adminRv = (await ctx.cp.admin.json<List>('GET', `${NS}?limit=1`)).metadata.resourceVersion ?? '';
  const ours = await WatchReader.open(ctx.owner, `${NS}?${query({ watch: '1', timeoutSeconds: '30', resourceVersion: rv, labelSelector: 'tier=web' })}`);
  const theirs = await WatchReader.open(ctx.cp.admin, `${NS}?${query({ watch: '1', timeoutSeconds: '30', resourceVersion: adminRv, labelSelector: `tier=web,${TENANT_SELECTOR}` })}`);
  try {
    await patch(ctx.cp.admin, NAMESPACE(ns('d')), { metadata: { labels: { tier: 'web' } } });
    await patch(ctx.cp.admin, NAMESPACE(ns('d')), { metadata: { labels: { tier: 'web', selected: suffix } } });
    const leaving = await patch(ctx.cp.admin, NAMESPACE(ns('d')), { metadata: { labels: { tier: 'db', selected: null } } });
    await patch(ctx.cp.admin, NAMESPACE(ns('c')), { metadata: { labels: { unselected: suffix } } }); // never selected
    await patch(ctx.cp.admin, NAMESPACE(ns('a')), { metadata: { labels: { selected: suffix } } }); // the last one
    for (const w of [ours, theirs]) await w.waitFor((e) => nameOf(e) === ns('a'), 'the last change');
    const seen = (w: WatchReader) => w.events.map((e) => `${e.event.type} ${nameOf(e.event) ?? ''} ${e.event.object.metadata?.labels?.tier ?? ''}`);
    assert.equal(seen(ours), seen(theirs));
    assert.equal(seen(ours), [`ADDED ${ns('d')} web`, `MODIFIED ${ns('d')} web`, `DELETED ${ns('d')} web`, `MODIFIED ${ns('a')} web`]);
    // The DELETED carries the last selected state, at the revision of the change that unselected it.
    for (const w of [ours, theirs]) assert.is(w.events[2]?.event.object.metadata?.resourceVersion, leaving.metadata.resourceVersion);
  } finally {
    ours.close();
    theirs.close();
  }
});

test('WATCH legacy /api/v1/watch/ paths: the collection, and one named object only (as the apiserver)', async (ctx) => {
  const expected = names(await ownerList(ctx, ''));
  const collection = await WatchReader.open(ctx.owner, '/api/v1/watch/namespaces?timeoutSeconds=2');
  await collection.waitForEnd(10_000);
  assert.is(collection.status, 200);
  assert.equal(collection.events.map((e) => nameOf(e.event)).sort(), [...expected].sort());
  const path = `/api/v1/watch/namespaces/${ns('b')}?timeoutSeconds=2`;
  const [ours, theirs] = [await WatchReader.open(ctx.owner, path), await WatchReader.open(ctx.cp.admin, path)];
  await Promise.all([ours.waitForEnd(10_000), theirs.waitForEnd(10_000)]);
  const seen = (w: WatchReader) => w.events.map((e) => `${e.event.type} ${nameOf(e.event) ?? ''}`);
  assert.equal(seen(theirs), [`ADDED ${ns('b')}`]);
  assert.equal(seen(ours), seen(theirs), `${path}: only ${ns('b')}`);
});

test('WATCH sendInitialEvents=true&resourceVersionMatch=NotOlderThan: initial ADDED, then a BOOKMARK marking their end, then changes', async (ctx) => {
  const expected = names(await ownerList(ctx, ''));
  const w = await WatchReader.open(ctx.owner, `${NS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=60`);
  try {
    assert.is(w.status, 200);
    const end = await w.waitFor((e) => e.type === 'BOOKMARK', 'the initial-events-end bookmark');
    const initial = w.events.slice(0, w.events.indexOf(end));
    assert.equal(initial.map((e) => e.event.type), expected.map(() => 'ADDED'));
    assert.equal(initial.map((e) => nameOf(e.event)).sort(), [...expected].sort());
    assert.equal(end.event.object.metadata?.annotations, { 'k8s.io/initial-events-end': 'true' });
    assert.is(end.event.object.kind, 'Namespace');
    await patch(ctx.cp.admin, NAMESPACE(ns('d')), { metadata: { labels: { afterinitial: suffix } } });
    const change = await w.waitFor((e) => e.object.metadata?.labels?.afterinitial === suffix, 'a change after the bookmark');
    assert.is(change.event.type, 'MODIFIED');
    assert.ok(compareRv(change.event.object.metadata?.resourceVersion, end.event.object.metadata?.resourceVersion) > 0);
  } finally {
    w.close();
  }
});

test('WATCH from a resourceVersion older than the view history: HTTP 200, one ERROR 410 Expired, then the stream closes', async (ctx) => {
  // A tenant of its own, so that its view's history can be overrun without disturbing the others.
  const churnOwner = `churn-owner-${suffix}`;
  const churnTenant = await createTenant(ctx.cp.admin, { name: `churn-${suffix}`, owners: [{ kind: 'User', name: churnOwner }], namespaces: [`churn-${suffix}-a`] });
  const churnNs = NAMESPACE(`churn-${suffix}-a`);
  const client = ctx.proxy.client(await ctx.cp.clientCertificate(churnOwner));
  try {
    const start = await eventually(() => client.json<List>('GET', NS), (l) => l.items.length === 1, 'the churn namespace through the proxy');
    const rv = start.metadata.resourceVersion ?? '';
    // More changes than the view keeps, then a last one to know when the proxy has seen them all.
    const flips = Array.from({ length: VIEW_HISTORY_CAPACITY + 50 }, (_, i) => i);
    await pool(flips, 8, async (i) => void (await patch(ctx.cp.admin, churnNs, { metadata: { labels: { flip: String(i) } } })));
    await patch(ctx.cp.admin, churnNs, { metadata: { labels: { flip: 'done' } } });
    const now = await eventually(() => client.json<List>('GET', NS), (l) => l.items[0]?.metadata.labels?.flip === 'done', 'the last flip through the proxy', 30_000);

    const w = await WatchReader.open(client, `${NS}?watch=true&resourceVersion=${rv}`);
    const ended = await w.waitForEnd(10_000);
    assert.is(w.status, 200, 'the watch is accepted');
    assert.equal(w.types(), ['ERROR'], `one ERROR event, then the end (at ${ended} ms)`);
    const status = w.events[0]?.event.object as unknown as Status & { apiVersion: string; status: string; metadata: unknown };
    const m = /^too old resource version: (\S+) \((\S+)\)$/.exec(status.message ?? '');
    assert.ok(m, `message: ${status.message}`);
    assert.is(m[1], rv);
    assert.ok(compareRv(m[2], rv) > 0, 'the oldest resumable resourceVersion is newer');
    assert.equal(status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: status.message, reason: 'Expired', code: 410 });

    // A resume from within the history still works.
    const fresh = await WatchReader.open(client, `${NS}?watch=true&resourceVersion=${now.metadata.resourceVersion ?? ''}&timeoutSeconds=2`);
    await fresh.waitForEnd(10_000);
    assert.equal(fresh.types(), []);
  } finally {
    await remove(ctx.cp.admin, churnNs);
    await deleteTenant(ctx.cp.admin, churnTenant.metadata.name);
  }
});

test('WATCH over a websocket (bearer token subprotocol): one event per text message', async (ctx) => {
  const expected = names(await ownerList(ctx, ''));
  const tokenProtocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(ctx.saToken).toString('base64url')}`;
  const ws = new WebSocket(`wss://127.0.0.1:${ctx.proxy.port}${NS}?watch=true&timeoutSeconds=60`, [tokenProtocol, 'base64.binary.k8s.io'], { ca: ctx.proxy.caPem });
  const messages: { data: string; binary: boolean }[] = [];
  ws.on('message', (data, isBinary) => messages.push({ data: (data as Buffer).toString('utf8'), binary: isBinary }));
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    assert.is(ws.protocol, 'base64.binary.k8s.io', 'the other protocol is echoed, the token is not');
    await waitUntil(() => messages.length >= expected.length, `${expected.length} initial messages`);
    const events = messages.map((m) => JSON.parse(m.data) as WatchEvent);
    assert.ok(messages.every((m) => !m.binary), 'text messages');
    assert.equal(events.map((e) => e.type), expected.map(() => 'ADDED'));
    assert.equal(events.map(nameOf).sort(), [...expected].sort());
    await patch(ctx.cp.admin, NAMESPACE(ns('a')), { metadata: { labels: { websocket: suffix } } });
    await waitUntil(() => messages.some((m) => m.data.includes(`"websocket":"${suffix}"`)), 'the change as a message');
    const last = JSON.parse(messages.at(-1)?.data ?? '{}') as WatchEvent;
    assert.is(last.type, 'MODIFIED');
    assert.is(nameOf(last), ns('a'));
    assert.is(messages.length, expected.length + 1, 'one message per event');
  } finally {
    ws.terminate();
  }
});

// ── Table ──

type Table = { kind: string; apiVersion: string; metadata: Record<string, unknown>; columnDefinitions: unknown[] | null; rows: { cells: unknown[]; object: unknown }[] | null };
/** Rows without their Age cell (it ticks). */
const rowsWithoutAge = (t: Table) => (t.rows ?? []).map((r) => ({ ...r, cells: r.cells.slice(0, 2) }));

test('Table: list and get, as the apiserver prints them (columns, cells, row objects)', async (ctx) => {
  const headers = { accept: TABLE_ACCEPT };
  const ours = await ctx.owner.json<Table>('GET', NS, { headers });
  const theirs = await ctx.cp.admin.json<Table>('GET', `${NS}?${query({ labelSelector: TENANT_SELECTOR })}`, { headers });
  assert.is(ours.kind, 'Table');
  assert.is(ours.apiVersion, 'meta.k8s.io/v1');
  assert.equal(ours.columnDefinitions, theirs.columnDefinitions);
  assert.equal(rowsWithoutAge(ours), rowsWithoutAge(theirs));
  assert.type(ours.metadata.resourceVersion, 'string');
  for (const row of ours.rows ?? []) assert.match(String(row.cells[2]), /^\d+(s|m)/);

  const oursGet = await ctx.owner.json<Table>('GET', `${NS}/${ns('e')}`, { headers });
  const theirsGet = await ctx.cp.admin.json<Table>('GET', `${NS}/${ns('e')}`, { headers });
  assert.equal({ ...oursGet, rows: rowsWithoutAge(oursGet) }, { ...theirsGet, rows: rowsWithoutAge(theirsGet) });
  assert.equal(oursGet.rows?.[0]?.cells.slice(0, 2), [ns('e'), 'Terminating']);
  // Outside the view: the apiserver's 404, also in Table form.
  const hidden = await ctx.owner.request('GET', `${NS}/${OTHER_NS}`, { headers });
  assert.is(hidden.status, 404);
  assert.equal(parseStatus(hidden), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `namespaces "${OTHER_NS}" not found`, reason: 'NotFound', details: { name: OTHER_NS, kind: 'namespaces' }, code: 404 } as unknown as Status);
});

test('Table: includeObject None|Metadata|Object, as the apiserver', async (ctx) => {
  const headers = { accept: TABLE_ACCEPT };
  for (const includeObject of ['None', 'Metadata', 'Object']) {
    const ours = await ctx.owner.json<Table>('GET', `${NS}?includeObject=${includeObject}`, { headers });
    const theirs = await ctx.cp.admin.json<Table>('GET', `${NS}?${query({ includeObject, labelSelector: TENANT_SELECTOR })}`, { headers });
    assert.equal(rowsWithoutAge(ours), rowsWithoutAge(theirs), `list, includeObject=${includeObject}`);
    const oursGet = await ctx.owner.json<Table>('GET', `${NS}/${ns('a')}?includeObject=${includeObject}`, { headers });
    const theirsGet = await ctx.cp.admin.json<Table>('GET', `${NS}/${ns('a')}?includeObject=${includeObject}`, { headers });
    assert.equal(rowsWithoutAge(oursGet), rowsWithoutAge(theirsGet), `get, includeObject=${includeObject}`);
  }
  const none = await ctx.owner.json<Table>('GET', `${NS}?includeObject=None`, { headers });
  assert.ok((none.rows ?? []).every((r) => r.object === null), 'None: no objects');
});

test('Table: a watch sends one-row Tables, column definitions only in the first event (as the apiserver)', async (ctx) => {
  const headers = { accept: TABLE_ACCEPT };
  const expected = names(await ownerList(ctx, ''));
  const ours = await WatchReader.open(ctx.owner, `${NS}?watch=1&timeoutSeconds=30`, { headers });
  const theirs = await WatchReader.open(ctx.cp.admin, `${NS}?watch=1&timeoutSeconds=30&${query({ labelSelector: TENANT_SELECTOR })}`, { headers });
  try {
    await ours.waitForCount(expected.length, 'our initial events');
    await theirs.waitForCount(expected.length, 'their initial events');
    await patch(ctx.cp.admin, NAMESPACE(ns('b')), { metadata: { labels: { tablewatch: suffix } } });
    const match = (e: WatchEvent) => JSON.stringify(e.object).includes(`"tablewatch":"${suffix}"`);
    await ours.waitFor(match, 'our MODIFIED');
    await theirs.waitFor(match, 'their MODIFIED');
    const shape = (r: WatchReader) => r.events.map(({ event }) => {
      const t = event.object as unknown as Table;
      return { type: event.type, kind: t.kind, apiVersion: t.apiVersion, columns: t.columnDefinitions === null ? null : 'present', rows: (t.rows ?? []).length };
    });
    assert.equal(shape(ours), shape(theirs));
    const first = ours.events[0]?.event.object as unknown as Table;
    const theirFirst = theirs.events[0]?.event.object as unknown as Table;
    assert.equal(first.columnDefinitions, theirFirst.columnDefinitions);
    for (const e of ours.events.slice(1)) assert.ok(e.line.includes('"columnDefinitions":null'), 'later events: "columnDefinitions":null');
    const lastOurs = ours.events.at(-1)?.event.object as unknown as Table;
    const lastTheirs = theirs.events.at(-1)?.event.object as unknown as Table;
    assert.equal({ ...lastOurs, rows: rowsWithoutAge(lastOurs) }, { ...lastTheirs, rows: rowsWithoutAge(lastTheirs) }, 'the MODIFIED Table');
  } finally {
    ours.close();
    theirs.close();
  }
});

test('406: a request accepting only protobuf (which the proxy does not serve) is Not Acceptable', async (ctx) => {
  for (const path of [NS, `${NS}/${ns('a')}`, `${NS}?watch=1`, TENANTS]) {
    const r = await ctx.owner.request('GET', path, { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    assert.is(r.status, 406, `${path}: ${r.body}`);
    const status = parseStatus(r);
    assert.is(status.reason, 'NotAcceptable');
    assert.is(status.code, 406);
  }
  // With JSON as a fallback the proxy answers JSON.
  const r = await ctx.owner.request('GET', NS, { headers: { accept: 'application/vnd.kubernetes.protobuf, application/json' } });
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), 'application/json');
});

test('406: the apiserver Status body for media types nobody serves', async (ctx) => {
  const failures: string[] = [];
  for (const [path, accept] of [[NS, 'text/plain'], [TENANTS, 'text/plain'], [NS, 'application/json;as=Foo'], [NS, 'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io'], [TENANTS, 'application/json;as=Foo']] as const) {
    const theirs = await ctx.cp.admin.request('GET', path, { headers: { accept } });
    const ours = await ctx.owner.request('GET', path, { headers: { accept } });
    assert.is(theirs.status, 406);
    if (ours.status !== 406 || ours.body !== theirs.body) failures.push(`${path} Accept: ${accept}\n    apiserver: ${theirs.status} ${JSON.stringify(theirs.body)}\n    proxy:     ${ours.status} ${JSON.stringify(ours.body)}`);
  }
  assert.is(failures.join('\n'), '');
});

// ── self reviews ──

test('SelfSubjectAccessReview: list/watch namespaces allowed for the owner; the rest as upstream decides', async (ctx) => {
  const review = (resourceAttributes: Record<string, string>) => ({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } } });
  const path = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
  for (const verb of ['list', 'watch']) {
    const r = await ctx.owner.request('POST', path, review({ verb, resource: 'namespaces' }));
    assert.is(r.status, 201, r.body);
    const answer = JSON.parse(r.body) as { kind: string; apiVersion: string; status: { allowed: boolean } };
    assert.is(answer.kind, 'SelfSubjectAccessReview');
    assert.is(answer.apiVersion, 'authorization.k8s.io/v1');
    assert.is(answer.status.allowed, true, `${verb} namespaces`);
    const direct = await ctx.ownerDirect.json<{ status: { allowed: boolean } }>('POST', path, review({ verb, resource: 'namespaces' }));
    assert.is(direct.status.allowed, false, 'directly, RBAC says no');
  }
  const others: Record<string, string>[] = [{ verb: 'list', resource: 'nodes' }, { verb: 'delete', resource: 'namespaces' }, { verb: 'create', resource: 'pods', namespace: ns('a') }, { verb: 'create', resource: 'pods', namespace: OTHER_NS }];
  for (const attributes of others) {
    const ours = await ctx.owner.json<{ status: { allowed: boolean } }>('POST', path, review(attributes));
    const theirs = await ctx.ownerDirect.json<{ status: { allowed: boolean } }>('POST', path, review(attributes));
    assert.is(ours.status.allowed, theirs.status.allowed, JSON.stringify(attributes));
  }
});

test('SelfSubjectRulesReview: the upstream rules plus read rules for namespaces', async (ctx) => {
  const path = '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews';
  type Rule = { verbs: string[]; apiGroups?: string[]; resources?: string[] };
  type Rules = { kind: string; status: { resourceRules: Rule[] } };
  const readsNamespaces = (r: Rule) => (r.apiGroups ?? []).includes('') && (r.resources ?? []).includes('namespaces') && ['get', 'list', 'watch'].every((v) => r.verbs.includes(v));
  // In a namespace where the owner has no binding (upstream grants nothing there) and in one of hers.
  for (const namespace of ['default', ns('a')]) {
    const body = { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } } };
    const r = await ctx.owner.request('POST', path, body);
    assert.is(r.status, 201, r.body);
    const ours = JSON.parse(r.body) as Rules;
    const theirs = await ctx.ownerDirect.json<Rules>('POST', path, body);
    assert.is(ours.kind, 'SelfSubjectRulesReview');
    assert.ok(ours.status.resourceRules.some(readsNamespaces), `${namespace}: a rule to read namespaces`);
    if (namespace === 'default') assert.not.ok(theirs.status.resourceRules.some(readsNamespaces), 'which upstream does not give there');
    for (const rule of theirs.status.resourceRules) assert.ok(ours.status.resourceRules.some((o) => JSON.stringify(o) === JSON.stringify(rule)), `${namespace}: the upstream rule ${JSON.stringify(rule)} is kept`);
  }
});

// ── readiness ──

function assertTooManyRequests(r: HttpResult, what: string): void {
  assert.is(r.status, 429, `${what}: ${r.status} ${r.body}`);
  assert.is(r.headers['retry-after'], '1', `${what}: Retry-After`);
  const status = parseStatus(r);
  assert.is(status.reason, 'TooManyRequests');
  assert.is(status.details?.retryAfterSeconds, 1);
}

test('429 with Retry-After while an informer has not synced (RoleBindings not listable yet), then the answer once it has', async (ctx) => {
  const lacking = await startProxyLacking(ctx.cp, `norb-${suffix}`, { group: 'rbac.authorization.k8s.io', resource: 'rolebindings' });
  try {
    const owner = lacking.proxy.client(ctx.ownerCredentials);
    // Tenants and namespaces sync (the proxy then knows the owner), RoleBindings never do.
    await eventually(() => owner.request('GET', NS), (r) => r.status !== 403, 'the owner recognised as a tenant user');
    for (const p of [NS, `${NS}/${ns('a')}`, `${NS}?watch=1`, TENANTS]) assertTooManyRequests(await owner.request('GET', p), p);
    const ready = await fetch(`http://127.0.0.1:${lacking.proxy.metricsPort}/readyz`);
    assert.is(ready.status, 503, 'not ready either');
    // Admin is forwarded as ever.
    assert.is((await lacking.proxy.client(ctx.cp.adminCredentials()).request('GET', NS)).status, 200);
    await lacking.grant();
    const served = await eventually(() => owner.request('GET', NS), (r) => r.status !== 429, 'served once the RoleBindings informer has synced', 60_000, 250);
    assert.is(served.status, 200, served.body);
    assert.equal(names(JSON.parse(served.body) as List), names(await ownerList(ctx, '')));
  } finally {
    await lacking.cleanup();
  }
});

test('429 with Retry-After while the tenants themselves have not synced (never a forwarded Forbidden)', async (ctx) => {
  const lacking = await startProxyLacking(ctx.cp, `notnt-${suffix}`, { group: 'capsule.clastix.io', resource: 'tenants' });
  try {
    // An owner only through the Tenant (no RoleBinding anywhere): the proxy cannot know who he is yet.
    const loneOwner = lacking.proxy.client(await ctx.cp.clientCertificate(OTHER_OWNER));
    // An owner who is also a RoleBinding subject in the tenant namespaces (known from the bindings).
    const owner = lacking.proxy.client(ctx.ownerCredentials);
    // Every informer that can sync has synced: RoleBindings make the bound owner known.
    await eventually(() => owner.request('GET', NS), (r) => r.status === 429, 'the bound owner held back');
    assertTooManyRequests(await owner.request('GET', `${NS}/${ns('a')}`), 'get namespace, bound owner');
    assertTooManyRequests(await loneOwner.request('GET', NS), 'list namespaces, owner through the Tenant only');
    assertTooManyRequests(await loneOwner.request('GET', TENANTS), 'list tenants, owner through the Tenant only');
  } finally {
    await lacking.cleanup();
  }
});

test.run();
