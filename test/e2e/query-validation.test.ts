// src/query against the real kube-apiserver v1.20.2: every query string of the table goes to the apiserver
// as admin, and parseListOptions (+ parseResourceVersion, as the cache will call it) must throw a
// StatusError whose Status deep-equals the apiserver's, or succeed where the apiserver answers 200. Then
// the selectors that parse are matched against labelled namespaces, storage classes and tenants, and must
// select exactly what the apiserver's filtering selects.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { StatusError, type Status } from '../../src/basics/status.ts';
import { parseListOptions, parseRawQuery, parseResourceVersion } from '../../src/query/list-options.ts';
import { parseLabelSelector } from '../../src/query/label-selector.ts';
import { parseFieldSelector } from '../../src/query/field-selector.ts';

interface Context {
  cp: ControlPlane;
}

const test = suite<Context>('list options and selectors, as kube-apiserver v1.20.2 validates and filters them');
const suffix = Math.random().toString(36).slice(2, 7);
const prefix = `qv-${suffix}-`;
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

const NS = '/api/v1/namespaces';
const NODES = '/api/v1/nodes';
const SC = '/apis/storage.k8s.io/v1/storageclasses';
const TENANTS = '/apis/capsule.clastix.io/v1beta2/tenants';

const ls = (selector: string): string => `labelSelector=${encodeURIComponent(selector)}`;
const fs = (selector: string): string => `fieldSelector=${encodeURIComponent(selector)}`;

/** [collection path, raw query, Table?] */
type Case = [string, string, boolean?];

const LABEL_SELECTORS = [
  '', ' ', 'a', 'a=b', 'a==b', 'a!=b', 'a in (b)', 'a notin (b)', '!a', 'a,b', 'a=b,c!=d', ' a = b , c ', 'a\t=\tb', 'a\n=\nb', 'a\r\n,b',
  'a=', 'a==', 'a!=', 'a in ()', 'a notin ()', 'a in (,)', 'a in (b,)', 'a in (,b)', 'a in (b,,c)', 'a in (b c)', 'a in b', 'a in (b', 'a in',
  'a notin', 'a in (b))', 'a in ((b))', 'a in (=)', 'in in (in)', 'notin notin (notin)', 'in', '!in', 'a=in', 'a>1', 'a<1', 'a>b', 'a>', 'a>1.5',
  'a>-1', 'a>=1', 'a=<1', 'a<>1', ',', 'a,', ',a', 'a,,b', 'a b', 'a=b c', 'a=b=c', 'a=!b', '!!a', '!a=b', '!a in (b)', '!', '!=', '==a', '=a',
  '(a)', ')', 'a)', 'a=(b)', 'a=b,', 'a=b,,', 'a=b)', 'A=B', 'a.b/c=d', 'example.com/team=a', 'Example.com/a', '/a', 'a/', 'a/b/c', '-a', 'a-',
  'a_b.c-d=e_f.g-h', '_a', 'a=_b', 'a=-b', 'a=b-', 'a=b_', `a=${'v'.repeat(63)}`, `a=${'v'.repeat(64)}`, `${'k'.repeat(63)}`, `${'k'.repeat(64)}`,
  `${'p'.repeat(254)}/a`, `${'p.'.repeat(125)}pp/a`, 'é', 'a=é', 'a=\u200b', 'a=\u00ad', 'a=\u{1F600}', 'a=\x01', 'a=\x7f', 'a="b"', 'a=b\\c', 'a=b\0c', '\0a=b',
  'a=b\0', 'x in (b),y notin (c,d),!z,w', 'a>1,a<9', 'a in (b),a notin (b)', '/', 'A_/-', 'a/-b', 'a.-b/c', 'a in (b,c', 'a in (b),', '!a,', 'a=b,!',
  'a in (b,c) , d notin (e)', 'a>9223372036854775807', 'a>9223372036854775808', 'a<01', 'a>+1', 'a>1>2', 'a in (b) c', 'a notin(b)', 'a in(b)', 'a in (,=)', 'a in (b,=)', 'a=b)c',
];

