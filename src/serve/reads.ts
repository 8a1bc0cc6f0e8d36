// LIST, GET and WATCH answered from a view, with the apiserver's wire semantics: selectors,
// resourceVersion / resourceVersionMatch, limit / continue, Table or JSON, watch resume and 410s.
import type { ServerResponse } from 'node:http';
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
import { atVersion, listBody, objectJson } from '../views/encoder.ts';
import { jsonList, tableBody } from './encoding.ts';
import type { ListSnapshots } from './snapshots.ts';
import type { WatchHub } from './watch-hub.ts';
import { Watcher } from './watcher.ts';
import type { WatchSink } from './watch-sink.ts';

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

/** `caller`: who asks (continue tokens are bound to the caller, the view and the resource version). */
export async function serveList(res: ServerResponse, target: ReadTarget, options: ListOptions, clock: EventClock, snapshots: ListSnapshots, caller: string): Promise<number> {
  const { view, type, apiVersion, printer } = target;
  const requested = await awaitPosition(options.resourceVersion, clock);
  let resourceVersion = formatPosition(view.position);
  if (options.resourceVersionMatch === 'Exact' && requested && comparePositions(requested, view.position) !== 0) {
    throw new StatusError(410, 'Expired', 'The resourceVersion for the provided list is too old.');
  }
  if (requested && comparePositions(requested, view.position) > 0) resourceVersion = formatPosition(clock.now);
  const selecting = !options.labelSelector.empty || !options.fieldSelector.empty;
  // The view by its tenants and rules, not its member namespaces: a namespace created for the tenant
  // between two pages adds a membership (its RoleBindings), and must not expire the list being read.
  const paging = options.continue !== '' || options.limit > 0;
  const binding = paging ? JSON.stringify([caller, view.scope.tenants, view.scope.rules.map((r) => r.key), apiVersion, type.resource]) : '';
  let body: Buffer;
  if (options.continue) {
    body = render(target, snapshots.next(binding, options.continue, options.limit, !selecting));
  } else {
    // The whole view at its own position is the same body for every caller: the encoder keeps it.
    const whole = !selecting && (options.limit <= 0 || view.size <= options.limit) && resourceVersion === formatPosition(view.position);
    const renderFirst = () => render(target, snapshots.first(binding, filtered(view, options), resourceVersion, options.limit, !selecting));
    body = whole ? listBody(view, { apiVersion, table: printer ? { includeObject: target.includeObject } : undefined }, renderFirst) : renderFirst();
  }
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

export async function serveGet(res: ServerResponse, target: ReadTarget, name: string, resourceVersion: string, clock: EventClock, fallback: (name: string) => KubeObject | undefined): Promise<number> {
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
  hub: WatchHub;
  clock: EventClock;
}

/**
 * Starts a watch on an already accepted stream. Failures from here on travel as ERROR events, not HTTP
 * statuses (the apiserver's rule once a watch is accepted).
 */
export async function startWatch(start: WatchStart): Promise<Watcher> {
  const { target, options, hub, clock } = start;
  const requested = await awaitPosition(options.resourceVersion, clock);
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
    requested ?? target.view.position,
    (w) => hub.remove(w),
  );
  hub.add(watcher);
  if (options.sendInitialEvents === true || requested === undefined) {
    watcher.startWithInitialEvents(options.sendInitialEvents === true && options.allowWatchBookmarks, target.view.position);
  } else {
    start.extendHistory(requested);
    watcher.startFrom(requested);
  }
  return watcher;
}
