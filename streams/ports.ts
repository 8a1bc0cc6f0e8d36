// What streams/ needs from the process around it, and nothing more: where to send a request with the
// proxy's credentials, and where to log. streams/ depends on no module of src/; the proxy's Upstream and
// pino logger fit these shapes as they are.
import type { OutgoingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';

/** Options for an https.request to `path` of the API server, credentials included. */
export interface RequestSource {
  requestOptions(method: string, path: string, headers: OutgoingHttpHeaders): Promise<RequestOptions>;
}

interface LogFn {
  (message: string): void;
  (fields: object, message?: string): void;
}

export interface StreamLog {
  child(bindings: Record<string, unknown>): StreamLog;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
}
