// Micro-benchmark of the projection engine without HTTP: N tenants with one namespace view each (one
// per owner), then M namespace changes spread over the tenants; reports the time to create a view and per upstream change
// (routing, view update, history). `node --import tsx bench/micro/projections.ts [tenants] [changes]`.
import { performance } from 'node:perf_hooks';
import { MemorySource } from '../../streams/memory-source.ts';
import { NAMESPACES, TENANTS } from '../../streams/resource-type.ts';
import { TenantDirectory } from '../../src/tenancy/directory.ts';
import { scopeFor } from '../../src/tenancy/scope.ts';
import { Projections } from '../../src/views/projections.ts';

const tenants = Number(process.argv[2] ?? 1000);
const changes = Number(process.argv[3] ?? 20000);
const source = new MemorySource();
const directory = new TenantDirectory();
const projections = new Projections({ clock: source.clock, changes$: source.changes$, store: (t) => source.store(t) }, directory);
for (let i = 0; i < tenants; i++) {
  source.apply(TENANTS, 'ADDED', { apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name: `t${i}` }, spec: { owners: [{ kind: 'User', name: `user-t${i}` }] } });
  for (let j = 0; j < 10; j++) source.apply(NAMESPACES, 'ADDED', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `t${i}-ns${j}`, labels: { 'capsule.clastix.io/tenant': `t${i}` } } });
}
const viewsStarted = performance.now();
for (let i = 0; i < tenants; i++) {
  const scope = scopeFor(NAMESPACES, directory.accessOf({ user: `user-t${i}`, groups: [], extra: {} }));
  if (scope) projections.view(scope);
}
const perView = ((performance.now() - viewsStarted) * 1000) / tenants;
const started = performance.now();
for (let k = 0; k < changes; k++) {
  const i = k % tenants;
  source.apply(NAMESPACES, 'MODIFIED', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `t${i}-ns${k % 10}`, labels: { 'capsule.clastix.io/tenant': `t${i}` }, annotations: { n: String(k) } } });
}
const perChange = ((performance.now() - started) * 1000) / changes;
process.stdout.write(`${JSON.stringify({ tenants, views: projections.viewCount, changes, microsecondsPerViewCreated: Math.round(perView * 10) / 10, microsecondsPerChange: Math.round(perChange * 10) / 10 })}\n`);
