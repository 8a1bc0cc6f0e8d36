// The wire shapes of what is built for one request or one watcher: list bodies, Tables, BOOKMARKs. What
// is shared (object JSON, list items, watch event bytes, cached list bodies) comes from views/encoder.ts.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { servedKindOf } from '../kinds/registry.ts';
import type { TablePrinter } from '../table/printers.ts';
import { tableFor, type IncludeObject } from '../table/table.ts';
import { eventBytes, itemJson, type EventBytes } from '../views/encoder.ts';

/** Types served by CRDs carry kind/apiVersion on list items; built-in list items do not. */
export function isCustomResource(type: ResourceType): boolean {
  return type.custom === true;
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
export function tableEvent(type: string, printer: TablePrinter, object: KubeObject, includeObject: IncludeObject, withColumnDefinitions: boolean, nowMs: number): EventBytes {
  const table = tableFor(printer, [object as unknown as Record<string, unknown>], { includeObject, listMeta: { resourceVersion: object.metadata.resourceVersion ?? '' }, withColumnDefinitions, nowMs });
  return eventBytes(type, JSON.stringify(table));
}

/** A BOOKMARK: the requested kind with only a resourceVersion (and annotations for initial-events-end). */
export function bookmarkEvent(type: ResourceType, apiVersion: string, resourceVersion: string, annotations?: Record<string, string>): EventBytes {
  const metadata: Record<string, unknown> = { resourceVersion };
  if (!isCustomResource(type)) metadata.creationTimestamp = null;
  if (annotations) metadata.annotations = annotations;
  // Go structs serialize their empty spec/status; kinds without them (classes) have none.
  const empty = servedKindOf(type)?.bookmark ?? {};
  return eventBytes('BOOKMARK', JSON.stringify({ kind: type.kind, apiVersion, metadata, ...empty }));
}
