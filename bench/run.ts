// `npm run bench`: runs the scenarios (all, or `--scenario a,b`), writes one JSON result per scenario to
// bench/results/ (or --out) and regenerates bench/RESULTS.md. `--smoke` runs every scenario at tiny
// sizes (what the test suite does, so the harness cannot rot). Sizes can be overridden per run:
// --tenants, --watchers-per-tenant, --rates 100,500, --seconds, --windows, --warm-up-rate, --load-processes,
// --list-requests, --target-windows (fan-out's windows at 500 events/s through tenant-proxy); raw-floor and broadcast: --floor-watches, --floor-h2-identities, --broadcast-tenants,
// --broadcast-watchers-per-tenant, --broadcasts, --saturation-seconds, --max-saturation-rate; apiserver-watch:
// --apiserver-watches, --apiserver-changes; fan-out-h2: --h2-tenants, --h2-watchers-per-tenant, --h2-rates; upstream-protocol:
// --upstream-config-maps, --upstream-requests, --upstream-concurrency 8,64, --upstream-watches, --upstream-changes; the replica scenarios: --replicas, --replica-tenants, --replica-rates,
// --load-processes-per-replica, --failover-rate, --lease-ttl-seconds, --storm-seconds, --cold-start-tenants.
// Everything binds to 127.0.0.1; a watchdog ends the run after --max-minutes.
// Into bench/results/ only from a clean tree: with uncommitted changes under src/, streams/ or bench/ it
// refuses to run (use --out elsewhere, or --smoke, whose results go to a temporary directory). `--regenerate` runs nothing: it rewrites
// bench/RESULTS.md from the stored files (results-report.ts).
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ProxyKind } from './fleet.ts';
import { buildProduct } from './harness.ts';
import { isCleanCommit, RESULTS_DIR, storeResult, treeCommit, type ScenarioResult } from './results.ts';
import { renderResults } from './results-report.ts';
import { cachedList } from './scenarios/cached-list.ts';
import { failover } from './scenarios/failover.ts';
import { fanOut } from './scenarios/fan-out.ts';
import { fanOutH2 } from './scenarios/fan-out-h2.ts';
import { rawFloor } from './scenarios/raw-floor.ts';
import { broadcast } from './scenarios/broadcast.ts';
import { apiserverWatch } from './scenarios/apiserver-watch.ts';
import { reconnectStorm } from './scenarios/reconnect-storm.ts';
import { replicaColdStart } from './scenarios/replica-cold-start.ts';
import { replicasFanOut } from './scenarios/replicas.ts';
import { slowConsumers } from './scenarios/slow-consumers.ts';
import { startup } from './scenarios/startup.ts';
import { upstreamProtocol } from './scenarios/upstream-protocol.ts';

const SCENARIOS = ['startup', 'fan-out', 'fan-out-websocket', 'fan-out-h2', 'reconnect-storm', 'slow-consumers', 'cached-list', 'replicas', 'failover', 'replica-cold-start', 'upstream-protocol', 'raw-floor', 'broadcast', 'apiserver-watch'] as const;
type Scenario = (typeof SCENARIOS)[number];

function args(): Map<string, string> {
  const out = new Map<string, string>();
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.includes('=') ? (a.slice(2).split(/=(.*)/s) as [string, string]) : [a.slice(2), argv[i + 1]?.startsWith('--') || argv[i + 1] === undefined ? 'true' : (argv[++i] ?? '')];
    out.set(k, v);
  }
  return out;
}

