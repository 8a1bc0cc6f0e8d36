import { sharedControlPlane } from './support/shared.ts';
import { startProxy } from './support/proxy.ts';
import { kubectl } from './support/kubectl.ts';
import path from 'node:path';
const cp = await sharedControlPlane();
const p = await startProxy(cp, { captureLogs: true });
await new Promise((r) => setTimeout(r, 2000));
const kc = p.kubeconfig(path.join('/tmp', 'bob-dbg.kubeconfig'), cp.tokenCredentials('bob'), 'bob');
for (const args of [['get', 'nodes'], ['cordon', 'node-gas-1'], ['uncordon', 'node-gas-1'], ['label', 'node', 'node-gas-1', 'x=y', '--overwrite'], ['label', 'node', 'node-gas-1', 'pool=oil', '--overwrite'], ['taint', 'node', 'node-gas-1', 'k=v:NoSchedule'], ['patch', 'node', 'node-gas-1', '-p', '{"spec":{"podCIDR":"10.1.0.0/24"}}'], ['label', 'node', 'node-gas-1', 'z=dry', '--dry-run=server']]) {
  const r = await kubectl(kc, args);
  console.log('$ kubectl', args.join(' '), '→', r.code, r.stdout.trim(), r.stderr.trim());
}
await p.stop();
process.exit(0);
