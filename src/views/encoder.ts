// The one owner of serialized bytes that outlive a request. Every view and watcher asks here, so each
// form is built once and shared:
// - per object (objects are immutable; the forms hang off them in one WeakMap and die with them): its
//   JSON, its JSON as a built-in list item, its copy at another API version, its copy at a DELETED's
//   resourceVersion, and its watch event bytes per event type;
// - per watch event: one buffer holding the line already framed as an HTTP/1.1 chunk, written as it is
//   to every HTTP watcher's socket (websockets and HTTP/2 streams get the line inside it);
// - per view: a bounded cache of list bodies per representation, dropped when the view changes.
// Bytes built for one request or one watcher (a GET, a paged list, a Table event, a BOOKMARK, an ERROR)
// are framed here but not kept.
import { withResourceVersion, type KubeObject } from '../../streams/kube-object.ts';
import type { IncludeObject } from '../table/table.ts';
import { TtlCache } from '../basics/ttl-cache.ts';

const CRLF_BYTES = 2;

/** One watch event's bytes, built in one buffer: `chunk` is `line` framed as an HTTP/1.1 chunk. */
export class EventBytes {
  /** `<hex length>\r\n<line>\r\n`. */
  readonly chunk: Buffer;
  readonly #lineStart: number;
  #line: Buffer | undefined;

  constructor(chunk: Buffer, lineStart: number) {
    this.chunk = chunk;
    this.#lineStart = lineStart;
  }

  /**
   * `{"type":…,"object":…}\n`: what a websocket message or an unframed response carries. A view into
   * `chunk`, made on first use: most events only ever go to HTTP/1.1 sockets, and every object a
   * watch history keeps is one more for each major collection to mark.
   */
  get line(): Buffer {
    return (this.#line ??= this.chunk.subarray(this.#lineStart, this.chunk.length - CRLF_BYTES));
  }
}

/** Each field is one more object per object version; history keeps tens of thousands of versions. */
interface ObjectForms {
  json?: string;
  itemJson?: string;
  added?: EventBytes;
  modified?: EventBytes;
  deleted?: EventBytes;
  byApiVersion?: Map<string, KubeObject>;
  byDeletedAt?: Map<string, KubeObject>;
}

/**
 * `text` as one flat string. JSON.stringify builds its result as a tree of string parts (about nine heap
 * objects for an object of a few hundred bytes); reading a character makes V8 flatten it in place, and
 * the collector then drops the parts. Done for strings kept as long as an object version.
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

const formsOf = new WeakMap<KubeObject, ObjectForms>();

function forms(object: KubeObject): ObjectForms {
  let found = formsOf.get(object);
  if (!found) formsOf.set(object, (found = {}));
  return found;
}

/** The object as served at `apiVersion` (e.g. networking.k8s.io/v1beta1 IngressClass). */
export function atVersion(object: KubeObject, apiVersion: string): KubeObject {
  if (object.apiVersion === apiVersion) return object;
  const byApiVersion = (forms(object).byApiVersion ??= new Map());
  let versioned = byApiVersion.get(apiVersion);
  if (!versioned) {
    const { kind, apiVersion: _old, ...rest } = object;
    versioned = { kind, apiVersion, ...rest } as KubeObject;
    byApiVersion.set(apiVersion, versioned);
  }
  return versioned;
}

/**
 * Resource versions at which one object's DELETED copies are kept. Every view and watcher that hides the
 * object at one change asks for the same one at once; a slow watcher catching up may ask for an older one.
 */
const DELETED_COPIES_KEPT = 8;

/**
 * What a DELETED at `resourceVersion` carries when the object left a view or a watcher's selectors
 * without being deleted upstream: its last state, at the event's resourceVersion (the apiserver cacher's
 * rule). One copy per (object, resourceVersion), so its bytes are built once for every view and watcher.
 */
export function deletedAt(object: KubeObject, resourceVersion: string): KubeObject {
  if (object.metadata.resourceVersion === resourceVersion) return object;
  const byDeletedAt = (forms(object).byDeletedAt ??= new Map());
  let copy = byDeletedAt.get(resourceVersion);
  if (!copy) {
    copy = withResourceVersion(object, resourceVersion);
    byDeletedAt.set(resourceVersion, copy);
    const oldest = byDeletedAt.keys().next().value;
    if (byDeletedAt.size > DELETED_COPIES_KEPT && oldest !== undefined) byDeletedAt.delete(oldest);
  }
  return copy;
}

export function objectJson(object: KubeObject): string {
  const objectForms = forms(object);
  return (objectForms.json ??= flat(JSON.stringify(object)));
}

/** An item of a list body: custom resources keep kind/apiVersion per item, built-in list items omit them. */
export function itemJson(object: KubeObject, custom: boolean): string {
  if (custom) return objectJson(object);
  const objectForms = forms(object);
  if (objectForms.itemJson === undefined) {
    const { kind: _k, apiVersion: _a, ...rest } = object;
    objectForms.itemJson = flat(JSON.stringify(rest));
  }
  return objectForms.itemJson;
}

/** `{"type":"ADDED","object":{…}}\n` and its chunk, built once per (object, event type). */
export function sharedEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): EventBytes {
  const objectForms = forms(object);
  switch (type) {
    case 'ADDED':
      return (objectForms.added ??= eventBytes(type, objectJson(object)));
    case 'MODIFIED':
      return (objectForms.modified ??= eventBytes(type, objectJson(object)));
    case 'DELETED':
      return (objectForms.deleted ??= eventBytes(type, objectJson(object)));
  }
}

