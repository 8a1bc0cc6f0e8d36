// Benchmark results: one JSON file per scenario run in bench/results/ (parameters, commit, machine, every
// figure with its unit, for both proxies and their ratio), and what bench/RESULTS.md says of each
// scenario's method and targets (results-report.ts renders it from the stored files).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FLOOR_METHODS } from './floor-methods.ts';
import type { ProxyKind } from './fleet.ts';
import { machine, round, ROOT, type Figure, type Figures } from './harness.ts';

export interface ScenarioResult {
  scenario: string;
  upstream: 'replay' | 'control-plane';
  upstreamWhy: string;
  params: Record<string, unknown>;
  /** Per column: the two proxies compared, or (with `columns`) the parts of one deployment. */
  figures: Partial<Record<ProxyKind, Figures>> & Record<string, Figures>;
  /** Column keys and headings of the table, when they are not the two proxies. */
  columns?: { key: string; heading: string }[];
  notes?: string[];
}

export interface StoredResult extends ScenarioResult {
  date: string;
  commit: string;
  machine: Record<string, unknown>;
  /** forwarding ÷ multiplexer for every figure both have. */
  ratio: Record<string, number>;
}

export const RESULTS_DIR = path.join(ROOT, 'bench/results');

/** A bare commit hash: the run was made from a committed tree (not `…+dirty`, not `unknown`). */
export function isCleanCommit(commit: string): boolean {
  return /^[0-9a-f]{7,40}$/.test(commit);
}

/** HEAD's short hash, with `+dirty` when src/, streams/ or bench/ (results aside) has uncommitted changes. */
export function treeCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'streams', 'bench', ':!bench/results', ':!bench/RESULTS.md'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/**
 * The tree a result was measured on: `startedOn`, the tree when the run began (the product was built from
 * it then). If HEAD moved or the tree changed meanwhile, the scenarios after the change may have run other
 * code (load generators and upstreams start from the working tree): `+changed-during-run`, never clean.
 */
export function measuredOn(startedOn: string): string {
  const now = treeCommit();
  return now === startedOn ? startedOn : `${startedOn}+changed-during-run`;
}

export function storeResult(result: ScenarioResult, startedOn: string, dir = RESULTS_DIR): string {
  const ratio: Record<string, number> = {};
  for (const [name, figure] of Object.entries(result.figures.multiplexer ?? {})) {
    const other = result.figures.forwarding?.[name];
    if (other && figure.value !== 0 && Number.isFinite(other.value / figure.value)) ratio[name] = Math.round((other.value / figure.value) * 100) / 100;
  }
  const date = new Date().toISOString();
  const stored: StoredResult = { date, commit: measuredOn(startedOn), machine: machine(), ...result, ratio };
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${date.replace(/[:.]/g, '-')}-${result.scenario}.json`);
  writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`);
  return file;
}

