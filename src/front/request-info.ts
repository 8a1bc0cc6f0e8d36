// Parses a request path the way the apiserver's RequestInfoFactory does: API group and version,
// namespace, resource, subresource, name and the Kubernetes verb (get, list, watch, create, …).
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, v1.20.2.)
//
// The path is read as Go's net/http hands it to the apiserver: percent-decoded as a whole, then split on
// "/", with no dot-segment resolution (the apiserver does not clean paths). `canonical` says whether the
// path, up to the subresource, is exactly the one rebuilt from its parts: requests the proxy serves or
// performs with its own credentials must be, so that what it checks is what it acts on.
import { parseFieldTerms } from '../query/field-selector.ts';
import { parseInt64 } from '../query/go-strconv.ts';
import { parseLabelSelector } from '../query/label-selector.ts';
import { parseRawQuery } from '../query/list-options.ts';

export interface RequestInfo {
  isResourceRequest: boolean;
  /** The decoded path (as Go's URL.Path). */
  path: string;
  /** Kubernetes verb for resource requests; the lowercase HTTP method otherwise. */
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  query: URLSearchParams;
  /** "watch" or "proxy" when the verb came from a path prefix (`/api/v1/watch/…`). */
  pathVerb: '' | 'watch' | 'proxy';
  /**
   * The raw path, up to and including the subresource, is made of plain segments (no empty, "." or ".."
   * segment, no percent escape, "\", "#" or ";") and nothing follows them unless there is a subresource
   * (`…/nodes/x/proxy/<anything>`): rebuilding it from the parts gives the same bytes.
   */
  canonical: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
const PLAIN_SEGMENT = /^[A-Za-z0-9_:~-][A-Za-z0-9._:~-]*$/;

/**
 * `watch` is on for any present value but "0" and "false" (Go's strings.EqualFold, so also "falſe"), as
 * the apiserver reads a bool parameter (runtime.Convert_Slice_string_To_bool).
 */
export function isWatchParam(value: string | null): boolean {
  if (value === null) return false;
  return !(value === '0' || /^[fF][aA][lL][sSſ][eE]$/u.test(value));
}

export function parseRequestInfo(method: string, url: string): RequestInfo {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const path = decodePath(rawPath);
  const query = parseRawQuery(q < 0 ? '' : url.slice(q + 1));
  const info: RequestInfo = { isResourceRequest: false, path: path ?? rawPath, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', query, pathVerb: '', canonical: false };
  // Go's server refuses a path with a malformed escape before any handler sees it.
  if (path === undefined) return info;
  let parts = path.replace(/^\/+|\/+$/g, '').split('/');
  let consumed = 0;
  // /api/v1 and /apis/apps/v1 (discovery) are non-resource requests: a resource needs one more segment.
  if (parts[0] === 'api') {
    if (parts.length < 3) return info;
    info.apiVersion = parts[1] ?? '';
    parts = parts.slice(2);
    consumed = 2;
  } else if (parts[0] === 'apis') {
    if (parts.length < 4) return info;
    info.apiGroup = parts[1] ?? '';
    info.apiVersion = parts[2] ?? '';
    parts = parts.slice(3);
    consumed = 3;
  } else {
    return info;
  }
  info.isResourceRequest = true;
  // The /watch/ and /proxy/ prefixes give the verb whatever the method; an unknown method has none.
  if (SPECIAL_VERBS.has(parts[0] ?? '') && parts.length > 1) {
    info.verb = parts[0] ?? '';
    info.pathVerb = info.verb as 'watch' | 'proxy';
    parts = parts.slice(1);
    consumed += 1;
  } else {
    info.verb = METHOD_VERBS[method.toUpperCase()] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1] ?? '';
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) {
        parts = parts.slice(2);
        consumed += 2;
      }
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2] ?? '';
  if (parts.length >= 2) info.name = parts[1] ?? '';
  if (parts.length >= 1) info.resource = parts[0] ?? '';
  consumed += Math.min(parts.length, info.verb === 'proxy' ? 2 : 3);
  info.canonical = isCanonical(rawPath, consumed, info.subresource !== '') && resourcePath(info) === rawPath.split('/').slice(0, consumed + 1).join('/');
  if (!info.name && info.verb === 'get') {
    const options = decodeListOptions(query);
    if (options) {
      info.verb = options.watch ? 'watch' : 'list';
      // A list or watch pinned to one name (`kubectl get ns x -w`) is about that name.
      if (options.exactName !== undefined && isValidPathSegmentName(options.exactName)) info.name = options.exactName;
    } else {
      // As the apiserver: parameters it cannot decode leave the name unset and read watch loosely.
      const watch = query.get('watch');
      info.verb = watch !== null && watch !== '0' && watch.toLowerCase() !== 'false' ? 'watch' : 'list';
    }
  }
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/** The path of a resource request rebuilt from its parts (no query): what the proxy sends upstream itself. */
export function resourcePath(info: RequestInfo): string {
  const segments = info.apiGroup ? ['apis', info.apiGroup, info.apiVersion] : ['api', info.apiVersion];
  if (info.pathVerb) segments.push(info.pathVerb);
  if (info.namespace && !(info.resource === 'namespaces' && info.name === info.namespace)) segments.push('namespaces', info.namespace);
  segments.push(info.resource);
  if (info.name) segments.push(info.name);
  if (info.subresource) segments.push(info.subresource);
  return `/${segments.join('/')}`;
}

/** The first `count` raw segments are plain, and nothing follows them but a subresource's own path. */
function isCanonical(rawPath: string, count: number, hasSubresource: boolean): boolean {
  if (!rawPath.startsWith('/')) return false;
  const raw = rawPath.slice(1).split('/');
  if (raw.length < count || (raw.length > count && !hasSubresource)) return false;
  for (let i = 0; i < count; i++) {
    const segment = raw[i] ?? '';
    if (!PLAIN_SEGMENT.test(segment)) return false;
  }
  return true;
}

/** Go's url.PathUnescape: every escape decoded (including %2F), undefined for a malformed one. */
function decodePath(raw: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return undefined;
  if (!raw.includes('%')) return raw;
  const chunks = raw.split(/((?:%[0-9A-Fa-f]{2})+)/);
  return Buffer.concat(chunks.map((chunk, i) => (i % 2 === 1 ? Buffer.from(chunk.replace(/%/g, ''), 'hex') : Buffer.from(chunk, 'utf8')))).toString('utf8');
}

/**
 * The part of metainternalversion.ListOptions the verb and name depend on, or undefined where the
 * apiserver's ParameterCodec.DecodeParameters fails (a selector it cannot parse, a non-integer limit or
 * timeoutSeconds).
 */
function decodeListOptions(query: URLSearchParams): { watch: boolean; exactName: string | undefined } | undefined {
  try {
    for (const name of ['limit', 'timeoutSeconds']) {
      const value = query.get(name);
      if (value !== null) parseInt64(value);
    }
    parseLabelSelector(query.get('labelSelector') ?? '');
    const terms = parseFieldTerms(query.get('fieldSelector') ?? '');
    const exactName = terms.find((t) => t.field === 'metadata.name' && t.operator === '=')?.value;
    return { watch: isWatchParam(query.get('watch')), exactName };
  } catch {
    return undefined;
  }
}

/** path.IsValidPathSegmentName: not "." or "..", no "/" or "%". */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}
