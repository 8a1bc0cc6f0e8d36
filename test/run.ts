// The test command. Type-checks, builds dist/ (the executable runs it), starts one shared local control plane, then runs every test file
// (test/**/*.test.ts) in its own process, so that one file's hang or crash cannot take the others down.
//
// uvu has two traps this runner closes: an error thrown in a `before` hook is swallowed (its tests are
// simply not counted as passed, and the run exits 0), and a process with an open server or socket never
// exits. So: failed = Total − Passed from uvu's own summary; a file without a summary, or with a non-zero
// exit code, counts as a failure; a file still running after its summary is killed and counted as
// failed (it leaked a handle); a file past its time limit, or a run past the global limit, is killed and
// fails. The last line printed is always `N passed, N failed`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from './support/control-plane.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);
const RUN_TIMEOUT_MS = Number(process.env.TEST_RUN_TIMEOUT_MS ?? 45 * 60_000);
const EXIT_GRACE_MS = 5_000;
const runDeadline = Date.now() + RUN_TIMEOUT_MS;

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  note?: string;
}

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (name === 'support' || name === 'node_modules') continue;
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, onOutput: (text: string) => void, summaryPattern?: RegExp): Promise<{ code: number | null; output: string; killedFor?: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let killedFor: string | undefined;
    let exitTimer: NodeJS.Timeout | undefined;
    const killGroup = (why: string) => {
      killedFor ??= why;
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const onData = (d: Buffer) => {
      const text = d.toString();
      output += text;
      onOutput(text);
      if (summaryPattern && !exitTimer && summaryPattern.test(stripAnsi(output))) {
        exitTimer = setTimeout(() => killGroup(`did not exit within ${EXIT_GRACE_MS / 1000}s after its tests finished (an open server, socket or timer)`), EXIT_GRACE_MS);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const limit = Math.min(timeoutMs, Math.max(0, runDeadline - Date.now()));
    const timer = setTimeout(() => killGroup(`timed out after ${Math.round(limit / 1000)}s`), limit);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(exitTimer);
      resolve({ code, output, killedFor });
    });
  });
}

function parseSummary(output: string): { total: number; passed: number } | undefined {
  const text = stripAnsi(output);
  const total = /Total:\s+(\d+)/.exec(text);
  const passed = /Passed:\s+(\d+)/.exec(text);
  if (!total || !passed) return undefined;
  return { total: Number(total[1]), passed: Number(passed[1]) };
}

async function typeCheck(): Promise<FileResult> {
  process.stdout.write('\n▶ type-check (tsc --noEmit)\n');
  const r = await runProcess(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', ROOT], process.env, 5 * 60_000, (t) => process.stdout.write(t));
  return r.code === 0 ? { file: 'type-check', passed: 1, failed: 0 } : { file: 'type-check', passed: 0, failed: 1, note: r.killedFor ?? 'type errors' };
}

/** The compiled build (dist/) the executable runs: the tests that start bin/tenant-proxy.js run it. */
async function build(): Promise<FileResult> {
  process.stdout.write('\n▶ build (tsc -p tsconfig.build.json)\n');
  const r = await runProcess(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], process.env, 5 * 60_000, (t) => process.stdout.write(t));
  return r.code === 0 ? { file: 'build', passed: 1, failed: 0 } : { file: 'build', passed: 0, failed: 1, note: r.killedFor ?? 'build failed' };
}

async function runFile(file: string, env: NodeJS.ProcessEnv): Promise<FileResult> {
  const rel = path.relative(ROOT, file);
  process.stdout.write(`\n▶ ${rel}\n`);
  const r = await runProcess(process.execPath, ['--import', 'tsx', file], env, FILE_TIMEOUT_MS, (t) => process.stdout.write(t), /Duration:/);
  const summary = parseSummary(r.output);
  if (!summary) return { file: rel, passed: 0, failed: 1, note: r.killedFor ?? `exited with code ${r.code} before uvu's summary` };
  let failed = summary.total - summary.passed;
  let note: string | undefined;
  if (failed > 0 && !/FAIL|✘/.test(stripAnsi(r.output))) note = 'a hook failed';
  if (r.killedFor) {
    failed = Math.max(failed, 1);
    note = r.killedFor;
  } else if (r.code !== 0 && failed === 0) {
    failed = 1;
    note = `exited with code ${r.code}`;
  }
  return { file: rel, passed: Math.min(summary.passed, summary.total), failed, note };
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = findTests(path.join(ROOT, 'test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  const results: FileResult[] = [];
  results.push(await typeCheck());
  results.push(await build());

  let controlPlane: ControlPlane | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  const cleanup = () => void controlPlane?.stop();
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  try {
    if (!env.TENANT_PROXY_TEST_CONTROL_PLANE && files.some((f) => !f.includes(`${path.sep}unit${path.sep}`))) {
      process.stdout.write('\n▶ starting the shared local control plane\n');
      try {
        controlPlane = await ControlPlane.start({ log: (m) => process.stdout.write(`  ${m}\n`) });
        env.TENANT_PROXY_TEST_CONTROL_PLANE = controlPlane.stateFile;
      } catch (err) {
        process.stdout.write(`  could not start it: ${(err as Error).message}\n`);
        results.push({ file: 'control plane', passed: 0, failed: 1, note: 'could not start' });
      }
    }
    for (const file of files) {
      if (Date.now() >= runDeadline) {
        results.push({ file: path.relative(ROOT, file), passed: 0, failed: 1, note: 'not run: global time limit reached' });
        continue;
      }
      results.push(await runFile(file, env));
    }
  } finally {
    await controlPlane?.stop();
  }

  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  process.stdout.write('\n── results ──\n');
  for (const r of results) process.stdout.write(`${r.failed > 0 ? '✘' : '✔'} ${r.file}: ${r.passed} passed, ${r.failed} failed${r.note ? ` (${r.note})` : ''}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stdout.write(`test runner failed: ${err instanceof Error ? err.stack : String(err)}\n0 passed, 1 failed\n`);
    process.exit(1);
  },
);
