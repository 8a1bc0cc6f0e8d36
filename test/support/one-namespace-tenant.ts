// A tenant with one owner and one namespace, served by a proxy of its own: where the watch tests that
// change a single namespace many times start from.
import type { ControlPlane } from './control-plane.ts';
import { eventually } from './eventually.ts';
import { createTenant, deleteTenant } from './fixtures.ts';
import type { KubeHttp } from './kube-http.ts';
import { remove, type KubeObject } from './manifests.ts';
import { startProxy, type RunningProxy } from './proxy.ts';

export const NAMESPACES_PATH = '/api/v1/namespaces';

export interface OneNamespaceTenant {
  proxy: RunningProxy;
  /** The owner's client for the proxy. */
  owner: KubeHttp;
  namespace: KubeObject;
  /** The resourceVersion of the owner's namespace list, which must hold exactly the one namespace. */
  listRv(): Promise<string>;
  /** Stops the proxy and deletes the namespace and the tenant. */
  remove(): Promise<void>;
}

export async function oneNamespaceTenant(cp: ControlPlane, prefix: string, proxyFlags: string[] = []): Promise<OneNamespaceTenant> {
  const suffix = Math.random().toString(36).slice(2, 7).padEnd(5, 'x');
  const name = `${prefix}-${suffix}`;
  const ownerName = `${prefix}-owner-${suffix}`;
  const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${name}-a` } };
  const proxy = await startProxy(cp, proxyFlags);
  await createTenant(cp.admin, { name, owners: [{ kind: 'User', name: ownerName }], namespaces: [namespace.metadata.name] });
  const owner = proxy.client(await cp.clientCertificate(ownerName));
  const listRv = async () => {
    const list = await owner.json<{ metadata: { resourceVersion: string }; items: KubeObject[] }>('GET', NAMESPACES_PATH);
    if (list.items.length !== 1) throw new Error(`expected the tenant's one namespace, got ${list.items.length}`);
    return list.metadata.resourceVersion;
  };
  await eventually(listRv, () => true, 'the tenant namespace through the proxy');
  return {
    proxy,
    owner,
    namespace,
    listRv,
    remove: async () => {
      await proxy.stop();
      await remove(cp.admin, namespace).catch(() => {});
      await deleteTenant(cp.admin, name).catch(() => {});
    },
  };
}
