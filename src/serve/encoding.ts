// Serialization of what the proxy serves, done once per object and shared by every view and watcher:
// object JSON, list item JSON (built-in lists omit kind/apiVersion per item), watch event lines, list
// bodies and Tables. Caches hang off the (immutable) objects in WeakMaps, so they die with them.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { servedKindOf } from '../kinds/registry.ts';
import type { TablePrinter } from '../table/printers.ts';
import { tableFor, type IncludeObject } from '../table/table.ts';

const objectJsonCache = new WeakMap<KubeObject, string>();
const itemJsonCache = new WeakMap<KubeObject, string>();
const eventLineCache = new WeakMap<KubeObject, Map<string, Buffer>>();
const versionedCache = new WeakMap<KubeObject, Map<string, KubeObject>>();

/** Types served by CRDs carry kind/apiVersion on list items; built-in list items do not. */
export function isCustomResource(type: ResourceType): boolean {
  return type.custom === true;
}

/** The object as served at `apiVersion` (e.g. networking.k8s.io/v1beta1 IngressClass). */
export function atVersion(object: KubeObject, apiVersion: string): KubeObject {
  if (object.apiVersion === apiVersion) return object;
  let byVersion = versionedCache.get(object);
  if (!byVersion) versionedCache.set(object, (byVersion = new Map()));
  let versioned = byVersion.get(apiVersion);
  if (!versioned) {
    const { kind, apiVersion: _old, ...rest } = object;
    versioned = { kind, apiVersion, ...rest } as KubeObject;
    byVersion.set(apiVersion, versioned);
  }
  return versioned;
}

export function objectJson(object: KubeObject): string {
  let json = objectJsonCache.get(object);
  if (json === undefined) {
    json = JSON.stringify(object);
    objectJsonCache.set(object, json);
  }
  return json;
}

function itemJson(object: KubeObject, custom: boolean): string {
  if (custom) return objectJson(object);
  let json = itemJsonCache.get(object);
  if (json === undefined) {
    const { kind: _k, apiVersion: _a, ...rest } = object;
    json = JSON.stringify(rest);
    itemJsonCache.set(object, json);
  }
  return json;
}

/** `{"type":"ADDED","object":{…}}\n`, built once per (object, type). */
export function jsonEventLine(type: string, object: KubeObject): Buffer {
  let byType = eventLineCache.get(object);
  if (!byType) eventLineCache.set(object, (byType = new Map()));
  let line = byType.get(type);
  if (!line) {
    line = Buffer.from(`{"type":"${type}","object":${objectJson(object)}}\n`);
    byType.set(type, line);
  }
  return line;
}

export interface ListMeta {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export function jsonList(type: ResourceType, apiVersion: string, items: readonly KubeObject[], meta: ListMeta): Buffer {
  const custom = isCustomResource(type);
  const parts: string[] = [];
  for (const item of items) parts.push(itemJson(item, custom));
  const header = custom
    ? `{"apiVersion":"${apiVersion}","items":[`
    : `{"kind":"${type.kind}List","apiVersion":"${apiVersion}","metadata":${JSON.stringify(listMetaInOrder(meta))},"items":[`;
  const trailer = custom ? `],"kind":"${type.kind}List","metadata":${JSON.stringify({ continue: meta.continue ?? '', ...listMetaInOrder(meta, true) })}}` : ']}';
  return Buffer.from(`${header}${parts.join(',')}${trailer}\n`);
}

// Custom resource lists are unstructured (sorted keys, "continue" always present); built-in lists are
// typed (resourceVersion, continue, remainingItemCount; empty fields omitted).
function listMetaInOrder(meta: ListMeta, custom = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (custom) {
    if (meta.remainingItemCount !== undefined) out.remainingItemCount = meta.remainingItemCount;
    out.resourceVersion = meta.resourceVersion;
    return out;
  }
  out.resourceVersion = meta.resourceVersion;
  if (meta.continue) out.continue = meta.continue;
  if (meta.remainingItemCount !== undefined) out.remainingItemCount = meta.remainingItemCount;
  return out;
}

export function tableBody(printer: TablePrinter, items: readonly KubeObject[], meta: ListMeta, includeObject: IncludeObject, nowMs: number): Buffer {
  const listMeta: Record<string, unknown> = { ...meta };
  if (!meta.continue) delete listMeta.continue;
  return Buffer.from(`${JSON.stringify(tableFor(printer, items as unknown as Record<string, unknown>[], { includeObject, listMeta, withColumnDefinitions: true, nowMs }))}\n`);
}

/** One watch event whose object is a one-row Table (column definitions only on a watch's first). */
export function tableEventLine(type: string, printer: TablePrinter, object: KubeObject, includeObject: IncludeObject, withColumnDefinitions: boolean, nowMs: number): Buffer {
  const table = tableFor(printer, [object as unknown as Record<string, unknown>], { includeObject, listMeta: { resourceVersion: object.metadata.resourceVersion ?? '' }, withColumnDefinitions, nowMs });
  return Buffer.from(`{"type":"${type}","object":${JSON.stringify(table)}}\n`);
}

/** A BOOKMARK: the requested kind with only a resourceVersion (and annotations for initial-events-end). */
export function bookmarkLine(type: ResourceType, apiVersion: string, resourceVersion: string, annotations?: Record<string, string>): Buffer {
  const metadata: Record<string, unknown> = { resourceVersion };
  if (!isCustomResource(type)) metadata.creationTimestamp = null;
  if (annotations) metadata.annotations = annotations;
  // Go structs serialize their empty spec/status; kinds without them (classes) have none.
  const empty = servedKindOf(type)?.bookmark ?? {};
  return Buffer.from(`{"type":"BOOKMARK","object":${JSON.stringify({ kind: type.kind, apiVersion, metadata, ...empty })}}\n`);
}
