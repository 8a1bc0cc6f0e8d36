// bench/RESULTS.md's generator (bench/results-report.ts) on stored runs written here: runs of a dirty
// tree are skipped and listed, every section names its commit, the History has a row per clean run
// (oldest first), the notes' figures are read from stored clean runs, and the report's own check
// catches a section that hides its commit.
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkReport, isClean, loadRuns, renderReport, renderResults, type StoredRun } from '../../bench/results-report.ts';
import { isCleanCommit, measuredOn, treeCommit, type StoredResult } from '../../bench/results.ts';
import { suite } from '../support/suite.ts';

const test = suite<{ dir: string; runs: StoredRun[] }>('bench results report', { dir: '', runs: [] });

function stored(date: string, scenario: string, commit: string, seconds: number): StoredResult {
  return {
    date,
    commit,
    scenario,
    machine: { cpus: 2, model: 'test cpu', node: 'v20' },
    upstream: 'replay',
    upstreamWhy: 'a test',
    params: { tenants: 1 },
    figures: {
      multiplexer: { time_to_ready: { value: seconds, unit: 's' }, time_to_all_reestablished: { value: seconds, unit: 's' } },
      forwarding: { time_to_ready: { value: seconds * 2, unit: 's' }, time_to_all_reestablished: { value: seconds * 2, unit: 's' } },
    },
    ratio: { time_to_ready: 2 },
  };
}

const FILES: [string, StoredResult][] = [
  ['2026-01-01T00-00-00-000Z-startup', stored('2026-01-01T00:00:00.000Z', 'startup', 'aaaaaaa', 3)],
  ['2026-01-02T00-00-00-000Z-startup', stored('2026-01-02T00:00:00.000Z', 'startup', 'bbbbbbb+dirty', 1)],
  ['2026-01-03T00-00-00-000Z-reconnect-storm', stored('2026-01-03T00:00:00.000Z', 'reconnect-storm', 'ccccccc', 40)],
  ['2026-01-04T00-00-00-000Z-reconnect-storm', stored('2026-01-04T00:00:00.000Z', 'reconnect-storm', 'ddddddd', 30)],
  ['2026-01-05T00-00-00-000Z-reconnect-storm', stored('2026-01-05T00:00:00.000Z', 'reconnect-storm', 'unknown', 10)],
];

test.before((ctx) => {
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'bench-results-'));
  mkdirSync(path.join(ctx.dir, 'results'));
  // Written in reverse: the order comes from the file names (the runs' dates).
  for (const [file, result] of [...FILES].reverse()) writeFileSync(path.join(ctx.dir, 'results', `${file}.json`), JSON.stringify(result));
  ctx.runs = loadRuns(path.join(ctx.dir, 'results'));
});

