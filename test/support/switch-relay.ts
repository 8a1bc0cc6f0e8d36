// A TCP relay on 127.0.0.1 whose target can be switched: what a client behind a load balancer sees when
// the replica it used goes away and its next connection lands on another (TLS passes through untouched).
import { tcpRelay, type TcpRelay } from './tcp-relay.ts';

export interface SwitchRelay extends TcpRelay {
  /** New connections go to `targetPort` from now on (open ones stay where they are). */
  switchTo(targetPort: number): void;
}

export async function switchRelay(targetPort: number): Promise<SwitchRelay> {
  let target = targetPort;
  const relay = await tcpRelay(() => target);
  return { ...relay, switchTo: (next) => void (target = next) };
}
