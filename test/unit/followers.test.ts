// Followers of views (what a watcher is to Projections): moved to the view of their identity's new
// scope when a tenancy change alters it, told when the identity lost access, and never again once
// stopped. Through Projections, on the in-memory change stream.
import * as assert from 'uvu/assert';
import type { KubeObject } from '../../streams/kube-object.ts';
import { MemorySource } from '../../streams/memory-source.ts';
import { formatPosition, type Position } from '../../streams/position.ts';
import { NAMESPACES, TENANTS } from '../../streams/resource-type.ts';
import type { Identity } from '../../src/basics/identity.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import type { ViewFollower } from '../../src/views/followers.ts';
import { Projections } from '../../src/views/projections.ts';
import type { View, ViewEvent } from '../../src/views/view.ts';
import { suite } from '../support/suite.ts';

const test = suite('view followers');
const ALICE: Identity = { user: 'alice', groups: [], extra: {} };

function tenant(name: string, owners: string[]): KubeObject {
  return { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name }, spec: { owners: owners.map((o) => ({ kind: 'User', name: o })) } };
}

function namespace(name: string, tenantName: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'capsule.clastix.io/tenant': tenantName } } };
}

type Heard = { kind: 'events'; names: string[] } | { kind: 'moved'; held: string[]; next: string[]; at: string } | { kind: 'lost'; held: string[]; at: string };

class RecordingFollower implements ViewFollower {
  readonly heard: Heard[] = [];
  deliver(_view: View, events: readonly ViewEvent[]): void {
    this.heard.push({ kind: 'events', names: events.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`) });
  }
  moved(next: View, held: readonly KubeObject[], position: Position): void {
    this.heard.push({ kind: 'moved', held: names(held), next: names(next.items()), at: formatPosition(position) });
  }
  lost(held: readonly KubeObject[], position: Position): void {
    this.heard.push({ kind: 'lost', held: names(held), at: formatPosition(position) });
  }
}

const names = (objects: readonly KubeObject[]) => objects.map((o) => o.metadata.name ?? '').sort();

function setup() {
  const source = new MemorySource();
  const projections = new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, new TenantDirectory());
  source.apply(TENANTS, 'ADDED', tenant('oil', ['alice']));
  source.apply(TENANTS, 'ADDED', tenant('gas', ['bob']));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-dev', 'oil'));
  source.apply(NAMESPACES, 'ADDED', namespace('gas-dev', 'gas'));
  return { source, projections };
}

test('a follower gets its view\'s events, and is moved with the difference when its identity gains a tenant', () => {
  const { source, projections } = setup();
  const view = projections.viewFor(ALICE, NAMESPACES) as View;
  assert.equal(names(view.items()), ['oil-dev']);
  const follower = new RecordingFollower();
  const following = projections.follow(ALICE, view, follower);
  source.apply(NAMESPACES, 'ADDED', namespace('oil-prod', 'oil'));
  source.apply(NAMESPACES, 'ADDED', namespace('gas-prod', 'gas'));
  assert.equal(follower.heard, [{ kind: 'events', names: ['ADDED oil-prod'] }], 'only its own tenant\'s namespace');
  const grant = source.apply(TENANTS, 'MODIFIED', tenant('gas', ['bob', 'alice']));
  assert.equal(follower.heard[1], { kind: 'moved', held: ['oil-dev', 'oil-prod'], next: ['gas-dev', 'gas-prod', 'oil-dev', 'oil-prod'], at: grant.metadata.resourceVersion });
  assert.is.not(following.view, view, 'it follows the new view');
  source.apply(NAMESPACES, 'ADDED', namespace('gas-test', 'gas'));
  assert.equal(follower.heard[2], { kind: 'events', names: ['ADDED gas-test'] });
  assert.is(view.listenerCount, 0, 'the old view lost its listener');
  projections.stop();
});

test('a follower whose identity loses every tenant is told what it held, and is stopped', () => {
  const { source, projections } = setup();
  const view = projections.viewFor(ALICE, NAMESPACES) as View;
  const follower = new RecordingFollower();
  projections.follow(ALICE, view, follower);
  const revoke = source.apply(TENANTS, 'MODIFIED', tenant('oil', ['bob']));
  assert.equal(follower.heard, [{ kind: 'lost', held: ['oil-dev'], at: revoke.metadata.resourceVersion }]);
  assert.is(projections.followerCount, 0);
  source.apply(TENANTS, 'MODIFIED', tenant('oil', ['alice']));
  source.apply(NAMESPACES, 'ADDED', namespace('oil-prod', 'oil'));
  assert.is(follower.heard.length, 1, 'nothing after it lost access');
  projections.stop();
});

test('a stopped follower hears nothing more, and the view can be collected', () => {
  const { source, projections } = setup();
  const view = projections.viewFor(ALICE, NAMESPACES) as View;
  const follower = new RecordingFollower();
  const following = projections.follow(ALICE, view, follower);
  following.stop();
  source.apply(NAMESPACES, 'ADDED', namespace('oil-prod', 'oil'));
  source.apply(TENANTS, 'MODIFIED', tenant('gas', ['bob', 'alice']));
  assert.equal(follower.heard, []);
  assert.is(projections.followerCount, 0);
  assert.ok(projections.collectIdle(Date.now() + 3_600_000) >= 1, 'a view without listeners is collected once idle');
  projections.stop();
});

test.run();
