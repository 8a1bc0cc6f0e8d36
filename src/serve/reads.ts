// LIST, GET and WATCH answered from a view, with the apiserver's wire semantics: selectors,
// resourceVersion / resourceVersionMatch, limit / continue, Table or JSON, watch resume and 410s.
import type { KubeObject } from '../../streams/kube-object.ts';
import { comparePositions, formatPosition, parsePosition, type EventClock, type Position } from '../../streams/position.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import type { ListOptions } from '../query/list-options.ts';
import { parseResourceVersion } from '../query/list-options.ts';
import type { TablePrinter } from '../table/printers.ts';
import type { IncludeObject } from '../table/table.ts';
import { StatusError, notFound } from '../basics/status.ts';
import type { Following, ViewFollower } from '../views/followers.ts';
import type { View } from '../views/view.ts';
import { atVersion, listBody, listChunks, objectJson, type ListParts } from '../views/encoder.ts';
import { jsonList, jsonListParts, tableBody, tableParts } from './encoding.ts';
import type { ListSnapshots } from './snapshots.ts';
import type { WatchHub } from './watch-hub.ts';
import { Watcher } from './watcher.ts';
import type { WatchSink } from './watch-sink.ts';
import { writeChunk, type ClientResponse } from '../basics/client-http.ts';

/** How long a request for a resourceVersion newer than the proxy has seen waits (the apiserver: 3 s). */
const TOO_LARGE_WAIT_MS = 3_000;
const WATCH_DEFAULT_TIMEOUT_S = 1_800;