export const METHOD: Record<string, string> = {
  ...FLOOR_METHODS,
  'fan-out':
    'Watchers (chunked HTTP, one TLS connection each, client certificates) spread over load-generator processes watch `/api/v1/namespaces` as their tenant\'s owner. Since 2026-11-28 06:30 UTC a watcher reads its chunked response off a bare TLS socket (bench/load/watchers.ts) instead of node:https: the client library\'s ~137 KiB and hundreds of objects per connection made the load generators\' own collections stall them for up to ~200 ms, time counted in the latencies below; the bytes sent and received are the same. The upstream changes namespaces of all tenants at a fixed rate, stamping each change with the time it wrote it; a watcher records, for each event it parsed, now − that stamp (same machine, `performance.timeOrigin + performance.now()` in both processes). With the replay upstream, "upstream write acknowledged" and "proxy received the event" are the same instant to within the loopback hop, so one latency is reported for both. Memory per watcher: (RSS or V8 heap after the watchers connected − before) ÷ watchers. CPU: the proxy process\'s user+system time during the emission window ÷ the window; machine busy: all processes\' CPU time in that window (from /proc/stat) ÷ (window × cores), which shows when the load generators and the upstream leave the proxy no core to run on. The load generators run at nice 10, below the proxy and the upstream; their own event-loop delay over the window is reported (`client_loop_delay_*`), as are the proxy\'s (`proxy_loop_delay_*`, from its `nodejs_eventloop_lag_*` metrics) and the time it spent in GC pauses; a loop delay is what a 5 ms (clients) or 10 ms (proxy) sampling timer fired late. After the watchers connected, one emission at the warm-up rate comes first: the proxy and the clients meet it with their post-connect garbage collection and cold code, so it is reported apart (`first_emission_*`). Each rate then runs in several windows of the same length, whose samples are pooled for p50/p99/max (`p99_worst_window_*`: the worst window\'s own p99); CPU and machine busy are the windows\' mean, loop delays their worst.',
  'fan-out-websocket': 'As fan-out, with every watch over a websocket (one event per message); the multiplexer only, since the forwarding baseline relays no websocket watches.',
  'cached-list':
    'A tenant owner\'s `GET /api/v1/namespaces?limit=500` (what `kubectl get ns` sends), JSON and kubectl\'s Table Accept, round robin over tenant users each on its own keep-alive TLS connection, a fixed number in flight. Each connection is opened by one warm-up request, reported apart as `first_request` (TLS handshake included; in the multiplexer the first JSON LIST of a user also builds that tenant\'s view); every later request is timed from its start to the last byte of the answer in the load generator.',
  'fan-out-h2':
    'As fan-out, through tenant-proxy only, twice in one run with one tenant mix: each tenant has one owner identity (a client certificate) and the same number of watches of `/api/v1/namespaces`. Over HTTP/2 (ALPN h2) a load generator opens one session per identity (with client-go\'s flow-control windows: 4 MiB per stream, 1 GiB per session) and every watch of that identity is a stream of it; over HTTP/1.1 every watch has its own TLS connection (`client_connections`). A fresh proxy process per transport; memory per watch = (RSS or V8 heap after the watches opened − before) ÷ watches. Latency is measured in the same load generator with the same parser for both transports (event line → now − the upstream\'s stamp). `lost_at_*`: expected deliveries (each change reaches every watch of its tenant) that did not arrive within their window (+1 s); `duplicated_at_*`: events at or below a resourceVersion the watch had already seen.',
  'upstream-protocol':
    'tenant-proxy\'s upstream leg, played by one client process per measurement (so its CPU and memory are the leg\'s alone) with the proxy\'s credentials: its service-account token, impersonating a user who may read one namespace\'s configmaps, as forwarded requests do. HTTP/1.1: a keep-alive `https.Agent` configured as the proxy\'s (no socket limit, LIFO), so each request in flight or watch holds a socket; HTTP/2: streams of one session, another session only when the apiserver\'s stream limit (its SETTINGS_MAX_CONCURRENT_STREAMS) is reached, with client-go\'s flow-control windows (4 MiB per stream, 1 GiB per session). (a) GETs of the namespace\'s configmap list with a fixed number in flight, after one unrecorded warm-up request: throughput, latency from start to last byte, the client process\'s CPU (user + system) ÷ requests, TLS connections opened. (b) Watches of the namespace\'s configmaps from the list\'s resourceVersion: client RSS and V8 heap (after − before, each read after a full GC and 1 s, ÷ watches), the apiserver\'s RSS growth (HTTP/2 is measured second, so it may reuse memory HTTP/1.1\'s closed watches freed: read it as an upper bound for HTTP/1.1 and a lower one for HTTP/2), connections; then an admin client changes one configmap every 250 ms, stamping the time it sent the change, and every watch records now − that stamp per event (write through etcd and the apiserver\'s watch cache included).',
  'reconnect-storm':
    "Watchers list, then watch from the list's resourceVersion (as informers do). All drop their connections and reconnect at a random moment within a window, each with the last resourceVersion it saw (what client-node does after 30 s of silence). Timed from the first drop to the last watch re-established (HTTP 200); upstream requests are counted by the upstream itself.",
  'slow-consumers':
    'Fan-out at a fixed rate: one unrecorded warm-up run, two runs with every watcher reading (their p99 difference is the noise), then one with 1 % of the watchers no longer reading their sockets; compared: the readers\' latency percentiles, the proxy\'s memory, and what happened to the stalled watchers (`stalled_paused_by_proxy`: how many the proxy had stopped writing to because their socket was full, from its `tenant_proxy_watchers_paused` gauge). The pause, the catch-up from history and the 410 for a watcher stalled past the history are tested end to end in test/e2e/slow-watchers.test.ts.',
  startup: 'Time from starting the proxy process to its /readyz answering 200, and its memory then.',
  replicas:
    'As fan-out, through a replicated deployment: N tenant-proxy processes (`--redis`, one redis-server, shared serving certificate and shared-auth key) in front of one upstream, the watchers spread over the replicas round robin as a TCP load balancer would (so every replica serves every tenant), one load generator per replica. Latencies are per role: the leader (runs the upstream informers and appends to the change log) and the followers (serve from the log), pooled over all windows of a rate. CPU: each replica\'s user+system time over the window; Redis CPU from its own `INFO` (`used_cpu_sys` + `used_cpu_user`) over the window. Log append (leader: change received → batch acknowledged by Redis) and tail lag (leader recorded → this replica applied) come from the replicas\' own histograms, as the upper bound of the bucket holding the 99th percentile of the window\'s observations; delivery lag (`tenant_proxy_watch_delivery_lag_seconds`: the leader\'s informer received the change → this replica handed its events to every watcher\'s connection, the proxy\'s share of a delivery without the kernel, the network and the load generator) likewise, pooled over the role\'s replicas and all windows of a rate. Redis memory and the change log\'s bytes (`MEMORY USAGE` of the stream ÷ its entries) are read at the end of the run.',
  failover:
    'N replicas, watchers spread round robin (each lists, then watches with bookmarks, like an informer; a share of them authenticates with bearer tokens, the rest with client certificates). The upstream changes namespaces at a fixed rate throughout. The leader is SIGKILLed 3 s into the emission. `first_event_after_kill`: from the kill to the first delivery, on a surviving replica, of a change the upstream made after the kill (such a change can only come through the new leader). Once the new leader holds its upstream watches (+3 s), the killed replica\'s watchers reconnect to the survivors at random moments within the storm window, each with the last resourceVersion it saw; the upstream counts the lists, watches and reviews asked meanwhile (until 3 s after the last reconnect). At the end each watcher\'s events are checked against what the upstream emitted for its tenant since the watchers were reset: lost = emitted − distinct events received; repeated = events at or below a resourceVersion the watcher had already seen of that namespace.',
  'replica-cold-start':
    'One replica starts alone (it lists every type upstream and leads) and writes its first snapshot to Redis; then a second replica starts against the same Redis (since 5cc3891 it reads the change log from its beginning while that was never trimmed, as seconds after the first start, and the oldest snapshot kept otherwise; before, the newest snapshot). Time from process start to /readyz 200 for each; the upstream requests counted from the second replica\'s start until 0.5 s after it was ready.',
};

