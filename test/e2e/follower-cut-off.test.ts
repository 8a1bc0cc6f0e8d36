// A follower cut off from Redis (a frozen network path, shorter than --lease-ttl so it does not degrade)
// while the leader trims the log past its position: when it is back it finds the gap, reloads the newest
// snapshot, and expires (410) exactly the watchers whose view changed meanwhile — they relist and
// converge — while a watcher whose view did not change goes on, on the same stream.
import * as assert from 'uvu/assert';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { createTenant, deleteTenant, type OwnerInput } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { patch, remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, freezableRelay, startRedis, type FreezableRelay, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';
import { WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  relay: FreezableRelay;
  leader: RunningProxy;
  follower: RunningProxy;
  tenants: KubeObject[];
}

const test = suite<Context>('a follower cut off longer than the log keeps');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const ALICE = `alice-${suffix}`;
const BOB = `bob-${suffix}`;
const OIL = `oil-0-${suffix}`;
const GAS = `gas-0-${suffix}`;
const PREFIX = '{tenant-proxy}:';
// Snapshots and trims every second; a follower frozen for less than the lease does not degrade.
const KEY_FILE = deploymentKeyFile();
const FLAGS = (id: string, url: string) => ['--redis', url, '--shared-auth-key-file', KEY_FILE, '--replica-id', id, '--lease-ttl', '10s', '--watch-history', '2s'];
const NAMESPACES_PATH = '/api/v1/namespaces';
const namespaceRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

interface NamespaceList {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string; labels?: Record<string, string> } }[];
}
const listOf = (client: KubeHttp) => client.json<NamespaceList>('GET', NAMESPACES_PATH);
const revision = (rv: string) => Number(rv.split('.')[0]);

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.leader = await startProxy(ctx.cp, FLAGS('leader', ctx.redis.url));
  await eventually(() => ctx.leader.metric('tenant_proxy_replica_role', { role: 'leader' }), (v) => v === 1, 'the first replica leads', 30_000);
  ctx.relay = await freezableRelay(ctx.redis.port);
  ctx.follower = await startProxy(ctx.cp, FLAGS('follower', `redis://127.0.0.1:${ctx.relay.port}`));
  const owners = (name: string): OwnerInput[] => [{ kind: 'User', name }];
  ctx.tenants = [
    await createTenant(ctx.cp.admin, { name: `oil-${suffix}`, owners: owners(ALICE), namespaces: [OIL] }),
    await createTenant(ctx.cp.admin, { name: `gas-${suffix}`, owners: owners(BOB), namespaces: [GAS] }),
  ];
});

test.after(async (ctx) => {
  await ctx.follower?.stop();
  await ctx.leader?.stop();
  await ctx.relay?.close();
  for (const tenant of ctx.tenants ?? []) await deleteTenant(ctx.cp.admin, tenant.metadata.name ?? '');
  for (const name of [OIL, GAS]) await remove(ctx.cp.admin, namespaceRef(name)).catch(() => undefined);
  await ctx.redis?.stop();
});

test('the follower reloads the snapshot; only the watcher whose view changed gets 410, and its relist converges', async (ctx) => {
  const alice = ctx.follower.client(await ctx.cp.clientCertificate(ALICE));
  const bob = ctx.follower.client(await ctx.cp.clientCertificate(BOB));
  const aliceList = await eventually(() => listOf(alice).catch(() => undefined), (l) => l?.items.length === 1, "alice's namespace on the follower", 30_000);
  const bobList = await eventually(() => listOf(bob).catch(() => undefined), (l) => l?.items.length === 1, "bob's namespace on the follower", 30_000);
  const aliceWatch = await WatchReader.open(alice, `${NAMESPACES_PATH}?watch=1&resourceVersion=${aliceList?.metadata.resourceVersion ?? ''}`);
  const bobWatch = await WatchReader.open(bob, `${NAMESPACES_PATH}?watch=1&resourceVersion=${bobList?.metadata.resourceVersion ?? ''}`);
  const redis = ctx.redis.client();
  ctx.relay.freeze();
  let step = 0;
  const patched: number[] = [];
  try {
    // Changes to alice's namespace only, until the log is trimmed past where the follower stopped. That
    // is past the second of these changes: the follower's read, blocked in Redis when the relay froze, is
    // answered with the first change appended after it, and that answer waits in the relay, so the
    // follower may get that far (and past any other change made in the cluster since alice's list).
    await eventually(
      async () => {
        const changed = await patch(ctx.cp.admin, namespaceRef(OIL), { metadata: { labels: { step: String(++step) } } });
        patched.push(revision(changed.metadata.resourceVersion ?? '0'));
        return redis.get(`${PREFIX}log:trimmed`);
      },
      (trimmed) => trimmed !== null && revision(trimmed.split('-')[0] ?? '0') > (patched[1] ?? Infinity),
      'the log trimmed past the follower',
      9_000,
      500,
    );
  } finally {
    ctx.relay.thaw();
  }
  await eventually(() => ctx.follower.metric('tenant_proxy_change_log_gaps_total'), (gaps) => gaps >= 1, 'the follower found the gap', 30_000);
  await aliceWatch.waitForEnd(30_000);
  const errors = aliceWatch.events.filter((e) => e.event.type === 'ERROR');
  assert.is(errors.length, 1, `alice's watch ended with one ERROR: ${aliceWatch.body.slice(-500)}`);
  assert.is((errors[0]?.event.object as { code?: number }).code, 410);
  // Her client relists, and sees what the apiserver holds.
  const upstream = await ctx.cp.admin.json<NamespaceList['items'][number]>('GET', `${NAMESPACES_PATH}/${OIL}`);
  await eventually(() => listOf(alice), (l) => l.items[0]?.metadata.resourceVersion === upstream.metadata.resourceVersion, "alice's relist converges with the apiserver", 15_000);
  assert.is(upstream.metadata.labels?.step, String(step));

  // bob's view did not change: his stream goes on, and carries the next change to his namespace.
  assert.not.ok(bobWatch.ended, "bob's watch is still open");
  const changed = await patch(ctx.cp.admin, namespaceRef(GAS), { metadata: { labels: { after: 'cut' } } });
  const next = await bobWatch.waitFor((e) => e.type === 'MODIFIED', "bob's change after the reload", 15_000);
  assert.is(next.event.object.metadata?.resourceVersion, changed.metadata.resourceVersion);
  assert.not.ok(bobWatch.events.some((e) => e.event.type === 'ERROR'));
  assert.is(await ctx.follower.metric('tenant_proxy_replica_role', { role: 'follower' }), 1, 'the follower never degraded');
  aliceWatch.close();
  bobWatch.close();
});

test.run();
