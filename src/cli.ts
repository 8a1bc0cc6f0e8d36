// Entry point: parse flags, load upstream credentials, start the proxy, stop gracefully on SIGTERM/SIGINT.
import { helpText, parseConfig } from './server/config.ts';
import { createLogger } from './basics/log.ts';
import { ProxyMetrics } from './basics/metrics.ts';
import { TenantProxy } from './server/proxy.ts';
import { loadUpstream } from './basics/upstream.ts';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tenant-proxy: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  const config = parsed.config;
  const log = createLogger(config.logLevel);
  // Nothing a client sends should reach these; if a bug lets something through, it is logged with its
  // stack and the proxy keeps serving everyone else rather than dropping every connection.
  process.on('uncaughtException', (err, origin) => log.error({ err, origin }, 'uncaught exception (a bug: please report it)'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection (a bug: please report it)'));
  const upstream = await loadUpstream({ kubeconfig: config.kubeconfig || undefined, context: config.context || undefined });
  const proxy = await TenantProxy.create(config, { upstream, log, metrics: new ProxyMetrics({ defaultMetrics: true }) });
  await proxy.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'signal received');
      void proxy.shutdown().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tenant-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
