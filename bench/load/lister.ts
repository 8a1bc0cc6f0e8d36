// A load generator process (forked by bench/run.ts) for LIST latency: issues `count` requests with
// `concurrency` in flight, round-robin over the given client identities. Each identity has one
// keep-alive connection, owned by one worker so that no request waits for another's socket, and each
// connection is opened by a warm-up request first, reported apart: the samples are LISTs on established
// connections (no TLS handshake), from request start to the complete body received.
import https from 'node:https';
import { performance } from 'node:perf_hooks';

export interface ListCommand {
  cmd: 'list';
  url: string;
  caPem: string;
  clients: { certPem: string; keyPem: string }[];
  path: string;
  accept: string;
  count: number;
  concurrency: number;
  /** Stop issuing requests after this long, whatever the count. */
  maxMs: number;
}

export interface ListReply {
  type: 'listed';
  samples: number[];
  errors: number;
  statuses: Record<string, number>;
  bytes: number;
  /** Latencies of the warm-up requests that opened the connections (TLS handshake included). */
  warmUps: number[];
}

function get(agent: https.Agent, url: URL, path: string, accept: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: url.hostname, port: url.port, path, agent, headers: { accept } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

process.on('message', (message: ListCommand) => {
  void (async () => {
    const url = new URL(message.url);
    const agents = message.clients.map((c) => new https.Agent({ keepAlive: true, maxSockets: 1, ca: message.caPem, cert: c.certPem, key: c.keyPem }));
    const reply: ListReply = { type: 'listed', samples: [], errors: 0, statuses: {}, bytes: 0, warmUps: [] };
    const workers = Math.max(1, Math.min(message.concurrency, agents.length));
    const agentsOf = (w: number) => agents.filter((_, i) => i % workers === w);
    const record = (r: { status: number }) => (reply.statuses[r.status] = (reply.statuses[r.status] ?? 0) + 1);

    await Promise.all(Array.from({ length: workers }, async (_, w) => {
      for (const agent of agentsOf(w)) {
        const started = performance.now();
        try {
          record(await get(agent, url, message.path, message.accept));
          reply.warmUps.push(performance.now() - started);
        } catch {
          reply.errors++;
        }
      }
    }));

    let issued = 0;
    const deadline = performance.now() + message.maxMs;
    await Promise.all(Array.from({ length: workers }, async (_, w) => {
      const own = agentsOf(w);
      for (let turn = 0; issued < message.count && performance.now() < deadline; turn++) {
        issued++;
        const agent = own[turn % own.length] as https.Agent;
        const started = performance.now();
        try {
          const r = await get(agent, url, message.path, message.accept);
          reply.samples.push(performance.now() - started);
          record(r);
          reply.bytes += r.bytes;
        } catch {
          reply.errors++;
        }
      }
    }));
    for (const a of agents) a.destroy();
    process.send?.(reply);
    process.disconnect?.();
  })();
});
