// The Table columns and cells kube-apiserver 1.20.2 produces for the cluster-scoped kinds the proxy
// answers itself: ports of pkg/printers/internalversion/printers.go (always "wide": the server sends
// every column, kubectl hides priority > 0), of apiextensions-apiserver's CRD tableconvertor, and of
// apiserver's default convertor (Name, Created At) for everything else. Descriptions are the strings
// the real server sends (the Go types' field docs; RuntimeClass's Handler really is empty).
//
// Printers read the objects as the v1 JSON the apiserver serves (defaults applied) and never throw:
// a missing field prints as Go's zero value would.
import { servedKindOf, type PrinterName } from '../kinds/registry.ts';
import { ColumnPath } from './jsonpath.ts';
import { GO_ZERO_TIME_MS, parseRfc3339, translateTimestampSince } from './human-duration.ts';

export interface TableColumnDefinition { name: string; type: string; format: string; description: string; priority: number }

export interface TablePrinter {
  readonly columns: readonly TableColumnDefinition[];
  cells(object: Record<string, unknown>, nowMs: number): unknown[];
  /** The default convertor sends `"rows":null` for an empty list; every other printer sends `[]`. */
  readonly rowsNullWhenEmpty?: boolean;
}

export interface CrdPrinterColumn { name: string; type: string; format?: string; description?: string; priority?: number; jsonPath: string }

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const meta = (o: Obj): Obj => rec(o.metadata);
const name = (o: Obj): string => str(meta(o).name);
const age = (o: Obj, nowMs: number): string => translateTimestampSince(meta(o).creationTimestamp, nowMs);

const NAME_DOC = 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: http://kubernetes.io/docs/user-guide/identifiers#names';
const CREATION_DOC = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';
const ADDRESSES_DOC = 'List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/concepts/nodes/node/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See http://pr.k8s.io/79391 for an example.';

function column(name: string, type: string, description: string, priority = 0, format = ''): TableColumnDefinition {
  return { name, type, format, description, priority };
}
const NAME = column('Name', 'string', NAME_DOC, 0, 'name');
const AGE = column('Age', 'string', CREATION_DOC);

const namespaces: TablePrinter = {
  columns: [NAME, column('Status', 'string', 'The status of the namespace'), AGE],
  cells: (o, now) => [name(o), str(rec(o.status).phase), age(o, now)],
};

