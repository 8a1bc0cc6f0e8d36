// `npm run demo -- --replicas N`: the demo's control plane and tenants, with N tenant-proxy replica
// processes (bin/tenant-proxy.js) sharing a lease and a change log in a throwaway redis-server, behind
// HAProxy in TCP mode (TLS passthrough: the replicas see the client certificates) on the demo's listen
// address. The first replica generates the serving certificate in <demo dir>/serving; the others serve
// the same one, so the kubeconfigs work whichever replica answers. Prints every pid, which replica
// leads and how to kill it, follows leadership changes, and stops everything it started on Ctrl-C/SIGTERM.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ControlPlane, ensureBinaries } from '../test/support/control-plane.ts';
import { freePort } from '../test/support/free-port.ts';
import { scrapeMetric } from '../test/support/proxy.ts';
import { stopProcess } from '../test/support/stop-process.ts';

const REDIS_SERVER = process.env.DEMO_REDIS_SERVER ?? '/usr/bin/redis-server';
const HAPROXY = process.env.DEMO_HAPROXY ?? '/usr/sbin/haproxy';
const READY_TIMEOUT_MS = 90_000;
const POLL_MS = 500;

export interface ReplicasDemoOptions {
  root: string;
  dir: string;
  /** host:port HAProxy listens on. */
  listen: string;
  replicas: number;
  seed: (cp: ControlPlane) => Promise<void>;
  say: (message: string) => void;
}

