// The cluster a benchmark runs against: Capsule tenants, their namespaces, nodes and storage classes, as
// plain JSON the way the apiserver serves them (kind/apiVersion on each object; no resourceVersion —
// whoever serves them assigns revisions), plus the facts a benchmark needs to act as a tenant (the user
// to authenticate as, the tenant's namespaces, its node pool and storage classes).
//
// Deterministic: the same parameters (and seed) give the same objects, uids and timestamps, so a harness
// can rebuild the facts in its own process instead of asking the process that serves them.
//
// Shape, for tenant index i (0-based), namespace index j, node index n, class index k:
// - Tenant `t<i>` (capsule.clastix.io/v1beta2) owned by User `user-t<i>` with List grants on Nodes and
//   StorageClasses, `spec.nodeSelector: {pool: pool-<i mod P>}`, `spec.storageClasses.allowed` two
//   classes, `status.namespaces` its namespaces;
// - Namespace `t<i>-ns<j>` labelled `capsule.clastix.io/tenant=t<i>` with an ownerReference to its Tenant;
// - Node `node-<n>` labelled `pool=pool-<n mod P>`; StorageClass `sc-<k>`.
import { seededRandom } from '../test/support/seeded-random.ts';
import type { KubeObject, ObjectMeta } from '../streams/kube-object.ts';

export const TENANT_LABEL = 'capsule.clastix.io/tenant';
export const POOL_LABEL = 'pool';
/** How many node pools tenants and nodes are spread over (fewer when there are fewer nodes). */
const POOLS = 4;
/** Every object's creationTimestamp counts from here (one second per object), so Ages are stable. */
const EPOCH_MS = Date.parse('2026-01-01T00:00:00Z');

export interface DatasetParams {
  tenants: number;
  namespacesPerTenant: number;
  nodes: number;
  storageClasses: number;
  seed?: number;
}

/** What a benchmark needs to act as one tenant. */
export interface TenantFacts {
  tenant: string;
  /** The owner (a User) to authenticate as. */
  user: string;
  namespaces: readonly string[];
  /** The value of the tenant's `spec.nodeSelector.pool`. */
  pool: string;
  /** `spec.storageClasses.allowed`. */
  storageClasses: readonly string[];
}

export interface Dataset {
  readonly params: Readonly<Required<DatasetParams>>;
  readonly tenants: readonly KubeObject[];
  readonly namespaces: readonly KubeObject[];
  readonly nodes: readonly KubeObject[];
  readonly storageClasses: readonly KubeObject[];
  /** One entry per tenant, in tenant order. */
  readonly facts: readonly TenantFacts[];
  /** user → tenant it owns. */
  readonly tenantOfUser: ReadonlyMap<string, string>;
  /** tenant → its facts. */
  readonly factsOf: ReadonlyMap<string, TenantFacts>;
}

export const tenantName = (i: number): string => `t${i}`;
export const ownerName = (i: number): string => `user-t${i}`;
export const namespaceName = (i: number, j: number): string => `t${i}-ns${j}`;

export { seededRandom };

function uidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function makeDataset(input: DatasetParams): Dataset {
  const params = { seed: 1, ...input };
  for (const [name, value] of Object.entries(params)) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`makeDataset: ${name} must be a non-negative integer, got ${value}`);
  }
  const random = seededRandom(params.seed);
  let created = 0;
  const timestamp = () => new Date(EPOCH_MS + 1000 * created++).toISOString().replace('.000Z', 'Z');
  const pools = Array.from({ length: Math.max(1, Math.min(POOLS, params.nodes)) }, (_, p) => `pool-${String.fromCharCode(97 + p)}`);
  const classNames = Array.from({ length: params.storageClasses }, (_, k) => `sc-${k}`);

  const storageClasses = classNames.map((name, k): KubeObject => ({
    kind: 'StorageClass',
    apiVersion: 'storage.k8s.io/v1',
    metadata: { name, uid: uidFrom(random), creationTimestamp: timestamp(), labels: { tier: k % 2 === 0 ? 'standard' : 'fast' } },
    provisioner: 'bench.tenant-proxy/replay',
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  }));

  const nodes = Array.from({ length: params.nodes }, (_, n): KubeObject => {
    const name = `node-${n}`;
    const pool = pools[n % pools.length] ?? 'pool-a';
    return {
      kind: 'Node',
      apiVersion: 'v1',
      metadata: {
        name,
        uid: uidFrom(random),
        creationTimestamp: timestamp(),
        labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', [POOL_LABEL]: pool },
      },
      spec: { podCIDR: `10.${(n >> 8) & 255}.${n & 255}.0/24`, podCIDRs: [`10.${(n >> 8) & 255}.${n & 255}.0/24`] },
      status: {
        capacity: { cpu: '8', memory: '32779304Ki', pods: '110' },
        allocatable: { cpu: '8', memory: '32676904Ki', pods: '110' },
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
        addresses: [{ type: 'InternalIP', address: `192.168.${(n >> 8) & 255}.${n & 255}` }, { type: 'Hostname', address: name }],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: { machineID: '', systemUUID: '', bootID: '', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', containerRuntimeVersion: 'containerd://1.6.20', kubeletVersion: 'v1.20.2', kubeProxyVersion: 'v1.20.2', operatingSystem: 'linux', architecture: 'amd64' },
      },
    };
  });

  const tenants: KubeObject[] = [];
  const namespaces: KubeObject[] = [];
  const facts: TenantFacts[] = [];
  for (let i = 0; i < params.tenants; i++) {
    const tenant = tenantName(i);
    const user = ownerName(i);
    const pool = pools[i % pools.length] ?? 'pool-a';
    const allowed = classNames.length === 0 ? [] : [...new Set([classNames[i % classNames.length] ?? '', classNames[(i + 1) % classNames.length] ?? ''])];
    const names = Array.from({ length: params.namespacesPerTenant }, (_, j) => namespaceName(i, j));
    const tenantUid = uidFrom(random);
    // Custom resources are unstructured on the wire: keys sorted, as the apiserver writes them.
    tenants.push({
      apiVersion: 'capsule.clastix.io/v1beta2',
      kind: 'Tenant',
      metadata: { creationTimestamp: timestamp(), generation: 1, labels: { 'kubernetes.io/metadata.name': tenant }, name: tenant, uid: tenantUid },
      spec: {
        nodeSelector: { [POOL_LABEL]: pool },
        owners: [{ kind: 'User', name: user, proxySettings: [{ kind: 'Nodes', operations: ['List'] }, { kind: 'StorageClasses', operations: ['List'] }] }],
        storageClasses: { allowed },
      },
      status: { namespaces: [...names].sort(), size: names.length, state: 'Active' },
    });
    for (const name of names) {
      namespaces.push({
        kind: 'Namespace',
        apiVersion: 'v1',
        metadata: {
          name,
          uid: uidFrom(random),
          creationTimestamp: timestamp(),
          labels: { [TENANT_LABEL]: tenant, 'kubernetes.io/metadata.name': name },
          ownerReferences: [{ apiVersion: 'capsule.clastix.io/v1beta2', kind: 'Tenant', name: tenant, uid: tenantUid, controller: true, blockOwnerDeletion: true } as NonNullable<ObjectMeta['ownerReferences']>[number]],
        },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      });
    }
    facts.push({ tenant, user, namespaces: names, pool, storageClasses: allowed });
  }
  return {
    params,
    tenants,
    namespaces,
    nodes,
    storageClasses,
    facts,
    tenantOfUser: new Map(facts.map((f) => [f.user, f.tenant])),
    factsOf: new Map(facts.map((f) => [f.tenant, f])),
  };
}