export interface ReadTarget {
  type: ResourceType;
  apiVersion: string;
  view: View;
  /** Table printer, when the client asked for a Table. */
  printer: TablePrinter | undefined;
  includeObject: IncludeObject;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache, private' };

function tooLarge(requested: string, current: Position): StatusError {
  return new StatusError(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${formatPosition(current)}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/** The position a resourceVersion stands for; waits (bounded) when the proxy has not seen it yet. */
export async function awaitPosition(resourceVersion: string, clock: EventClock): Promise<Position | undefined> {
  if (resourceVersion === '' || resourceVersion === '0') return undefined;
  const position = parsePosition(resourceVersion);
  if (!position) {
    parseResourceVersion(resourceVersion); // throws the apiserver's error
    throw new StatusError(500, '', `invalid resource version: ${resourceVersion}`);
  }
  if (!(await clock.waitFor(position, TOO_LARGE_WAIT_MS))) throw tooLarge(resourceVersion, clock.now);
  return position;
}

function filtered(view: View, options: ListOptions): readonly KubeObject[] {
  if (options.labelSelector.empty && options.fieldSelector.empty) return view.items();
  return view.items().filter((o) => options.labelSelector.matches(o.metadata.labels ?? {}) && options.fieldSelector.matches(o));
}

/**
 * Whether `view` is at `position` as it is now (no event of the view after it), extending its history
 * back to `position` where that is exact.
 */
function unchangedSince(view: View, position: Position, extendHistory: (position: Position) => boolean): boolean {
  if (comparePositions(position, view.position) >= 0) return true;
  if (!extendHistory(position)) return false;
  const since = view.log.since(position);
  return since.ok && since.events.length === 0;
}

export interface ListStart {
  target: ReadTarget;
  options: ListOptions;
  clock: EventClock;
  snapshots: ListSnapshots;
  /** Who asks: continue tokens are bound to the caller, the view and the resource version. */
  caller: string;
  /** Extends the view's history back to a resourceVersion from before it (Projections.extendHistory). */
  extendHistory: (position: Position) => boolean;
  /** Whether the proxy can serve exactly from a position (a replica: not another's local one). */
  servable: (position: Position) => boolean;
}

const TOO_OLD_FOR_LIST = 'The resourceVersion for the provided list is too old.';

/** A resourceVersion the proxy could have handed out, but cannot serve exactly from here. */
function unservable(resourceVersion: string, servable: (position: Position) => boolean): Position | undefined {
  const position = parsePosition(resourceVersion);
  return position && !servable(position) ? position : undefined;
}

/**
 * A list is the view as it is, at the position the proxy has reached (the apiserver's current revision):
 * a function of the log, so every replica that has read the same log answers the same resourceVersion,
 * whenever it created the view.
 */
export async function serveList(res: ClientResponse, start: ListStart): Promise<number> {
  const { target, options, clock, snapshots, caller } = start;
  const { view, type, apiVersion, printer } = target;
  if (unservable(options.resourceVersion, start.servable)) throw new StatusError(410, 'Expired', TOO_OLD_FOR_LIST);
  const requested = await awaitPosition(options.resourceVersion, clock);
  let position = clock.now;
  if (options.resourceVersionMatch === 'Exact' && requested) {
    if (!unchangedSince(view, requested, start.extendHistory)) throw new StatusError(410, 'Expired', TOO_OLD_FOR_LIST);
    position = requested;
  }
  const resourceVersion = formatPosition(position);
  const selecting = !options.labelSelector.empty || !options.fieldSelector.empty;
  // The view by its tenants and rules, not its member namespaces: a namespace created for the tenant
  // between two pages adds a membership (its RoleBindings), and must not expire the list being read.
  const paging = options.continue !== '' || options.limit > 0;
  const binding = paging ? JSON.stringify([caller, view.scope.tenants, view.scope.rules.map((r) => r.key), apiVersion, type.resource]) : '';
  if (!options.continue && !selecting && (options.limit <= 0 || view.size <= options.limit)) {
    // The whole view is the same body for every caller: the encoder keeps it, all but its resourceVersion.
    const representation = { apiVersion, table: printer ? { includeObject: target.includeObject } : undefined };
    const [first, second] = listChunks(listBody(view, representation, () => renderWhole(target)), resourceVersion);
    res.writeHead(200, { ...JSON_HEADERS, 'content-length': first.length + second.length });
    writeChunk(res, first);
    res.end(second);
    return 200;
  }
  const page = options.continue
    ? snapshots.next(binding, options.continue, options.limit, !selecting)
    : snapshots.first(binding, filtered(view, options), resourceVersion, options.limit, !selecting);
  const body = render(target, page);
  res.writeHead(200, { ...JSON_HEADERS, 'content-length': body.length });
  res.end(body);
  return 200;
}

function render(target: ReadTarget, page: { items: readonly KubeObject[]; resourceVersion: string; continue: string | undefined; remainingItemCount: number | undefined }): Buffer {
  const items = page.items.map((o) => atVersion(o, target.apiVersion));
  const meta = { resourceVersion: page.resourceVersion, continue: page.continue, remainingItemCount: page.remainingItemCount };
  if (target.printer) return tableBody(target.printer, items, meta, target.includeObject, Date.now());
  return jsonList(target.type, target.apiVersion, items, meta);
}

function renderWhole(target: ReadTarget): ListParts {
  const items = target.view.items().map((o) => atVersion(o, target.apiVersion));
  if (target.printer) return tableParts(target.printer, items, target.includeObject, Date.now());
  return jsonListParts(target.type, target.apiVersion, items);
}

export async function serveGet(res: ClientResponse, target: ReadTarget, name: string, resourceVersion: string, clock: EventClock, fallback: (name: string) => KubeObject | undefined): Promise<number> {
  await awaitPosition(resourceVersion, clock);
  const found = target.view.get(name) ?? fallback(name);
  if (!found) throw notFound(target.type.resource, target.type.group, name);
  const object = atVersion(found, target.apiVersion);
  const body = target.printer ? tableBody(target.printer, [object], { resourceVersion: object.metadata.resourceVersion ?? '' }, target.includeObject, Date.now()) : Buffer.from(`${objectJson(object)}\n`);
  res.writeHead(200, { ...JSON_HEADERS, 'content-length': body.length });
  res.end(body);
  return 200;
}

export interface WatchStart {
  target: ReadTarget;
  options: ListOptions;
  /** Accepts the watch (HTTP 200 / websocket open) once its resourceVersion checks out. */
  accept: () => WatchSink | Promise<WatchSink>;
  /** Makes the watcher a follower of the target's view (Projections.follow for the caller's identity). */
  follow: (follower: ViewFollower) => Following;
  /** Extends the view's history back to a resourceVersion from before it (Projections.extendHistory). */
  extendHistory: (position: Position) => boolean;
  /** Whether the proxy can serve exactly from a position (a replica: not another's local one). */
  servable: (position: Position) => boolean;
  /** Where a client resuming from a resourceVersion stands (Projections.resumePoint). */
  resumePoint: (position: Position) => Position;
  hub: WatchHub;
  clock: EventClock;
}

/**
 * Starts a watch on an already accepted stream. Failures from here on travel as ERROR events, not HTTP
 * statuses (the apiserver's rule once a watch is accepted).
 */
export async function startWatch(start: WatchStart): Promise<Watcher> {
  const { target, options, hub, clock } = start;
  const elsewhere = unservable(options.resourceVersion, start.servable);
  const asked = elsewhere ?? (await awaitPosition(options.resourceVersion, clock));
  const requested = asked && !elsewhere ? start.resumePoint(asked) : asked;
  const sink = await start.accept();
  const timeoutMs = options.timeoutSeconds !== undefined && options.timeoutSeconds > 0 ? options.timeoutSeconds * 1000 : WATCH_DEFAULT_TIMEOUT_S * 1000 * (1 + Math.random());
  const watcher = new Watcher(
    start.follow,
    sink,
    {
      type: target.type,
      apiVersion: target.apiVersion,
      printer: target.printer,
      includeObject: target.includeObject,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      bookmarks: options.allowWatchBookmarks,
      deadlineMs: Date.now() + timeoutMs,
    },
    requested ?? clock.now,
    (w) => hub.remove(w),
  );
  hub.add(watcher);
  if (options.sendInitialEvents === true || requested === undefined) {
    watcher.startWithInitialEvents(options.sendInitialEvents === true && options.allowWatchBookmarks, clock.now);
  } else if (elsewhere) {
    watcher.expire(`too old resource version: ${options.resourceVersion} (not one this replica can resume from)`);
  } else {
    start.extendHistory(requested);
    watcher.startFrom(requested);
  }
  return watcher;
}
