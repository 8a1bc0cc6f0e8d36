// Starts tenant-proxy as a real child process (bin/tenant-proxy.js: the compiled build, which the test
// runner makes first) on free loopback ports, in front of the local control plane as the tenant-proxy
// service account: a replica a test can SIGKILL, SIGSTOP and SIGCONT. Its JSON log lines are kept for diagnostics; it is killed when the test process exits.
// Replicas given the same --cert-dir serve one certificate: start the first and wait for it (it
// generates the CA and certificate) before the others, which reuse them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from './control-plane.ts';
import { freePort } from './free-port.ts';
import { KubeHttp, type Credentials } from './kube-http.ts';
import { scrapeMetric } from './proxy.ts';
import { stopProcess } from './stop-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 60_000;

export type LogLine = Record<string, unknown>;

export class ProxyProcess {
  readonly name: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #certDir: string;
  readonly #logs: LogLine[] = [];
  readonly #clients: KubeHttp[] = [];
  readonly #killOnExit = () => this.#child.exitCode === null && this.#child.signalCode === null && this.#child.kill('SIGKILL');
  #caPem: string | undefined;

  private constructor(name: string, port: number, metricsPort: number, certDir: string, dir: string, args: string[]) {
    this.name = name;
    this.port = port;
    this.metricsPort = metricsPort;
    this.url = `https://127.0.0.1:${port}`;
    this.#certDir = certDir;
    this.#dir = dir;
    this.#child = spawn(process.execPath, [path.join(ROOT, 'bin/tenant-proxy.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    process.once('exit', this.#killOnExit);
    this.#capture(this.#child.stdout, 'stdout');
    this.#capture(this.#child.stderr, 'stderr');
  }

  /** Starts a replica and waits until its /readyz answers 200. */
  static async start(cp: ControlPlane, options: { name: string; certDir: string; flags?: string[] }): Promise<ProxyProcess> {
    const dir = mkdtempSync(path.join(tmpdir(), `tenant-proxy-${options.name}-`));
    const kubeconfig = cp.writeKubeconfig(path.join(dir, 'proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');
    const [port, metricsPort] = [await freePort(), await freePort()];
    const args = ['--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--cert-dir', options.certDir, ...(options.flags ?? [])];
    const replica = new ProxyProcess(options.name, port, metricsPort, options.certDir, dir, args);
    try {
      await replica.#waitReady();
    } catch (err) {
      await replica.stop();
      throw err;
    }
    return replica;
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /** The CA of the serving certificate (generated in the cert dir). */
  get caPem(): string {
    this.#caPem ??= readFileSync(path.join(this.#certDir, 'ca.crt'), 'utf8');
    return this.#caPem;
  }

  /** A client of this replica with these credentials (their CA replaced by the serving CA). */
  client(credentials: Credentials): KubeHttp {
    const client = new KubeHttp(this.url, { ...credentials, caPem: this.caPem });
    this.#clients.push(client);
    return client;
  }

  metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return scrapeMetric(this.metricsPort, name, labels, 5_000);
  }

  kill(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    this.#child.kill(signal);
  }

  /** Its log lines so far (stdout JSON; anything else as `{ stream, msg }`). */
  logs(): LogLine[] {
    return this.#logs;
  }

  /** SIGTERM (after SIGCONT, in case it is stopped), SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    for (const c of this.#clients) c.close();
    if (!this.exited) this.#child.kill('SIGCONT');
    await stopProcess(this.#child, 5_000);
    process.removeListener('exit', this.#killOnExit);
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #capture(stream: NodeJS.ReadableStream | null, name: string): void {
    let partial = '';
    stream?.on('data', (d: Buffer) => {
      partial += d.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (!line.trim()) continue;
        try {
          this.#logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.#logs.push({ stream: name, msg: line });
        }
      }
    });
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.exited) throw new Error(`${this.name} exited (${this.#child.exitCode ?? this.#child.signalCode}) before it was ready: ${this.#tail()}`);
      const status = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${READY_TIMEOUT_MS} ms (last /readyz: ${status}): ${this.#tail()}`);
      await sleep(200);
    }
  }

  #tail(): string {
    return this.#logs.slice(-20).map((l) => JSON.stringify(l)).join('\n');
  }
}

/**
 * Replicas sharing one serving certificate (a temporary --cert-dir): the first is started and ready
 * before the others start. `flags[i]` are replica i's extra flags. stop() stops them all and removes the
 * cert dir.
 */
export async function startProxyProcesses(cp: ControlPlane, flags: { name: string; flags: string[] }[]): Promise<{ replicas: ProxyProcess[]; stop(): Promise<void> }> {
  const certDir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-serving-'));
  const replicas: ProxyProcess[] = [];
  const stop = async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    rmSync(certDir, { recursive: true, force: true });
  };
  try {
    const [first, ...rest] = flags;
    if (first) replicas.push(await ProxyProcess.start(cp, { ...first, certDir }));
    const started = await Promise.allSettled(rest.map((r) => ProxyProcess.start(cp, { ...r, certDir })));
    for (const s of started) if (s.status === 'fulfilled') replicas.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return { replicas, stop };
}
