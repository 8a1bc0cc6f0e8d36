// `npm run demo`: the local control plane with demo tenants, and tenant-proxy in front of it.
// Builds the control plane on first use (minutes), writes kubeconfigs for alice (client certificate),
// bob (token) and admin to .demo/, prints what to try, and stops everything on Ctrl-C.
// `--replicas N`: N replica processes sharing Redis behind HAProxy instead (scripts/demo-replicas.ts).
// Environment: DEMO_LISTEN, DEMO_METRICS_LISTEN (single process only), DEMO_DIR (instead of .demo/).
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parseConfig } from '../src/server/config.ts';
import { ProxyMetrics } from '../src/basics/metrics.ts';
import { TenantProxy } from '../src/server/proxy.ts';
import { loadUpstream } from '../src/basics/upstream.ts';
import { ControlPlane, ensureBinaries } from '../test/support/control-plane.ts';
import { createTenant } from '../test/support/fixtures.ts';
import { apply } from '../test/support/manifests.ts';
import { runReplicasDemo } from './demo-replicas.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_DIR = process.env.DEMO_DIR ? path.resolve(process.env.DEMO_DIR) : path.join(ROOT, '.demo');
const LISTEN = process.env.DEMO_LISTEN ?? '127.0.0.1:9001';
const METRICS_LISTEN = process.env.DEMO_METRICS_LISTEN ?? '127.0.0.1:9002';

const say = (m: string) => process.stdout.write(`[demo] ${m}\n`);

async function seed(cp: ControlPlane): Promise<void> {
  const admin = cp.admin;
  await createTenant(admin, { name: 'oil', owners: [{ kind: 'User', name: 'alice', proxySettings: [{ kind: 'StorageClasses', operations: ['List'] }, { kind: 'IngressClasses', operations: ['List'] }] }], namespaces: ['oil-dev', 'oil-prod'], spec: { storageClasses: { allowed: ['custom'], allowedRegex: '\\w+fs' }, ingressOptions: { allowedClasses: { allowed: ['custom'], allowedRegex: '\\w+-lb' } } } });
  await createTenant(admin, { name: 'gas', owners: [{ kind: 'Group', name: 'gas-admins', proxySettings: [{ kind: 'Nodes', operations: ['List', 'Update'] }] }], namespaces: ['gas-dev'], spec: { nodeSelector: { pool: 'gas' } } });
  for (const [name, pool] of [['node-oil-1', 'oil'], ['node-gas-1', 'gas']]) {
    await apply(admin, { apiVersion: 'v1', kind: 'Node', metadata: { name: name ?? '', labels: { pool: pool ?? '', 'kubernetes.io/hostname': name ?? '' } } });
  }
  for (const name of ['cephfs', 'custom', 'standard', 'glusterfs', 'zol']) {
    await apply(admin, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: `example.com/${name}` });
  }
  for (const name of ['custom', 'external-lb', 'internal-lb', 'nginx']) {
    await apply(admin, { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller: `example.com/${name}` } });
  }
}