test.after((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

const sectionOf = (text: string, heading: string): string => {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `${heading} present`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
};

test('only runs of a clean tree count: +dirty and unknown are skipped, and listed as such', (ctx) => {
  assert.equal(ctx.runs.map((r) => r.file), FILES.map(([f]) => f), 'oldest first');
  assert.equal(ctx.runs.map((r) => isClean(r.result)), [true, false, true, true, false]);
  const text = renderReport(ctx.runs, '');
  const skipped = text.slice(text.indexOf('\n## Skipped runs'));
  assert.ok(skipped.includes('2026-01-02T00-00-00-000Z-startup (commit bbbbbbb+dirty)'));
  assert.ok(skipped.includes('2026-01-05T00-00-00-000Z-reconnect-storm (commit unknown)'));
  const used = text.slice(0, text.indexOf('\n## Skipped runs'));
  assert.not.ok(used.includes('bbbbbbb'), 'the dirty run is used nowhere');
  assert.not.ok(used.includes('2026-01-05'), 'nor the run of an unknown tree');
});

test('each section is its scenario’s newest clean run and names its commit; the header names every commit used', (ctx) => {
  const text = renderReport(ctx.runs, '');
  assert.ok(sectionOf(text, '## startup').includes('2026-01-01T00:00:00.000Z, commit aaaaaaa,'), 'the older clean run, not the newer dirty one');
  assert.ok(sectionOf(text, '## reconnect-storm').includes('2026-01-04T00:00:00.000Z, commit ddddddd,'));
  assert.ok(text.includes('**Commits behind the sections:** ddddddd (reconnect-storm); aaaaaaa (startup) — not one commit'));
});

test('the History is built from the files: one row per clean run, oldest first, with its commit and figures', (ctx) => {
  const text = renderReport(ctx.runs, '');
  const history = sectionOf(text, '## History');
  const rows = history.split('\n').filter((l) => l.startsWith('| 2026-'));
  assert.equal(rows, [
    '| 2026-01-03T00-00-00-000Z-reconnect-storm | ccccccc | 40 s | — | — | 80 s | — |',
    '| 2026-01-04T00-00-00-000Z-reconnect-storm | ddddddd | 30 s | — | — | 60 s | — |',
    '| 2026-01-01T00-00-00-000Z-startup | aaaaaaa | 3 s | — | 6 s |',
  ]);
});

test('notes: references are filled from stored clean runs; a dirty, missing or unknown one fails the generation', (ctx) => {
  const notes = '# Notes\n\n<!-- how to write {{these}} -->\n### A change\n\nFrom {{reconnect-storm@ccccccc multiplexer.time_to_all_reestablished}} to {{reconnect-storm@2026-01-04 multiplexer.time_to_all_reestablished}}; ratio {{startup@aaaaaaa ratio.time_to_ready}}.\n';
  const text = renderReport(ctx.runs, notes);
  assert.ok(sectionOf(text, '## Notes on changes').includes('From 40 s to 30 s; ratio ×2.'));
  assert.not.ok(text.includes('{{'), 'the comment is not copied');
  assert.throws(() => renderReport(ctx.runs, '{{startup@bbbbbbb+dirty multiplexer.time_to_ready}}'), /dirty tree/);
  assert.throws(() => renderReport(ctx.runs, '{{startup@eeeeeee multiplexer.time_to_ready}}'), /no stored startup run of eeeeeee/);
  assert.throws(() => renderReport(ctx.runs, '{{startup@aaaaaaa multiplexer.p99}}'), /no figure multiplexer.p99/);
});

test('a commit run several times: its section checks the targets of every one of those runs, and says whether any missed', () => {
  const storm = (date: string, commit: string, caused: number): StoredRun => {
    const result = stored(`${date}T00:00:00.000Z`, 'reconnect-storm', commit, 30);
    (result.figures.multiplexer ??= {}).upstream_requests_caused = { value: caused, unit: 'requests' };
    return { file: `${date}T00-00-00-000Z-reconnect-storm`, result };
  };
  const runs = [storm('2026-02-01', 'eeeeeee', 3), storm('2026-02-02', 'fffffff', 0), storm('2026-02-03', 'fffffff', 2), storm('2026-02-04', 'fffffff', 0)];
  const section = sectionOf(renderReport(runs, ''), '## reconnect-storm');
  assert.ok(section.includes('**Targets** in each of the 3 runs of commit fffffff, oldest first (1 of 3 runs missed one or more):'), section);
  assert.ok(section.includes('- 2026-02-03T00-00-00-000Z-reconnect-storm:\n  - ✘ missed: a reconnect storm causes zero upstream requests (2;'), 'the worst run is shown');
  assert.equal([...section.matchAll(/✔ met: a reconnect storm/g)].length, 2, 'and the others');
  assert.not.ok(section.includes('(3;'), 'a run of another commit is not');
  const single = sectionOf(renderReport(runs.slice(0, 2), ''), '## reconnect-storm');
  assert.ok(single.includes('**Targets:**\n\n- ✔ met: a reconnect storm causes zero upstream requests (0;'), 'one run: its checks alone');
});

test('a run is stamped with the tree it started on, and is never clean if the tree changed before its result was stored', () => {
  const now = treeCommit();
  assert.is(measuredOn(now), now, 'unchanged');
  assert.is(measuredOn('0123abc'), '0123abc+changed-during-run', 'HEAD moved, or the tree changed, during the run');
  assert.not.ok(isCleanCommit(measuredOn('0123abc')));
});

test('the check: a section without its commit, a dirty run cited, a missing History row are refused', (ctx) => {
  const text = renderReport(ctx.runs, '');
  checkReport(text, ctx.runs);
  assert.throws(() => checkReport(text.replace('commit aaaaaaa,', 'commit ?,'), ctx.runs), /startup section does not name commit aaaaaaa/);
  assert.throws(() => checkReport(text.replace('## History\n', '## History\n\nSee bbbbbbb+dirty.\n'), ctx.runs), /dirty tree/);
  assert.throws(() => checkReport(text.replace(/^\| 2026-01-03T00-00-00-000Z-reconnect-storm .*\n/m, ''), ctx.runs), /no row for 2026-01-03T00-00-00-000Z-reconnect-storm/);
});

test('renderResults writes the file from a directory of runs and a notes file', (ctx) => {
  const out = path.join(ctx.dir, 'RESULTS.md');
  const notes = path.join(ctx.dir, 'notes.md');
  writeFileSync(notes, 'Storm: {{reconnect-storm@ddddddd forwarding.time_to_all_reestablished}}.\n');
  renderResults(path.join(ctx.dir, 'results'), out, notes);
  assert.ok(readFileSync(out, 'utf8').includes('Storm: 60 s.'));
  renderResults(path.join(ctx.dir, 'results'), out, null);
  assert.not.ok(readFileSync(out, 'utf8').includes('## Notes on changes'));
});

test('bench/RESULTS.md as committed is what the generator makes of bench/results/ and the notes', () => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const expected = renderReport(loadRuns(path.join(root, 'bench/results')), readFileSync(path.join(root, 'bench/history-notes.md'), 'utf8'));
  assert.ok(readFileSync(path.join(root, 'bench/RESULTS.md'), 'utf8') === expected, 'run `npm run bench -- --regenerate` and commit bench/RESULTS.md');
});

test.run();
