// Raw connections to a listener, for what well-behaved clients never send: half-open TLS, bytes
// trickled, malformed heads. Each connection records what the server wrote and when it closed.
import net from 'node:net';
import tls from 'node:tls';
import { withTimeout } from '../../src/basics/with-timeout.ts';
import type { Credentials } from './kube-http.ts';

export class RawConnection {
  readonly socket: net.Socket;
  readonly openedAt = Date.now();
  received = '';
  /** Milliseconds from opening until the server closed the connection, once it has. */
  closedAfterMs: number | undefined;
  readonly closed: Promise<void>;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.received += d.toString('latin1')));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAfterMs = Date.now() - this.openedAt;
        resolve();
      }),
    );
  }

  /** Plain TCP, no TLS at all (a half-open TLS client writes what it likes here). */
  static async tcp(port: number): Promise<RawConnection> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  /** A completed TLS handshake with these credentials, nothing sent yet. */
  static async tls(port: number, credentials: Credentials): Promise<RawConnection> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Waits for the server to close, at most `timeoutMs`; true if it did. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return (await withTimeout(this.closed.then(() => true), timeoutMs)) ?? false;
  }

  /** The status code and JSON body of the first HTTP response received. */
  response(): { status: number; headers: string; body: string } {
    const end = this.received.indexOf('\r\n\r\n');
    const head = end < 0 ? this.received : this.received.slice(0, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    return { status, headers: head, body: end < 0 ? '' : this.received.slice(end + 4) };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
