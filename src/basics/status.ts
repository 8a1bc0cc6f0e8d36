// Kubernetes `Status` errors: the one shape every error answer of the proxy takes, as the apiserver
// writes it (empty fields omitted, details.kind holding the resource plural).
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ClientResponse } from './client-http.ts';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'BadGateway'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'Conflict';

/** An error that carries the Status to answer with. */
export class StatusError extends Error {
  readonly status: Status;
  constructor(code: number, reason: StatusReason | '', message: string, details?: StatusDetails) {
    super(message);
    this.status = failure(code, reason, message, details);
  }
  get code(): number {
    return this.status.code;
  }
}

export function failure(code: number, reason: StatusReason | '', message: string, details?: StatusDetails): Status {
  // Field order as the apiserver writes it: …, message, reason, details, code.
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message } as Status;
  if (reason) status.reason = reason;
  if (details && Object.keys(details).length > 0) status.details = details;
  status.code = code;
  return status;
}

export const unauthorized = (): StatusError => new StatusError(401, 'Unauthorized', 'Unauthorized');
export const badRequest = (message: string): StatusError => new StatusError(400, 'BadRequest', message);

/** The apiserver's 404: `namespaces "x" not found`, `tenants.capsule.clastix.io "x" not found`. */
export function notFound(resource: string, group: string, name: string): StatusError {
  const qualified = group ? `${resource}.${group}` : resource;
  return new StatusError(404, 'NotFound', `${qualified} "${name}" not found`, { name, group: group || undefined, kind: resource });
}

/** Like the apiserver's JSON encoder, bodies end with a newline. */
export function sendStatus(res: ClientResponse, status: Status, headers: Record<string, string> = {}, body = `${JSON.stringify(status)}\n`): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status.code === 429 && status.details?.retryAfterSeconds !== undefined) headers = { 'retry-after': String(status.details.retryAfterSeconds), ...headers };
  res.writeHead(status.code, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, private' });
  res.end(body);
}

/** Converts anything thrown into the Status to answer with (500 for what was not a StatusError). */
export function toStatus(err: unknown): Status {
  if (err instanceof StatusError) return err.status;
  const message = err instanceof Error ? err.message : String(err);
  return failure(500, 'InternalError', `Internal error occurred: ${message}`);
}

/**
 * Answers on a raw socket (no response object: an upgrade request, or a head Node could not parse) with a
 * Status, then closes it.
 */
export function endSocketWithStatus(socket: Duplex, status: Status): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${JSON.stringify(status)}\n`;
  socket.end(`HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
