// Upstream faults under three replicas through Redis, on a control plane of this file's own: the
// leader's upstream watch forced to 410 (namespaces are watched from etcd, without the apiserver's watch
// cache, and etcd is compacted every second: a watch cut for a few seconds resumes from a compacted
// revision), and an apiserver restart. The oracle is the changes themselves (the
// test is the only writer of its namespaces): every replica's watcher goes on without reconnecting and
// shows, per namespace, an in-order subsequence of its versions ending at the last one (a relist
// delivers the difference), and only the leader lists again.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadUpstream } from '../../src/basics/upstream.ts';
import { ControlPlane } from '../support/control-plane.ts';
import { cuttableRelay, type CuttableRelay } from '../support/cuttable-relay.ts';
import { eventually } from '../support/eventually.ts';
import { addTenantNamespace, createTenant } from '../support/fixtures.ts';
import { patch } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { suite } from '../support/suite.ts';
import { watchAfterList, type WatchReader } from '../support/watch-reader.ts';

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  /** Between every replica and the apiserver. */
  relay: CuttableRelay;
  replicas: RunningProxy[];
  watchers: WatchReader[];
  /** Every change the test made, in order: `name @resourceVersion`. */
  made: string[];
  /** Each namespace's resourceVersion when the watchers started. */
  initial: Map<string, string>;
  step: number;
}

const test = suite<Context>('upstream faults under three replicas');
const NAMESPACES = ['oil-a', 'oil-b'];
const NAMESPACES_PATH = '/api/v1/namespaces';
const namespaceRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
/** Namespaces watched straight from etcd, which the apiserver compacts every second. */
const APISERVER_FLAGS = ['--watch-cache-sizes=namespaces#0', '--etcd-compaction-interval=1s'];
/** Long enough for two compactions past the revision the cut watch had reached. */
const CUT_MS = 4_000;

async function change(ctx: Context): Promise<void> {
  const name = NAMESPACES[++ctx.step % 2] ?? '';
  const changed = await patch(ctx.cp.admin, namespaceRef(name), { metadata: { labels: { step: String(ctx.step) } } });
  ctx.made.push(`${name} @${changed.metadata.resourceVersion}`);
}

/** Each namespace's resourceVersions, in the order they came. */
function versions(initial: Map<string, string>, changes: readonly string[]): Map<string, string[]> {
  const byName = new Map([...initial].map(([name, rv]) => [name, [rv]]));
  for (const line of changes) {
    const [name = '', at = ''] = line.split(' @');
    byName.get(name)?.push(at);
  }
  return byName;
}

/**
 * Per object, what a watcher saw is an in-order subsequence of the versions made, ending at the last.
 * (A relist's difference reaches watchers object by object, so the combined states in between are not
 * states the cluster had: per object is what the API promises.)
 */
function convergedPerObject(seen: Map<string, string[]>, made: Map<string, string[]>): boolean {
  for (const [name, all] of made) {
    const got = seen.get(name) ?? [];
    if (got[got.length - 1] !== all[all.length - 1]) return false;
    let i = 0;
    for (const rv of got) {
      while (i < all.length && all[i] !== rv) i++;
      if (i === all.length) return false;
      i++;
    }
  }
  return true;
}

async function assertConverged(ctx: Context, what: string): Promise<void> {
  const seen = (w: WatchReader) => versions(ctx.initial, w.events.filter((e) => e.event.type === 'MODIFIED').map((e) => `${e.event.object.metadata?.name} @${e.event.object.metadata?.resourceVersion}`));
  await eventually(
    async () => ctx.watchers.map((w) => convergedPerObject(seen(w), versions(ctx.initial, ctx.made))),
    (ok) => ok.every(Boolean),
    `${what}: per namespace, every watcher saw an in-order subsequence of its versions, ending at the last`,
    60_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nmade: ${JSON.stringify(ctx.made)}\nwatchers: ${JSON.stringify(ctx.watchers.map((w) => w.events.map((e) => `${e.event.type} ${e.event.object.metadata?.name} @${e.event.object.metadata?.resourceVersion}`)))}`);
  });
  for (const [i, w] of ctx.watchers.entries()) {
    assert.not.ok(w.ended, `r${i + 1}'s watch is still open`);
    assert.equal(w.events.filter((e) => e.event.type !== 'MODIFIED' && e.event.type !== 'BOOKMARK').map((e) => e.line), [], `r${i + 1}: only changes`);
  }
}