async function main(): Promise<void> {
  mkdirSync(DEMO_DIR, { recursive: true });
  ensureBinaries(say);
  const clusterDir = path.join(DEMO_DIR, 'cluster');
  rmSync(clusterDir, { recursive: true, force: true });
  const cp = await ControlPlane.start({ dir: clusterDir, log: say });
  let proxy: TenantProxy | undefined;
  const stop = async () => {
    say('stopping');
    await proxy?.shutdown(2_000);
    await cp.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  try {
    say('creating tenants oil (alice) and gas (group gas-admins: bob), nodes, storage and ingress classes');
    await seed(cp);
    const proxyKubeconfig = cp.writeKubeconfig(path.join(DEMO_DIR, 'tenant-proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');
    const parsed = parseConfig(['--listen', LISTEN, '--metrics-listen', METRICS_LISTEN, '--kubeconfig', proxyKubeconfig, '--cert-dir', path.join(DEMO_DIR, 'serving')], process.env);
    if (parsed.kind !== 'config') throw new Error('unexpected --help');
    const log = pino({ level: 'info', base: { component: 'tenant-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, createWriteStream(path.join(DEMO_DIR, 'proxy.log'), { flags: 'a' }));
    proxy = await TenantProxy.create(parsed.config, { upstream: await loadUpstream({ kubeconfig: proxyKubeconfig }), log, metrics: new ProxyMetrics({ defaultMetrics: true }) });
    const { port } = await proxy.start();
    const url = `https://127.0.0.1:${port}`;
    const { readFileSync } = await import('node:fs');
    const servingCa = readFileSync(proxy.servingCaFile ?? '', 'utf8');
    const kubeconfigs = {
      alice: cp.writeKubeconfig(path.join(DEMO_DIR, 'alice.kubeconfig'), { ...(await cp.clientCertificate('alice')), caPem: servingCa }, 'alice', url, servingCa),
      bob: cp.writeKubeconfig(path.join(DEMO_DIR, 'bob.kubeconfig'), { ...cp.tokenCredentials('bob'), caPem: servingCa }, 'bob', url, servingCa),
      admin: cp.writeKubeconfig(path.join(DEMO_DIR, 'admin.kubeconfig'), { ...cp.adminCredentials(), caPem: servingCa }, 'admin', url, servingCa),
    };
    const rel = (f: string) => path.relative(process.cwd(), f) || f;
    process.stdout.write(`
tenant-proxy is listening on ${url} (logs: ${rel(path.join(DEMO_DIR, 'proxy.log'))}, metrics: http://${METRICS_LISTEN}/metrics)
in front of kube-apiserver ${cp.server}. Try:

  kubectl --kubeconfig ${rel(kubeconfigs.alice)} get namespaces            # alice owns tenant oil: oil-dev, oil-prod
  kubectl --kubeconfig ${rel(kubeconfigs.alice)} get ns -w                 # live; in another shell, as admin:
  kubectl --kubeconfig ${rel(kubeconfigs.admin)} label ns gas-dev capsule.clastix.io/tenant=oil --overwrite
  kubectl --kubeconfig ${rel(kubeconfigs.alice)} get storageclasses        # allowed: [custom], allowedRegex: \\w+fs
  kubectl --kubeconfig ${rel(kubeconfigs.alice)} get ns gas-dev            # NotFound, never Forbidden
  kubectl --kubeconfig ${rel(kubeconfigs.alice)} auth can-i list namespaces
  kubectl --kubeconfig ${rel(kubeconfigs.bob)} get nodes                   # bob, through group gas-admins: pool=gas
  kubectl --kubeconfig ${rel(kubeconfigs.bob)} cordon node-gas-1           # the Update grant
  kubectl --kubeconfig ${rel(kubeconfigs.alice)} delete ns oil-prod        # returns, no Forbidden lines
  kubectl --kubeconfig ${rel(kubeconfigs.admin)} get ns                    # admin: everything, forwarded

Ctrl-C stops the proxy and the control plane.
`);
  } catch (err) {
    process.stderr.write(`[demo] failed: ${(err as Error).stack}\n`);
    await proxy?.shutdown(1_000);
    await cp.stop();
    process.exit(1);
  }
}

function replicasFlag(argv: readonly string[]): number | undefined {
  const i = argv.findIndex((a) => a === '--replicas' || a.startsWith('--replicas='));
  if (i < 0) return undefined;
  const value = argv[i]?.includes('=') ? argv[i]?.split('=')[1] : argv[i + 1];
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`[demo] --replicas wants a whole number ≥ 1, got ${value}\n`);
    process.exit(2);
  }
  return n;
}

const replicas = replicasFlag(process.argv.slice(2));
if (replicas === undefined) void main();
else void runReplicasDemo({ root: ROOT, dir: DEMO_DIR, listen: LISTEN, replicas, seed, say });
