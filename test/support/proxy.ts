// Starts tenant-proxy in-process in front of a control plane, as the tenant-proxy service account
// (the least-privilege identity of deploy/rbac.yaml, never system:masters), on free loopback ports.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { TenantProxy } from '../../src/proxy.ts';
import { loadUpstream } from '../../src/upstream.ts';
import type { ControlPlane } from './control-plane.ts';
import { KubeHttp, type Credentials } from './kube-http.ts';

export interface RunningProxy {
  proxy: TenantProxy;
  url: string;
  port: number;
  metricsPort: number;
  /** CA that signed the proxy's serving certificate. */
  caPem: string;
  /** A client for the proxy with these credentials (their CA is replaced by the proxy's). */
  client(credentials: Credentials): KubeHttp;
  /** Writes a kubeconfig pointing at the proxy. */
  kubeconfig(file: string, credentials: Credentials, user: string): string;
  /** Value of a counter in the proxy's /metrics, summed over label sets matching `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startProxy(cp: ControlPlane, flags: string[] = []): Promise<RunningProxy> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-test-'));
  const kubeconfig = cp.writeKubeconfig(path.join(dir, 'proxy.kubeconfig'), cp.proxyCredentials(), 'tenant-proxy');
  const parsed = parseConfig(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--cert-dir', path.join(dir, 'serving'), '--kubeconfig', kubeconfig, ...flags], {});
  if (parsed.kind !== 'config') throw new Error('unexpected --help');
  const config: Config = parsed.config;
  const log = createLogger(process.env.TENANT_PROXY_TEST_LOG_LEVEL ?? 'silent');
  const upstream = await loadUpstream({ kubeconfig });
  const proxy = await TenantProxy.create(config, { upstream, log });
  const { port, metricsPort } = await proxy.start();
  const url = `https://127.0.0.1:${port}`;
  const caPem = readFileSync(proxy.servingCaFile ?? '', 'utf8');
  const clients: KubeHttp[] = [];
  return {
    proxy,
    url,
    port,
    metricsPort: metricsPort ?? 0,
    caPem,
    client(credentials) {
      const c = new KubeHttp(url, { ...credentials, caPem });
      clients.push(c);
      return c;
    },
    kubeconfig(file, credentials, user) {
      return cp.writeKubeconfig(file, { ...credentials, caPem }, user, url, caPem);
    },
    async metric(name, labels = {}) {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      const text = await res.text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const labelText = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      for (const c of clients) c.close();
      await proxy.shutdown(2_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
