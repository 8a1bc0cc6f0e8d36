// The HTTP/2 side of the listener: the settings each session is offered, an idle timeout (a session with
// no open stream for the client idle timeout is closed, as an idle kept-alive HTTP/1.1 connection is),
// and the sessions' ending at shutdown. A session carries many streams: one client's watches, lists and
// forwarded requests share it, so nothing here ever ends a session for the sake of one stream.
import http from 'node:http';
import type { Http2SecureServer, SecureServerOptions, ServerHttp2Session } from 'node:http2';
import { MAX_HEADER_BYTES } from './client-connections.ts';

/** Streams a client may have open at once on one session (kubectl and controllers open a few dozen watches at most). */
const MAX_CONCURRENT_STREAMS = 250;
/** Per session, in MiB (Node's default is 10): room for a few hundred streams' buffers. */
const MAX_SESSION_MEMORY_MB = 32;

/** Options for http2.createSecureServer: HTTP/1.1 clients too, HTTP/2 settings within the listener's limits. */
export function http2Options(): Pick<SecureServerOptions, 'allowHTTP1' | 'maxSessionMemory' | 'settings'> {
  return {
    allowHTTP1: true,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: MAX_HEADER_BYTES },
  };
}

export class Http2Sessions {
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #server: Http2SecureServer;

  constructor(server: Http2SecureServer, idleTimeoutMs: number) {
    this.#server = server;
    server.on('session', (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      let open = 0;
      let idle: NodeJS.Timeout | undefined;
      const startIdle = () => {
        if (idleTimeoutMs > 0) idle = setTimeout(() => session.close(), idleTimeoutMs).unref();
      };
      startIdle();
      session.on('stream', (stream) => {
        open++;
        clearTimeout(idle);
        stream.once('close', () => {
          if (--open === 0 && !session.closed) startIdle();
        });
      });
      // A session that fails (the client reset the connection, a protocol error) is the client's problem only.
      session.on('error', () => {});
      session.once('close', () => {
        clearTimeout(idle);
        this.#sessions.delete(session);
      });
    });
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Idle HTTP/1.1 connections end; no new streams on any session (a GOAWAY), open streams may finish. */
  closeGracefully(): void {
    http.Server.prototype.closeIdleConnections.call(this.#server);
    for (const session of this.#sessions) session.close();
  }

  /** Every connection, both protocols, ends now. */
  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
    // HTTP/1.1 connections are tracked by Node's HTTP server code, which the HTTP/2 server lends for allowHTTP1.
    http.Server.prototype.closeAllConnections.call(this.#server);
  }
}
