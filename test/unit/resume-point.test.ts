// Where a client resuming from a resourceVersion stands. Watch events carry their object's upstream
// resourceVersion; the proxy may have placed the change later (behind the clock), and a client resuming
// from that revision has seen it there. A state delivered twice (an upstream watch restarted from an
// older revision, as a new leader's does) must not move that point past the changes in between.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import { formatPosition, parsePosition } from '../../streams/position.ts';
import { NAMESPACES, TENANTS } from '../../streams/resource-type.ts';
import type { Identity } from '../../src/basics/identity.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { Projections } from '../../src/views/projections.ts';
import type { View } from '../../src/views/view.ts';
import { suite } from '../support/suite.ts';

const test = suite('resuming from a resourceVersion');
const ALICE: Identity = { user: 'alice', groups: [], extra: {} };

const tenant = (name: string, owner: string): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec: { owners: [{ kind: 'User', name: owner }] } });
const namespace = (name: string, step: number): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'capsule.clastix.io/tenant': 'oil', step: String(step) } } });

function setup() {
  const source = new MemorySource();
  const projections = new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, new TenantDirectory());
  source.apply(TENANTS, 'ADDED', tenant('oil', 'alice'));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-a', 0));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-b', 0));
  const view = projections.viewFor(ALICE, NAMESPACES) as View;
  /** What a watch from `resourceVersion` gets, as startWatch computes it. */
  const resumeFrom = (resourceVersion: string) => {
    const since = view.log.since(projections.resumePoint(parsePosition(resourceVersion) ?? { rv: 0, seq: 0 }));
    return since.ok ? since.events.map((e) => `${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}`) : `410 (${formatPosition(since.oldest)})`;
  };
  return { source, resumeFrom };
}

test('a state delivered again later does not hide the changes between its first delivery and now', () => {
  const { source, resumeFrom } = setup();
  const a = source.apply(NAMESPACES, 'MODIFIED', namespace('oil-a', 1));
  const b = source.apply(NAMESPACES, 'MODIFIED', namespace('oil-b', 2));
  source.bookmark(); // another type's progress moves the clock past both revisions
  source.redeliver(NAMESPACES, 'oil-a');
  source.redeliver(NAMESPACES, 'oil-b');
  const a2 = source.apply(NAMESPACES, 'MODIFIED', namespace('oil-a', 3));
  const from = a.metadata.resourceVersion ?? '';
  assert.equal(resumeFrom(from), [`MODIFIED oil-b@${b.metadata.resourceVersion}`, `MODIFIED oil-a@${a2.metadata.resourceVersion}`], `exactly the changes after ${from}, none twice`);
});

test.run();
