// deploy/ (`kubectl apply -k deploy/`): the real apiserver accepts every object (a server-side dry run of
// the 1.20 overlay, test/support/deploy-overlay-1.20, which only moves the PDB to policy/v1beta1), and the
// rendered base has what a user relies on: 3 replicas spread over nodes and never fewer than 2 on
// purpose, probes on the HTTPS listener, a TCP Service passing TLS through to it, a non-root image with a
// read-only root filesystem, one serving certificate and the Redis URL from Secrets, the pod name as
// replica id.
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../support/control-plane.ts';
import { kubectl } from '../support/kubectl.ts';
import { sharedControlPlane } from '../support/shared.ts';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASE = path.join(ROOT, 'deploy');
const OVERLAY = path.join(ROOT, 'test/support/deploy-overlay-1.20');
const NAMESPACE = 'tenant-proxy';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

interface Context {
  cp: ControlPlane;
  dir: string;
  kubeconfig: string;
  createdNamespace: boolean;
  base: Obj[];
}

const test = suite<Context>('deploy/: the manifests');

async function render(ctx: Context, dir: string): Promise<Obj[]> {
  const r = await kubectl(ctx.kubeconfig, ['kustomize', dir]);
  assert.is(r.code, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj).filter((o) => o);
}

function find(objects: Obj[], kind: string, name: string): Obj {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found, `${kind} ${name} in the output`);
  return found;
}

/** What `kubectl … -o name` prints for an object: `<plural>[.<group>]/<name>`, plurals of the kinds used here. */
function nameOf(o: Obj): string {
  const group = String(o.apiVersion).includes('/') ? `.${String(o.apiVersion).split('/')[0]}` : '';
  const plural = String(o.kind).toLowerCase();
  return `${plural}${group}/${o.metadata.name}`;
}

const proxyDeployment = (ctx: Context) => find(ctx.base, 'Deployment', 'tenant-proxy');
const proxyContainer = (ctx: Context): Obj => {
  const containers = proxyDeployment(ctx).spec.template.spec.containers as Obj[];
  const c = containers.find((x) => x.name === 'tenant-proxy');
  assert.ok(c, 'a tenant-proxy container');
  return c;
};
const containerPort = (c: Obj, port: string | number): number | undefined => (typeof port === 'number' ? port : (c.ports as Obj[]).find((p) => p.name === port)?.containerPort);
const argValue = (c: Obj, flag: string): string | undefined => (c.args as string[]).find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);

test.before(async (ctx) => {
  ctx.cp = await sharedControlPlane();
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'deployment-manifests-'));
  ctx.kubeconfig = ctx.cp.writeKubeconfig(path.join(ctx.dir, 'admin.kubeconfig'), ctx.cp.adminCredentials(), 'admin');
  // A server-side dry run of namespaced objects needs their namespace to exist. The control plane's
  // bootstrap applies deploy/rbac.yaml, which creates it; create it only if it is missing (and remove it then).
  const ns = await ctx.cp.admin.request('GET', `/api/v1/namespaces/${NAMESPACE}`);
  ctx.createdNamespace = ns.status === 404;
  if (ctx.createdNamespace) {
    const created = await ctx.cp.admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } });
    assert.is(created.status, 201, created.body);
  }
  ctx.base = await render(ctx, BASE);
});

