// The wire shapes of what is built for one request or one watcher: list bodies, Tables, BOOKMARKs. What
// is shared (object JSON, list items, watch event bytes, cached list bodies) comes from views/encoder.ts.
import type { KubeObject } from '../../streams/kube-object.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { servedKindOf } from '../kinds/registry.ts';
import type { TablePrinter } from '../table/printers.ts';
import { tableFor, type IncludeObject } from '../table/table.ts';
import { eventBytes, itemJson, type EventBytes, type ListParts } from '../views/encoder.ts';

/** Types served by CRDs carry kind/apiVersion on list items; built-in list items do not. */
export function isCustomResource(type: ResourceType): boolean {
  return type.custom === true;
}

/** A list's metadata other than its resourceVersion. */
export interface ListRest {
  continue?: string;
  remainingItemCount?: number;
}

export interface ListMeta extends ListRest {
  resourceVersion: string;
}

/** A list body as text around its resourceVersion: head + the resourceVersion as a JSON string + tail. */
interface ListText {
  head: string;
  tail: string;
}

function filled(text: ListText, resourceVersion: string): Buffer {
  return Buffer.from(`${text.head}${JSON.stringify(resourceVersion)}${text.tail}`);
}

function parts(text: ListText): ListParts {
  return { head: Buffer.from(text.head), tail: Buffer.from(text.tail) };
}

// Custom resource lists are unstructured (sorted keys, "continue" always present); built-in lists are
// typed (resourceVersion, continue, remainingItemCount; empty fields omitted).
function jsonListText(type: ResourceType, apiVersion: string, items: readonly KubeObject[], rest: ListRest): ListText {
  const custom = isCustomResource(type);
  const joined = items.map((item) => itemJson(item, custom)).join(',');
  if (custom) {
    const remaining = rest.remainingItemCount !== undefined ? `,"remainingItemCount":${rest.remainingItemCount}` : '';
    return {
      head: `{"apiVersion":"${apiVersion}","items":[${joined}],"kind":"${type.kind}List","metadata":{"continue":${JSON.stringify(rest.continue ?? '')}${remaining},"resourceVersion":`,
      tail: '}}\n',
    };
  }
  const more = `${rest.continue ? `,"continue":${JSON.stringify(rest.continue)}` : ''}${rest.remainingItemCount !== undefined ? `,"remainingItemCount":${rest.remainingItemCount}` : ''}`;
  return { head: `{"kind":"${type.kind}List","apiVersion":"${apiVersion}","metadata":{"resourceVersion":`, tail: `${more}},"items":[${joined}]}\n` };
}

export function jsonList(type: ResourceType, apiVersion: string, items: readonly KubeObject[], meta: ListMeta): Buffer {
  return filled(jsonListText(type, apiVersion, items, meta), meta.resourceVersion);
}

/** A whole list (no continue) with its resourceVersion left out, to be cached. */
export function jsonListParts(type: ResourceType, apiVersion: string, items: readonly KubeObject[]): ListParts {
  return parts(jsonListText(type, apiVersion, items, {}));
}

const TABLE_RESOURCE_VERSION = '"metadata":{"resourceVersion":';

function tableText(printer: TablePrinter, items: readonly KubeObject[], rest: ListRest, includeObject: IncludeObject, nowMs: number): ListText {
  // A stand-in resourceVersion (an empty one would be omitted); only kind and apiVersion come before it.
  const listMeta: Record<string, unknown> = { resourceVersion: '0', remainingItemCount: rest.remainingItemCount };
  if (rest.continue) listMeta.continue = rest.continue;
  const text = JSON.stringify(tableFor(printer, items as unknown as Record<string, unknown>[], { includeObject, listMeta, withColumnDefinitions: true, nowMs }));
  const at = text.indexOf(TABLE_RESOURCE_VERSION) + TABLE_RESOURCE_VERSION.length;
  return { head: text.slice(0, at), tail: `${text.slice(at + '"0"'.length)}\n` };
}

export function tableBody(printer: TablePrinter, items: readonly KubeObject[], meta: ListMeta, includeObject: IncludeObject, nowMs: number): Buffer {
  return filled(tableText(printer, items, meta, includeObject, nowMs), meta.resourceVersion);
}

/** A whole Table (no continue) with its resourceVersion left out, to be cached. */
export function tableParts(printer: TablePrinter, items: readonly KubeObject[], includeObject: IncludeObject, nowMs: number): ListParts {
  return parts(tableText(printer, items, {}, includeObject, nowMs));
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
