// Builds the meta.k8s.io/v1 Table kube-apiserver 1.20 answers to `Accept: application/json;as=Table;…`
// (apiserver's endpoints/handlers/response.go asTable), with the key order of its JSON. Owns the
// envelope, the rows' `object` per includeObject, and the ObjectMeta field order; the cells come from a
// TablePrinter. Pure: the caller supplies the clock, the list metadata and objects as the apiserver
// serves them (with kind and apiVersion, as a GET or a watch event has them — list items lack them).
//
// - `metadata`: the list's ListMeta; for a single object or a watch event, `{resourceVersion}` of it.
// - `columnDefinitions`: null when the client asked for no headers — what a watch sends after its first
//   event.
// - `rows[].object`: `Metadata` (the default) a PartialObjectMetadata; `Object` the object itself;
//   `None` null (the key stays: Go's RawExtension marshals an empty value as null).
import type { TablePrinter } from './printers.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  includeObject: IncludeObject;
  listMeta: Record<string, unknown>;
  withColumnDefinitions: boolean;
  nowMs: number;
}

export function tableFor(printer: TablePrinter, objects: readonly Record<string, unknown>[], options: TableOptions): Record<string, unknown> {
  const rows = objects.map((object) => ({ cells: printer.cells(object, options.nowMs), object: rowObject(object, options.includeObject) }));
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: inGoOrder(options.listMeta, LIST_META),
    columnDefinitions: options.withColumnDefinitions ? printer.columns.map((c) => ({ name: c.name, type: c.type, format: c.format, description: c.description, priority: c.priority })) : null,
    rows: rows.length === 0 && printer.rowsNullWhenEmpty === true ? null : rows,
  };
}

function rowObject(object: Record<string, unknown>, includeObject: IncludeObject): unknown {
  switch (includeObject) {
    case 'None':
      return null;
    case 'Object':
      return object;
    case 'Metadata':
      return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: objectMeta(object.metadata) };
  }
}

// Field order and emptiness rules of the Go structs (encoding/json, omitempty): a custom resource's
// metadata arrives with sorted keys (it is a map), and PartialObjectMetadata re-encodes it as ObjectMeta.
type Field = readonly [name: string, rule: 'omitempty' | 'always' | 'struct'];
const LIST_META: readonly Field[] = [['selfLink', 'omitempty'], ['resourceVersion', 'omitempty'], ['continue', 'omitempty'], ['remainingItemCount', 'always']];
const OBJECT_META: readonly Field[] = [
  ['name', 'omitempty'], ['generateName', 'omitempty'], ['namespace', 'omitempty'], ['selfLink', 'omitempty'], ['uid', 'omitempty'],
  ['resourceVersion', 'omitempty'], ['generation', 'omitempty'], ['creationTimestamp', 'struct'], ['deletionTimestamp', 'omitempty'],
  ['deletionGracePeriodSeconds', 'always'], ['labels', 'omitempty'], ['annotations', 'omitempty'], ['ownerReferences', 'omitempty'],
  ['finalizers', 'omitempty'], ['clusterName', 'omitempty'], ['managedFields', 'omitempty'],
];
const OWNER_REFERENCE: readonly Field[] = [['apiVersion', 'struct'], ['kind', 'struct'], ['name', 'struct'], ['uid', 'struct'], ['controller', 'always'], ['blockOwnerDeletion', 'always']];
const MANAGED_FIELDS_ENTRY: readonly Field[] = [['manager', 'omitempty'], ['operation', 'omitempty'], ['apiVersion', 'omitempty'], ['time', 'always'], ['fieldsType', 'omitempty'], ['fieldsV1', 'always']];

/**
 * Picks the struct's fields in order. `omitempty` drops "", 0, false, null, [] and {}; `always` drops
 * only an absent or null value (a nil pointer with omitempty); `struct` is always present, as Go's zero
 * value ("" for strings, null for a metav1.Time) when absent.
 */
function inGoOrder(value: unknown, fields: readonly Field[]): Record<string, unknown> {
  const source = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [name, rule] of fields) {
    const v = source[name];
    if (rule === 'struct') out[name] = v ?? (name === 'creationTimestamp' ? null : '');
    else if (v !== undefined && v !== null && (rule === 'always' || !isEmpty(v))) out[name] = v;
  }
  return out;
}

function isEmpty(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length === 0;
  return v === '' || v === 0 || v === false;
}

function objectMeta(metadata: unknown): Record<string, unknown> {
  const out = inGoOrder(metadata, OBJECT_META);
  if (Array.isArray(out.ownerReferences)) out.ownerReferences = out.ownerReferences.map((r) => inGoOrder(r, OWNER_REFERENCE));
  if (Array.isArray(out.managedFields)) out.managedFields = out.managedFields.map((e) => inGoOrder(e, MANAGED_FIELDS_ENTRY));
  return out;
}
