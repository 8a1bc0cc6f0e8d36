// Parses a request path the way the apiserver's RequestInfoFactory does: API group and version,
// namespace, resource, subresource, name and the Kubernetes verb (get, list, watch, create, …).

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
const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** `watch` is on for any value but "0" and "false" (case-insensitive), as the apiserver reads it. */
export function isWatchParam(value: string | null): boolean {
  if (value === null) return false;
  const v = value.toLowerCase();
  return v !== '0' && v !== 'false' && v !== 'f';
}

export function parseRequestInfo(method: string, url: string): RequestInfo {
  const parsed = new URL(url, 'http://request.invalid');
  const path = parsed.pathname;
  const query = parsed.searchParams;
  const info: RequestInfo = { isResourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', query };
  let parts = path.replace(/^\/+|\/+$/g, '').split('/').map(safeDecode);
  if (parts[0] === 'api') {
    if (parts.length < 2) return info;
    info.apiVersion = parts[1] ?? '';
    parts = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length < 3) return info;
    info.apiGroup = parts[1] ?? '';
    info.apiVersion = parts[2] ?? '';
    parts = parts.slice(3);
  } else {
    return info;
  }
  info.isResourceRequest = true;
  info.verb = METHOD_VERBS[method.toUpperCase()] ?? method.toLowerCase();
  if ((parts[0] === 'watch' || parts[0] === 'proxy') && parts.length > 1) {
    if (parts[0] === 'watch' && info.verb === 'get') info.verb = 'watch';
    else if (parts[0] === 'proxy') info.verb = 'proxy';
    parts = parts.slice(1);
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
    info.verb = isWatchParam(query.get('watch')) ? 'watch' : 'list';
  }
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
