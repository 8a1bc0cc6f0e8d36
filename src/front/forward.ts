// Forwards one HTTP request to the API server as `identity` and streams the answer back unbuffered:
// request body in, response body out, chunk by chunk (each watch event reaches the client when it
// arrives; protobuf and other binary bodies byte for byte). A client that goes away aborts the upstream
// request. Upstream unreachable → 502; no answer within the timeout → 504.
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { Identity } from '../basics/identity.ts';
import { StatusError, sendStatus } from '../basics/status.ts';
import type { Upstream } from '../basics/upstream.ts';
import { sendHeadNow, type ClientRequest, type ClientResponse } from '../basics/client-http.ts';

export interface ForwardOptions {
  upstream: Upstream;
  /** Time allowed until the upstream response headers arrive. */
  timeoutMs: number;
  /**
   * Aborted when the proxy shuts down: a watch then ends cleanly at the next event boundary, so the
   * client sees a normal end of stream and reconnects elsewhere. Other requests run to completion.
   */
  shutdown?: AbortSignal;
  /** The request is a watch (its answer streams until the server or the client ends it). */
  watch?: boolean;
}

const NEWLINE = 0x0a;

/** Resolves with the status sent to the client once the exchange is over (finished or aborted). */
export async function forward(req: ClientRequest, res: ClientResponse, identity: Identity, options: ForwardOptions): Promise<number> {
  const { upstream, timeoutMs, shutdown } = options;
  const requestOptions = await upstream.requestOptions(req.method ?? 'GET', req.url ?? '/', upstreamRequestHeaders(req, identity));
  return new Promise<number>((resolve) => {
    let settled = false;
    const settle = (code: number) => {
      if (settled) return;
      settled = true;
      shutdown?.removeEventListener('abort', onShutdown);
      resolve(code);
    };
    const upstreamReq = https.request(requestOptions);
    const timer = setTimeout(() => {
      upstreamReq.destroy(new StatusError(504, 'Timeout', `the API server did not answer within ${timeoutMs / 1000}s`));
    }, timeoutMs);

    let upstreamRes: IncomingMessage | undefined;
    let atEventBoundary = true;
    let stopAtBoundary = false;
    const endCleanly = () => {
      upstreamRes?.unpipe(res);
      res.end();
      upstreamReq.destroy();
    };
    function onShutdown(): void {
      if (!options.watch) return;
      if (res.headersSent && atEventBoundary) endCleanly();
      else stopAtBoundary = true;
    }
    shutdown?.addEventListener('abort', onShutdown, { once: true });

    upstreamReq.on('response', (response) => {
      upstreamRes = response;
      clearTimeout(timer);
      const code = response.statusCode ?? 502;
      sendHeadNow(res, code, downstreamResponseHeaders(response.headers), response.statusMessage);
      response.pipe(res);
      if (stopAtBoundary) {
        endCleanly();
        return;
      }
      // Watch events end with a newline: remember whether the bytes so far end on one.
      response.on('data', (chunk: Buffer) => {
        atEventBoundary = chunk.length > 0 && chunk[chunk.length - 1] === NEWLINE;
        if (stopAtBoundary && atEventBoundary) endCleanly();
      });
      response.on('error', () => res.destroy());
      response.on('aborted', () => res.destroy());
      res.on('finish', () => settle(code));
    });

    upstreamReq.on('error', (err) => {
      clearTimeout(timer);
      if (res.headersSent) {
        if (!res.writableEnded) res.destroy();
        settle(res.statusCode);
        return;
      }
      if (res.destroyed) {
        settle(499);
        return;
      }
      const status = err instanceof StatusError ? err.status : new StatusError(502, 'BadGateway', `error trying to reach the API server: ${err.message}`).status;
      sendStatus(res, status);
      settle(status.code);
    });

    // The client went away before the answer was complete: abort upstream (closes a watch there).
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) {
        upstreamReq.destroy();
        settle(res.headersSent ? res.statusCode : 499);
      }
    });

    req.pipe(upstreamReq);
  });
}
