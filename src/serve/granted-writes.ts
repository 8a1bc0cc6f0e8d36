// Writes a tenant grant allows (Update: `kubectl cordon`, `kubectl label node`; Delete) on an object
// in the tenant's view: performed with the proxy's own credentials, limited to that one object (the
// caller checked visibility of the named object), and logged with the real user. The request sent is
// rebuilt from the parsed one (write-request.ts), never the client's bytes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity } from '../identity.ts';
import type { Logger } from '../log.ts';
import type { RequestInfo } from '../request-info.ts';
import { StatusError } from '../status.ts';
import type { Upstream } from '../upstream.ts';
import type { ResourceType } from '../../streams/resource-type.ts';
import { parseWriteRequest, serializedBody } from './write-request.ts';

const WRITE_TIMEOUT_MS = 60_000;
const METHODS = { update: 'PUT', patch: 'PATCH', delete: 'DELETE' } as const;

export async function performGrantedWrite(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo, type: ResourceType, upstream: Upstream, log: Logger): Promise<number> {
  const write = await parseWriteRequest(req, info, type);
  let answer;
  try {
    answer = await upstream.send(METHODS[write.verb], write.url, { body: serializedBody(write), contentType: write.contentType, timeoutMs: WRITE_TIMEOUT_MS });
  } catch (err) {
    throw new StatusError(502, 'BadGateway', `error trying to reach the API server: ${(err as Error).message}`);
  }
  res.writeHead(answer.status, { 'content-type': answer.headers['content-type'] ?? 'application/json', 'cache-control': 'no-cache, private', 'content-length': answer.body.length });
  res.end(answer.body);
  log.info({ user: identity.user, groups: identity.groups, verb: info.verb, resource: info.resource, group: info.apiGroup, name: info.name, status: answer.status }, 'granted write performed as the proxy');
  return answer.status;
}