const FIELD_SELECTORS = [
  '', ',', 'metadata.name=x', 'metadata.name==x', 'metadata.name!=x', 'metadata.name=', 'metadata.name', '=', '==', '!=', '=x', '!=x', 'x',
  'metadata.name=x,', ',metadata.name=x', 'metadata.name=x,,status.phase=Active', 'metadata.name=a=b', 'metadata.name=a\\=b', 'metadata.name=a\\,b',
  'metadata.name=a\\\\b', 'metadata.name=a\\b', 'metadata.name=a\\', 'metadata.name=a\\é', 'metadata.name=a,b', 'metadata.name=a\\', 'status.phase=Active',
  'status.phase!=Active', 'spec.unschedulable=true', 'metadata.namespace=', 'metadata.namespace=x', 'metadata.namespace!=x', 'name=x', 'foo=bar',
  'foo=bar,metadata.name=x', 'zzz=1,aaa=2', 'b=1,a=2=3', 'metadata.name = x', ' metadata.name=x', 'metadata.name!==x', 'metadata.name=!x', 'Metadata.Name=x',
];

const OPTIONS = [
  'limit=abc', 'limit=-1', 'limit=0', 'limit=500', 'limit=%2B5', 'limit=-0', 'limit=007', 'limit=', 'limit', 'limit=1.5', 'limit=1e3', 'limit=0x10',
  'limit=1_000', 'limit=%205', 'limit=9223372036854775807', 'limit=9223372036854775808', 'limit=-9223372036854775808', 'limit=-9223372036854775809',
  'limit=99999999999999999999', 'limit=99999999999999999999x', 'limit=18446744073709551615x', 'limit=%C3%A9', 'limit=abc&limit=5', 'limit=5&limit=abc',
  'limit=abc;', 'limit=%zz', 'limit=+', 'limit=-', 'timeoutSeconds=x', 'timeoutSeconds=-5', 'timeoutSeconds=x&limit=y', 'limit=y&labelSelector=!!',
  'labelSelector=!!&fieldSelector=a=b=c', 'fieldSelector=foo=bar&resourceVersionMatch=Exact', 'fieldSelector=a=b=c&resourceVersionMatch=Exact',
  'resourceVersionMatch=Exact', 'resourceVersionMatch=NotOlderThan', 'resourceVersionMatch=', 'resourceVersionMatch=exact', 'resourceVersionMatch=foo',
  'resourceVersionMatch=foo&resourceVersion=5', 'resourceVersionMatch=Exact&resourceVersion=0', 'resourceVersionMatch=exact&resourceVersion=0',
  'resourceVersionMatch=NotOlderThan&resourceVersion=0', 'resourceVersionMatch=NotOlderThan&resourceVersion=1', 'resourceVersionMatch=Exact&continue=x',
  'resourceVersionMatch=Exact&resourceVersion=5&continue=x', 'resourceVersionMatch=foo&continue=x&watch=1', 'resourceVersionMatch=%22%C3%A9%0A%22',
  'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=true', 'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=false',
  'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=0', 'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=FaLsE',
  'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=fal%C5%BFe', 'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch',
  'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=maybe', 'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=no',
  'resourceVersionMatch=NotOlderThan&resourceVersion=1&watch=false&watch=true', 'resourceVersionMatch=Exact&watch=1&timeoutSeconds=x',
  'labelSelector=a+in+(b)', 'labelSelector=a+%3D+b+c', 'fieldSelector=metadata.name%3Dx+y', 'fieldSelector=metadata.name+%3D+x',
  'watch=maybe&timeoutSeconds=1', 'watch=1&timeoutSeconds=1&allowWatchBookmarks=yes', 'watch=1&timeoutSeconds=1&labelSelector=a%20in',
  'resourceVersion=abc', 'resourceVersion=%2B5', 'resourceVersion=-1', 'resourceVersion=', 'resourceVersion=0', 'resourceVersion=1',
  'resourceVersion=18446744073709551616', 'resourceVersion=abc&watch=1&timeoutSeconds=1', 'resourceVersion=abc&labelSelector=a%3D%3D%3D',
];

