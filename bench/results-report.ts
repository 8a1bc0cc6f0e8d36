// bench/RESULTS.md, generated from the stored result files (bench/results/*.json) and nothing else.
//
// Owns: which runs count (a run of a clean, committed tree: its `commit` is a bare hash; `+dirty` and
// `unknown` runs are listed as skipped and never used), each scenario's section (its newest clean run,
// naming its commit, with the target checks of every run of that commit: a target is judged on the worst
// of them), the capacity model (bench/capacity.ts, from those newest runs), the History (every clean run
// of every scenario, oldest first, with its commit and headline figures), and the notes on
// changes (bench/history-notes.md, hand-written prose whose every figure is a reference to a stored
// run, `{{scenario@commit column.figure}}`, filled in here). Does not own running scenarios or storing
// their results (results.ts), nor the method texts and target checks (results.ts).
//
// Fails (throws, writes nothing) when a note cites a run that is not stored or not clean, or a figure
// that run does not hold, and when the rendered text breaks its own rules (checkReport).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { capacityModel } from './capacity.ts';
import { ROOT, type Figure } from './harness.ts';
import { isCleanCommit, METHOD, RESULTS_DIR, targetChecks, type StoredResult } from './results.ts';

export const RESULTS_FILE = path.join(ROOT, 'bench/RESULTS.md');
export const NOTES_FILE = path.join(ROOT, 'bench/history-notes.md');

/** One stored result with the name of its file (without `.json`: the run's date and scenario). */
export interface StoredRun {
  readonly file: string;
  readonly result: StoredResult;
}

/** A run of a committed tree with nothing uncommitted under src/, streams/ or bench/. */
export function isClean(result: StoredResult): boolean {
  return isCleanCommit(result.commit);
}

/** Every stored run in `dir`, oldest first (file names start with the run's date). */
export function loadRuns(dir = RESULTS_DIR): StoredRun[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f.slice(0, -'.json'.length), result: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as StoredResult }));
}

/** The figures the History shows per scenario (column, figure); other scenarios show their first column's first four. */
const HEADLINES: Record<string, readonly (readonly [string, string])[]> = {
  startup: [['multiplexer', 'time_to_ready'], ['multiplexer', 'rss_at_ready'], ['forwarding', 'time_to_ready']],
  'fan-out': [['multiplexer', 'p99_at_500'], ['multiplexer', 'p99_worst_window_at_500'], ['multiplexer', 'cpu_at_500'], ['multiplexer', 'p99_at_2000'], ['multiplexer', 'deliveries_at_2000'], ['multiplexer', 'rss_per_watcher'], ['forwarding', 'p99_at_500']],
  'fan-out-h2': [['http2', 'rss_per_watcher'], ['http1', 'rss_per_watcher'], ['http2', 'p99_at_500'], ['http1', 'p99_at_500']],
  'raw-floor': [['tls', 'cpu_per_delivery'], ['tls', 'rss_per_watcher'], ['tls-client-certs', 'rss_per_watcher'], ['h2', 'cpu_per_delivery'], ['h2', 'rss_per_watcher']],
  broadcast: [['proxy', 'cpu_per_delivery'], ['floor', 'cpu_per_delivery'], ['proxy', 'broadcast_p99'], ['floor', 'broadcast_p99']],
  'fan-out-websocket': [['multiplexer', 'p99_at_500'], ['multiplexer', 'cpu_at_500'], ['multiplexer', 'rss_per_watcher']],
  'reconnect-storm': [['multiplexer', 'time_to_all_reestablished'], ['multiplexer', 'proxy_cpu'], ['multiplexer', 'failed'], ['forwarding', 'time_to_all_reestablished'], ['forwarding', 'upstream_requests_caused']],
  'slow-consumers': [['multiplexer', 'p99_all_reading'], ['multiplexer', 'p99_with_stalled'], ['multiplexer', 'p99_noise'], ['forwarding', 'p99_all_reading']],
  'cached-list': [['multiplexer', 'json_p99'], ['multiplexer', 'table_p99'], ['forwarding', 'json_p99']],
  replicas: [['followers', 'p99_at_500'], ['followers', 'cpu_without_watchers_at_500'], ['leader', 'cpu_without_watchers_at_500'], ['deployment', 'redis_cpu_at_500']],
  failover: [['survivors', 'first_event_after_kill'], ['survivors', 'events_lost'], ['resumed', 'events_lost'], ['deployment', 'storm_upstream_list_watch']],
  'replica-cold-start': [['leader', 'time_to_ready'], ['joining', 'time_to_ready'], ['joining', 'upstream_list_watch']],
};

