// A view created late (or on a replica that never served its scope) extends its history back to a
// client's resourceVersion by replaying the recent changes — exactly what a view that existed all along
// recorded — and refuses (the client gets 410) where that could not be exact: a tenancy change since.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import { formatPosition, type Position } from '../../streams/position.ts';
import { NAMESPACES, TENANTS } from '../../streams/resource-type.ts';
import type { Identity } from '../../src/basics/identity.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { Projections } from '../../src/views/projections.ts';
import type { View } from '../../src/views/view.ts';
import { suite } from '../support/suite.ts';

const test = suite('extending a view\'s history');
const ALICE: Identity = { user: 'alice', groups: [], extra: {} };

const tenant = (name: string, owner: string): KubeObject => ({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec: { owners: [{ kind: 'User', name: owner }] } });
const namespace = (name: string, tenantName: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'capsule.clastix.io/tenant': tenantName, ...labels } } });

function setup() {
  const source = new MemorySource();
  const projectionsOf = () => new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, new TenantDirectory());
  // "early" has served alice all along; "late" (another replica) is asked only after the changes.
  const early = projectionsOf();
  const late = projectionsOf();
  source.apply(TENANTS, 'ADDED', tenant('oil', 'alice'));
  source.apply(TENANTS, 'ADDED', tenant('gas', 'bob'));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-dev', 'oil'));
  source.apply(NAMESPACES, 'ADDED', namespace('gas-dev', 'gas'));
  const earlyView = early.viewFor(ALICE, NAMESPACES) as View;
  return { source, early, late, earlyView, from: source.clock.now };
}

const summary = (view: View, from: Position) => {
  const since = view.log.since(from);
  return since.ok ? since.events.map((e) => `${e.type} ${e.object.metadata.name} @${formatPosition(e.position)} rv=${e.object.metadata.resourceVersion}`) : `410 (oldest ${formatPosition(since.oldest)})`;
};

test('replayed history equals what a view that existed all along recorded', () => {
  const { source, late, earlyView, from } = setup();
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-dev', 'oil', { step: '1' }));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-prod', 'oil'));
  source.apply(NAMESPACES, 'MODIFIED', namespace('gas-dev', 'gas', { step: '2' }));
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-prod', 'oil', { step: '3' }));
  const lateView = late.viewFor(ALICE, NAMESPACES) as View;
  assert.equal(summary(lateView, from), `410 (oldest ${formatPosition(source.clock.now)})`, 'a new view alone cannot resume from before it');
  assert.ok(late.extendHistory(lateView, from));
  assert.equal(summary(lateView, from), summary(earlyView, from));
  assert.equal(summary(lateView, from), [`MODIFIED oil-dev @5 rv=5`, 'ADDED oil-prod @6 rv=6', 'MODIFIED oil-prod @8 rv=8']);
  // It carries on as the live view it is.
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-dev', 'oil', { step: '4' }));
  assert.equal(summary(lateView, from), summary(earlyView, from));
});

test('not across a change of what identities see: a namespace moved to another tenant', () => {
  const { source, late, from } = setup();
  source.apply(NAMESPACES, 'MODIFIED', namespace('gas-dev', 'oil'));
  const lateView = late.viewFor(ALICE, NAMESPACES) as View;
  assert.not.ok(late.extendHistory(lateView, from));
  assert.ok(late.extendHistory(lateView, source.clock.now), 'from the move on, it can');
});

test('not from before the changes still held', () => {
  const { source, late } = setup();
  const lateView = late.viewFor(ALICE, NAMESPACES) as View;
  late.expireHistory(Date.now() + 1);
  source.apply(NAMESPACES, 'MODIFIED', namespace('oil-dev', 'oil', { step: '1' }));
  // After the last tenancy change (2), but the changes since 3 are no longer held.
  assert.not.ok(late.extendHistory(lateView, { rv: 3, seq: 0 }));
});

test.run();