const TABLE_OPTIONS = ['includeObject=foo', 'includeObject=', 'includeObject=Metadata', 'includeObject=Object', 'includeObject=None', 'includeObject=metadata',
  'includeObject=NONE', 'includeObject=foo&limit=x', 'includeObject=foo&resourceVersionMatch=x', 'includeObject=foo&fieldSelector=x%3Dy',
  'includeObject=foo&watch=1&timeoutSeconds=1', 'includeObject=%C3%A9&includeObject=None', 'includeObject=None&includeObject=%C3%A9'];

const CASES: Case[] = [
  ...LABEL_SELECTORS.map((s): Case => [NS, ls(s)]),
  ...FIELD_SELECTORS.flatMap((s): Case[] => [NS, NODES, SC, TENANTS].map((p): Case => [p, fs(s)])),
  ...OPTIONS.map((q): Case => [NS, q]),
  ...['limit=abc', 'resourceVersionMatch=foo', 'labelSelector=a%3D%3D%3D', 'fieldSelector=spec.unschedulable%3Dfalse'].map((q): Case => [TENANTS, q]),
  ...TABLE_OPTIONS.flatMap((q): Case[] => [[NS, q, true], [NS, q, false], [SC, q, true], [TENANTS, q, true]]),
];

function groupAndResource(path: string): [string, string] {
  const parts = path.split('/');
  return path.startsWith('/api/') ? ['', parts[3] ?? ''] : [parts[2] ?? '', parts[4] ?? ''];
}

/** What the proxy answers: undefined for "serve it", else the Status. */
function ours(path: string, query: string, table: boolean): Status | undefined {
  const [group, resource] = groupAndResource(path);
  try {
    const options = parseListOptions(parseRawQuery(query), group, resource, { table });
    if (options.continue === '') parseResourceVersion(options.resourceVersion);
    return undefined;
  } catch (err) {
    if (err instanceof StatusError) return err.status;
    throw err;
  }
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
});

test(`${CASES.length} query strings: the same Status as the apiserver, or success where it answers 200`, async (ctx) => {
  const failures: string[] = [];
  for (const [path, query, table = false] of CASES) {
    const r = await ctx.cp.admin.request('GET', `${path}?${query}`, table ? { headers: { accept: TABLE_ACCEPT } } : {});
    const theirs = r.status === 200 ? undefined : (JSON.parse(r.body) as Status);
    if (r.status !== 200 && theirs?.kind !== 'Status') throw new Error(`${path}?${query}: ${r.status} ${r.body}`);
    const mine = ours(path, query, table);
    try {
      assert.equal(mine, theirs);
    } catch {
      failures.push(`${path}?${query}${table ? ' (Table)' : ''}\n    apiserver: ${r.status} ${JSON.stringify(theirs)}\n    ours:      ${JSON.stringify(mine)}`);
    }
  }
  assert.equal(failures, [], `${failures.length} of ${CASES.length} differ:\n${failures.join('\n')}`);
});

// ── filtering ──

type KubeObject = Record<string, unknown> & { metadata: { name: string; labels?: Record<string, string> } };
interface ListBody {
  items: KubeObject[];
}

const NAMESPACE_LABELS: Record<string, Record<string, string>> = {
  web: { tier: 'web', env: 'prod', 'example.com/team': 'a', num: '5' },
  db: { tier: 'db', env: 'dev', num: '12' },
  blank: { tier: '', env: 'prod', num: '007' },
  bare: {},
  odd: { tier: 'web', in: 'notin', num: 'x', 'a.b-c_d': 'E.f-G_h' },
};

const MATCH_LABEL_SELECTORS = [
  '', 'tier=web', 'tier==web', 'tier!=web', 'tier in (web,db)', 'tier notin (web)', 'tier', '!tier', 'tier=', 'tier!=', 'tier in ()', 'tier notin ()',
  'tier in (,web)', 'env=prod,tier', 'env=prod,!tier', 'example.com/team=a', '!example.com/team', 'num>6', 'num<6', 'num>0', 'num<7', 'num>06', 'num<9223372036854775807', 'num>9',
  'in=notin', 'in in (notin)', ' tier = web ', 'env in (prod),!num', 'a.b-c_d=E.f-G_h', 'tier in (web),tier notin (web)', '\0tier=none',
];