export function targetChecks(r: StoredResult): string[] {
  const m = r.figures.multiplexer ?? {};
  const baseline = r.figures.forwarding ?? {};
  const get = (name: string): Figure | undefined => m[name];
  const checks: string[] = [];
  const line = (ok: boolean | undefined, text: string) => checks.push(`${ok === undefined ? '–' : ok ? '✔ met' : '✘ missed'}: ${text}`);
  if (r.scenario === 'fan-out' || r.scenario === 'fan-out-websocket') {
    const types = Number(r.params.resourceTypes ?? NaN);
    const up = get('upstream_watch_connections')?.value;
    line(up === undefined ? undefined : up <= types, `upstream watch connections = number of resource types (${up} for ${types} types; baseline ${baseline.upstream_watch_connections?.value})`);
    const connected = get('watchers_connected')?.value;
    line(connected === undefined ? undefined : connected >= 10_000, `≥ 10,000 concurrent watchers in one process (${connected})`);
    const heap = get('heap_per_watcher')?.value;
    const buffers = get('rss_per_watcher')?.value;
    line(heap === undefined ? undefined : heap <= 16, `≤ 16 KiB of heap per idle watcher (${heap} KiB heap; ${buffers} KiB RSS including TLS buffers)`);
    const p99 = get('p99_at_500')?.value;
    const worstWindow = get('p99_worst_window_at_500')?.value;
    const first = get('first_emission_p99_at_500')?.value;
    const detail = [worstWindow === undefined ? '' : `worst window ${worstWindow} ms`, first === undefined ? '' : `first emission after connecting ${first} ms`].filter(Boolean).join('; ');
    line(p99 === undefined ? undefined : p99 <= 25, `fan-out p99 ≤ 25 ms at 500 events/s (${p99} ms over all windows${detail ? `; ${detail}` : ''})`);
    if (r.scenario === 'fan-out') {
      const windows = Number(r.params.targetWindows ?? r.params.windowsPerRate ?? NaN);
      line(worstWindow === undefined || !(windows >= 10) ? undefined : worstWindow <= 25, `issue 17: p99 ≤ 25 ms at 500 events/s in the worst of 10 windows (worst of ${windows}: ${worstWindow} ms; proxy GC ${get('proxy_gc_pauses_at_500')?.value} ms per s, old generation ${get('old_space_per_watcher')?.value} KiB per watcher)`);
      line(buffers === undefined ? undefined : buffers <= 44, `issue 17: ≤ 44 KiB RSS per HTTP/1.1 watch (${buffers} KiB; every watch presents a client certificate)`);
    }
  } else if (r.scenario === 'fan-out-h2') {
    const [h2, h1] = [r.figures.http2 ?? {}, r.figures.http1 ?? {}];
    const [rss2, rss1] = [h2.rss_per_watcher?.value, h1.rss_per_watcher?.value];
    // "Well under": at most half, the TLS connection and its buffers being most of an HTTP/1.1 watch's cost.
    line(rss2 === undefined ? undefined : rss2 <= 8, `issue 17: ≤ 8 KiB RSS per watch over HTTP/2 at ${Math.round(Number(h2.watchers_connected?.value) / Number(h2.client_connections?.value))} watches per connection (${rss2} KiB)`);
    line(rss2 === undefined || rss1 === undefined ? undefined : rss2 <= rss1 / 2, `HTTP/2 RSS per watch well under HTTP/1.1's (≤ half: ${rss2} KiB vs ${rss1} KiB over ${h2.client_connections?.value} vs ${h1.client_connections?.value} connections; heap ${h2.heap_per_watcher?.value} vs ${h1.heap_per_watcher?.value} KiB)`);
    for (const rate of (r.params.rates as number[] | undefined) ?? []) {
      const lost = (h2[`lost_at_${rate}`]?.value ?? NaN) + (h1[`lost_at_${rate}`]?.value ?? NaN);
      line(Number.isNaN(lost) ? undefined : lost === 0, `every event delivered over both transports at ${rate} events/s (lost ${h2[`lost_at_${rate}`]?.value} over HTTP/2, ${h1[`lost_at_${rate}`]?.value} over HTTP/1.1; p99 ${h2[`p99_at_${rate}`]?.value} vs ${h1[`p99_at_${rate}`]?.value} ms, proxy CPU ${h2[`cpu_at_${rate}`]?.value} vs ${h1[`cpu_at_${rate}`]?.value} % of a core)`);
    }
  } else if (r.scenario === 'broadcast') {
    broadcastChecks(r.figures.proxy ?? {}, r.figures.floor ?? {}, line);
  } else if (r.scenario === 'cached-list') {
    for (const f of ['json', 'table']) {
      for (const p of ['p50', 'p99']) {
        const ratio = r.ratio[`${f}_${p}`];
        line(ratio === undefined ? undefined : ratio >= 20, `${f} LIST ≥ 20× faster than the baseline at ${p} (×${ratio})`);
      }
    }
  } else if (r.scenario === 'reconnect-storm') {
    const caused = get('upstream_requests_caused')?.value;
    line(caused === undefined ? undefined : caused === 0, `a reconnect storm causes zero upstream requests (${caused}; baseline ${baseline.upstream_requests_caused?.value})`);
  } else if (r.scenario === 'replicas') {
    const types = Number(r.params.resourceTypes ?? NaN);
    const up = r.figures.deployment?.upstream_watch_connections?.value;
    line(up === undefined ? undefined : up <= types, `upstream watch connections for the whole deployment = number of resource types (${up} for ${types} types)`);
    const p99 = r.figures.followers?.p99_at_500?.value;
    const lag = r.figures.followers?.delivery_lag_p99_at_500?.value;
    const proxyShare = lag === undefined ? '' : `; the followers' own share, change received by the leader → handed to every watcher's connection: p99 ≤ ${lag} ms (bucket bound)`;
    line(p99 === undefined ? undefined : p99 <= 50, `follower p99 ≤ 50 ms at 500 events/s (${p99} ms; leader ${r.figures.leader?.p99_at_500?.value} ms${proxyShare})`);
  } else if (r.scenario === 'failover') {
    const s = r.figures.survivors ?? {};
    const resumed = r.figures.resumed ?? {};
    const d = r.figures.deployment ?? {};
    const ttl = Number(d.lease_ttl?.value ?? NaN);
    const first = s.first_event_after_kill?.value;
    line(first === undefined ? undefined : first <= ttl + 2, `first change after the kill delivered ≤ lease TTL + 2 s (${first} s with a ${ttl} s lease)`);
    const lost = (s.events_lost?.value ?? NaN) + (resumed.events_lost?.value ?? NaN);
    line(Number.isNaN(lost) ? undefined : lost === 0, `no event lost (${s.events_lost?.value} on the survivors' watchers, ${resumed.events_lost?.value} on the resumed ones; repeated: ${s.events_repeated?.value} and ${resumed.events_repeated?.value})`);
    line(s.reconnects?.value === undefined ? undefined : s.reconnects.value === 0, `only the killed replica's watchers reconnect (${s.reconnects?.value} reconnects of the survivors' watchers)`);
    const caused = (d.storm_upstream_list_watch?.value ?? NaN) + (d.storm_upstream_reviews?.value ?? NaN);
    line(Number.isNaN(caused) ? undefined : caused === 0, `the resume storm asks the upstream nothing (${d.storm_upstream_list_watch?.value} lists/watches, ${d.storm_upstream_reviews?.value} reviews)`);
    line(resumed.expired_410?.value === undefined ? undefined : resumed.expired_410.value === 0, `no 410 on resume (${resumed.expired_410?.value})`);
  } else if (r.scenario === 'replica-cold-start') {
    const caused = r.figures.joining?.upstream_list_watch?.value;
    line(caused === undefined ? undefined : caused === 0, `a replica joining starts from Redis without upstream lists or watches (${caused}; ready in ${r.figures.joining?.time_to_ready?.value} s, the first replica in ${r.figures.leader?.time_to_ready?.value} s)`);
  } else if (r.scenario === 'slow-consumers') {
    const before = get('p99_all_reading')?.value;
    const after = get('p99_with_stalled')?.value;
    const noise = get('p99_noise')?.value;
    if (before !== undefined && after !== undefined) line(after - before <= Math.max(noise ?? 0, 2), `slow consumers do not move the others' p99 by more than noise (${before} → ${after} ms; noise between identical runs ${noise} ms)`);
  }
  return checks;
}

