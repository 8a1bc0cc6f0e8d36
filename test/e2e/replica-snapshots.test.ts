// Start from Redis, on a real redis-server and the real control plane: the leader writes snapshots and
// trims the log (here every 2 s: --watch-history 4s); a replica started after the log was trimmed loads
// the newest snapshot, reads the log after it, and is ready and serves the same list and
// resourceVersion as the others without any upstream LIST or WATCH; everyone keeps serving while the log
// is trimmed under them.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant, deleteTenant, type OwnerInput } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  replicas: RunningProxy[];
  tenant: KubeObject;
  /** The list's resourceVersion once the tenant's namespaces were created. */
  createdAt: number;
}

const test = suite<Context>('replicas start from Redis snapshots');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const TENANT = `gas-${suffix}`;
const OWNERS: OwnerInput[] = [{ kind: 'User', name: ALICE }];
const ns = (n: number) => `gas-${n}-${suffix}`;
const PREFIX = '{tenant-proxy}:';
const KEY_FILE = deploymentKeyFile();
const FLAGS = (id: string, redis: RedisServer) => ['--redis', redis.url, '--shared-auth-key-file', KEY_FILE, '--replica-id', id, '--lease-ttl', '3s', '--watch-history', '4s'];

interface NamespaceList {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string } }[];
}
const listOf = (client: KubeHttp) => client.json<NamespaceList>('GET', '/api/v1/namespaces');
const summary = (list: NamespaceList) => JSON.stringify([list.metadata.resourceVersion, list.items.map((i) => [i.metadata.name, i.metadata.resourceVersion])]);

async function aliceOn(ctx: Context): Promise<KubeHttp[]> {
  const credentials = await ctx.cp.clientCertificate(ALICE);
  return ctx.replicas.map((r) => r.client(credentials));
}

async function sameListEverywhere(ctx: Context, names: string[]): Promise<NamespaceList[]> {
  const clients = await aliceOn(ctx);
  return eventually(
    () => Promise.all(clients.map(listOf)).catch(() => undefined),
    (all) => !!all && all.every((l) => l.items.map((i) => i.metadata.name).join() === names.join()) && new Set(all.map(summary)).size === 1,
    `the same list of ${names.join(', ')} from every replica`,
    30_000,
  ) as Promise<NamespaceList[]>;
}

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.replicas = [];
  for (const id of ['s1', 's2']) ctx.replicas.push(await startProxy(ctx.cp, FLAGS(id, ctx.redis)));
  ctx.tenant = await createTenant(ctx.cp.admin, { name: TENANT, owners: OWNERS, namespaces: [ns(0)] });
  await addTenantNamespace(ctx.cp.admin, ctx.tenant, ns(1), OWNERS);
  const [list] = await sameListEverywhere(ctx, [ns(0), ns(1)]);
  ctx.createdAt = Number(list?.metadata.resourceVersion);
});

/** The log's time index gets a mark only with an append: a quiet log is not trimmed, so keep it busy. */
async function untilTrimmedPast(ctx: Context, rv: number): Promise<void> {
  const redis = ctx.redis.client();
  let tick = 0;
  await eventually(
    async () => {
      await patch(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(0) } }, { metadata: { labels: { tick: String(++tick) } } });
      return redis.get(`${PREFIX}log:trimmed`);
    },
    (trimmed) => trimmed !== null && Number(trimmed.split('-')[0]) > rv,
    `the log trimmed past ${rv}`,
    40_000,
    500,
  );
}

test.after(async (ctx) => {
  for (const r of ctx.replicas ?? []) await r.stop();
  if (ctx.tenant) await deleteTenant(ctx.cp.admin, TENANT);
  for (let n = 0; n < 3; n++) await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(n) } }).catch(() => undefined);
  await ctx.redis?.stop();
});

test('the leader writes snapshots and trims the log behind the oldest one kept', async (ctx) => {
  const redis = ctx.redis.client();
  await untilTrimmedPast(ctx, ctx.createdAt);
  const kept = await redis.lrange(`${PREFIX}snapshot:kept`, 0, -1);
  assert.ok(kept.length >= 1 && kept.length <= 2, `one or two snapshots kept: ${kept.join()}`);
  const ages = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_snapshot_age_seconds')));
  assert.ok(ages.every((age) => age >= 0 && age < 10), `every replica sees a fresh snapshot: ${ages.join()}`);
  assert.ok((await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_snapshot_bytes')))).every((bytes) => bytes > 0));
  const trims = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_change_log_trims_total')));
  assert.ok(trims.some((t) => t > 0), `the leader trimmed: ${trims.join()}`);
});

test('a replica started after the log was trimmed loads the snapshot and serves the same list, with no upstream LIST or WATCH', async (ctx) => {
  const trimmed = await ctx.redis.client().get(`${PREFIX}log:trimmed`);
  assert.ok(trimmed && Number(trimmed.split('-')[0]) > ctx.createdAt, 'the log no longer holds the namespaces\' creation: only a snapshot does');
  const late = await startProxy(ctx.cp, FLAGS('s3', ctx.redis));
  ctx.replicas.push(late);
  const client = late.client(await ctx.cp.clientCertificate(ALICE));
  const ready = await eventually(() => client.request('GET', '/readyz'), (res) => res.status === 200, 'the late replica ready', 30_000);
  assert.is(ready.status, 200);
  await sameListEverywhere(ctx, [ns(0), ns(1)]);
  assert.ok((await late.metric('tenant_proxy_snapshot_loads_total')) >= 1, 'it started from a snapshot');
  assert.is(await late.metric('tenant_proxy_informer_watches_total'), 0, 'no upstream WATCH');
  assert.is(await late.metric('tenant_proxy_informer_relists_total'), 0, 'no upstream LIST');
  assert.is(await late.metric('tenant_proxy_change_log_gaps_total'), 0);
});

test('every replica keeps serving while the log is trimmed under it', async (ctx) => {
  const trimsBefore = (await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_change_log_trims_total')))).reduce((a, b) => a + b, 0);
  await addTenantNamespace(ctx.cp.admin, ctx.tenant, ns(2), OWNERS);
  await sameListEverywhere(ctx, [ns(0), ns(1), ns(2)]);
  const list = (await sameListEverywhere(ctx, [ns(0), ns(1), ns(2)]))[0];
  await untilTrimmedPast(ctx, Number(list?.metadata.resourceVersion));
  const trimsAfter = (await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_change_log_trims_total')))).reduce((a, b) => a + b, 0);
  assert.ok(trimsAfter > trimsBefore, `trimmed again: ${trimsBefore} → ${trimsAfter}`);
  await sameListEverywhere(ctx, [ns(0), ns(1), ns(2)]);
  const gaps = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_change_log_gaps_total')));
  assert.equal(gaps, [0, 0, 0], 'no replica fell behind the trimmed log');
});

test.run();