async function listNames(cp: ControlPlane, path: string, query: string, mine: ReadonlySet<string>): Promise<string[]> {
  const body = await cp.admin.json<ListBody>('GET', `${path}?${query}`);
  return body.items.map((o) => o.metadata.name).filter((n) => mine.has(n)).sort();
}

async function compareFiltering(cp: ControlPlane, path: string, objects: readonly KubeObject[], labelSelectors: readonly string[], fieldSelectors: readonly string[]): Promise<void> {
  const [group, resource] = groupAndResource(path);
  const mine = new Set(objects.map((o) => o.metadata.name));
  const failures: string[] = [];
  const outcomes = new Set<string>();
  for (const selector of labelSelectors) {
    const parsed = parseLabelSelector(selector);
    const expected = await listNames(cp, path, ls(selector), mine);
    outcomes.add(expected.join(' '));
    const got = objects.filter((o) => parsed.matches(o.metadata.labels)).map((o) => o.metadata.name).sort();
    if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`labelSelector=${JSON.stringify(selector)}: apiserver ${expected.join(' ')} / ours ${got.join(' ')}`);
  }
  for (const selector of fieldSelectors) {
    const parsed = parseFieldSelector(selector, group, resource);
    const expected = await listNames(cp, path, fs(selector), mine);
    const got = objects.filter((o) => parsed.matches(o)).map((o) => o.metadata.name).sort();
    if (JSON.stringify(got) !== JSON.stringify(expected)) failures.push(`fieldSelector=${JSON.stringify(selector)}: apiserver ${expected.join(' ')} / ours ${got.join(' ')}`);
  }
  assert.equal(failures, []);
  assert.ok(outcomes.size >= 5, `the label selectors should select varied sets, got ${[...outcomes].join(' | ')}`);
}

async function create(cp: ControlPlane, path: string, body: Record<string, unknown>): Promise<KubeObject> {
  return cp.admin.json<KubeObject>('POST', path, { body });
}

