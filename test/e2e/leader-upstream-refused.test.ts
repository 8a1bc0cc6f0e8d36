// The leader's upstream credentials stop working (every request it sends gets 401; its watches are
// cut), while the other replicas' still work: the leader gives the lease up once its informers have
// failed for the step-down time, another replica leads from the log, and every watcher on the others
// gets exactly the changes made meanwhile, in order, on the same stream.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadUpstream } from '../../src/basics/upstream.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { cuttableRelay, type CuttableRelay } from '../support/cuttable-relay.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, type OwnerInput } from '../support/fixtures.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { unauthorizedUpstream, type UnauthorizedUpstream } from '../support/unauthorized-upstream.ts';
import { watchAfterList, type WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  refusing: UnauthorizedUpstream;
  /** Between the first replica (the leader) and its upstream. */
  relay: CuttableRelay;
  replicas: RunningProxy[];
  tenant: KubeObject;
  watchers: WatchReader[];
  /** Every change the test made, in order. */
  made: string[];
}

const test = suite<Context>('the leader\'s upstream refuses it');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const OWNERS: OwnerInput[] = [{ kind: 'User', name: ALICE }];
const NAMESPACES = [`oil-a-${suffix}`, `oil-b-${suffix}`];
const NAMESPACES_PATH = '/api/v1/namespaces';
const KEY_FILE = deploymentKeyFile();
const FLAGS = (id: string, redis: RedisServer) => ['--redis', redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', id, '--lease-ttl', '3s'];
const namespaceRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

async function change(ctx: Context): Promise<void> {
  const name = NAMESPACES[ctx.made.length % 2] ?? '';
  const changed = await patch(ctx.cp.admin, namespaceRef(name), { metadata: { labels: { step: String(ctx.made.length) } } });
  ctx.made.push(`MODIFIED ${name} @${changed.metadata.resourceVersion}`);
}

const roleOf = async (replica: RunningProxy) => ((await replica.metric('tenant_proxy_replica_role', { role: 'leader' })) === 1 ? 'leader' : 'other');

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.refusing = await unauthorizedUpstream(ctx.cp);
  ctx.relay = await cuttableRelay(Number(new URL(ctx.cp.server).port));
  const kubeconfig = ctx.cp.writeKubeconfig(path.join(mkdtempSync(path.join(tmpdir(), 'refused-')), 'proxy.kubeconfig'), ctx.cp.proxyCredentials(), 'tenant-proxy', `https://127.0.0.1:${ctx.relay.port}`);
  const first = await startProxy(ctx.cp, { flags: FLAGS('r1', ctx.redis), upstream: await loadUpstream({ kubeconfig }) });
  await eventually(() => roleOf(first), (role) => role === 'leader', 'the first replica leads', 30_000);
  ctx.replicas = [first, await startProxy(ctx.cp, FLAGS('r2', ctx.redis)), await startProxy(ctx.cp, FLAGS('r3', ctx.redis))];
  ctx.tenant = await createTenant(ctx.cp.admin, { name: `oil-${suffix}`, owners: OWNERS, namespaces: [] });
  for (const name of NAMESPACES) await addTenantNamespace(ctx.cp.admin, ctx.tenant, name, OWNERS);
  const alice = await ctx.cp.clientCertificate(ALICE);
  ctx.watchers = [];
  ctx.made = [];
  for (const replica of ctx.replicas.slice(1)) {
    const { reader } = await watchAfterList(replica.client(alice), NAMESPACES_PATH, (l) => l.items.length === NAMESPACES.length, "alice's namespaces");
    ctx.watchers.push(reader);
  }
});

test.after(async (ctx) => {
  for (const w of ctx.watchers ?? []) w.close();
  for (const r of ctx.replicas ?? []) await r.stop();
  await ctx.relay?.close();
  await ctx.refusing?.close();
  if (ctx.tenant) await deleteTenant(ctx.cp.admin, ctx.tenant.metadata.name ?? '');
  for (const name of NAMESPACES) await remove(ctx.cp.admin, namespaceRef(name)).catch(() => undefined);
  await ctx.redis?.stop();
});

test('the leader steps down; another leads from the log; the watchers on the others get every change, exactly', async (ctx) => {
  await change(ctx);
  const changes = (w: WatchReader) => w.events.filter((e) => e.event.type !== 'BOOKMARK').map((e) => `${e.event.type} ${e.event.object.metadata?.name} @${e.event.object.metadata?.resourceVersion}`);
  await eventually(async () => ctx.watchers.map(changes), (all) => all.every((c) => c.length === 1), 'the first change everywhere', 15_000);
  // From now on the leader's upstream refuses it: its connections are cut, new ones reach a server that answers 401.
  ctx.relay.retarget(ctx.refusing.port);
  ctx.relay.cut();
  ctx.relay.restore();
  const refusedAt = Date.now();
  for (let i = 0; i < 3; i++) await change(ctx);
  const [, second, third] = ctx.replicas as [RunningProxy, RunningProxy, RunningProxy];
  const roles = await eventually(() => Promise.all(ctx.replicas.map(roleOf)), (r) => r[0] !== 'leader' && r.filter((x) => x === 'leader').length === 1, 'another replica leads', 60_000, 500);
  const tookOverMs = Date.now() - refusedAt;
  for (let i = 0; i < 3; i++) await change(ctx);
  await eventually(async () => ctx.watchers.map(changes), (all) => all.every((c) => JSON.stringify(c) === JSON.stringify(ctx.made)), 'every change, exactly, on the other replicas', 30_000, 250).catch((err: Error) => {
    throw new Error(`${err.message}\nmade: ${JSON.stringify(ctx.made)}\nwatchers: ${JSON.stringify(ctx.watchers.map(changes))}`);
  });
  for (const w of ctx.watchers) assert.not.ok(w.ended, 'no reconnect');
  assert.ok(ctx.refusing.refused > 0, 'the leader was refused');
  assert.is(await second.metric('tenant_proxy_informer_relists_total', { resource: 'namespaces' }) + (await third.metric('tenant_proxy_informer_relists_total', { resource: 'namespaces' })), 0, 'the new leader watched on from the log, without listing');
  console.log(`    the refused leader stepped down; ${roles.indexOf('leader') + 1 === 2 ? 'r2' : 'r3'} led ${(tookOverMs / 1000).toFixed(1)} s after the refusals began`);
});

test.run();