async function leaderIndex(ctx: Context): Promise<number> {
  const roles = await Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_replica_role', { role: 'leader' })));
  return roles.indexOf(1);
}

const relists = (ctx: Context) => Promise.all(ctx.replicas.map((r) => r.metric('tenant_proxy_informer_relists_total', { resource: 'namespaces' })));

test.before(async (ctx) => {
  ctx.cp = await ControlPlane.start({ unref: true, apiserverFlags: APISERVER_FLAGS });
  ctx.redis = await startRedis();
  ctx.relay = await cuttableRelay(Number(new URL(ctx.cp.server).port));
  const dir = mkdtempSync(path.join(tmpdir(), 'upstream-faults-'));
  const kubeconfig = ctx.cp.writeKubeconfig(path.join(dir, 'proxy.kubeconfig'), ctx.cp.proxyCredentials(), 'tenant-proxy', `https://127.0.0.1:${ctx.relay.port}`);
  ctx.replicas = [];
  const keyFile = deploymentKeyFile();
  for (const id of ['u1', 'u2', 'u3']) ctx.replicas.push(await startProxy(ctx.cp, { flags: ['--redis', ctx.redis.url, '--shared-auth-key-file', keyFile, '--replica-id', id, '--lease-ttl', '3s'], upstream: await loadUpstream({ kubeconfig }) }));
  const tenant = await createTenant(ctx.cp.admin, { name: 'oil', owners: [{ kind: 'User', name: 'alice' }], namespaces: [] });
  for (const name of NAMESPACES) await addTenantNamespace(ctx.cp.admin, tenant, name, [{ kind: 'User', name: 'alice' }]);
  ctx.made = [];
  ctx.step = 0;
  ctx.initial = new Map();
  for (const name of NAMESPACES) ctx.initial.set(name, (await ctx.cp.admin.json<{ metadata: { resourceVersion: string } }>('GET', `${NAMESPACES_PATH}/${name}`)).metadata.resourceVersion);
  const alice = await ctx.cp.clientCertificate('alice');
  ctx.watchers = [];
  for (const replica of ctx.replicas) {
    const expected = NAMESPACES.map((n) => `${n} @${ctx.initial.get(n)}`).join();
    const { reader } = await watchAfterList(replica.client(alice), NAMESPACES_PATH, (l) => l.items.map((i) => `${i.metadata.name} @${i.metadata.resourceVersion}`).join() === expected, "alice's namespaces on every replica");
    ctx.watchers.push(reader);
  }
});

test.after(async (ctx) => {
  for (const w of ctx.watchers ?? []) w.close();
  for (const r of ctx.replicas ?? []) await r.stop();
  await ctx.relay?.close();
  await ctx.redis?.stop();
  await ctx.cp?.stop();
});

test("a 410 on the leader's watch: it lists again and the log carries the difference; followers never touch the apiserver", async (ctx) => {
  const before = await relists(ctx);
  const leader = await leaderIndex(ctx);
  assert.ok(leader >= 0, 'a leader');
  ctx.relay.cut();
  try {
    for (let i = 0; i < 10; i++) await change(ctx);
    await new Promise((resolve) => setTimeout(resolve, CUT_MS));
    await change(ctx);
  } finally {
    ctx.relay.restore();
  }
  for (let i = 0; i < 3; i++) await change(ctx);
  await assertConverged(ctx, 'after a forced 410');
  const after = await relists(ctx);
  const leaderNow = await leaderIndex(ctx);
  assert.ok((after[leaderNow] ?? 0) > (before[leaderNow] ?? 0), `the leader listed namespaces again: ${before.join()} → ${after.join()}`);
  for (const [i, n] of after.entries()) if (i !== leaderNow) assert.is(n, before[i], `follower u${i + 1} did not list`);
});

test('an apiserver restart: the leader watches again (listing where its watch is too old); every watcher converges', async (ctx) => {
  await ctx.cp.restartApiserver();
  for (let i = 0; i < 5; i++) await change(ctx);
  await assertConverged(ctx, 'after an apiserver restart');
});

test.run();
