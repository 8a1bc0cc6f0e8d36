// A throwaway redis-server for one test file: a free port, a temp dir, no persistence, bound to
// loopback; ready once it answers PING; stopped by its pid (also when the test process exits early).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Test } from 'uvu';
import { freePort } from './free-port.ts';
import { stopProcess } from './stop-process.ts';
import { tcpRelay } from './tcp-relay.ts';

const READY_TIMEOUT_MS = 10_000;

export interface RedisServer {
  port: number;
  url: string;
  /** A new client (disconnected by stop()), to this server or through a relay listening on `viaPort`. */
  client(name?: string, viaPort?: number): Redis;
  /** Sends the server a signal: SIGSTOP freezes it (connections stay open, nothing answers), SIGCONT thaws it. */
  signal(signal: NodeJS.Signals): void;
  /** Stops the server and starts an empty one on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A file holding a new deployment key, for --shared-auth-key-file (as deploy/ gives every replica one from a Secret). */
export function deploymentKeyFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'deployment-key-')), 'key');
  writeFileSync(file, randomBytes(48).toString('base64'), { mode: 0o600 });
  return file;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await spawnRedis(port);
  const clients: Redis[] = [];
  return {
    port,
    url,
    client(name = 'test', viaPort = port) {
      const client = new Redis(`redis://127.0.0.1:${viaPort}`, { connectionName: name, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    signal(signal) {
      server.signal(signal);
    },
    async restart() {
      await server.stop();
      server = await spawnRedis(port);
    },
    async stop() {
      for (const client of clients) client.disconnect();
      await server.stop();
    },
  };
}

interface RedisProcess {
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** A redis-server on `port`, empty, answering PING. */
async function spawnRedis(port: number): Promise<RedisProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tenant-proxy-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const killOnExit = () => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGCONT');
    await stopProcess(child, 3_000);
    process.removeListener('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${output}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const answer = await probe.connect().then(() => probe.ping(), (err: Error) => err.message);
    probe.disconnect();
    if (answer === 'PONG') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms (last: ${answer}): ${output}`);
    }
    await sleep(50);
  }
  return {
    signal(signal) {
      if (child.pid && child.exitCode === null) process.kill(child.pid, signal);
    },
    stop,
  };
}

export interface FreezableRelay {
  port: number;
  /** Holds every byte in both directions (a stalled network or peer) until thaw(). */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

/** A TCP relay to 127.0.0.1:`targetPort` that a test can freeze: what a replica sees when Redis stops answering. */
export async function freezableRelay(targetPort: number): Promise<FreezableRelay> {
  let frozen = false;
  const held: (() => void)[] = [];
  const relay = await tcpRelay(
    () => targetPort,
    (from, to) =>
      void from.on('data', (data: Buffer) => {
        if (frozen) held.push(() => to.write(data));
        else to.write(data);
      }),
  );
  return {
    ...relay,
    freeze: () => void (frozen = true),
    thaw: () => {
      frozen = false;
      for (const write of held.splice(0)) write();
    },
  };
}

/** What a suite whose tests share one throwaway redis-server keeps in its context. */
export interface RedisContext {
  server?: RedisServer;
}

/**
 * Gives `test` one redis-server for the whole suite (started before, stopped after); returns how a
 * test reaches it.
 */
export function useRedisServer<T extends RedisContext>(test: Test<T>): (context: T) => RedisServer {
  test.before(async (context) => {
    context.server = await startRedis();
  });
  test.after(async (context) => {
    await context.server?.stop();
  });
  return (context) => {
    if (!context.server) throw new Error('no redis-server');
    return context.server;
  };
}
