// The benchmark harness at tiny sizes, so it cannot rot: every scenario runs end to end and writes its
// result file with figures for both proxies. No timing is asserted — only behaviour the figures show
// (deliveries arrive, the multiplexer needs one upstream watch per type, a reconnect storm costs it no
// upstream request while the baseline pays one per watcher).
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { targetChecks, type StoredResult } from '../../bench/results.ts';
import { ROOT } from '../../bench/harness.ts';
import { suite } from '../support/suite.ts';

const test = suite<{ results: Map<string, StoredResult>; output: string; code: number | null }>('bench smoke');

test.before(async (ctx) => {
  const out = mkdtempSync(path.join(tmpdir(), 'bench-smoke-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 540_000);
  ctx.code = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  ctx.output = output;
  ctx.results = new Map();
  for (const f of readdirSync(out).filter((n) => n.endsWith('.json'))) {
    const r = JSON.parse(readFileSync(path.join(out, f), 'utf8')) as StoredResult;
    ctx.results.set(r.scenario, r);
  }
});

test('every scenario ran and stored its result', (ctx) => {
  assert.is(ctx.code, 0, ctx.output.slice(-3000));
  assert.equal([...ctx.results.keys()].sort(), ['apiserver-watch', 'broadcast', 'cached-list', 'failover', 'fan-out', 'fan-out-h2', 'fan-out-websocket', 'raw-floor', 'reconnect-storm', 'replica-cold-start', 'replicas', 'slow-consumers', 'startup', 'upstream-protocol']);
  for (const r of ctx.results.values()) {
    assert.ok(r.commit && r.machine.cpus, `${r.scenario}: commit and machine recorded`);
    for (const [column, figures] of Object.entries(r.figures)) {
      for (const [name, figure] of Object.entries(figures)) assert.ok(typeof figure.value === 'number' && typeof figure.unit === 'string', `${r.scenario}.${column}.${name}`);
    }
  }
});

test('fan-out: every event reached every watcher through both proxies; the multiplexer needs one upstream watch per type', (ctx) => {
  const r = ctx.results.get('fan-out');
  assert.ok(r);
  const expected = Number(r.figures.multiplexer?.deliveries_at_20?.value);
  assert.ok(expected > 0);
  assert.is(r.figures.forwarding?.deliveries_at_20?.value, expected);
  assert.is(r.figures.multiplexer?.upstream_watch_connections?.value, r.params.resourceTypes);
  assert.is(r.figures.forwarding?.upstream_watch_connections?.value, r.figures.forwarding?.watchers_connected?.value, 'the baseline: one upstream watch per client');
  assert.ok(Number(ctx.results.get('fan-out-websocket')?.figures.multiplexer?.deliveries_at_20?.value) > 0, 'websocket watchers got events');
});

test('fan-out-h2: every event reached every watch over HTTP/2 and over HTTP/1.1; one session per identity, one connection per HTTP/1.1 watch', (ctx) => {
  const r = ctx.results.get('fan-out-h2');
  assert.ok(r);
  const [h2, h1] = [r.figures.http2, r.figures.http1];
  const watches = Number(r.params.tenants) * Number(r.params.watchersPerTenant);
  assert.equal([h2?.watchers_connected?.value, h1?.watchers_connected?.value], [watches, watches]);
  assert.equal([h2?.client_connections?.value, h1?.client_connections?.value], [r.params.tenants, watches]);
  const delivered = Number(h2?.deliveries_at_20?.value);
  assert.ok(delivered > 0);
  assert.is(h1?.deliveries_at_20?.value, delivered);
  assert.equal([h2?.lost_at_20?.value, h1?.lost_at_20?.value, h2?.duplicated_at_20?.value, h1?.duplicated_at_20?.value], [0, 0, 0, 0]);
  for (const figure of ['rss_per_watcher', 'heap_per_watcher', 'p50_at_20', 'p99_at_20', 'cpu_at_20']) assert.ok(Number.isFinite(h2?.[figure]?.value) && Number.isFinite(h1?.[figure]?.value), figure);
});

test('reconnect storm: no upstream request through the multiplexer, one per watcher through the baseline', (ctx) => {
  const r = ctx.results.get('reconnect-storm');
  assert.ok(r);
  assert.is(r.figures.multiplexer?.upstream_requests_caused?.value, 0);
  assert.is(r.figures.multiplexer?.reestablished?.value, r.figures.multiplexer?.watchers?.value);
  assert.ok(Number(r.figures.forwarding?.upstream_requests_caused?.value) >= Number(r.figures.forwarding?.watchers?.value));
});

test('cached list and start-up produced figures for both proxies', (ctx) => {
  const list = ctx.results.get('cached-list');
  assert.ok(list);
  assert.is(list.figures.multiplexer?.json_errors?.value, 0);
  assert.is(list.figures.forwarding?.json_errors?.value, 0);
  assert.ok(Number(ctx.results.get('startup')?.figures.multiplexer?.time_to_ready?.value) > 0);
});

test('upstream-protocol: both protocols served every GET and delivered every change to every watch; HTTP/2 with fewer connections', (ctx) => {
  const r = ctx.results.get('upstream-protocol');
  assert.ok(r);
  const concurrencies = r.params.concurrencies as number[];
  for (const protocol of ['http1', 'http2']) {
    const f = r.figures[protocol];
    assert.ok(f, protocol);
    for (const c of concurrencies) {
      assert.is(f[`errors_at_${c}`]?.value, 0, `${protocol} errors at ${c}`);
      for (const figure of ['throughput', 'p50', 'p99', 'client_cpu_per_request']) assert.ok(Number.isFinite(f[`${figure}_at_${c}`]?.value), `${protocol} ${figure} at ${c}`);
    }
    assert.is(f.watches_opened?.value, r.params.watches, `${protocol} watches`);
    assert.ok(Number(f.change_deliveries?.value) > 0);
    assert.is(f.change_deliveries?.value, f.change_deliveries_expected?.value, `${protocol}: every change reached every watch`);
    for (const figure of ['client_rss_per_watch', 'apiserver_rss_per_watch', 'change_p50', 'change_p99']) assert.ok(Number.isFinite(f[figure]?.value), `${protocol} ${figure}`);
  }
  assert.is(r.figures.http1?.watch_connections?.value, r.params.watches, 'HTTP/1.1: one connection per watch');
  assert.is(r.figures.http2?.watch_connections?.value, 1, 'HTTP/2: the watches share a session');
  assert.is(r.figures.http2?.[`connections_at_${concurrencies.at(-1)}`]?.value, 1);
});

test('replicas: one set of upstream watches for the deployment, every event delivered through leader and followers', (ctx) => {
  const r = ctx.results.get('replicas');
  assert.ok(r);
  assert.is(r.figures.deployment?.upstream_watch_connections?.value, r.params.resourceTypes);
  const delivered = Number(r.figures.leader?.deliveries_at_20?.value) + Number(r.figures.followers?.deliveries_at_20?.value);
  assert.is(delivered, Number(r.figures.deployment?.events_at_20?.value) * Number(r.params.watchersPerTenant));
  assert.ok(Number(r.figures.leader?.deliveries_at_20?.value) > 0 && Number(r.figures.followers?.deliveries_at_20?.value) > 0);
});

test('failover: a survivor leads, no event lost or repeated, the resume storm asks the upstream nothing', (ctx) => {
  const r = ctx.results.get('failover');
  assert.ok(r);
  const [s, resumed, d] = [r.figures.survivors, r.figures.resumed, r.figures.deployment];
  assert.ok(Number(s?.events_expected?.value) > 0 && Number(resumed?.events_expected?.value) > 0);
  assert.equal([s?.events_lost?.value, s?.events_repeated?.value, s?.reconnects?.value], [0, 0, 0], 'the survivors\' watchers');
  assert.equal([resumed?.events_lost?.value, resumed?.events_repeated?.value, resumed?.expired_410?.value, resumed?.failed_to_reconnect?.value], [0, 0, 0, 0], 'the resumed watchers');
  assert.equal([d?.storm_upstream_list_watch?.value, d?.storm_upstream_reviews?.value], [0, 0]);
  assert.ok(Number(s?.first_event_after_kill?.value) > 0);
});

test('replica cold start: the joining replica asks the upstream for no list or watch', (ctx) => {
  const r = ctx.results.get('replica-cold-start');
  assert.ok(r);
  assert.is(r.figures.joining?.upstream_list_watch?.value, 0);
  assert.ok(Number(r.figures.leader?.upstream_list_watch?.value) > 0);
});

/** A broadcast column (bench/scenarios/raw-floor.ts, measureBroadcast): every event reached every watch, and every figure is there. */
function assertBroadcastColumn(f: Record<string, { value: number }> | undefined, watches: number, label: string): void {
  assert.ok(f, label);
  assert.is(f.watchers_connected?.value, watches, `${label}: watches`);
  const broadcasts = Number(f.broadcasts?.value);
  assert.ok(broadcasts > 0, `${label}: broadcasts`);
  assert.is(f.broadcast_deliveries?.value, broadcasts * watches, `${label}: every broadcast reached every watch`);
  assert.equal([f.broadcast_lost?.value, f.lost_at_saturation?.value], [0, 0], `${label}: nothing lost`);
  assert.ok(Number(f.deliveries_at_saturation?.value) >= Number(f.saturation_rate?.value) * watches, `${label}: deliveries at saturation`);
  for (const figure of ['broadcast_p50', 'broadcast_p99', 'cpu_per_delivery', 'cpu_at_saturation', 'rss_per_watcher']) assert.ok(Number.isFinite(f[figure]?.value), `${label}: ${figure}`);
}

test('raw-floor: the bare TLS (with and without client certificates) and HTTP/2 servers delivered every broadcast to every watch, with CPU per delivery and memory per watch', (ctx) => {
  const r = ctx.results.get('raw-floor');
  assert.ok(r);
  const watches = Number(r.params.watches);
  for (const column of ['tls', 'tls-client-certs', 'h2']) assertBroadcastColumn(r.figures[column], watches, column);
  assert.equal([r.figures.tls?.client_connections?.value, r.figures.h2?.client_connections?.value], [watches, r.params.h2Identities], 'one connection per TLS watch, one session per HTTP/2 identity');
  assert.ok(Number(r.figures.tls?.event_line_bytes?.value) > 0);
});

test('broadcast: one class change reached every watcher through the proxy and from the raw floor (also at the proxy\'s rate); the targets are checked, not asserted', (ctx) => {
  const r = ctx.results.get('broadcast');
  assert.ok(r);
  const watches = Number(r.params.tenants) * Number(r.params.watchersPerTenant);
  assertBroadcastColumn(r.figures.proxy, watches, 'proxy');
  assertBroadcastColumn(r.figures.floor, watches, 'floor');
  assert.is(r.figures.floor?.compared_rate?.value, r.figures.proxy?.saturation_rate?.value, 'the floor measured again at the proxy\'s saturation rate');
  assert.is(r.figures.floor?.lost_at_compared_rate?.value, 0);
  const targets = targetChecks(r);
  assert.is(targets.length, 4, targets.join('\n'));
  assert.ok(targets.every((t) => !t.startsWith('–')), 'every target has its figures');
  assert.ok(targets.some((t) => t.includes(`both at ${r.figures.proxy?.saturation_rate?.value} events/s`)), 'efficiency compared at one rate');
});

test('apiserver-watch: every watch on kube-apiserver received every namespace creation; RSS per watch and latency reported', (ctx) => {
  const f = ctx.results.get('apiserver-watch')?.figures.apiserver;
  assert.ok(f);
  assert.is(f.watches_opened?.value, ctx.results.get('apiserver-watch')?.params.watches);
  assert.ok(Number(f.change_deliveries?.value) > 0);
  assert.is(f.change_deliveries?.value, f.change_deliveries_expected?.value, 'every creation reached every watch');
  for (const figure of ['apiserver_rss_per_watch', 'change_p50', 'change_p99', 'apiserver_cpu_per_delivery']) assert.ok(Number.isFinite(f[figure]?.value), figure);
});

test.run();
