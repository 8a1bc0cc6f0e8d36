// What the tenant-kinds tests share: builders for the cluster-scoped objects a tenant may be granted
// (nodes, storage / ingress / priority / runtime / gateway classes, persistent volumes), a tracker that
// removes everything a test file created (they are cluster-scoped: the control plane is shared), bounded
// retrying of assertions until the proxy's informers reflect a change, and kubectl helpers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from './control-plane.ts';
import type { Credentials } from './kube-http.ts';
import { kubectl, type KubectlResult } from './kubectl.ts';
import { apply, objectPath, remove, type KubeObject } from './manifests.ts';
import type { RunningProxy } from './proxy.ts';

/** How long the proxy may take to reflect an upstream change (informer → view). */
export const REFLECT_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 100;

/** Retries `probe` — assertions that throw until they hold — every 100 ms, at most `timeoutMs`. */
export async function eventuallyPasses<T>(what: string, probe: () => Promise<T>, timeoutMs = REFLECT_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (Date.now() >= deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`${what}: not within ${timeoutMs} ms: ${reason}`);
      }
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Digits only: suffixed names then never match the tests' regexes (`\w+fs`, `\w+-lb`) by accident. */
export function digitSuffix(): string {
  return String(Math.floor(100_000 + Math.random() * 900_000));
}

type Labels = Record<string, string>;
const meta = (name: string, labels: Labels = {}) => ({ name, labels });

export const node = (name: string, labels?: Labels): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: meta(name, labels) });
export const storageClass = (name: string, labels?: Labels): KubeObject => ({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: meta(name, labels), provisioner: 'example.com/disks' });
export const ingressClass = (name: string, labels?: Labels): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: meta(name, labels), spec: { controller: 'example.com/ingress' } });
export const priorityClass = (name: string, labels?: Labels, value = 1000): KubeObject => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: meta(name, labels), value, description: `test class ${name}` });
export const runtimeClass = (name: string, labels?: Labels): KubeObject => ({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: meta(name, labels), handler: 'runc' });
export const gatewayClass = (name: string, labels?: Labels): KubeObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: meta(name, labels), spec: { controllerName: 'example.com/gateway', description: `gateway ${name}` } });

/** The claim `data` in `namespace` that `persistentVolume(…, { claimNamespace })` is bound to. */
export function volumeClaim(namespace: string): KubeObject {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
}

/**
 * A hostPath volume, labelled and/or pre-bound (`spec.claimRef`) to the claim `data` in `claimNamespace`
 * (a tenant sees it through the claim only while that claim exists: apply `volumeClaim` too).
 */
export function persistentVolume(name: string, options: { labels?: Labels; claimNamespace?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: meta(name, options.labels),
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      hostPath: { path: `/tmp/${name}` },
      ...(options.claimNamespace ? { claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: options.claimNamespace, name: 'data' } } : {}),
    },
  };
}

/** Applies objects as admin and removes them all (newest first) at the end of the file. */
export class Tracker {
  readonly #cp: ControlPlane;
  readonly #created = new Map<string, KubeObject>();

  constructor(cp: ControlPlane) {
    this.#cp = cp;
  }

  async apply(...objects: KubeObject[]): Promise<void> {
    for (const obj of objects) {
      await apply(this.#cp.admin, obj);
      this.track(obj);
    }
  }

  /** Records an object created some other way (fixtures, kubectl). */
  track(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): void {
    const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    this.#created.delete(key);
    this.#created.set(key, { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}) } });
  }

  async #dropFinalizers(obj: KubeObject): Promise<void> {
    const r = await this.#cp.admin.request('PATCH', objectPath(obj), { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    if (r.status !== 200 && r.status !== 404) throw new Error(`drop finalizers of ${obj.kind} ${obj.metadata.name} → ${r.status}: ${r.body}`);
  }

  async removeAll(): Promise<void> {
    const errors: string[] = [];
    for (const obj of [...this.#created.values()].reverse()) {
      try {
        await remove(this.#cp.admin, obj);
        // The pv- and pvc-protection finalizers are removed by controllers this control plane does not run.
        if (obj.kind === 'PersistentVolume' || obj.kind === 'PersistentVolumeClaim') await this.#dropFinalizers(obj);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    this.#created.clear();
    if (errors.length > 0) throw new Error(`cleanup failed:\n${errors.join('\n')}`);
  }
}

/** The namespaces and RoleBindings createTenant makes, and the Tenant, for the tracker. */
export function trackTenant(tracker: Tracker, name: string, namespaces: readonly string[]): void {
  for (const ns of namespaces) tracker.track({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  tracker.track({ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', metadata: { name } });
}

/** Kubeconfigs for identities, directly against the apiserver and through the proxy. */
export class Identities {
  readonly #cp: ControlPlane;
  readonly #proxy: RunningProxy;
  readonly #dir = mkdtempSync(path.join(tmpdir(), 'tenant-kinds-'));
  #n = 0;

  constructor(cp: ControlPlane, proxy: RunningProxy) {
    this.#cp = cp;
    this.#proxy = proxy;
  }

  /** A kubeconfig through the proxy with a client certificate: CN = user, O = groups. */
  async user(name: string, groups: readonly string[] = []): Promise<Identity> {
    return this.#make(name, await this.#cp.clientCertificate(name, groups));
  }

  /** A service account's token (the account is created when missing). */
  async serviceAccount(namespace: string, name: string): Promise<Identity> {
    return this.#make(`system:serviceaccount:${namespace}:${name}`, { caPem: this.#cp.caPem, token: await this.#cp.serviceAccountToken(namespace, name) });
  }

  admin(): Identity {
    return this.#make('admin', this.#cp.adminCredentials());
  }

  #make(name: string, credentials: Credentials): Identity {
    const file = `${this.#n++}-${name.replace(/[^a-z0-9-]/gi, '_')}`;
    return {
      name,
      credentials,
      viaProxy: this.#proxy.kubeconfig(path.join(this.#dir, `${file}.proxy`), credentials, 'user'),
      direct: this.#cp.writeKubeconfig(path.join(this.#dir, `${file}.direct`), credentials, 'user'),
    };
  }
}

export interface Identity {
  /** The user name the apiserver knows it by. */
  name: string;
  credentials: Credentials;
  viaProxy: string;
  direct: string;
}

/** `kubectl get <resource> -o name` → the objects' names, sorted; fails on a non-zero exit. */
export async function listedNames(kubeconfig: string, resource: string): Promise<string[]> {
  const r = await kubectl(kubeconfig, ['get', resource, '-o', 'name']);
  if (r.code !== 0) throw new Error(`kubectl get ${resource}: exit ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.slice(l.indexOf('/') + 1))
    .sort();
}

/** Ages tick between two runs; everything else must match byte for byte. */
/** Ages tick between two runs, and a wider age column shifts the padding: normalise both. */
export function withoutAges(r: KubectlResult): KubectlResult {
  const age = /\b\d+(s|m|h|d)(\d+(s|m))?\b/g;
  const normalise = (text: string) => text.replace(age, '<age>').replace(/ {2,}/g, '  ').replace(/ +\n/g, '\n');
  return { code: r.code, stdout: normalise(r.stdout), stderr: normalise(r.stderr) };
}

export async function waitReady(proxy: RunningProxy): Promise<void> {
  await eventuallyPasses('the proxy is ready', async () => {
    if (!proxy.proxy.ready) throw new Error('not ready');
  }, 30_000);
}

