// docker-compose.yml and deploy/compose/haproxy.cfg, validated by the tools that read them (no container
// engine here): Debian's docker-compose (v1) parses and validates the compose file, `haproxy -c` the
// balancer's configuration. Then what the setup relies on: three replicas sharing one Redis, each with
// its own replica id and the same serving certificate, the kubeconfig read-only, a non-root user; HAProxy
// in TCP mode (TLS passed through), with timeouts a watch survives and health from each replica's /readyz.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const HAPROXY_CFG = path.join(ROOT, 'deploy/compose/haproxy.cfg');
const REPLICAS = ['tenant-proxy-1', 'tenant-proxy-2', 'tenant-proxy-3'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

interface Context {
  dir: string;
  env: NodeJS.ProcessEnv;
  config: Obj;
}

const test = suite<Context>('docker-compose.yml and its HAProxy');

function run(command: string, args: string[], env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `host:container[:mode]` of a service's volumes. */
function volumes(service: Obj): { host: string; container: string; mode: string }[] {
  return (service.volumes as (string | Obj)[]).map((v) => {
    if (typeof v !== 'string') return { host: String(v.source), container: String(v.target), mode: v.read_only ? 'ro' : 'rw' };
    const [host = '', container = '', mode = 'rw'] = v.split(':');
    return { host, container, mode };
  });
}

const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

/** A service's setting from its command line flag or its environment variable. */
function setting(service: Obj, name: string, env: string): string | undefined {
  return flag((service.command ?? []) as string[], name) ?? (service.environment as Record<string, string> | undefined)?.[env];
}

/** HAProxy durations (ms, s, m, h, d; bare numbers are ms) in milliseconds. */
function ms(value: string): number {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value);
  assert.ok(m, `a duration: ${value}`);
  const unit = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Number(m[1]) * unit;
}

test.before((ctx) => {
  for (const tool of ['docker-compose', 'haproxy']) assert.is(spawnSync('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} is installed (Debian packages docker-compose, haproxy)`);
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'compose-test-'));
  // Independent of the caller's HOME and environment.
  ctx.env = { PATH: process.env.PATH, HOME: ctx.dir, TENANT_PROXY_KUBECONFIG: path.join(ctx.dir, 'kubeconfig'), TENANT_PROXY_SERVING_DIR: path.join(ctx.dir, 'serving') };
});

test.after((ctx) => {
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('docker-compose config -q accepts docker-compose.yml', (ctx) => {
  const quiet = run('docker-compose', ['-f', COMPOSE_FILE, 'config', '-q'], ctx.env);
  assert.is(quiet.code, 0, quiet.stderr);
  const full = run('docker-compose', ['-f', COMPOSE_FILE, 'config'], ctx.env);
  assert.is(full.code, 0, full.stderr);
  ctx.config = parse(full.stdout) as Obj;
});

test('Redis and three replicas sharing it, each its own replica id, one serving certificate, kubeconfig read-only', (ctx) => {
  const services = ctx.config.services as Record<string, Obj>;
  assert.ok(String(services.redis?.image).startsWith('redis:7'), 'a redis:7 service');
  const ids = new Set<string>();
  const certificates = new Set<string>();
  for (const name of REPLICAS) {
    const s = services[name];
    assert.ok(s, `service ${name}`);
    assert.is(path.resolve(String(s.build?.context ?? s.build)), ROOT, `${name} is built from the Dockerfile`);
    assert.is(setting(s, '--redis', 'TENANT_PROXY_REDIS'), 'redis://redis:6379');
    const id = setting(s, '--replica-id', 'TENANT_PROXY_REPLICA_ID');
    assert.ok(id, `${name} has a replica id`);
    ids.add(id);
    assert.ok(Object.keys(s.depends_on ?? {}).includes('redis') || (Array.isArray(s.depends_on) && s.depends_on.includes('redis')), `${name} depends on redis`);
    const mounts = volumes(s);
    const mountOf = (file: string | undefined) => mounts.find((m) => file?.startsWith(`${m.container}/`) || file === m.container);
    const cert = setting(s, '--tls-cert-file', 'TENANT_PROXY_TLS_CERT_FILE');
    const key = setting(s, '--tls-key-file', 'TENANT_PROXY_TLS_KEY_FILE');
    const certMount = mountOf(cert);
    assert.ok(certMount && certMount === mountOf(key), `${name}: certificate and key from one mounted directory`);
    assert.is(certMount.mode, 'ro');
    assert.is(certMount.host, path.join(ctx.dir, 'serving'));
    certificates.add(`${certMount.host}|${cert}|${key}`);
    assert.ok(mountOf(setting(s, '--shared-auth-key-file', 'TENANT_PROXY_SHARED_AUTH_KEY_FILE')), `${name}: the shared-auth key mounted`);
    const kubeconfig = mountOf(setting(s, '--kubeconfig', 'TENANT_PROXY_KUBECONFIG'));
    assert.ok(kubeconfig, `${name}: kubeconfig mounted`);
    assert.is(kubeconfig.mode, 'ro', `${name}: kubeconfig read-only`);
    assert.is(kubeconfig.host, path.join(ctx.dir, 'kubeconfig'));
    assert.ok(/^[1-9]\d*(:\d+)?$/.test(String(s.user)), `${name} runs as a numeric non-root user: ${s.user}`);
    assert.is(setting(s, '--listen', 'TENANT_PROXY_LISTEN') ?? '0.0.0.0:9001', '0.0.0.0:9001');
    for (const p of (s.ports ?? []) as Obj[]) assert.is.not(Number(p.target), 9001, `${name}: clients reach the replicas through HAProxy only`);
  }
  assert.is(ids.size, REPLICAS.length, 'distinct replica ids');
  assert.is(certificates.size, 1, 'the same serving certificate for every replica');
  const haproxy = services.haproxy;
  assert.ok(haproxy, 'an haproxy service');
  assert.ok(volumes(haproxy).some((m) => m.host === HAPROXY_CFG && m.mode === 'ro'), 'deploy/compose/haproxy.cfg mounted');
  assert.ok((haproxy.ports as Obj[]).some((p) => Number(p.target) === 9001), 'HAProxy publishes the proxy port');
});

test('haproxy -c accepts deploy/compose/haproxy.cfg', (ctx) => {
  const r = run('haproxy', ['-c', '-f', HAPROXY_CFG], ctx.env);
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout + r.stderr, /Configuration file is valid/);
});

test('HAProxy: TCP mode, long timeouts for watches, TLS health checks on /readyz, every replica', () => {
  const lines = readFileSync(HAPROXY_CFG, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l.length > 0);
  assert.ok(lines.includes('mode tcp'), 'mode tcp');
  assert.not.ok(lines.some((l) => l === 'mode http'), 'never mode http');
  assert.not.ok(lines.some((l) => /^(bind|server)\b.*\sssl(\s|$)/.test(l)), 'no TLS termination on bind or server lines');
  for (const t of ['client', 'server', 'tunnel']) {
    const line = lines.find((l) => l.startsWith(`timeout ${t} `));
    assert.ok(line, `timeout ${t}`);
    assert.ok(ms(line.split(/\s+/)[2] ?? '') >= 10 * 60_000, `timeout ${t} at least 10 minutes: ${line}`);
  }
  assert.ok(lines.includes('option httpchk'), 'HTTP health checks');
  assert.ok(lines.some((l) => /^http-check send .*uri \/readyz\b/.test(l)), 'on /readyz');
  const checks = lines.filter((l) => /^(default-server|server) /.test(l)).join(' ');
  assert.match(checks, /\bcheck-ssl\b/);
  assert.match(checks, /\bverify none\b/);
  assert.match(checks, /\binit-addr [^ ]*none/);
  const servers = lines.filter((l) => l.startsWith('server ')).map((l) => l.split(/\s+/)[2]);
  assert.equal(servers.sort(), REPLICAS.map((r) => `${r}:9001`));
});

test.run();
