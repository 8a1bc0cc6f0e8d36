// Parses a request path the way the apiserver's RequestInfoFactory does: API group and version,
// namespace, resource, subresource, name and the Kubernetes verb (get, list, watch, create, …).
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, v1.20.2.)
import { parseFieldTerms } from './query/field-selector.ts';
import { parseInt64 } from './query/go-strconv.ts';
import { parseLabelSelector } from './query/label-selector.ts';

export interface RequestInfo {
  isResourceRequest: boolean;
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
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * `watch` is on for any present value but "0" and "false" (Go's strings.EqualFold, so also "falſe"), as
 * the apiserver reads a bool parameter (runtime.Convert_Slice_string_To_bool).
 */
export function isWatchParam(value: string | null): boolean {
  if (value === null) return false;
  return !(value === '0' || /^[fF][aA][lL][sSſ][eE]$/u.test(value));
}

export function parseRequestInfo(method: string, url: string): RequestInfo {
  const parsed = new URL(url, 'http://request.invalid');
  const path = parsed.pathname;
  const query = parsed.searchParams;
  const info: RequestInfo = { isResourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', query };
  let parts = path.replace(/^\/+|\/+$/g, '').split('/').map(safeDecode);
  // /api/v1 and /apis/apps/v1 (discovery) are non-resource requests: a resource needs one more segment.
  if (parts[0] === 'api') {
    if (parts.length < 3) return info;
    info.apiVersion = parts[1] ?? '';
    parts = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length < 4) return info;
    info.apiGroup = parts[1] ?? '';
    info.apiVersion = parts[2] ?? '';
    parts = parts.slice(3);
  } else {
    return info;
  }
  info.isResourceRequest = true;
  // The /watch/ and /proxy/ prefixes give the verb whatever the method; an unknown method has none.
  if (SPECIAL_VERBS.has(parts[0] ?? '') && parts.length > 1) {
    info.verb = parts[0] ?? '';
    parts = parts.slice(1);
  } else {
    info.verb = METHOD_VERBS[method.toUpperCase()] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1] ?? '';
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2] ?? '';
  if (parts.length >= 2) info.name = parts[1] ?? '';
  if (parts.length >= 1) info.resource = parts[0] ?? '';
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

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