/** Issue 17's broadcast targets: the proxy's delivery CPU at saturation, its share of the floor's efficiency, its broadcast p99 beside the floor's. */
const MAX_CPU_PER_DELIVERY_US = 26;
const MIN_SHARE_OF_FLOOR = 0.7;
const MAX_P99_OVER_FLOOR = 1.25;

function broadcastChecks(proxy: Figures, floor: Figures, line: (ok: boolean | undefined, text: string) => void): void {
  const [cpu, floorCpu] = [proxy.cpu_per_delivery?.value, floor.cpu_per_delivery?.value];
  // The same work: the floor at the rate the proxy saturated at, when the run measured it there.
  const floorAtProxyRate = floor.compared_rate?.value === proxy.saturation_rate?.value ? floor.cpu_per_delivery_at_compared_rate?.value : undefined;
  const floorSame = floorAtProxyRate ?? floorCpu;
  const share = cpu === undefined || floorSame === undefined ? undefined : floorSame / cpu;
  const [p99, floorP99] = [proxy.broadcast_p99?.value, floor.broadcast_p99?.value];
  const lost = (proxy.broadcast_lost?.value ?? NaN) + (proxy.lost_at_saturation?.value ?? NaN);
  line(cpu === undefined ? undefined : cpu <= MAX_CPU_PER_DELIVERY_US, `delivery CPU per event per watcher at saturation ≤ ${MAX_CPU_PER_DELIVERY_US} µs (${cpu} µs at ${proxy.saturation_rate?.value} events/s, ${proxy.cpu_at_saturation?.value} % of a core; raw floor ${floorCpu} µs)`);
  const how = floorAtProxyRate === undefined ? 'each at its own saturation rate' : `both at ${proxy.saturation_rate?.value} events/s: floor ${floorAtProxyRate} µs`;
  line(share === undefined || !Number.isFinite(share) ? undefined : share >= MIN_SHARE_OF_FLOOR, `≥ ${MIN_SHARE_OF_FLOOR * 100} % of the raw floor's efficiency (floor µs ÷ proxy µs = ${share === undefined ? share : round(share * 100, 0)} %, ${how})`);
  line(p99 === undefined || floorP99 === undefined ? undefined : p99 <= MAX_P99_OVER_FLOOR * floorP99, `broadcast to ${proxy.watchers_connected?.value} watchers: delivery p99 ≤ ${MAX_P99_OVER_FLOOR}× the raw floor's (${p99} ms vs ${floorP99} ms: ×${p99 === undefined || floorP99 === undefined ? undefined : round(p99 / floorP99)}; p50 ${proxy.broadcast_p50?.value} vs ${floor.broadcast_p50?.value} ms)`);
  line(Number.isNaN(lost) ? undefined : lost === 0, `every broadcast reached every watcher through the proxy (lost ${proxy.broadcast_lost?.value} of isolated broadcasts, ${proxy.lost_at_saturation?.value} at saturation)`);
}