test('label and field selectors on namespaces select what the apiserver selects', async (ctx) => {
  const objects: KubeObject[] = [];
  try {
    for (const [id, labels] of Object.entries(NAMESPACE_LABELS)) objects.push(await create(ctx.cp, NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${prefix}${id}`, labels } }));
    const [first = '', second = ''] = objects.map((o) => o.metadata.name);
    const fieldSelectors = ['', `metadata.name=${first}`, `metadata.name==${second}`, `metadata.name!=${first}`, 'status.phase=Active', 'status.phase!=Active',
      `metadata.name=${first},status.phase=Active`, `metadata.name=${first},metadata.name=${second}`, 'metadata.name=', '=', 'status.phase='];
    await compareFiltering(ctx.cp, NS, objects, MATCH_LABEL_SELECTORS, fieldSelectors);
  } finally {
    for (const o of objects) await ctx.cp.admin.request('DELETE', `${NS}/${o.metadata.name}`);
  }
});

test('selectors on storage classes and tenants (a cluster-scoped custom resource) select what the apiserver selects', async (ctx) => {
  const classes: KubeObject[] = [];
  const tenants: KubeObject[] = [];
  try {
    for (const [id, labels] of Object.entries(NAMESPACE_LABELS).slice(0, 3)) {
      classes.push(await create(ctx.cp, SC, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: `${prefix}${id}`, labels }, provisioner: 'example.com/none' }));
      tenants.push(await create(ctx.cp, TENANTS, { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: `${prefix}${id}`, labels }, spec: { owners: [{ kind: 'User', name: `nobody-${suffix}` }] } }));
    }
    const first = classes[0]?.metadata.name ?? '';
    await compareFiltering(ctx.cp, SC, classes, MATCH_LABEL_SELECTORS.slice(0, 12), ['', `metadata.name=${first}`, `metadata.name!=${first}`, 'metadata.namespace=', 'metadata.namespace=x', 'metadata.namespace!=x', 'metadata.namespace!=']);
    await compareFiltering(ctx.cp, TENANTS, tenants, MATCH_LABEL_SELECTORS.slice(0, 12), ['', `metadata.name=${first}`, `metadata.name!=${first}`]);
  } finally {
    for (const o of classes) await ctx.cp.admin.request('DELETE', `${SC}/${o.metadata.name}`);
    for (const o of tenants) await ctx.cp.admin.request('DELETE', `${TENANTS}/${o.metadata.name}`);
  }
});

// ── sendInitialEvents: 1.20 ignores it, so these follow a current apiserver's messages (in memory) ──

const invalid = (...causes: [string, string][]): Status => {
  const messages = causes.map(([field, body]) => `${field}: ${body}`);
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 422, reason: 'Invalid',
    message: `ListOptions.meta.k8s.io "" is invalid: ${messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`}`,
    details: { group: 'meta.k8s.io', kind: 'ListOptions', causes: causes.map(([field, body]) => ({ reason: body.startsWith('Forbidden') ? 'FieldValueForbidden' : 'FieldValueNotSupported', message: body, field })) },
  };
};

test('sendInitialEvents: validated as a current apiserver with WatchList on', () => {
  const cases: [string, Status | undefined][] = [
    ['watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan', undefined],
    ['watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=5', undefined],
    ['watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&resourceVersion=5', undefined],
    ['watch=1&sendInitialEvents=true', invalid(['resourceVersionMatch', 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'])],
    ['watch=1&sendInitialEvents=true&resourceVersionMatch=Exact&continue=c', invalid(
      ['resourceVersionMatch', 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
      ['resourceVersionMatch', 'Unsupported value: "Exact": supported values: "NotOlderThan"'],
      ['resourceVersionMatch', 'Forbidden: resourceVersionMatch is forbidden when continue is provided'])],
    ['sendInitialEvents=true', invalid(['sendInitialEvents', 'Forbidden: sendInitialEvents is forbidden for list'])],
    ['sendInitialEvents=false&resourceVersionMatch=Exact', invalid(
      ['resourceVersionMatch', 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
      ['sendInitialEvents', 'Forbidden: sendInitialEvents is forbidden for list'])],
    ['watch=1&resourceVersionMatch=NotOlderThan&resourceVersion=5', invalid(['resourceVersionMatch', 'Forbidden: resourceVersionMatch is forbidden for watch'])],
  ];
  for (const [query, expected] of cases) {
    let got: Status | undefined;
    try {
      const o = parseListOptions(new URLSearchParams(query), '', 'namespaces');
      assert.is(o.sendInitialEvents, /sendInitialEvents=true/.test(query) ? true : /sendInitialEvents=false/.test(query) ? false : undefined);
    } catch (err) {
      if (!(err instanceof StatusError)) throw err;
      got = err.status;
    }
    assert.equal(got, expected, query);
  }
});

test('sendInitialEvents on a list: 1.20 ignores it, we answer as a current apiserver (a chosen difference)', async (ctx) => {
  for (const query of ['sendInitialEvents=true', 'sendInitialEvents=false']) {
    const r = await ctx.cp.admin.request('GET', `${NS}?${query}`);
    assert.is(r.status, 200, query);
    assert.equal(ours(NS, query, false), invalid(['sendInitialEvents', 'Forbidden: sendInitialEvents is forbidden for list']), query);
  }
});

test('decoded values', () => {
  const o = parseListOptions(parseRawQuery('watch=FALSE&allowWatchBookmarks&limit=%2B7&timeoutSeconds=-3&resourceVersion=12&resourceVersionMatch=NotOlderThan&includeObject=Object&labelSelector=a+in+(b)'), '', 'namespaces', { table: true });
  assert.equal(
    { watch: o.watch, bookmarks: o.allowWatchBookmarks, limit: o.limit, timeout: o.timeoutSeconds, rv: o.resourceVersion, match: o.resourceVersionMatch, include: o.includeObject, labels: o.labelSelector.toString() },
    { watch: false, bookmarks: true, limit: 7, timeout: -3, rv: '12', match: 'NotOlderThan', include: 'Object', labels: 'a in (b)' },
  );
  assert.is(parseListOptions(new URLSearchParams(''), '', 'namespaces').timeoutSeconds, undefined);
  assert.is(parseResourceVersion('18446744073709551615'), 18446744073709551615n);
});

test.run();
