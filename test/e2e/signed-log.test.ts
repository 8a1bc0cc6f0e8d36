// The change log in Redis decides what replicas serve, and which writes tenant-proxy performs for tenants
// with its own credentials. On the real control plane, a namespace entry written into the log by someone
// who can write to Redis but does not hold the deployment's key: a deployment told to run without the key
// (--insecure-unsigned-redis) serves it to the tenant, the hole that flag's warning names; one with
// --shared-auth-key-file refuses it, counts the refusal, and keeps serving the tenant's real namespaces.
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import { ENTRY_FIELD } from '../../redis/entry-codec.ts';
import { replicationKeys } from '../../redis/keys.ts';
import { unseal } from '../../redis/signer.ts';
import type { ControlPlane } from '../support/control-plane.ts';
import { eventually } from '../support/eventually.ts';
import { createTenant, deleteTenant } from '../support/fixtures.ts';
import type { KubeHttp } from '../support/kube-http.ts';
import { remove, type KubeObject } from '../support/manifests.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { deploymentKeyFile, startRedis, type RedisServer } from '../support/redis.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

interface Deployment {
  prefix: string;
  proxy: RunningProxy;
  owner: KubeHttp;
}

interface Context {
  cp: ControlPlane;
  redis: RedisServer;
  proxies: RunningProxy[];
  unsigned: Deployment;
  signed: Deployment;
}

const test = suite<Context>('a change log entry forged in Redis');
const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
const tenant = `forge-${suffix}`;
const owner = `forge-owner-${suffix}`;
const genuine = `${tenant}-a`;
const forged = `${tenant}-forged`;

const names = async (client: KubeHttp): Promise<string[]> => {
  const list = await client.json<{ items: KubeObject[] }>('GET', '/api/v1/namespaces');
  return list.items.map((ns) => ns.metadata.name).sort();
};

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.redis = await startRedis();
  ctx.proxies = [];
  const keyFile = deploymentKeyFile();
  await createTenant(ctx.cp.admin, { name: tenant, owners: [{ kind: 'User', name: owner }], namespaces: [genuine] });
  const credentials = await ctx.cp.clientCertificate(owner);
  const deploy = async (prefix: string, flags: string[]): Promise<Deployment> => {
    const proxy = await startProxy(ctx.cp, ['--redis', ctx.redis.url, '--redis-key-prefix', prefix, '--replica-id', prefix, '--lease-ttl', '3s', ...flags]);
    ctx.proxies.push(proxy);
    const client = proxy.client(credentials);
    // 429 until the replica has loaded the cluster state.
    await eventually(() => names(client).catch((): string[] => []), (n) => n.includes(genuine), `${prefix}: the tenant's namespace`, 30_000);
    return { prefix, proxy, owner: client };
  };
  ctx.unsigned = await deploy(`{unsigned-${suffix}}:`, ['--insecure-unsigned-redis']);
  ctx.signed = await deploy(`{signed-${suffix}}:`, ['--shared-auth-key-file', keyFile]);
});

test.after(async (ctx) => {
  for (const proxy of ctx.proxies ?? []) await proxy.stop();
  await ctx.redis?.stop();
  await deleteTenant(ctx.cp.admin, tenant).catch(() => undefined);
  await remove(ctx.cp.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: genuine } }).catch(() => undefined);
});

/**
 * What a forger with write access to Redis does: takes the log's newest entry for the tenant's namespace
 * (so the copy carries whatever makes a namespace the tenant's), renames it, and appends it above the top.
 */
async function forgeNamespace(ctx: Context, deployment: Deployment): Promise<void> {
  const redis = ctx.redis.client(`forger-${deployment.prefix}`);
  const log = replicationKeys(deployment.prefix).log;
  const entries = (await redis.xrevrange(log, '+', '-', 'COUNT', 1000)) as [string, string[]][];
  const top = entries[0]?.[0];
  const stored = entries.map(([, fields]) => fields[fields.indexOf(ENTRY_FIELD) + 1] ?? '').find((field) => field.includes(`"name":"${genuine}"`));
  if (!top || !stored) throw new Error(`no log entry of ${genuine} under ${deployment.prefix}`);
  const json = unseal(stored)?.value ?? stored;
  const entry = JSON.parse(json.replaceAll(`"name":"${genuine}"`, `"name":"${forged}"`)) as { type: string; object: { metadata: { uid?: string } } };
  entry.type = 'ADDED';
  entry.object.metadata.uid = `forged-${suffix}`;
  const [rv = '0', seq = '0'] = top.split('-');
  await redis.xadd(log, `${rv}-${Number(seq) + 1}`, ENTRY_FIELD, JSON.stringify(entry));
}

test('without the key, the forged namespace is served to the tenant (what the start-up warning says)', async (ctx) => {
  await forgeNamespace(ctx, ctx.unsigned);
  await eventually(() => names(ctx.unsigned.owner), (n) => n.includes(forged), 'the forged namespace through the deployment without a key');
});

test('with the key, it is refused and counted, and the tenant keeps its real namespaces', async (ctx) => {
  const errorsBefore = await ctx.signed.proxy.metric('tenant_proxy_redis_errors_total', { operation: 'tail' });
  await forgeNamespace(ctx, ctx.signed);
  await eventually(() => ctx.signed.proxy.metric('tenant_proxy_redis_errors_total', { operation: 'tail' }), (n) => n > errorsBefore, 'the refused entry counted as a failed read of the log');
  // Past the lease TTL: the replica that cannot read its log serves from its own informers meanwhile.
  for (const until = Date.now() + 5_000; Date.now() < until; await sleep(250)) {
    assert.equal(await names(ctx.signed.owner), [genuine], 'only the real namespace, all along');
  }
});

test.run();
