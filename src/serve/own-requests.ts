// Requests the proxy sends upstream on its own say (a granted write with its own credentials, a self
// review it relays): rebuilt from the parsed request — the path from its parts, only the query parameters
// the apiserver accepts for the verb, the body read within the apiserver's limit, parsed for its media
// type and serialized again — never the client's raw bytes, so that what was checked is what is sent.
import { parse as parseYaml } from 'yaml';
import { resourcePath, type RequestInfo } from '../front/request-info.ts';
import { badRequest, StatusError } from '../basics/status.ts';
import { dropRequest, type ClientRequest } from '../basics/client-http.ts';

/** The apiserver's limit on a request body (3 MiB, `Request entity too large: limit is 3145728`). */
export const MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024;

/** Query parameters the apiserver reads for each write verb (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions). */
const ACCEPTED_QUERY: Record<string, readonly string[]> = {
  create: ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'],
  update: ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'],
  patch: ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'],
  delete: ['dryRun', 'gracePeriodSeconds', 'orphanDependents', 'propagationPolicy', 'pretty'],
};
/** Repeated parameters the apiserver reads as a list; for any other it takes the first value. */
const LIST_PARAMS = new Set(['dryRun']);

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/** The upstream URL of a write or review: path from the parts, accepted parameters only, re-encoded. */
export function upstreamUrl(info: RequestInfo): string {
  const accepted = ACCEPTED_QUERY[info.verb] ?? [];
  const query = new URLSearchParams();
  for (const name of accepted) {
    const values = info.query.getAll(name);
    for (const value of LIST_PARAMS.has(name) ? values : values.slice(0, 1)) query.append(name, value);
  }
  const text = query.toString();
  return text ? `${resourcePath(info)}?${text}` : resourcePath(info);
}

/**
 * The request's body, whole, within the apiserver's limit (413 past it, as the apiserver answers). Past
 * the limit the rest is read and dropped, so that the client, still sending, receives the 413 instead of
 * a reset; a client that sends on for as much again is disconnected.
 */
export function readRequestBody(req: ClientRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const refuse = () => {
      refused = true;
      chunks.length = 0;
      reject(new StatusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_REQUEST_BODY_BYTES}`));
    };
    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BODY_BYTES) refuse();
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (!refused) {
        if (size > MAX_REQUEST_BODY_BYTES) refuse();
        else chunks.push(chunk);
      } else if (size > 2 * MAX_REQUEST_BODY_BYTES) {
        dropRequest(req);
      }
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!refused) reject(err);
    });
  });
}

/** The media type of a Content-Type header, without parameters, lowercased ("" when absent). */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** JSON text → value; what does not parse is the client's error (400), with the parser's reason. */
export function parseJsonBody(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw badRequest(`${what}: the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** YAML (or JSON, which is YAML) → value, refusing duplicate keys and anything beyond plain data. */
export function parseYamlBody(body: Buffer, what: string): unknown {
  try {
    return parseYaml(body.toString('utf8'), { uniqueKeys: true, maxAliasCount: 0, schema: 'core' }) as unknown;
  } catch (err) {
    throw badRequest(`${what}: the body is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
