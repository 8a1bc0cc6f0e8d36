// The plumbing of the tests' TCP relays: a loopback listener whose connections are each paired with a
// connection to a target, the two closing together.
import net from 'node:net';

export interface TcpRelay {
  port: number;
  /** Closes every relayed connection and the listener. */
  close(): Promise<void>;
}

/**
 * Relays each accepted connection to 127.0.0.1:`target()`; `pipe` moves the bytes of one direction
 * (plain piping unless the relay holds or drops them).
 */
export async function tcpRelay(target: () => number, pipe: (from: net.Socket, to: net.Socket) => void = (from, to) => void from.pipe(to)): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target(), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve(address.port);
      else reject(new Error('relay has no port'));
    });
  });
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
