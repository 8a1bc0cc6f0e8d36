// Benchmark plumbing: child processes (the proxies under test, load generators), their CPU and memory
// from /proc, the tenant-proxy's own /metrics, percentiles, and the bench identities (a CA and one
// client certificate per tenant user).
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../src/server/pki.ts';
import { freePort } from '../test/support/free-port.ts';
import { stopProcess } from '../test/support/stop-process.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLOCK_TICKS_PER_S = 100;

export interface Figure {
  value: number;
  unit: string;
}

export type Figures = Record<string, Figure>;

export function percentiles(samples: readonly number[]): { p50: number; p99: number; max: number; count: number } {
  if (samples.length === 0) return { p50: NaN, p99: NaN, max: NaN, count: 0 };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, count: sorted.length };
}

export const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** CPU seconds the whole machine has been busy (all cores, every process), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return (ticks.reduce((a, b) => a + b, 0) - idle) / CLOCK_TICKS_PER_S;
}

/** CPU seconds the hypervisor gave to other guests while this machine's vCPUs wanted to run (steal), all cores. */
export function machineStealSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  return Number(line.trim().split(/\s+/)[8] ?? 0) / CLOCK_TICKS_PER_S;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Metrics of a tenant-proxy from its /metrics (summed over label sets matching `labels`). */
export async function scrape(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrapeMany(metricsPort, [name], labels))[name] ?? 0;
}

/**
 * Several metrics from one scrape. One matters for gauges that reset when scraped (prom-client's
 * event-loop lag): each scrape starts a new measurement window.
 */
export async function scrapeMany(metricsPort: number, names: readonly string[], labels: Record<string, string> = {}): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    const m = /^([a-z_0-9]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m?.[1] || !(m[1] in sums)) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[3]);
  }
  return sums;
}

/** Cumulative bucket counts (upper bound → observations) of a Prometheus histogram, from one scrape. */
export async function scrapeHistogram(metricsPort: number, name: string): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const buckets = new Map<number, number>();
  const pattern = new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} ([0-9.e+-]+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const bound = m[1] === '+Inf' ? Infinity : Number(m[1]);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  return buckets;
}

/**
 * The upper bound of the bucket holding quantile `q` of the observations made between two scrapes of a
 * histogram (NaN without observations): a bound, not an interpolation.
 */
export function bucketQuantile(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return NaN;
  for (const bound of bounds) if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= q * total) return bound;
  return Infinity;
}

export interface Identities {
  ca: CertificateAuthority;
  caFile: string;
  dir: string;
  /** Client certificate of each user. */
  certs: Map<string, { certPem: string; keyPem: string }>;
}

export async function makeIdentities(users: readonly string[]): Promise<Identities> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-bench-'));
  const ca = await createCertificateAuthority('tenant-proxy-bench-clients');
  const caFile = path.join(dir, 'clients-ca.crt');
  writeFileSync(caFile, ca.certPem);
  const certs = new Map<string, { certPem: string; keyPem: string }>();
  for (const user of users) certs.set(user, await issueCertificate(ca, { commonName: user, usage: 'client' }));
  return { ca, caFile, dir, certs };
}

/** A long-running child process printing one JSON line when ready. */
export interface Service {
  child: ChildProcess;
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startService(args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<Service> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: not ready within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      } catch (err) {
        reject(new Error(`${args.join(' ')}: bad ready line ${buffer.slice(0, nl)}: ${(err as Error).message}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, ready, stop: () => stopProcess(child, 10_000) };
}

/** Compiles tenant-proxy as it ships (`npm run build`: dist/), which is what the benchmarks run. */
export function buildProduct(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * tenant-proxy as its own process (the compiled build: buildProduct), in front of `kubeconfig`, trusting client certificates of `clientCaFile`;
 * replicas given one `certDir` serve one certificate (the first to start generates it).
 */
export async function startTenantProxy(kubeconfig: string, clientCaFile: string, options: { certDir?: string; flags?: string[] } = {}): Promise<{ child: ChildProcess; url: string; caPem: string; metricsPort: number; readyMs: number; stop(): Promise<void> }> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const certDir = options.certDir ?? mkdtempSync(path.join(tmpdir(), 'tenant-proxy-bench-serving-'));
  const started = performance.now();
  // BENCH_PROXY_EXEC_ARGV='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the proxy under test.
  const execArgv = (process.env.BENCH_PROXY_EXEC_ARGV ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...execArgv, 'bin/tenant-proxy.js', '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--kubeconfig', kubeconfig, '--client-ca-file', clientCaFile, '--cert-dir', certDir, '--log-level', 'warn', ...(options.flags ?? [])], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tenant-proxy exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('tenant-proxy not ready within 180 s');
    await sleep(50);
  }
  const readyMs = performance.now() - started;
  return { child, url: `https://127.0.0.1:${port}`, caPem: readFileSync(path.join(certDir, 'ca.crt'), 'utf8'), metricsPort, readyMs, stop: () => stopProcess(child, 10_000) };
}

/** A forked load generator speaking the IPC protocol of bench/load/*.ts. */
export class LoadProcess<Reply extends { type: string }> {
  readonly child: ChildProcess;
  readonly #waiting: { type: string; resolve: (r: Reply) => void }[] = [];

  constructor(script: string) {
    this.child = fork(path.join(ROOT, script), [], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096', ...(process.env.BENCH_LOAD_EXEC_ARGV ?? '').split(' ').filter(Boolean)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: Reply) => {
      const i = this.#waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.#waiting.splice(i, 1)[0]?.resolve(m);
    });
  }

  send(message: unknown): void {
    this.child.send(message as never);
  }

  request<T extends Reply['type']>(message: unknown, replyType: T, timeoutMs = 300_000): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load process: no ${replyType} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push({ type: replyType, resolve: (r) => (clearTimeout(timer), resolve(r as Extract<Reply, { type: T }>)) });
      this.send(message);
    });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child, 10_000);
  }
}

export function machine(): Record<string, unknown> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const cpus = (cpuinfo.match(/^processor/gm) ?? []).length;
  const mem = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  return { cpus, model, memoryBytes: mem, node: process.version, platform: `${process.platform}/${process.arch}` };
}
