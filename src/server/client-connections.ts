// The HTTPS listener's defences against bad and idle clients, before anyone is authenticated: limits on
// connections (in total, optionally per address, either protocol), on the TLS handshake, on the HTTP/1.1
// request head (size and time), on idle kept-alive connections; and a Status answer (431, 408, 400) where
// Node would write a bare status line or nothing. HTTP/2 sessions have their own (http2-sessions.ts). It
// owns no request handling: once a request head is parsed, the proxy's handler takes over, and watches,
// exec streams and forwarded streams are never cut by these timers.
import type { Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../basics/log.ts';
import type { ProxyMetrics } from '../basics/metrics.ts';
import { endSocketWithStatus, failure, type Status } from '../basics/status.ts';

/**
 * Request heads past this size get 431. Node's default is 16 KiB; the apiserver allows 1 MiB. The largest
 * heads real clients send are OIDC id tokens carrying group claims (a few KiB, Azure AD stops listing
 * groups past 200); 32 KiB leaves room for those while an unauthenticated client cannot make the proxy
 * hold more than that per connection.
 */
export const MAX_HEADER_BYTES = 32 * 1024;
/** Node checks head timeouts on an interval (30 s by default, which would let an idle client stay 30 s too long). */
const CHECK_INTERVAL_MAX_MS = 1_000;
const LIMIT_WARNING_INTERVAL_MS = 60_000;

export interface ClientConnectionLimits {
  tlsHandshakeTimeoutMs: number;
  requestHeaderTimeoutMs: number;
  clientIdleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/** Options of the TLS listener that the limits decide. */
export function listenerOptions(limits: ClientConnectionLimits): { handshakeTimeout: number } {
  return { handshakeTimeout: limits.tlsHandshakeTimeoutMs };
}

/**
 * What HTTP/1.1 connections obey. The HTTP/2 server serves HTTP/1.1 (allowHTTP1) with Node's HTTP server
 * code, which reads these from the server object, not from the options it was created with.
 */
export interface Http1Settings {
  maxHeaderSize: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
  timeout: number;
  /** http.Server's default, which the HTTP/2 server does not set: an HTTP/1.1 request without Host is a 400. */
  requireHostHeader: boolean;
}

export function http1Settings(limits: ClientConnectionLimits): Http1Settings {
  return {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: limits.requestHeaderTimeoutMs,
    // Watches and exec sessions are long-lived: no limit on a request once its head is in.
    requestTimeout: 0,
    keepAliveTimeout: limits.clientIdleTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(CHECK_INTERVAL_MAX_MS, Math.floor(limits.requestHeaderTimeoutMs / 4))),
    timeout: 0,
    requireHostHeader: true,
  };
}

/** What to answer a client whose request head Node could not accept. */
function statusForClientError(code: string | undefined, limits: ClientConnectionLimits): { status: Status; counted: string } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: failure(431, '', `request headers larger than ${MAX_HEADER_BYTES} bytes (tenant-proxy's limit for a request head)`), counted: 'headers-too-large' };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: failure(408, 'Timeout', `no complete request head within ${limits.requestHeaderTimeoutMs / 1000}s`), counted: 'header-timeout' };
  }
  return { status: failure(400, 'BadRequest', `malformed HTTP request${code ? ` (${code})` : ''}`), counted: 'malformed' };
}

export function guardListener(server: Http2SecureServer, limits: ClientConnectionLimits, metrics: ProxyMetrics, log: Logger): void {
  Object.assign(server as Http2SecureServer & Http1Settings, http1Settings(limits));
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
  let warnedAt = 0;
  const rejected = (reason: 'limit' | 'address-limit', address: string | undefined) => {
    metrics.connectionsRejected.inc({ reason });
    const now = Date.now();
    if (now - warnedAt < LIMIT_WARNING_INTERVAL_MS) return;
    warnedAt = now;
    log.warn({ reason, address, maxConnections: limits.maxConnections, maxConnectionsPerAddress: limits.maxConnectionsPerAddress }, 'client connection refused: connection limit reached (logged once a minute; see tenant_proxy_client_connections_rejected_total)');
  };
  server.on('drop', (data?: { remoteAddress?: string }) => rejected('limit', data?.remoteAddress));

  if (limits.maxConnectionsPerAddress > 0) {
    const perAddress = new Map<string, number>();
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? '';
      const open = (perAddress.get(address) ?? 0) + 1;
      if (open > limits.maxConnectionsPerAddress) {
        rejected('address-limit', address);
        socket.destroy();
        return;
      }
      perAddress.set(address, open);
      socket.once('close', () => {
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left <= 0) perAddress.delete(address);
        else perAddress.set(address, left);
      });
    });
  }

  server.on('tlsClientError', (err: Error & { code?: string }) => {
    metrics.clientErrors.inc({ reason: err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls-handshake-timeout' : 'tls-handshake' });
    log.debug({ err: err.message, code: err.code }, 'TLS handshake failed');
  });

  // https.Server hands TLS failures to 'clientError' too, leaving the socket to the listener: only an
  // error of the HTTP parser or its timers (a handshake done, a head expected) gets an HTTP answer.
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const http = err.code !== undefined && (err.code.startsWith('HPE_') || err.code.startsWith('ERR_HTTP_'));
    if (!http || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, counted } = statusForClientError(err.code, limits);
    metrics.clientErrors.inc({ reason: counted });
    log.debug({ err: err.message, code: err.code, answer: status.code }, 'client error');
    // A response already under way on this socket cannot be followed by another status line.
    if ((socket as Duplex & { _httpMessage?: unknown })._httpMessage) socket.destroy();
    else endSocketWithStatus(socket, status);
  });
}