test.after(async (ctx) => {
  if (ctx.createdNamespace) await ctx.cp.admin.request('DELETE', `/api/v1/namespaces/${NAMESPACE}`);
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('the apiserver accepts every object of deploy/ (server-side dry run of the 1.20 overlay)', async (ctx) => {
  const rendered = await render(ctx, OVERLAY);
  const r = await kubectl(ctx.kubeconfig, ['apply', '-k', OVERLAY, '--dry-run=server', '-o', 'name'], { timeoutMs: 120_000 });
  assert.is(r.code, 0, `kubectl apply -k --dry-run=server: ${r.stderr}`);
  const accepted = r.stdout.split('\n').filter((l) => l.length > 0).sort();
  assert.equal(accepted, rendered.map(nameOf).sort(), 'every rendered object, each accepted once');
  const redisSecret = rendered.find((o) => o.kind === 'Secret' && String(o.metadata.name).startsWith('tenant-proxy-redis'));
  assert.ok(redisSecret, 'the Redis URL Secret');
  for (const expected of [
    'namespace/tenant-proxy',
    'serviceaccount/tenant-proxy',
    'clusterrole.rbac.authorization.k8s.io/tenant-proxy',
    'clusterrolebinding.rbac.authorization.k8s.io/tenant-proxy',
    'deployment.apps/tenant-proxy',
    'poddisruptionbudget.policy/tenant-proxy',
    'service/tenant-proxy',
    'service/tenant-proxy-metrics',
    'deployment.apps/tenant-proxy-redis',
    'service/tenant-proxy-redis',
    'networkpolicy.networking.k8s.io/tenant-proxy-redis',
    `secret/${redisSecret.metadata.name}`,
  ]) assert.ok(accepted.includes(expected), `${expected} accepted; got:\n${accepted.join('\n')}`);
  // Only the PDB's version differs from the base.
  assert.is(find(rendered, 'PodDisruptionBudget', 'tenant-proxy').apiVersion, 'policy/v1beta1');
  assert.equal(rendered.filter((o) => o.kind !== 'PodDisruptionBudget'), ctx.base.filter((o) => o.kind !== 'PodDisruptionBudget'));
});

test('every namespaced object lives in namespace tenant-proxy; rbac.yaml is part of it', (ctx) => {
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
  for (const o of ctx.base) if (!clusterScoped.has(o.kind)) assert.is(o.metadata.namespace, NAMESPACE, `${o.kind} ${o.metadata.name}`);
  assert.ok(/^\s*-\s*rbac\.yaml\s*$/m.test(readFileSync(path.join(BASE, 'kustomization.yaml'), 'utf8')), 'kustomization lists rbac.yaml');
  find(ctx.base, 'ClusterRole', 'tenant-proxy');
  assert.is(proxyDeployment(ctx).spec.template.spec.serviceAccountName, 'tenant-proxy');
});

test('3 replicas, spread by hostname, a PDB (policy/v1) keeping 2', (ctx) => {
  const d = proxyDeployment(ctx);
  assert.is(d.spec.replicas, 3);
  const podLabels = d.spec.template.metadata.labels as Record<string, string>;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  const terms = d.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution as Obj[] | undefined;
  assert.ok(terms?.some((t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && matches(t.podAffinityTerm.labelSelector.matchLabels)), 'preferred anti-affinity by hostname on its own pods');
  const pdb = find(ctx.base, 'PodDisruptionBudget', 'tenant-proxy');
  assert.is(pdb.apiVersion, 'policy/v1');
  assert.ok(pdb.spec.minAvailable === 2 || pdb.spec.maxUnavailable === 1, 'minAvailable 2 or maxUnavailable 1');
  assert.ok(matches(pdb.spec.selector.matchLabels), 'the PDB selects the proxy pods');
});

test('probes: /readyz and /healthz on the HTTPS listener; resources set', (ctx) => {
  const c = proxyContainer(ctx);
  const listen = argValue(c, '--listen') ?? '0.0.0.0:9001';
  const httpsPort = Number(listen.split(':').pop());
  for (const [probe, p] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const) {
    const get = c[probe]?.httpGet as Obj | undefined;
    assert.ok(get, `${probe} is an httpGet`);
    assert.is(get.path, p);
    assert.is(get.scheme, 'HTTPS');
    assert.is(containerPort(c, get.port), httpsPort, `${probe} on the listener's port`);
  }
  for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[r], `resources.${kind}.${r}`);
});

test('the Service passes TCP 443 through to the HTTPS listener; metrics on 9002', (ctx) => {
  const c = proxyContainer(ctx);
  const podLabels = proxyDeployment(ctx).spec.template.metadata.labels as Record<string, string>;
  const svc = find(ctx.base, 'Service', 'tenant-proxy');
  assert.ok(Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => podLabels[k] === v), 'selects the proxy pods');
  const ports = svc.spec.ports as Obj[];
  assert.is(ports.length, 1);
  const [https] = ports;
  assert.is(https?.port, 443);
  assert.is(https?.protocol ?? 'TCP', 'TCP');
  assert.is(containerPort(c, https?.targetPort), 9001);
  assert.is(https?.appProtocol, undefined, 'no application protocol for a load balancer to terminate');
  assert.is(Object.keys(svc.metadata.annotations ?? {}).filter((k) => /ssl|tls|cert/i.test(k)).length, 0, 'no TLS-terminating load balancer annotation');
  const metrics = find(ctx.base, 'Service', 'tenant-proxy-metrics');
  assert.is(containerPort(c, (metrics.spec.ports as Obj[])[0]?.targetPort), 9002);
  assert.is(argValue(c, '--metrics-listen'), '0.0.0.0:9002');
});

test('non-root (numeric user, as the Dockerfile), read-only root filesystem, image without a registry host', (ctx) => {
  const c = proxyContainer(ctx);
  const pod = proxyDeployment(ctx).spec.template.spec;
  const user = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  assert.ok(c.securityContext?.runAsNonRoot === true || pod.securityContext?.runAsNonRoot === true, 'runAsNonRoot');
  assert.ok(Number.isInteger(user) && user > 0, 'a numeric non-zero user');
  assert.is(c.securityContext?.readOnlyRootFilesystem, true);
  assert.is(c.securityContext?.allowPrivilegeEscalation, false);
  const dockerUser = /^USER\s+(\S+)\s*$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  assert.ok(dockerUser && /^[1-9]\d*(:\d+)?$/.test(dockerUser), `the Dockerfile's USER is numeric and non-zero: ${dockerUser}`);
  assert.is(Number(dockerUser.split(':')[0]), user, 'the same user as the image');
  for (const o of ctx.base.filter((x) => x.kind === 'Deployment')) {
    for (const x of o.spec.template.spec.containers as Obj[]) {
      const firstPart = String(x.image).split('/')[0] ?? '';
      assert.ok(!String(x.image).includes('/') || !/[.:]|^localhost$/.test(firstPart), `${x.image}: no registry host`);
    }
  }
  assert.is(c.image, 'tenant-proxy:latest');
});

test('serving certificate, shared-auth key and Redis URL from Secrets; the pod name as replica id', (ctx) => {
  const c = proxyContainer(ctx);
  const volumes = proxyDeployment(ctx).spec.template.spec.volumes as Obj[];
  const secretAt = (file: string | undefined): { secret: string; key: string } | undefined => {
    if (!file) return undefined;
    const mount = (c.volumeMounts as Obj[]).find((m) => file.startsWith(`${m.mountPath}/`));
    const volume = volumes.find((v) => v.name === mount?.name);
    if (!mount || !volume?.secret) return undefined;
    const name = file.slice(mount.mountPath.length + 1);
    const key = (volume.secret.items as Obj[] | undefined)?.find((i) => i.path === name)?.key ?? name;
    return { secret: volume.secret.secretName, key };
  };
  assert.equal(secretAt(argValue(c, '--tls-cert-file')), { secret: 'tenant-proxy-serving', key: 'tls.crt' });
  assert.equal(secretAt(argValue(c, '--tls-key-file')), { secret: 'tenant-proxy-serving', key: 'tls.key' });
  assert.ok(secretAt(argValue(c, '--shared-auth-key-file')), '--shared-auth-key-file from a Secret');
  const env = c.env as Obj[];
  assert.equal(env.find((e) => e.name === 'TENANT_PROXY_REPLICA_ID')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  const redisRef = env.find((e) => e.name === 'TENANT_PROXY_REDIS')?.valueFrom?.secretKeyRef as Obj | undefined;
  assert.ok(redisRef, 'TENANT_PROXY_REDIS from a Secret');
  const secret = find(ctx.base, 'Secret', redisRef.name);
  const url = new URL(Buffer.from(String(secret.data[redisRef.key]), 'base64').toString('utf8'));
  assert.is(url.protocol, 'redis:');
  const redisService = find(ctx.base, 'Service', url.hostname);
  assert.is(String((redisService.spec.ports as Obj[])[0]?.port), url.port || '6379');
  const redis = find(ctx.base, 'Deployment', 'tenant-proxy-redis');
  assert.ok(String(redis.spec.template.spec.containers[0].image).startsWith('redis:7'));
  assert.ok(Object.entries(redisService.spec.selector as Record<string, string>).every(([k, v]) => redis.spec.template.metadata.labels[k] === v), 'the Redis Service selects Redis');
});

test.run();
