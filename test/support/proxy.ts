// Starts tenant-proxy in-process on free loopback ports. In front of the local control plane it runs as
// the tenant-proxy service account (the least-privilege identity of deploy/rbac.yaml, never
// system:masters); it can also be put in front of any upstream given by a kubeconfig or an Upstream.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/server/config.ts';
import { createLogger, type Logger } from '../../src/basics/log.ts';
import { TenantProxy } from '../../src/server/proxy.ts';
import { loadUpstream, type Upstream } from '../../src/basics/upstream.ts';
import type { ControlPlane } from './control-plane.ts';
import { KubeHttp, type Credentials } from './kube-http.ts';

export interface RunningProxy {
  proxy: TenantProxy;
  url: string;
  port: number;
  metricsPort: number;
  /** CA that signed the proxy's serving certificate. */
  caPem: string;
  /** Parsed log lines, when started with `captureLogs`. */
  logs: Record<string, unknown>[];
  /** A client for the proxy with these credentials (their CA is replaced by the proxy's). */
  client(credentials: Credentials): KubeHttp;
  /** Writes a kubeconfig pointing at the proxy. */
  kubeconfig(file: string, credentials: Credentials, user: string): string;
  /** Value of a metric in the proxy's /metrics, summed over label sets matching `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Value of a metric on a metrics listener's /metrics, summed over label sets matching `labels`. Fails
 * after `timeoutMs` (a stopped or frozen process never answers).
 */
export async function scrapeMetric(metricsPort: number, name: string, labels: Record<string, string> = {}, timeoutMs = 10_000): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export interface StartProxyOptions {
  flags?: string[];
  /** Upstream to use instead of the control plane's (e.g. a test double). */
  upstream?: Upstream;
  captureLogs?: boolean;
}

export async function startProxy(cp: ControlPlane | undefined, flagsOrOptions: string[] | StartProxyOptions = {}): Promise<RunningProxy> {
  const options: StartProxyOptions = Array.isArray(flagsOrOptions) ? { flags: flagsOrOptions } : flagsOrOptions;
  const dir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-test-'));
  let upstream = options.upstream;
  if (!upstream) {
    if (!cp) throw new Error('startProxy needs a control plane or an upstream');
    const kubeconfig = cp.writeKubeconfig(path.join(dir, 'proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');
    upstream = await loadUpstream({ kubeconfig });
  }
  const parsed = parseConfig(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--cert-dir', path.join(dir, 'serving'), ...(options.flags ?? [])], {});
  if (parsed.kind !== 'config') throw new Error('unexpected --help');
  const config: Config = parsed.config;
  const logs: Record<string, unknown>[] = [];
  let log: Logger;
  if (options.captureLogs) {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    log = pino({ level: 'info', base: { component: 'tenant-proxy' } }, sink);
  } else {
    log = createLogger(process.env.TENANT_PROXY_TEST_LOG_LEVEL ?? 'silent');
  }
  const proxy = await TenantProxy.create(config, { upstream, log });
  const { port, metricsPort } = await proxy.start();
  const url = `https://127.0.0.1:${port}`;
  const caPem = readFileSync(proxy.servingCaFile ?? config.tlsCertFile, 'utf8');
  const clients: KubeHttp[] = [];
  return {
    proxy,
    url,
    port,
    metricsPort: metricsPort ?? 0,
    caPem,
    logs,
    client(credentials) {
      const c = new KubeHttp(url, { ...credentials, caPem });
      clients.push(c);
      return c;
    },
    kubeconfig(file, credentials, user) {
      if (!cp) throw new Error('kubeconfig needs the control plane');
      return cp.writeKubeconfig(file, { ...credentials, caPem }, user, url, caPem);
    },
    metric: (name, labels = {}) => scrapeMetric(metricsPort ?? 0, name, labels),
    async stop() {
      for (const c of clients) c.close();
      await proxy.shutdown(2_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