interface Replica {
  name: string;
  port: number;
  metricsPort: number;
  child: ChildProcess;
  exited: boolean;
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Spawns `command` with its output appended to `logFile`; SIGKILLed if this process exits first. */
function spawnLogged(command: string, args: string[], logFile: string, cwd?: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const killOnExit = () => {
    if (alive(child)) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  return child;
}

const tail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
};

async function waitFor(what: string, child: ChildProcess, logFile: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!alive(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready; ${logFile}:\n${tail(logFile)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${READY_TIMEOUT_MS / 1000} s; ${logFile}:\n${tail(logFile)}`);
    await sleep(200);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } finally {
    probe.disconnect();
  }
}

function haproxyConfig(listen: string, replicas: Replica[]): string {
  return `# Written by \`npm run demo -- --replicas ${replicas.length}\`: TCP mode, so TLS passes through to the
# replicas (they see the client certificates); long timeouts, so watches are not cut.
global
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout check 2s

frontend tenant-proxy
    bind ${listen}
    default_backend replicas

backend replicas
    balance leastconn
    # Health: each replica's plain-HTTP /readyz on its metrics listener.
    option httpchk GET /readyz
    http-check expect status 200
${replicas.map((r) => `    server ${r.name} 127.0.0.1:${r.port} check port ${r.metricsPort} inter 1s fall 2 rise 2`).join('\n')}
`;
}

export async function runReplicasDemo(o: ReplicasDemoOptions): Promise<void> {
  const { dir, say } = o;
  mkdirSync(dir, { recursive: true });
  ensureBinaries(say);
  const clusterDir = path.join(dir, 'cluster');
  rmSync(clusterDir, { recursive: true, force: true });
  const certDir = path.join(dir, 'serving');
  const rel = (f: string) => {
    const r = path.relative(process.cwd(), f);
    return r && !r.startsWith('..') ? r : f;
  };

  let cp: ControlPlane | undefined;
  let redis: ChildProcess | undefined;
  let redisDir: string | undefined;
  let haproxy: ChildProcess | undefined;
  const replicas: Replica[] = [];
  let stopping = false;
  let poller: Promise<void> | undefined;

  const stopAll = async () => {
    stopping = true;
    await poller;
    if (haproxy) {
      say(`stopping haproxy (pid ${haproxy.pid})`);
      await stopProcess(haproxy, 5_000);
    }
    for (const r of replicas) if (alive(r.child)) say(`stopping ${r.name} (pid ${r.child.pid})`);
    await Promise.all(replicas.map((r) => stopProcess(r.child, 5_000)));
    if (redis) {
      say(`stopping redis-server (pid ${redis.pid})`);
      await stopProcess(redis, 5_000);
    }
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
    if (cp) {
      say(`stopping the control plane (pids ${controlPlanePids(cp)})`);
      await cp.stop();
    }
  };
  const stop = async (code: number) => {
    if (stopping) return;
    say('stopping');
    await stopAll();
    say('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  try {
    cp = await ControlPlane.start({ dir: clusterDir, log: say });
    say(`control plane pids: ${controlPlanePids(cp)}`);
    say('creating tenants oil (alice) and gas (group gas-admins: bob), nodes, storage and ingress classes');
    await o.seed(cp);
    const proxyKubeconfig = cp.writeKubeconfig(path.join(dir, 'tenant-proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');

    // Redis: a free loopback port, a temporary directory, no persistence.
    const redisPort = await freePort();
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    redisDir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-demo-redis-'));
    const redisLog = path.join(dir, 'redis.log');
    redis = spawnLogged(REDIS_SERVER, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], redisLog);
    await waitFor('redis-server', redis, redisLog, () => redisAnswers(redisUrl));
    say(`redis-server pid ${redis.pid} on ${redisUrl}`);

    // The deployment's key, as deploy/ mounts it from a Secret: it signs the change log, the snapshots and
    // the shared auth results in Redis.
    const keyFile = path.join(dir, 'shared-auth.key');
    writeFileSync(keyFile, randomBytes(48).toString('base64'), { mode: 0o600 });

    // Replicas: the first generates the serving certificate, the others reuse it.
    const startReplica = async (i: number): Promise<Replica> => {
      const name = `r${i + 1}`;
      const [port, metricsPort] = [await freePort(), await freePort()];
      const logFile = path.join(dir, `${name}.log`);
      const args = [
        path.join(o.root, 'bin/tenant-proxy.js'),
        ...['--kubeconfig', proxyKubeconfig, '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--cert-dir', certDir],
        ...['--redis', redisUrl, '--replica-id', name, '--lease-ttl', '5s', '--shutdown-grace-period', '2s', '--shared-auth-key-file', keyFile],
      ];
      const child = spawnLogged(process.execPath, args, logFile, o.root);
      const replica: Replica = { name, port, metricsPort, child, exited: false };
      replicas.push(replica);
      await waitFor(name, child, logFile, async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200);
      say(`${name}: pid ${child.pid}, listening on 127.0.0.1:${port}, metrics http://127.0.0.1:${metricsPort}/metrics, log ${rel(logFile)}`);
      return replica;
    };
    await startReplica(0);
    await Promise.all(Array.from({ length: o.replicas - 1 }, (_, i) => startReplica(i + 1)));
    replicas.sort((a, b) => a.name.localeCompare(b.name));

    // HAProxy on the demo's address, its configuration checked first.
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(o.listen, replicas));
    try {
      execFileSync(HAPROXY, ['-c', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`haproxy -c -f ${cfg} failed:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
    const haproxyLog = path.join(dir, 'haproxy.log');
    haproxy = spawnLogged(HAPROXY, ['-db', '-f', cfg], haproxyLog);
    const [listenHost = '127.0.0.1', listenPort = '9001'] = splitHostPort(o.listen);
    const host = listenHost === '0.0.0.0' || listenHost === '' ? '127.0.0.1' : listenHost;
    await waitFor('haproxy', haproxy, haproxyLog, () => tcpConnects(host, Number(listenPort)));
    say(`haproxy pid ${haproxy.pid} on ${o.listen} (config ${rel(cfg)}, log ${rel(haproxyLog)})`);

    const url = `https://${host}:${listenPort}`;
    const servingCa = readFileSync(path.join(certDir, 'ca.crt'), 'utf8');
    const kubeconfigs = {
      alice: cp.writeKubeconfig(path.join(dir, 'alice.kubeconfig'), { ...(await cp.clientCertificate('alice')), caPem: servingCa }, 'alice', url, servingCa),
      bob: cp.writeKubeconfig(path.join(dir, 'bob.kubeconfig'), { ...cp.tokenCredentials('bob'), caPem: servingCa }, 'bob', url, servingCa),
      admin: cp.writeKubeconfig(path.join(dir, 'admin.kubeconfig'), { ...cp.adminCredentials(), caPem: servingCa }, 'admin', url, servingCa),
    };

    for (const r of replicas) r.child.once('exit', (code, signal) => {
      r.exited = true;
      if (!stopping) say(`${r.name} (pid ${r.child.pid}) exited (${signal ?? `code ${code}`})`);
    });
    const leader = await waitForLeader(replicas);
    process.stdout.write(`
${o.replicas} tenant-proxy replicas behind haproxy on ${url} (TCP mode: TLS passes through), in front of
kube-apiserver ${cp.server}; they share a lease and a change log in redis-server ${redisUrl}.

${replicas.map((r) => `  ${r.name}  pid ${r.child.pid}  listen 127.0.0.1:${r.port}  metrics http://127.0.0.1:${r.metricsPort}/metrics`).join('\n')}
  haproxy pid ${haproxy.pid}, redis-server pid ${redis.pid}, control plane pids ${controlPlanePids(cp)}

${leader.name} leads. Keep a watch open through haproxy:

  KUBECONFIG=${rel(kubeconfigs.alice)} kubectl get ns -w

then kill the leader:

  kill -9 ${leader.child.pid}

Another replica takes over within the lease (5 s) and a few seconds (announced below). kubectl does not
reconnect by itself: a watch whose connection went to the leader ends with it; one on a follower goes on.
Then, as admin, create a namespace of tenant oil and list again as alice:

  kubectl --kubeconfig ${rel(kubeconfigs.admin)} create ns oil-new && kubectl --kubeconfig ${rel(kubeconfigs.admin)} label ns oil-new capsule.clastix.io/tenant=oil
  KUBECONFIG=${rel(kubeconfigs.alice)} kubectl get ns

Ctrl-C stops haproxy, the replicas, redis-server and the control plane.
`);
    say(`ready: ${leader.name} leads (pid ${leader.child.pid})`);
    poller = followLeadership(replicas, leader, say, () => stopping);
  } catch (err) {
    process.stderr.write(`[demo] failed: ${(err as Error).stack}\n`);
    await stop(1);
  }
}

function controlPlanePids(cp: ControlPlane): string {
  try {
    const pids = JSON.parse(readFileSync(path.join(cp.dir, 'pids.json'), 'utf8')) as Record<string, number>;
    return Object.entries(pids).map(([name, pid]) => `${name} ${pid}`).join(', ');
  } catch {
    return '?';
  }
}

function splitHostPort(listen: string): [string, string] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), listen.slice(i + 1)];
}

async function tcpConnects(host: string, port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1_000, () => (socket.destroy(), resolve(false)));
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const isLeader = (r: Replica) => scrapeMetric(r.metricsPort, 'tenant_proxy_replica_role', { role: 'leader' }, 1_000).then((v) => v === 1, () => false);

async function waitForLeader(replicas: Replica[]): Promise<Replica> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    for (const r of replicas) if (!r.exited && (await isLeader(r))) return r;
    if (Date.now() > deadline) throw new Error(`no replica leads after ${READY_TIMEOUT_MS / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** Polls the role metric of the living replicas and announces each change of leader. */
async function followLeadership(replicas: Replica[], first: Replica, say: (m: string) => void, stopping: () => boolean): Promise<void> {
  let current: Replica | undefined = first;
  while (!stopping()) {
    await sleep(POLL_MS);
    const leaders: Replica[] = [];
    for (const r of replicas) if (!r.exited && (await isLeader(r))) leaders.push(r);
    if (stopping()) return;
    const next: Replica | undefined = leaders.length === 1 ? leaders[0] : current && !current.exited && leaders.includes(current) ? current : undefined;
    if (next === current) continue;
    if (next) say(`${next.name} now leads (pid ${next.child.pid}): kill it with  kill -9 ${next.child.pid}`);
    else say('no replica leads at the moment');
    current = next;
  }
}
