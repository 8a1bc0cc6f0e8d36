// The client side of one request, over either protocol the listener speaks: HTTP/1.1 (IncomingMessage,
// ServerResponse) or HTTP/2 (Node's compatibility API). Most code needs no difference; the few places
// that do (the socket, connection-specific headers, pre-framed chunked bytes) ask isHttp2().
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants as http2Constants, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(req: ClientRequest): req is Http2ServerRequest {
  return req instanceof Http2ServerRequest;
}

export function isHttp2Response(res: ClientResponse): res is Http2ServerResponse {
  return res instanceof Http2ServerResponse;
}

/** Whether the response's connection (HTTP/1.1) or stream (HTTP/2) has closed: its 'close' has fired. */
export function responseClosed(res: ClientResponse): boolean {
  return isHttp2Response(res) ? res.stream.destroyed : res.destroyed;
}

/**
 * Calls `listener` once the response closes, or soon if it already has (a client gone while its request
 * waited: 'close' fired before anyone listened).
 */
export function onResponseClose(res: ClientResponse, listener: () => void): void {
  if (responseClosed(res)) setImmediate(listener);
  else res.once('close', listener);
}

/**
 * The TLS connection the request came on. Over HTTP/2 this is the session's socket, shared by every
 * stream of the session: read from it (the peer certificate), never write to it or destroy it.
 */
export function tlsSocketOf(req: ClientRequest): TLSSocket {
  return (isHttp2(req) ? req.stream.session?.socket ?? req.socket : req.socket) as TLSSocket;
}

/** req.headersDistinct for both protocols (HTTP/2 has none, and carries pseudo-headers such as `:path`). */
export function headersDistinct(req: ClientRequest): Record<string, string[]> {
  if (!isHttp2(req)) return req.headersDistinct as Record<string, string[]>;
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers as IncomingHttpHeaders)) {
    if (value === undefined || name.startsWith(':')) continue;
    out[name] = Array.isArray(value) ? value : [value];
  }
  return out;
}

/**
 * Ends one request whose client misbehaves (a body far past the limit): over HTTP/1.1 its connection,
 * over HTTP/2 its stream only (the session carries the client's other requests and watches).
 */
export function dropRequest(req: ClientRequest): void {
  if (isHttp2(req)) req.stream.close(http2Constants.NGHTTP2_CANCEL);
  else req.socket.destroy();
}

/** Headers that name the HTTP/1.1 connection: an HTTP/2 response must not carry them (Node throws). */
const CONNECTION_SPECIFIC = ['connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'proxy-connection'];

/**
 * Sends the response head at once (a watch's or a forwarded stream's client must see it before the
 * first byte of the body). `statusMessage` is HTTP/1.1's reason phrase; HTTP/2 has none.
 */
export function sendHeadNow(res: ClientResponse, code: number, headers: OutgoingHttpHeaders, statusMessage?: string): void {
  if (isHttp2Response(res)) {
    const own: OutgoingHttpHeaders = { ...headers };
    for (const name of CONNECTION_SPECIFIC) delete own[name];
    // The compatibility API sends the HEADERS frame on writeHead.
    res.writeHead(code, own);
    return;
  }
  if (statusMessage === undefined) res.writeHead(code, headers);
  else res.writeHead(code, statusMessage, headers);
  res.flushHeaders();
}

/** One body chunk, not the last (write()'s overloads differ between the two response types). */
export function writeChunk(res: ClientResponse, chunk: Buffer | string): boolean {
  return isHttp2Response(res) ? res.write(chunk) : res.write(chunk);
}

/**
 * Drops a response whose client reads nothing for `ms`: over HTTP/1.1 its connection (Node's default for
 * a socket timeout nobody handles), over HTTP/2 its stream only (a stream's timeout drops nothing by itself).
 */
export function dropWhenIdle(res: ClientResponse, ms: number): void {
  if (isHttp2Response(res)) res.setTimeout(ms, () => res.stream.close(http2Constants.NGHTTP2_CANCEL));
  else res.setTimeout(ms);
}
