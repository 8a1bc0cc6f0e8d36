// Writes a tenant grant allows (Update: `kubectl cordon`, `kubectl label node`; Delete) on an object
// in the tenant's view: performed with the proxy's own credentials, limited to that one object (the
// caller checked visibility of the named object), and logged with the real user.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forward } from '../forward.ts';
import type { Identity } from '../identity.ts';
import type { Logger } from '../log.ts';
import type { RequestInfo } from '../request-info.ts';
import type { Upstream } from '../upstream.ts';

const WRITE_TIMEOUT_MS = 60_000;

export async function performGrantedWrite(req: IncomingMessage, res: ServerResponse, identity: Identity, info: RequestInfo, upstream: Upstream, log: Logger): Promise<number> {
  const code = await forward(req, res, identity, { upstream, timeoutMs: WRITE_TIMEOUT_MS, asProxy: true });
  log.info({ user: identity.user, groups: identity.groups, verb: info.verb, resource: info.resource, group: info.apiGroup, name: info.name, status: code }, 'granted write performed as the proxy');
  return code;
}
