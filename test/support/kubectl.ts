// Runs the real kubectl (/usr/bin/kubectl, a dispatcher picking the build matching the server) with a
// kubeconfig, in a discovery cache of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const CACHE_DIR = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-kubectl-cache-'));

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function args(kubeconfig: string, argv: readonly string[]): string[] {
  return [`--kubeconfig=${kubeconfig}`, `--cache-dir=${CACHE_DIR}`, ...argv];
}

const env = () => ({ ...process.env, KUBECONFIG: '', HOME: process.env.HOME ?? tmpdir() });

export function kubectl(kubeconfig: string, argv: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, args(kubeconfig, argv), { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${argv.join(' ')}: still running after ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running kubectl (e.g. `get -w`) whose output lines are collected as they come. */
export class KubectlStream {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly #waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  #partial = '';

  constructor(kubeconfig: string, argv: readonly string[]) {
    this.child = spawn(KUBECTL, args(kubeconfig, argv), { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.#partial += d.toString();
      const parts = this.#partial.split('\n');
      this.#partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        for (const w of [...this.#waiters]) {
          if (w.match(line)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Resolves with the first line (already seen or to come) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match: (l: string) => pattern.test(l), resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got:\n${this.lines.join('\n')}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}