/** One event's bytes, not kept (a Table row, a BOOKMARK, an ERROR: built for one watcher). */
export function eventBytes(type: string, objectJsonText: string): EventBytes {
  const line = `{"type":"${type}","object":${objectJsonText}}\n`;
  const lineLength = Buffer.byteLength(line);
  const header = `${lineLength.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(header.length + lineLength + CRLF_BYTES);
  chunk.write(header, 0, 'latin1');
  chunk.write(line, header.length, 'utf8');
  chunk.write('\r\n', header.length + lineLength, 'latin1');
  return new EventBytes(chunk, header.length);
}

/** How a list body is represented: JSON at an API version, or a Table (of that version, with objects as asked). */
export interface ListRepresentation {
  apiVersion: string;
  table?: { includeObject: IncludeObject };
}

/** List bodies per view: JSON and Table for a couple of API versions and includeObject modes. */
export const LIST_BODIES_PER_VIEW = 8;
/** A Table's Age column is good for the second it was computed in. */
const TABLE_BODY_TTL_MS = 1_000;

/**
 * A list body with its resourceVersion left out (the body is head, the resourceVersion as a JSON string,
 * tail): the items are the view's, unchanged until the view changes, while the resourceVersion is the
 * position the list is served at, which moves with every change of every type.
 */
export interface ListParts {
  readonly head: Buffer;
  readonly tail: Buffer;
}

/** The bytes of `parts` at `resourceVersion`, as two chunks: only the smaller part is copied. */
export function listChunks(parts: ListParts, resourceVersion: string): [Buffer, Buffer] {
  const value = Buffer.from(JSON.stringify(resourceVersion));
  return parts.head.length <= parts.tail.length
    ? [Buffer.concat([parts.head, value]), parts.tail]
    : [parts.head, Buffer.concat([value, parts.tail])];
}

/** Keyed by the view (any object whose changes are reported to forgetListBodies). */
const listBodiesOf = new WeakMap<object, TtlCache<ListParts>>();

/**
 * The list body of `view` in `representation`: cached, or `render`ed and cached until the view changes.
 * Only for a full, unfiltered list (the same bytes for every caller).
 * Bounded: Table bodies are keyed by the second their Age column was computed in, so a quiet view listed
 * every few seconds would otherwise gain one entry each time.
 */
export function listBody(view: object, representation: ListRepresentation, render: () => ListParts): ListParts {
  const key = representation.table
    ? `table:${representation.apiVersion}:${representation.table.includeObject}:${Math.floor(Date.now() / 1000)}`
    : `json:${representation.apiVersion}`;
  let bodies = listBodiesOf.get(view);
  const cached = bodies?.get(key);
  if (cached) return cached;
  const body = render();
  if (!bodies) listBodiesOf.set(view, (bodies = new TtlCache<ListParts>(LIST_BODIES_PER_VIEW)));
  bodies.set(key, body, representation.table ? TABLE_BODY_TTL_MS : Number.POSITIVE_INFINITY);
  return body;
}

/** The view changed: its list bodies are stale. */
export function forgetListBodies(view: object): void {
  listBodiesOf.delete(view);
}

/** List bodies cached for `view` (for the gauge tenant_proxy_list_cache_entries). */
export function listBodiesCached(view: object): number {
  return listBodiesOf.get(view)?.size ?? 0;
}
