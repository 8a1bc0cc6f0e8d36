// The error answers of requests the proxy serves, as the apiserver writes them.
import type { ResourceType } from '../../streams/resource-type.ts';
import { badRequest, StatusError, type Status } from '../basics/status.ts';
import { acceptsPlainJson } from './media.ts';

const NOT_ACCEPTABLE = '406: Not Acceptable';

export function nonCanonical(): StatusError {
  return badRequest('the request path is not canonical (an empty, "." or ".." segment, a percent escape, "\\", "#" or ";" before the subresource, or a trailing "/"): tenant-proxy answers and performs requests only at the exact path of the object they name');
}

/**
 * The apiserver's two 406 texts: a generic one for built-in kinds asked for a media type it has no
 * serializer for, and the list of its media types otherwise (custom resources, unknown `as=`,
 * protobuf Tables — and, here, protobuf, which the proxy does not serve).
 */
export function notAcceptable(type: ResourceType, accept: string | undefined): StatusError {
  const a = accept ?? '';
  if (!type.custom && !a.includes('protobuf') && !a.includes('as=')) return new StatusError(406, 'NotAcceptable', NOT_ACCEPTABLE);
  return new StatusError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
}

/** Error answers of served requests: compact JSON, or indented when the client cannot take JSON. */
export function statusBody(status: Status, accept: string | undefined): string {
  if (acceptsPlainJson(accept)) return `${JSON.stringify(status)}\n`;
  // The apiserver's fallback encoder: indented, no final newline; its generic 406 carries empty details.
  const shown = status.message === NOT_ACCEPTABLE ? { kind: status.kind, apiVersion: status.apiVersion, metadata: {}, status: status.status, message: status.message, reason: status.reason, details: {}, code: 406 } : status;
  return JSON.stringify(shown, null, 2);
}
