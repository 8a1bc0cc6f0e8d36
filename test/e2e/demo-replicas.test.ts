// `npm run demo -- --replicas 3` end to end (issue 15): the demo as a child process, with its own control
// plane, redis-server, three replica processes and HAProxy, on free ports and in a directory of the
// test's own. Through HAProxy with the real kubectl and the kubeconfigs the demo wrote: alice lists her
// namespaces, keeps watches open, the leader is SIGKILLed by the pid the demo printed, a new leader is
// announced, a namespace created afterwards shows up in a new list (and on the watches that were not on
// the leader); then SIGINT stops the demo and every process it printed is gone.
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/free-port.ts';
import { kubectl, KubectlStream } from '../support/kubectl.ts';
import { suite } from '../support/suite.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 4 * 60_000;
const NEW_LEADER_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const NAMESPACE = 'oil-after-failover';

interface Context {
  dir?: string;
  demo?: ChildProcess;
  output: string;
  watches: KubectlStream[];
}

const test = suite<Context>('npm run demo -- --replicas 3', { output: '', watches: [] });

/** Resolves with the first match of `pattern` in the demo's output (already printed or to come). */
async function waitForOutput(ctx: Context, pattern: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(ctx.output);
    if (m) return m;
    if (ctx.demo && (ctx.demo.exitCode !== null || ctx.demo.signalCode !== null)) throw new Error(`the demo exited (${ctx.demo.exitCode ?? ctx.demo.signalCode}) before ${what}:\n${ctx.output}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s; the demo said:\n${ctx.output}`);
    await sleep(200);
  }
}

/** Every pid the demo printed: control plane, redis-server, replicas, haproxy. */
function printedPids(output: string): Map<string, number> {
  const pids = new Map<string, number>();
  const cp = /control plane pids: (.*)/.exec(output)?.[1] ?? '';
  for (const m of cp.matchAll(/([\w-]+) (\d+)/g)) pids.set(m[1] ?? '', Number(m[2]));
  for (const m of output.matchAll(/\[demo\] (redis-server|haproxy) pid (\d+)/g)) pids.set(m[1] ?? '', Number(m[2]));
  for (const m of output.matchAll(/\[demo\] (r\d+): pid (\d+)/g)) pids.set(m[1] ?? '', Number(m[2]));
  return pids;
}

const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-demo-test-'));
  const [listen, metrics] = [await freePort(), await freePort()];
  ctx.demo = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/demo.ts'), '--replicas', '3'], {
    cwd: ROOT,
    env: { ...process.env, DEMO_DIR: ctx.dir, DEMO_LISTEN: `127.0.0.1:${listen}`, DEMO_METRICS_LISTEN: `127.0.0.1:${metrics}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  ctx.demo.stdout?.on('data', (d: Buffer) => (ctx.output += d.toString()));
  ctx.demo.stderr?.on('data', (d: Buffer) => (ctx.output += d.toString()));
});

test.after(async (ctx) => {
  await Promise.all(ctx.watches.map((w) => w.stop()));
  // Whatever a failed test left running.
  if (ctx.demo && ctx.demo.exitCode === null && ctx.demo.signalCode === null) ctx.demo.kill('SIGKILL');
  for (const pid of printedPids(ctx.output).values()) if (running(pid)) process.kill(pid, 'SIGKILL');
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('through HAProxy: a list, watches across the leader SIGKILLed, a new leader, then Ctrl-C stops everything', async (ctx) => {
  const dir = ctx.dir ?? '';
  const ready = await waitForOutput(ctx, /\[demo\] ready: (r\d+) leads \(pid (\d+)\)/, READY_TIMEOUT_MS, 'ready line');
  const [leaderName, leaderPid] = [ready[1] ?? '', Number(ready[2])];
  const pids = printedPids(ctx.output);
  for (const name of ['etcd', 'kube-apiserver', 'redis-server', 'haproxy', 'r1', 'r2', 'r3']) assert.ok(pids.has(name), `the demo printed the pid of ${name}:\n${ctx.output}`);
  assert.is(pids.get(leaderName), leaderPid, 'the leader is one of the printed replicas');
  assert.match(ctx.output, `kill -9 ${leaderPid}`, 'the demo says how to kill the leader');
  assert.match(ctx.output, /KUBECONFIG=\S*alice\.kubeconfig kubectl get ns -w/, 'the demo suggests a watch as alice');

  const alice = path.join(dir, 'alice.kubeconfig');
  const admin = path.join(dir, 'admin.kubeconfig');
  const list = await kubectl(alice, ['get', 'ns', '-o', 'name']);
  assert.is(list.code, 0, `kubectl get ns as alice through haproxy: ${list.stderr}`);
  assert.is(list.stdout.trim().split('\n').sort().join(), 'namespace/oil-dev,namespace/oil-prod');

  // One watch per replica (HAProxy balances leastconn: each new connection goes where there are fewest).
  for (let i = 0; i < 3; i++) {
    const watch = new KubectlStream(alice, ['get', 'ns', '-w', '-o', 'name']);
    ctx.watches.push(watch);
    await watch.waitFor(/oil-prod/, 30_000);
  }

  process.kill(leaderPid, 'SIGKILL');
  const next = await waitForOutput(ctx, /\[demo\] (r\d+) now leads \(pid (\d+)\)/, NEW_LEADER_TIMEOUT_MS, 'new leader');
  assert.is.not(next[1], leaderName, 'another replica leads');
  assert.is(pids.get(next[1] ?? ''), Number(next[2]), 'the new leader is one of the printed replicas');

  const created = await kubectl(admin, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'capsule.clastix.io/tenant': 'oil' } } }) });
  assert.is(created.code, 0, `kubectl apply as admin through haproxy: ${created.stderr}`);
  const deadline = Date.now() + 30_000;
  let names = '';
  while (Date.now() < deadline) {
    const r = await kubectl(alice, ['get', 'ns', '-o', 'name']);
    names = r.stdout;
    if (r.code === 0 && names.includes(`namespace/${NAMESPACE}`)) break;
    await sleep(500);
  }
  assert.ok(names.includes(`namespace/${NAMESPACE}`), `alice lists ${NAMESPACE} after the failover; got:\n${names}`);

  // The watches on the followers go on and see it; the one on the leader ended with it.
  const survivors = ctx.watches.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  assert.ok(survivors.length >= 1, 'at least one watch was on a follower and survives');
  for (const w of survivors) await w.waitFor(new RegExp(NAMESPACE), 30_000);
  process.stdout.write(`  ${survivors.length} of 3 watches survived the leader's death and saw ${NAMESPACE}\n`);

  const exited = new Promise<void>((resolve) => ctx.demo?.once('exit', () => resolve()));
  ctx.demo?.kill('SIGINT');
  await Promise.race([exited, sleep(STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error(`the demo did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGINT:\n${ctx.output}`)))]);
  assert.is(ctx.demo?.exitCode, 0, `the demo exits 0 on SIGINT:\n${ctx.output}`);
  const left = [...printedPids(ctx.output)].filter(([, pid]) => running(pid));
  assert.equal(left, [], 'every process the demo started is gone');
});

test.run();
