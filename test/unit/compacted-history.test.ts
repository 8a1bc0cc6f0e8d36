// History past its first seconds keeps its objects as JSON (src/views/compacted.ts). A client resuming
// from it, with or without selectors, must get the very bytes it would have got from the parsed history,
// and a view extending its history from compacted recent changes must record what a view that existed
// all along recorded.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import type { Position } from '../../streams/position.ts';
import { NAMESPACES, TENANTS } from '../../streams/resource-type.ts';
import type { Identity } from '../../src/basics/identity.ts';
import { EVERYTHING, parseLabelSelector, type LabelSelector } from '../../src/query/label-selector.ts';
import { Watcher } from '../../src/serve/watcher.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { revivedCount } from '../../src/views/compacted.ts';
import { Projections } from '../../src/views/projections.ts';
import type { View } from '../../src/views/view.ts';
import { RecordingSink } from '../support/recording-sink.ts';
import { suite } from '../support/suite.ts';

const test = suite('compacted history');
const ALICE: Identity = { user: 'alice', groups: [], extra: {} };

const tenant = (name: string, owner: string): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec: { owners: [{ kind: 'User', name: owner }] } });
const namespace = (name: string, tenantName: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'capsule.clastix.io/tenant': tenantName, ...labels }, annotations: { note: `${name} ${JSON.stringify(labels)}` } },
  spec: { finalizers: ['kubernetes'] },
  status: { phase: 'Active' },
});

/** `membership`: also a deletion and a creation (they change what identities see: no history extension across them). */
function setup(membership = true) {
  const source = new MemorySource();
  const projectionsOf = () => new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, new TenantDirectory());
  const early = projectionsOf();
  const late = projectionsOf();
  source.apply(TENANTS, 'ADDED', tenant('oil', 'alice'));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-dev', 'oil'));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-prod', 'oil', { tier: 'gold' }));
  const view = early.viewFor(ALICE, NAMESPACES) as View;
  const from = source.clock.now;
  // Objects crossing a selector both ways, a label-only change, a deletion, a creation.
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-dev', 'oil', { tier: 'gold' }));
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-prod', 'oil', { tier: 'silver' }));
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-dev', 'oil', { tier: 'gold', step: '3' }));
  if (membership) {
    source.apply(NAMESPACES, 'DELETED', namespace('oil-dev', 'oil', { tier: 'gold', step: '3' }));
    source.apply(NAMESPACES, 'ADDED', namespace('oil-test', 'oil', { tier: 'gold' }));
  }
  return { source, early, late, view, from };
}

/** What a client resuming from `from` on `view` receives, as bytes. */
function resumed(projections: Projections, view: View, from: Position, labelSelector: LabelSelector): string[] {
  const sink = new RecordingSink();
  const watcher = new Watcher((f) => projections.follow(ALICE, view, f), sink, { type: NAMESPACES, apiVersion: 'v1', printer: undefined, includeObject: 'Metadata', labelSelector, fieldSelector: { matches: () => true, empty: true, exactName: undefined } as never, bookmarks: false, deadlineMs: Number.MAX_SAFE_INTEGER }, from, () => undefined);
  watcher.startFrom(from);
  watcher.close();
  return sink.chunks();
}

const selector = (text: string): LabelSelector => parseLabelSelector(text);

test('a client resuming from compacted history gets the same bytes, with and without selectors', () => {
  const { early, view, from } = setup();
  const selectors = [EVERYTHING, selector('tier=gold'), selector('tier!=gold'), selector('step')];
  const parsed = selectors.map((s) => resumed(early, view, from, s));
  assert.ok((parsed[0] ?? []).length >= 5, 'the history replays every change');
  assert.ok((parsed[1] ?? []).some((line) => line.includes('"type":"DELETED"') && line.includes('oil-prod')), 'an object leaving the selector is a DELETED');
  early.compactHistory(Date.now() + 1);
  assert.equal(selectors.map((s) => resumed(early, view, from, s)), parsed);
  assert.ok(revivedCount() > 0, 'reading compacted events parsed them');
  early.compactHistory(Date.now() + 1);
  assert.is(revivedCount(), 0, 'the next sweep lets the parsed copies go');
  assert.equal(selectors.map((s) => resumed(early, view, from, s)), parsed, 'and again after the release');
});

test('a view extends its history from compacted recent changes exactly', () => {
  const { early, late, view, from } = setup(false);
  const expected = resumed(early, view, from, EVERYTHING);
  late.compactHistory(Date.now() + 1);
  const lateView = late.viewFor(ALICE, NAMESPACES) as View;
  assert.ok(late.extendHistory(lateView, from));
  assert.equal(resumed(late, lateView, from, EVERYTHING), expected);
  assert.equal(resumed(late, lateView, from, selector('tier=gold')), resumed(early, view, from, selector('tier=gold')));
});

test('appending after a compaction goes on compacting only what is older than the cutoff', () => {
  const { source, early, view, from } = setup();
  early.compactHistory(Date.now() + 1);
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-prod', 'oil', { tier: 'gold', step: '9' }));
  early.compactHistory(Date.now() - 60_000);
  const lines = resumed(early, view, from, EVERYTHING);
  assert.ok(lines.at(-1)?.includes('"step":"9"'), 'the newest event is there, as appended');
  early.compactHistory(Date.now() + 1);
  assert.equal(resumed(early, view, from, EVERYTHING), lines);
});

test.run();