async function main(): Promise<number> {
  const opts = args();
  if (opts.has('regenerate')) {
    renderResults();
    process.stdout.write('[bench] bench/RESULTS.md regenerated from bench/results/\n');
    return 0;
  }
  const smoke = opts.has('smoke');
  const num = (k: string, full: number, tiny: number) => Number(opts.get(k) ?? (smoke ? tiny : full));
  const wanted = (opts.get('scenario') ?? SCENARIOS.join(',')).split(',') as Scenario[];
  const proxies = (opts.get('proxies') ?? 'multiplexer,forwarding').split(',') as ProxyKind[];
  // Smoke runs measure nothing worth keeping: they go to a temporary directory unless --out says where.
  const out = opts.get('out') ?? (smoke ? mkdtempSync(path.join(tmpdir(), 'tenant-proxy-bench-smoke-')) : RESULTS_DIR);
  const tree = treeCommit();
  if (!smoke && !opts.has('out') && !isCleanCommit(tree)) {
    process.stderr.write(`bench: the tree is ${tree}: bench/results/ takes runs of a clean, committed tree only (commit first, or use --out DIR)\n`);
    return 2;
  }
  buildProduct();
  const maxMinutes = num('max-minutes', 40, 9);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: time limit of ${maxMinutes} min reached, stopping\n`);
    process.exit(3);
  }, maxMinutes * 60_000);
  watchdog.unref();
  mkdirSync(out, { recursive: true });
  const log = (m: string) => process.stdout.write(`[bench] ${m}\n`);

  const tenants = num('tenants', 1000, 4);
  const watchersPerTenant = num('watchers-per-tenant', 10, 2);
  const loadProcesses = num('load-processes', 4, 1);
  const rates = (opts.get('rates') ?? (smoke ? '20' : '100,500,2000')).split(',').map(Number);
  const seconds = num('seconds', 10, 1);
  const windowsPerRate = num('windows', 3, 1);
  const replicas = num('replicas', 3, 3);
  // 3 replicas × 3,300 watchers at the default 10 watchers per tenant.
  const replicaTenants = num('replica-tenants', 990, 6);
  const loadProcessesPerReplica = num('load-processes-per-replica', 1, 1);
  const broadcastSizes = { broadcasts: num('broadcasts', 10, 2), saturationSeconds: num('saturation-seconds', 10, 1), maxSaturationRate: num('max-saturation-rate', 2000, 100), loadProcesses };
  const runners: Record<Scenario, () => Promise<ScenarioResult>> = {
    'fan-out': () => fanOut({ tenants, watchersPerTenant, namespacesPerTenant: num('namespaces-per-tenant', 10, 2), rates, secondsPerRate: seconds, windowsPerRate, targetRate: 500, targetWindows: num('target-windows', 10, 1), warmUpRate: num('warm-up-rate', 500, 20), loadProcesses, proxies, transport: 'http' }, log),
    'fan-out-websocket': () => fanOut({ tenants, watchersPerTenant, namespacesPerTenant: num('namespaces-per-tenant', 10, 2), rates: [num('websocket-rate', 500, 20)], secondsPerRate: seconds, windowsPerRate, warmUpRate: num('warm-up-rate', 500, 20), loadProcesses, proxies: ['multiplexer'], transport: 'websocket' }, log),
    // 100 identities × 100 watches: 10,000 watches over 100 HTTP/2 sessions, then over 10,000 TLS connections.
    'fan-out-h2': () => fanOutH2({ tenants: num('h2-tenants', 100, 4), watchersPerTenant: num('h2-watchers-per-tenant', 100, 5), namespacesPerTenant: num('namespaces-per-tenant', 10, 2), rates: (opts.get('h2-rates') ?? (smoke ? '20' : '100,500')).split(',').map(Number), secondsPerRate: seconds, windowsPerRate, warmUpRate: num('warm-up-rate', 100, 20), loadProcesses }, log),
    'cached-list': () => cachedList({ tenants, namespacesPerTenant: num('namespaces-per-tenant', 10, 2), users: Math.min(tenants, num('list-users', 100, 2)), requests: num('list-requests', 2000, 10), concurrency: num('list-concurrency', 8, 2), maxSeconds: num('list-max-seconds', 60, 10), proxies }, log),
    'reconnect-storm': () => reconnectStorm({ tenants, watchersPerTenant, windowSeconds: num('window-seconds', 10, 1), loadProcesses, proxies }, log),
    'slow-consumers': () => slowConsumers({ tenants, watchersPerTenant, rate: num('slow-rate', 500, 20), seconds, stalledFraction: Number(opts.get('stalled-fraction') ?? (smoke ? 0.25 : 0.01)), loadProcesses, proxies }, log),
    replicas: () => replicasFanOut({ replicas, tenants: replicaTenants, watchersPerTenant, namespacesPerTenant: num('namespaces-per-tenant', 10, 2), rates: (opts.get('replica-rates') ?? (smoke ? '20' : '100,500')).split(',').map(Number), secondsPerRate: seconds, windowsPerRate, warmUpRate: num('warm-up-rate', 500, 20), loadProcessesPerReplica }, log),
    failover: () => failover({ replicas, tenants: replicaTenants, watchersPerTenant, rate: num('failover-rate', 100, 20), leaseTtlSeconds: num('lease-ttl-seconds', 15, 3), stormSeconds: num('storm-seconds', 10, 2), tokenShare: 0.5, loadProcessesPerReplica }, log),
    'replica-cold-start': () => replicaColdStart({ tenants: num('cold-start-tenants', 1000, 4), namespacesPerTenant: num('namespaces-per-tenant', 10, 2), nodes: num('nodes', 1000, 3) }, log),
    'upstream-protocol': () => upstreamProtocol({ configMaps: num('upstream-config-maps', 20, 5), requests: num('upstream-requests', 5000, 50), concurrencies: (opts.get('upstream-concurrency') ?? (smoke ? '2,8' : '8,64')).split(',').map(Number), watches: num('upstream-watches', 500, 20), changes: num('upstream-changes', 20, 3) }, log),
    // 10,000 watches, the broadcast size; over HTTP/2, 100 identities × 100 streams (as fan-out-h2).
    'raw-floor': () => rawFloor({ ...broadcastSizes, watches: num('floor-watches', 10_000, 10), h2Identities: num('floor-h2-identities', 100, 2) }, log),
    // 1,000 tenants × 10 watches = 10,000 watchers of the one storage class every tenant sees.
    broadcast: () => broadcast({ ...broadcastSizes, tenants: num('broadcast-tenants', 1000, 4), watchersPerTenant: num('broadcast-watchers-per-tenant', 10, 2) }, log),
    'apiserver-watch': () => apiserverWatch({ watches: num('apiserver-watches', 2000, 20), changes: num('apiserver-changes', 10, 3), loadProcesses }, log),
    startup: () => startup({ tenants, namespacesPerTenant: num('namespaces-per-tenant', 10, 2), nodes: num('nodes', 1000, 3), proxies }, log),
  };
  let failures = 0;
  for (const scenario of wanted) {
    const run = runners[scenario];
    if (!run) throw new Error(`unknown scenario ${scenario}; known: ${SCENARIOS.join(', ')}`);
    log(`── ${scenario}`);
    try {
      const file = storeResult(await run(), tree, out);
      log(`${scenario}: ${file}`);
    } catch (err) {
      failures++;
      log(`${scenario} failed: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (smoke || opts.has('out')) renderResults(out, `${out}/RESULTS.md`, null);
  else renderResults();
  log(`done (${failures} scenario(s) failed); results in ${out}`);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
