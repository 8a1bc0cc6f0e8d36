// Header hygiene on the upstream hop: what a proxy must not pass on (hop-by-hop headers, including any
// named in Connection; the caller's own credentials; client-sent impersonation) and what it adds.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { BEARER_PROTOCOL_PREFIX } from './authenticate.ts';
import { impersonationHeaders, isImpersonationHeader } from './impersonation.ts';
import type { Identity } from '../basics/identity.ts';
import { headersDistinct, type ClientRequest } from '../basics/client-http.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const list = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(list.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/**
 * X-Remote-User / -Group / -Extra-*: the identity headers of the apiserver's request-header
 * authentication (front proxies). The proxy never authenticates that way upstream, but an apiserver
 * configured for it must never see a client's own.
 */
function isRequestHeaderIdentity(name: string): boolean {
  return name.startsWith('x-remote-');
}

/**
 * The headers of the upstream request: the client's end-to-end headers minus its credentials, any
 * Impersonate-* and X-Remote-*, plus impersonation of `identity`. Names listed in Connection are dropped, except that
 * they can never remove the impersonation headers the proxy adds. For upgrades, Connection/Upgrade are
 * kept and a bearer-token websocket subprotocol is removed from the offered list.
 */
export function upstreamRequestHeaders(req: ClientRequest, identity: Identity, options: { upgrade?: boolean } = {}): OutgoingHttpHeaders {
  const named = connectionTokens(req.headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(headersDistinct(req))) {
    if (!values) continue;
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    if (name === 'host' || name === 'authorization' || isImpersonationHeader(name) || isRequestHeaderIdentity(name)) continue;
    out[name] = values.length === 1 ? values[0] : values;
  }
  if (options.upgrade) {
    out.connection = 'Upgrade';
    if (req.headers.upgrade) out.upgrade = req.headers.upgrade;
    const protocols = req.headers['sec-websocket-protocol'];
    if (protocols !== undefined) {
      const kept = protocols.split(',').map((p) => p.trim()).filter((p) => p && !p.startsWith(BEARER_PROTOCOL_PREFIX));
      if (kept.length > 0) out['sec-websocket-protocol'] = kept.join(', ');
      else delete out['sec-websocket-protocol'];
    }
  }
  // Always as the caller: what the proxy sends as itself is rebuilt from the parsed request
  // (serve/own-requests.ts), never these raw headers.
  return { ...out, ...impersonationHeaders(identity) };
}

/** The upstream response's headers minus hop-by-hop ones, for the client. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}
