// The encoder through its interface, with real views and watchers in memory: a watch event's bytes are
// built once and the same buffer goes to every watcher, already framed as an HTTP chunk; a DELETED at a
// resourceVersion has the apiserver's exact shape and is one copy whether a view or a watcher's selector
// hid the object; list bodies are cached per (view, representation), bounded, and dropped on a change.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import type { Position } from '../../streams/position.ts';
import { NAMESPACES } from '../../streams/resource-type.ts';
import type { FieldSelector } from '../../src/query/field-selector.ts';
import { EVERYTHING, parseLabelSelector, type LabelSelector } from '../../src/query/label-selector.ts';
import { Watcher } from '../../src/serve/watcher.ts';
import type { Following, ViewFollower } from '../../src/views/followers.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import type { Scope } from '../../src/tenancy/scope.ts';
import { LIST_BODIES_PER_VIEW, listBodiesCached, listBody, listChunks, type EventBytes } from '../../src/views/encoder.ts';
import { View } from '../../src/views/view.ts';
import { RecordingSink } from '../support/recording-sink.ts';
import { suite } from '../support/suite.ts';

const test = suite('encoder');

const at = (rv: number): Position => ({ rv, seq: 0 });

function namespace(name: string, labels: Record<string, string>, resourceVersion: number): KubeObject {
  return { kind: 'Namespace', apiVersion: 'v1', metadata: { name, resourceVersion: String(resourceVersion), labels, annotations: { note: 'grüße' } } };
}

/** Namespaces labelled team=<team>, plus the named members. */
function scope(team: string, members: string[] = []): Scope {
  const selector = parseLabelSelector(`team=${team}`);
  const rule = { apiGroups: [''], resources: ['namespaces'], list: true, get: true, selector, key: `team=${team}` };
  return { type: NAMESPACES, tenants: [], members, rules: [rule], key: `${team}#${members.join(',')}` };
}

function view(s: Scope, objects: KubeObject[], position = at(1)): View {
  return new View(s, new TenantDirectory(), objects, position);
}

const ANY_FIELD = { matches: () => true, empty: true, exactName: undefined } as unknown as FieldSelector;

/** Follows `v` alone (no Projections: nobody moves the watcher). */
function followOnly(v: View): (follower: ViewFollower) => Following {
  return (follower) => {
    v.addListener(follower);
    return { view: v, stop: () => v.removeListener(follower) };
  };
}

function watch(v: View, labelSelector: LabelSelector = EVERYTHING): RecordingSink {
  const sink = new RecordingSink();
  const options = { type: NAMESPACES, apiVersion: 'v1', printer: undefined, includeObject: 'Metadata' as const, labelSelector, fieldSelector: ANY_FIELD, bookmarks: false, deadlineMs: Number.MAX_SAFE_INTEGER };
  new Watcher(followOnly(v), sink, options, v.position, () => {}).startFrom(v.position);
  return sink;
}

test('one buffer per event, framed as an HTTP chunk, goes to every watcher of a view', () => {
  const v = view(scope('a'), [namespace('ns1', { team: 'a' }, 1)]);
  const first = watch(v);
  const second = watch(v);
  const modified = namespace('ns1', { team: 'a', tier: 'x' }, 2);
  v.apply('MODIFIED', modified, at(2));

  assert.is(first.written.length, 1);
  const event = first.written[0] as EventBytes;
  assert.ok(event === second.written[0], 'both watchers got the same bytes');
  const line = `{"type":"MODIFIED","object":${JSON.stringify(modified)}}\n`;
  assert.is(event.line.toString('utf8'), line);
  // The length counts bytes, not characters (the annotation is not ASCII).
  assert.is(event.chunk.toString('utf8'), `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
  assert.ok(event.line.buffer === event.chunk.buffer && event.line.byteOffset > event.chunk.byteOffset, 'the line is a view into the chunk, not a copy');
});

test('a DELETED at a resourceVersion: the last visible state at the event, one copy for views and watchers', () => {
  const before = namespace('ns1', { team: 'a' }, 3);
  const byLabel = view(scope('a'), [before]);
  const byLabelToo = view(scope('a', ['elsewhere']), [before]);
  const byName = view(scope('none', ['ns1']), [before]);
  const fromView = watch(byLabel);
  const fromOtherView = watch(byLabelToo);
  const fromSelector = watch(byName, parseLabelSelector('team=a'));

  const after = namespace('ns1', { team: 'b' }, 7);
  for (const v of [byLabel, byLabelToo, byName]) v.apply('MODIFIED', after, at(7));

  const expected = '{"type":"DELETED","object":{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ns1","resourceVersion":"7","labels":{"team":"a"},"annotations":{"note":"grüße"}}}}\n';
  assert.equal(fromView.lines(), [expected]);
  assert.equal(fromSelector.lines(), [expected]);
  assert.ok(fromView.written[0] === fromOtherView.written[0] && fromView.written[0] === fromSelector.written[0], 'one DELETED copy, encoded once');
  assert.is(before.metadata.resourceVersion, '3', 'the visible state itself is untouched');
});

test('list bodies: one per (view, representation), bounded per view, dropped when the view changes', () => {
  const v = view(scope('a'), [namespace('ns1', { team: 'a' }, 1)]);
  const other = view(scope('a', ['x']), [namespace('ns1', { team: 'a' }, 1)]);
  let renders = 0;
  const render = () => ({ head: Buffer.from(`body ${++renders} at `), tail: Buffer.from('') });

  const json = listBody(v, { apiVersion: 'v1' }, render);
  assert.ok(listBody(v, { apiVersion: 'v1' }, render) === json, 'cached');
  assert.is(renders, 1);
  listBody(v, { apiVersion: 'v1', table: { includeObject: 'Metadata' } }, render);
  listBody(v, { apiVersion: 'v1', table: { includeObject: 'None' } }, render);
  listBody(other, { apiVersion: 'v1' }, render);
  assert.is(renders, 4, 'JSON, two Table modes and another view are four bodies');

  for (let i = 0; i < LIST_BODIES_PER_VIEW; i++) listBody(v, { apiVersion: `test/v${i}` }, render);
  assert.is(listBodiesCached(v), LIST_BODIES_PER_VIEW, 'bounded');
  const rendersBefore = renders;
  listBody(v, { apiVersion: 'v1' }, render);
  assert.is(renders, rendersBefore + 1, 'the least recently used body was dropped');

  v.apply('MODIFIED', namespace('ns1', { team: 'a', tier: 'x' }, 2), at(2));
  assert.is(listBodiesCached(v), 0, 'a change drops the view bodies');
  assert.is(listBodiesCached(other), 1, 'and only its own');
  assert.ok(Buffer.concat(listChunks(listBody(v, { apiVersion: 'v1' }, render), '7')).toString() === `body ${renders} at "7"` && renders === rendersBefore + 2, 'rendered again, the resourceVersion filled in');
});

test.run();
