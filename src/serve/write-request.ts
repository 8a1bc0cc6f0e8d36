// A write the proxy performs with its own credentials, parsed from the client's request into canonical
// form: the upstream URL rebuilt from the parsed path, the body read within the apiserver's limit, parsed
// for its media type and serialized again as JSON. What cannot be parsed is answered as the apiserver
// answers it (same code and reason), and never sent.
import type { ResourceType } from '../../streams/resource-type.ts';
import type { RequestInfo } from '../front/request-info.ts';
import { badRequest, StatusError } from '../basics/status.ts';
import { APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, isPlainObject, mediaTypeOf, parseJsonBody, parseYamlBody, readRequestBody, upstreamUrl } from './own-requests.ts';
import type { ClientRequest } from '../basics/client-http.ts';

export type WriteVerb = 'update' | 'patch' | 'delete';

export interface WriteRequest {
  verb: WriteVerb;
  /** Path and accepted query parameters, rebuilt. */
  url: string;
  /** The patch type for PATCH; JSON otherwise. */
  contentType: string;
  /** The parsed body: the object (PUT), the patch (PATCH), DeleteOptions or undefined (DELETE). */
  body: unknown;
}

const OBJECT_TYPES = ['application/json', 'application/yaml'];
const UNKNOWN_OBJECT_FORMAT = 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf';

/** The apiserver's 415 for a body media type it has no decoder for. */
function unsupported(message: string): StatusError {
  return new StatusError(415, 'UnsupportedMediaType', message);
}

/** Protobuf is a format the apiserver takes but the proxy cannot check: refused rather than passed on unread. */
function protobufRefused(): StatusError {
  return unsupported('tenant-proxy performs granted writes from JSON or YAML bodies only (it checks what it sends): send application/json or application/yaml');
}

function unrecognized(type: ResourceType, reason: string): StatusError {
  return badRequest(`the object provided is unrecognized (must be of type ${type.kind}): ${reason}`);
}

/** A JSON or YAML object body, as the apiserver's decoders read PUT and DELETE bodies. */
function objectBody(body: Buffer, mediaType: string, fail: (reason: string) => StatusError): unknown {
  try {
    return mediaType === 'application/yaml' ? parseYamlBody(body, 'body') : parseJsonBody(body, 'body');
  } catch (err) {
    throw fail((err as Error).message);
  }
}

export async function parseWriteRequest(req: ClientRequest, info: RequestInfo, type: ResourceType): Promise<WriteRequest> {
  const verb = info.verb as WriteVerb;
  const url = upstreamUrl(info);
  const given = mediaTypeOf(req.headers['content-type']);
  const body = await readRequestBody(req);
  if (verb === 'patch') {
    const patchTypes = type.custom ? [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] : [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH];
    if (!patchTypes.includes(given)) {
      // Not a patch type at all: the apiserver's generic 415; a patch type this kind lacks: the list.
      if (![JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH].includes(given)) throw new StatusError(415, 'UnsupportedMediaType', '415: Unsupported Media Type');
      throw unsupported(`the body of the request was in an unknown format - accepted media types include: ${patchTypes.join(', ')}`);
    }
    return { verb, url, contentType: given, body: parsePatch(given, body) };
  }
  const mediaType = given === '' ? 'application/json' : given;
  if (mediaType === 'application/vnd.kubernetes.protobuf') throw protobufRefused();
  if (!OBJECT_TYPES.includes(mediaType)) throw unsupported(UNKNOWN_OBJECT_FORMAT);
  if (verb === 'delete') {
    if (body.length === 0) return { verb, url, contentType: 'application/json', body: undefined };
    const options = objectBody(body, mediaType, (reason) => new StatusError(500, '', `couldn't get version/kind; ${reason}`));
    if (!isPlainObject(options)) throw new StatusError(500, '', "couldn't get version/kind; the body is not an object");
    return { verb, url, contentType: 'application/json', body: options };
  }
  const object = objectBody(body, mediaType, (reason) => unrecognized(type, `couldn't get version/kind; ${reason}`));
  if (!isPlainObject(object)) throw unrecognized(type, "couldn't get version/kind; the body is not an object");
  return { verb, url, contentType: 'application/json', body: object };
}

/** A patch body as the apiserver reads each patch type (codes as it answers a broken one). */
function parsePatch(patchType: string, body: Buffer): unknown {
  if (patchType === MERGE_PATCH) {
    let patch: unknown;
    try {
      patch = parseJsonBody(body, 'patch');
    } catch {
      throw new StatusError(500, '', 'Invalid JSON Patch');
    }
    if (!isPlainObject(patch)) throw new StatusError(500, '', 'Invalid JSON Patch');
    return patch;
  }
  if (patchType === APPLY_PATCH) {
    const config = parseYamlBody(body, 'error decoding YAML');
    if (!isPlainObject(config)) throw badRequest('error decoding YAML: the body is not an object');
    return config;
  }
  const patch = parseJsonBody(body, 'patch');
  if (patchType === JSON_PATCH && !Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  if (patchType === STRATEGIC_MERGE_PATCH && !isPlainObject(patch)) throw badRequest('the strategic merge patch is not a JSON object');
  return patch;
}

/** The body to send upstream: the parsed value serialized again (JSON is valid YAML for apply patches). */
export function serializedBody(write: WriteRequest): Buffer | undefined {
  return write.body === undefined ? undefined : Buffer.from(JSON.stringify(write.body));
}
