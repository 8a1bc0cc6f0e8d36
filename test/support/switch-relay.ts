// A TCP relay on 127.0.0.1 whose target can be switched: what a client behind a load balancer sees when
// the replica it used goes away and its next connection lands on another (TLS passes through untouched).
import net from 'node:net';

export interface SwitchRelay {
  port: number;
  /** New connections go to `targetPort` from now on (open ones stay where they are). */
  switchTo(targetPort: number): void;
  close(): Promise<void>;
}

export async function switchRelay(targetPort: number): Promise<SwitchRelay> {
  let target = targetPort;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
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
    switchTo: (next) => void (target = next),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
