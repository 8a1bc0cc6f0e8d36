// What a Prometheus scrape of the proxy's process metrics costs and shows: the default metrics that walk
// every handle or file descriptor on each scrape (O(connections), tens of milliseconds of blocked event
// loop with 10,000 watches) are left out, and the listener's connection count stands in for them.
import net from 'node:net';
import * as assert from 'uvu/assert';
import { ProxyMetrics } from '../../src/basics/metrics.ts';
import { suite } from '../support/suite.ts';

const test = suite('ProxyMetrics');

const valueOf = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

test('no per-handle default metrics; event-loop and memory ones stay', async () => {
  const text = await new ProxyMetrics({ defaultMetrics: true }).registry.metrics();
  for (const name of ['process_open_fds', 'nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    assert.is(valueOf(text, name), undefined, `${name} is not exported`);
    assert.not.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
  }
  for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'process_max_fds', 'process_resident_memory_bytes']) {
    assert.match(text, new RegExp(`^${name}[ {]`, 'm'), `${name} is exported`);
  }
});

test('tenant_proxy_client_connections counts the open connections of the listener', async () => {
  const metrics = new ProxyMetrics();
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  metrics.observeServer(server);
  const { port } = server.address() as net.AddressInfo;
  const clients: net.Socket[] = [];
  try {
    assert.is(valueOf(await metrics.registry.metrics(), 'tenant_proxy_client_connections'), 0);
    for (let i = 0; i < 3; i++) clients.push(await new Promise<net.Socket>((resolve) => { const c = net.connect(port, '127.0.0.1', () => resolve(c)); }));
    // The server counts a connection once it has accepted it.
    for (let i = 0; i < 50 && valueOf(await metrics.registry.metrics(), 'tenant_proxy_client_connections') !== 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(valueOf(await metrics.registry.metrics(), 'tenant_proxy_client_connections'), 3);
    clients.pop()?.destroy();
    for (let i = 0; i < 50 && valueOf(await metrics.registry.metrics(), 'tenant_proxy_client_connections') !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(valueOf(await metrics.registry.metrics(), 'tenant_proxy_client_connections'), 2);
  } finally {
    for (const c of clients) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
