// The apiserver's own count of open watches on a kind (apiserver_registered_watchers): how a test sees
// how many upstream watches the replicas hold.
import type { ControlPlane } from './control-plane.ts';

export async function registeredWatchers(cp: ControlPlane, kind: string): Promise<number> {
  const text = (await cp.admin.request('GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith('apiserver_registered_watchers{') && l.includes(`kind="${kind}"`));
  return Number(line?.split(' ').pop() ?? 0);
}