const cell = (f: Figure | undefined) => (f === undefined ? '—' : `${f.value} ${f.unit}`);

function headlines(scenario: string, runs: readonly StoredRun[]): (readonly [string, string])[] {
  const known = HEADLINES[scenario];
  if (known) return [...known];
  const first = runs[0]?.result;
  const column = first ? (first.columns?.[0]?.key ?? Object.keys(first.figures)[0] ?? '') : '';
  return Object.keys(first?.figures[column] ?? {}).slice(0, 4).map((name) => [column, name] as const);
}

function figureTable(r: StoredResult): string {
  if (r.columns) {
    const keys = r.columns.map((c) => c.key);
    const names = [...new Set(keys.flatMap((k) => Object.keys(r.figures[k] ?? {})))];
    const rows = names.map((n) => `| ${n} | ${keys.map((k) => cell(r.figures[k]?.[n])).join(' | ')} |`);
    return [`| figure | ${r.columns.map((c) => c.heading).join(' | ')} |`, `|---|${keys.map(() => '---|').join('')}`, ...rows].join('\n');
  }
  const m = r.figures.multiplexer ?? {};
  const f = r.figures.forwarding ?? {};
  const names = [...new Set([...Object.keys(m), ...Object.keys(f)])];
  const rows = names.map((n) => `| ${n} | ${cell(m[n])} | ${cell(f[n])} | ${r.ratio[n] === undefined ? '—' : `×${r.ratio[n]}`} |`);
  return ['| figure | multiplexer | forwarding baseline | baseline ÷ multiplexer |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * The target checks of a section: of its run, or, when its commit was run more than once, of each of
 * those runs (a target holds when the worst run meets it).
 */
function targetLines(r: StoredResult, sameCommit: readonly StoredRun[]): string[] {
  if (sameCommit.length <= 1) {
    const checks = targetChecks(r);
    return checks.length === 0 ? [] : ['**Targets:**', '', ...checks.map((c) => `- ${c}`), ''];
  }
  const perRun = sameCommit.map((run) => ({ file: run.file, checks: targetChecks(run.result) })).filter((run) => run.checks.length > 0);
  if (perRun.length === 0) return [];
  const missed = perRun.filter((run) => run.checks.some((c) => c.startsWith('✘'))).length;
  const parts = [`**Targets** in each of the ${sameCommit.length} runs of commit ${r.commit}, oldest first (${missed === 0 ? 'every target met in every run' : `${missed} of ${perRun.length} runs missed one or more`}):`, ''];
  for (const run of perRun) parts.push(`- ${run.file}:`, ...run.checks.map((c) => `  - ${c}`));
  return [...parts, ''];
}

function section(r: StoredResult, sameCommit: readonly StoredRun[]): string[] {
  const parts = [`## ${r.scenario}`, '', `${r.date}, commit ${r.commit}, ${String(r.machine.cpus)} × ${String(r.machine.model)}, Node ${String(r.machine.node)}.`, ''];
  parts.push(`**Upstream:** ${r.upstream === 'replay' ? 'the replay upstream (bench/replay-upstream.ts)' : 'the real local control plane (kube-apiserver 1.20.2 + etcd 3.4)'} — ${r.upstreamWhy}.`, '');
  parts.push(`**Method:** ${METHOD[r.scenario] ?? ''}`, '');
  parts.push(`**Parameters:** ${Object.entries(r.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`, '');
  parts.push(figureTable(r), '');
  parts.push(...targetLines(r, sameCommit));
  for (const note of r.notes ?? []) parts.push(`> ${note}`, '');
  return parts;
}

/** Per scenario, every clean run oldest first: its file, commit and headline figures. */
function history(clean: readonly StoredRun[]): string[] {
  const parts = [
    '## History',
    '',
    'Every stored run of a clean tree, per scenario, oldest first (generated from `bench/results/`): the before and after of a change are the rows of its commits. Parameters can differ between runs (sizes, windows): each file holds its own.',
    '',
  ];
  const byScenario = new Map<string, StoredRun[]>();
  for (const run of clean) {
    let runs = byScenario.get(run.result.scenario);
    if (!runs) byScenario.set(run.result.scenario, (runs = []));
    runs.push(run);
  }
  for (const [scenario, runs] of [...byScenario].sort(([a], [b]) => a.localeCompare(b))) {
    const figures = headlines(scenario, runs);
    parts.push(`### ${scenario}`, '');
    parts.push(`| run | commit | ${figures.map(([c, n]) => `${c} ${n}`).join(' | ')} |`, `|---|---|${figures.map(() => '---|').join('')}`);
    for (const { file, result } of runs) parts.push(`| ${file} | ${result.commit} | ${figures.map(([c, n]) => cell(result.figures[c]?.[n])).join(' | ')} |`);
    parts.push('');
  }
  return parts;
}

const REFERENCE = /\{\{([^{}]+)\}\}/g;

/**
 * The notes with every `{{scenario@run column.figure}}` replaced by that figure of that stored run (`run`:
 * a commit, or the start of the run's file name; `column` may be `ratio`). Throws on any reference that
 * no clean stored run answers.
 */
export function fillNotes(notes: string, runs: readonly StoredRun[]): string {
  return notes.replace(REFERENCE, (whole, inner: string) => {
    const m = /^\s*([\w-]+)@([\w:.+-]+)\s+([\w-]+)\.(\w+)\s*$/.exec(inner);
    if (!m) throw new Error(`history notes: ${whole} is not {{scenario@run column.figure}}`);
    const [, scenario, ref, column, name] = m as unknown as [string, string, string, string, string];
    const matching = runs.filter((r) => r.result.scenario === scenario && (r.result.commit === ref || r.file.startsWith(ref)));
    if (matching.length === 0) throw new Error(`history notes: ${whole}: no stored ${scenario} run of ${ref}`);
    const run = matching[matching.length - 1] as StoredRun;
    if (!isClean(run.result)) throw new Error(`history notes: ${whole}: ${run.file} is a run of a dirty tree (${run.result.commit})`);
    if (column === 'ratio') {
      const ratio = run.result.ratio[name];
      if (ratio === undefined) throw new Error(`history notes: ${whole}: ${run.file} has no ratio ${name}`);
      return `×${ratio}`;
    }
    const figure = run.result.figures[column]?.[name];
    if (!figure) throw new Error(`history notes: ${whole}: ${run.file} has no figure ${column}.${name}`);
    return `${figure.value} ${figure.unit}`;
  });
}

/** The whole of RESULTS.md from the stored runs and the notes' source text. */
export function renderReport(runs: readonly StoredRun[], notes: string): string {
  const clean = runs.filter((r) => isClean(r.result));
  const skipped = runs.filter((r) => !isClean(r.result));
  const newest = new Map<string, StoredResult>();
  for (const run of clean) newest.set(run.result.scenario, run.result);
  const sections = [...newest.values()].sort((a, b) => a.scenario.localeCompare(b.scenario));
  const commits = new Map<string, string[]>();
  for (const r of sections) commits.set(r.commit, [...(commits.get(r.commit) ?? []), r.scenario]);
  const parts = [
    '# Benchmark results',
    '',
    'Generated from the files in `bench/results/` alone (`npm run bench` rewrites this file after its runs; `npm run bench -- --regenerate` rewrites it without running anything); each file holds one run\'s parameters, commit, machine and every figure. Each scenario\'s section shows its newest run of a clean, committed tree and names that commit. Runs of a dirty tree (a commit ending in `+dirty`: uncommitted changes under src/, streams/ or bench/) are never used here: they are listed under "Skipped runs" at the end. Everything runs on one machine: the proxy, the upstream, and the load generators (separate processes) share its cores, so every figure includes that contention.',
    '',
    `**Commits behind the sections:** ${[...commits].map(([c, s]) => `${c} (${s.join(', ')})`).join('; ') || 'none'}${commits.size > 1 ? ' — not one commit: compare sections with that in mind.' : '.'}`,
    '',
  ];
  for (const r of sections) parts.push(...section(r, clean.filter((run) => run.result.scenario === r.scenario && run.result.commit === r.commit)));
  parts.push(...capacityModel(newest));
  parts.push(...history(clean));
  const filled = fillNotes(notes.replace(/<!--[\s\S]*?-->\n*/g, ''), runs).trim();
  if (filled) {
    parts.push('## Notes on changes', '', '_Hand-written (bench/history-notes.md); every figure in them is read from a stored run of a clean tree when this file is generated._', '', filled.replace(/^# .*\n+/, ''), '');
  }
  parts.push('## Skipped runs', '', 'Stored runs of a dirty tree, used nowhere above:', '');
  parts.push(...(skipped.length > 0 ? skipped.map((r) => `- ${r.file} (commit ${r.result.commit})`) : ['- none']), '');
  const text = parts.join('\n');
  checkReport(text, runs);
  return text;
}

/**
 * The report's rules, checked on its text: each scenario section names the commit of its scenario's
 * newest clean run; no dirty commit appears before "Skipped runs"; the History has one row per clean
 * run, oldest first. Throws with every broken rule.
 */
export function checkReport(text: string, runs: readonly StoredRun[]): void {
  const problems: string[] = [];
  const skippedAt = text.indexOf('\n## Skipped runs');
  const used = skippedAt >= 0 ? text.slice(0, skippedAt) : text;
  if (skippedAt < 0) problems.push('no "Skipped runs" section');
  for (const run of runs) {
    if (!isClean(run.result) && (used.includes(run.result.commit) || used.includes(run.file))) problems.push(`${run.file}, a run of a dirty tree (${run.result.commit}), is cited outside "Skipped runs"`);
  }
  const clean = runs.filter((r) => isClean(r.result));
  const newest = new Map<string, StoredRun>();
  for (const run of clean) newest.set(run.result.scenario, run);
  const historyAt = used.indexOf('\n## History');
  for (const [scenario, run] of newest) {
    const start = used.indexOf(`\n## ${scenario}\n`);
    if (start < 0) {
      problems.push(`no section for ${scenario}`);
      continue;
    }
    const end = used.indexOf('\n## ', start + 1);
    if (!used.slice(start, end < 0 ? undefined : end).includes(`commit ${run.result.commit},`)) problems.push(`the ${scenario} section does not name commit ${run.result.commit} (${run.file})`);
  }
  if (historyAt < 0) problems.push('no History section');
  else {
    const rows = [...used.slice(historyAt).matchAll(/^\| (\S+) \| (\S+) \|/gm)].map((m) => m[1] ?? '').filter((f) => f !== 'run' && !f.startsWith('---'));
    const expected = clean.map((r) => r.file);
    for (const file of expected) if (!rows.includes(file)) problems.push(`the History has no row for ${file}`);
    for (const file of rows) if (!expected.includes(file) && /^\d{4}-/.test(file)) problems.push(`the History has a row for ${file}, not a stored clean run`);
  }
  if (problems.length > 0) throw new Error(`bench/RESULTS.md would break its rules:\n- ${problems.join('\n- ')}`);
}

/**
 * Rewrites RESULTS.md from the runs stored in `dir` and the notes (`null`: none, as for a directory of
 * other runs than bench/results/, which the notes' references would not find).
 */
export function renderResults(dir = RESULTS_DIR, out = RESULTS_FILE, notesFile: string | null = NOTES_FILE): void {
  const notes = notesFile === null ? '' : readFileSync(notesFile, 'utf8');
  writeFileSync(out, renderReport(loadRuns(dir), notes));
}
