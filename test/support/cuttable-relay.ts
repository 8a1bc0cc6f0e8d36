// A TCP relay to 127.0.0.1:`targetPort` that a test can cut: every relayed connection is closed and new
// ones are closed at once until restore() — a network partition between a replica and its upstream —
// and point elsewhere (new connections only).
import type net from 'node:net';
import { tcpRelay, type TcpRelay } from './tcp-relay.ts';

export interface CuttableRelay extends TcpRelay {
  cut(): void;
  restore(): void;
  /** New connections go to `port` from now on. */
  retarget(port: number): void;
}

export async function cuttableRelay(targetPort: number): Promise<CuttableRelay> {
  let cut = false;
  let target = targetPort;
  const open = new Set<net.Socket>();
  const relay = await tcpRelay(
    () => target,
    (from, to) => {
      if (cut) {
        from.destroy();
        return;
      }
      open.add(from);
      from.once('close', () => open.delete(from));
      from.pipe(to);
    },
  );
  return {
    ...relay,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
    retarget(port) {
      target = port;
    },
  };
}