const nodes: TablePrinter = {
  columns: [
    NAME,
    column('Status', 'string', 'The status of the node'),
    column('Roles', 'string', 'The roles of the node'),
    AGE,
    column('Version', 'string', 'Kubelet Version reported by the node.'),
    column('Internal-IP', 'string', ADDRESSES_DOC, 1),
    column('External-IP', 'string', ADDRESSES_DOC, 1),
    column('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    column('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    column('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. docker://1.5.0).', 1),
  ],
  cells(o, now) {
    const status = rec(o.status);
    const info = rec(status.nodeInfo);
    const orUnknown = (v: unknown): string => str(v) || '<unknown>';
    const address = (type: string): string => str(list(status.addresses).map(rec).find((a) => a.type === type)?.address) || '<none>';
    return [name(o), nodeStatus(o), nodeRoles(o), age(o, now), str(info.kubeletVersion), address('InternalIP'), address('ExternalIP'), orUnknown(info.osImage), orUnknown(info.kernelVersion), orUnknown(info.containerRuntimeVersion)];
  },
};

/** "Ready" / "NotReady" from the last Ready condition, else "Unknown"; then ",SchedulingDisabled". */
function nodeStatus(o: Obj): string {
  const ready = list(rec(o.status).conditions).map(rec).filter((c) => c.type === 'Ready').at(-1);
  const status = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (rec(o.spec).unschedulable === true) status.push('SchedulingDisabled');
  return status.join(',');
}

/** node-role.kubernetes.io/<role> keys and kubernetes.io/role values, deduplicated and sorted. */
function nodeRoles(o: Obj): string {
  const roles = new Set<string>();
  for (const [key, value] of Object.entries(rec(meta(o).labels))) {
    if (key.startsWith('node-role.kubernetes.io/')) {
      const role = key.slice('node-role.kubernetes.io/'.length);
      if (role !== '') roles.add(role);
    } else if (key === 'kubernetes.io/role' && value !== '') roles.add(str(value));
  }
  return [...roles].sort(byBytes).join(',') || '<none>';
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

const persistentVolumes: TablePrinter = {
  columns: [
    NAME,
    column('Capacity', 'string', "A description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"),
    column('Access Modes', 'string', 'AccessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes'),
    column('Reclaim Policy', 'string', 'What happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming'),
    column('Status', 'string', 'Phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase'),
    column('Claim', 'string', 'ClaimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding'),
    column('StorageClass', 'string', 'StorageClass of the pv'),
    column('Reason', 'string', 'Reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.'),
    AGE,
    column('VolumeMode', 'string', 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.', 1),
  ],
  cells(o, now) {
    const spec = rec(o.spec);
    const status = rec(o.status);
    const claimRef = spec.claimRef === undefined || spec.claimRef === null ? '' : `${str(rec(spec.claimRef).namespace)}/${str(rec(spec.claimRef).name)}`;
    const modes = list(spec.accessModes);
    const accessModes = [['ReadWriteOnce', 'RWO'], ['ReadOnlyMany', 'ROX'], ['ReadWriteMany', 'RWX']].filter(([mode]) => modes.includes(mode)).map(([, short]) => short).join(',');
    const annotations = rec(meta(o).annotations);
    const storageClass = Object.hasOwn(annotations, 'volume.beta.kubernetes.io/storage-class') ? str(annotations['volume.beta.kubernetes.io/storage-class']) : str(spec.storageClassName);
    const phase = meta(o).deletionTimestamp ? 'Terminating' : str(status.phase);
    return [name(o), str(rec(spec.capacity).storage) || '0', accessModes, str(spec.persistentVolumeReclaimPolicy), phase, claimRef, storageClass, str(status.reason), age(o, now), str(spec.volumeMode) || '<unset>'];
  },
};

const storageClasses: TablePrinter = {
  columns: [
    NAME,
    column('Provisioner', 'string', 'Provisioner indicates the type of the provisioner.'),
    column('ReclaimPolicy', 'string', 'Dynamically provisioned PersistentVolumes of this storage class are created with this reclaimPolicy. Defaults to Delete.'),
    column('VolumeBindingMode', 'string', 'VolumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.'),
    column('AllowVolumeExpansion', 'string', 'AllowVolumeExpansion shows whether the storage class allow volume expand'),
    AGE,
  ],
  cells(o, now) {
    const annotations = rec(meta(o).annotations);
    const isDefault = annotations['storageclass.kubernetes.io/is-default-class'] === 'true' || annotations['storageclass.beta.kubernetes.io/is-default-class'] === 'true';
    // AllowVolumeExpansion is a boolean cell in a column of type string, as the apiserver sends it.
    return [name(o) + (isDefault ? ' (default)' : ''), str(o.provisioner), str(o.reclaimPolicy) || 'Delete', str(o.volumeBindingMode) || 'Immediate', o.allowVolumeExpansion === true, age(o, now)];
  },
};

const ingressClasses: TablePrinter = {
  columns: [NAME, column('Controller', 'string', 'Controller that is responsible for handling this class'), column('Parameters', 'string', 'A reference to a resource with additional parameters'), AGE],
  cells(o, now) {
    const spec = rec(o.spec);
    let parameters = '<none>';
    if (spec.parameters !== undefined && spec.parameters !== null) {
      const p = rec(spec.parameters);
      parameters = str(p.kind) + (typeof p.apiGroup === 'string' ? `.${p.apiGroup}` : '') + `/${str(p.name)}`;
    }
    return [name(o), str(spec.controller), parameters, age(o, now)];
  },
};

const priorityClasses: TablePrinter = {
  columns: [
    NAME,
    column('Value', 'integer', 'The value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.'),
    column('Global-Default', 'boolean', 'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.'),
    AGE,
  ],
  cells: (o, now) => [name(o), typeof o.value === 'number' ? o.value : 0, o.globalDefault === true, age(o, now)],
};

const runtimeClasses: TablePrinter = {
  columns: [NAME, column('Handler', 'string', ''), AGE],
  cells: (o, now) => [name(o), str(o.handler), age(o, now)],
};

/** apiserver's default convertor: the name and the creation time as RFC 3339 in UTC (not an age). */
const defaultPrinter: TablePrinter = {
  columns: [NAME, column('Created At', 'date', CREATION_DOC)],
  cells: (o) => [name(o), rfc3339Utc(parseRfc3339(str(meta(o).creationTimestamp)) ?? GO_ZERO_TIME_MS)],
  rowsNullWhenEmpty: true,
};

function rfc3339Utc(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * apiextensions-apiserver's tableconvertor. A CRD version without printer columns is served with one
 * column, Age (type date) on .metadata.creationTimestamp. Columns stop at the first JSONPath the
 * apiserver cannot parse (it then keeps the columns before it, as the real server does).
 */
function crdPrinter(crdColumns: readonly CrdPrinterColumn[]): TablePrinter {
  const specs = crdColumns.length > 0 ? crdColumns : [{ name: 'Age', type: 'date', description: CREATION_DOC, jsonPath: '.metadata.creationTimestamp' }];
  const columns: TableColumnDefinition[] = [NAME];
  const paths: ColumnPath[] = [];
  for (const c of specs) {
    let path: ColumnPath;
    try {
      path = new ColumnPath(c.jsonPath);
    } catch {
      break;
    }
    paths.push(path);
    columns.push(column(c.name, c.type, c.description || `Custom resource definition column (in JSONPath format): ${c.jsonPath}`, c.priority ?? 0, c.format ?? ''));
  }
  return {
    columns,
    cells: (o, now) => [name(o), ...paths.map((p, i) => p.cell(columns[i + 1]?.type ?? '', o, now))],
  };
}

/** The built-in printers the kind registry names (a custom resource's comes from its CRD). */
const BUILT_IN: Readonly<Record<Exclude<PrinterName, 'customResource'>, TablePrinter>> = {
  namespaces,
  nodes,
  persistentVolumes,
  storageClasses,
  ingressClasses,
  priorityClasses,
  runtimeClasses,
};

/**
 * The printer for a resource. `crdColumns` marks a custom resource: its version's
 * additionalPrinterColumns (`[]` when it has none: Name + Age). Without it, a served built-in kind gets
 * the 1.20 printer its registry entry names, anything else the default Name + Created At printer — which
 * is right only for resources the apiserver serves with its default convertor (clusterroles, CRDs,
 * APIServices…).
 */
export function printerFor(group: string, resource: string, crdColumns?: readonly CrdPrinterColumn[]): TablePrinter {
  if (crdColumns !== undefined) return crdPrinter(crdColumns);
  const name = servedKindOf({ group, resource })?.printer;
  return name === undefined || name === 'customResource' ? defaultPrinter : BUILT_IN[name];
}
