// The HTTP/2 side of the listener: the settings each session is offered, an idle timeout (a session with
// no open stream for the client idle timeout is closed, as an idle kept-alive HTTP/1.1 connection is),
// the bound on open streams across all sessions, the end of sessions that flood, and the sessions'
// ending at shutdown. Floods nghttp2 already ends (CVE-2019-9512/9515/9516, 2023-44487: more than 1,000
// acknowledgements or resets waiting, a rapid reset) are only counted here. A session carries
// many streams: one client's watches, lists and forwarded requests share it, so nothing here ever ends a
// session for the sake of one stream.
import http from 'node:http';
import { constants as http2Constants, type Http2SecureServer, type SecureServerOptions, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
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

/**
 * SETTINGS frames a client may send in a session's life. Each one costs an acknowledgement and a call
 * into JavaScript ('remoteSettings'); a client changes its settings a handful of times (Go's client, as
 * kubectl and controllers use it, once; gRPC's window estimator a few dozen times). nghttp2 ends a
 * session only when more than 1,000 acknowledgements wait to be sent, which a flood paced to be read
 * never reaches: it would be acknowledged for ever (CVE-2019-9515).
 */
const MAX_SETTINGS_FRAMES_PER_SESSION = 1_000;
/** nghttp2's NGHTTP2_ERR_FLOODED: it found too many frames waiting to be sent (PING or SETTINGS acknowledgements, RST_STREAMs). */
const NGHTTP2_ERR_FLOODED = -904;

export interface Http2SessionLimits {
  /** A session with no open stream this long is closed (0: never). */
  idleTimeoutMs: number;
  /** Streams open at once across every session (0: no bound); see the constructor. */
  maxOpenStreams: number;
  /** A session ended for flooding (nghttp2's detection or the SETTINGS bound): counted by the caller. */
  onFlood?: (cause: 'flood' | 'settings-flood') => void;
}

export class Http2Sessions {
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #server: Http2SecureServer;
  readonly #maxOpenStreams: number;
  #openStreams = 0;

  /**
   * `maxOpenStreams` is `--max-connections`. Each session is a TLS connection, so the listener's
   * connection limits (client-connections.ts) count it as one; but a session may carry
   * MAX_CONCURRENT_STREAMS requests at once, and 20,000 sessions × 250 streams would be 5 million watches
   * where the limit was set for 20,000. An HTTP/1.1 connection carries one request at a time, so the
   * limit bounds the requests in flight over HTTP/1.1; the open streams of all sessions together are held
   * to the same number, one budget beside the connections' (a watch costs about the same over either
   * protocol). A stream past it is answered 429 with Retry-After, as the apiserver's max-in-flight filter
   * answers, so clients back off and retry; the session and its other streams go on. No per-address
   * bound on streams: per address, sessions × MAX_CONCURRENT_STREAMS already bounds them.
   */
  constructor(server: Http2SecureServer, limits: Http2SessionLimits) {
    this.#server = server;
    this.#maxOpenStreams = limits.maxOpenStreams;
    const { idleTimeoutMs, onFlood } = limits;
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
      // Both may see the same flood (nghttp2's bound and ours are both about 1,000 frames): counted once.
      let flooded = false;
      const flood = (cause: 'flood' | 'settings-flood') => {
        if (flooded) return;
        flooded = true;
        onFlood?.(cause);
      };
      let settingsFrames = 0;
      session.on('remoteSettings', () => {
        if (++settingsFrames !== MAX_SETTINGS_FRAMES_PER_SESSION + 1) return;
        flood('settings-flood');
        // A GOAWAY saying why, then the session and its streams end (destroy() sends the code only with an error).
        session.destroy(new Error(`more than ${MAX_SETTINGS_FRAMES_PER_SESSION} SETTINGS frames on one session`), http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
      });
      // A session that fails (the client reset the connection, a protocol error) is the client's problem only.
      session.on('error', (err: Error & { errno?: number }) => {
        if (err.errno === NGHTTP2_ERR_FLOODED) flood('flood');
      });
      session.once('close', () => {
        clearTimeout(idle);
        this.#sessions.delete(session);
      });
    });
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Streams admitted by admitStream and not yet closed, across every session. */
  get openStreams(): number {
    return this.#openStreams;
  }

  /**
   * Counts a request's stream against the bound on open streams, until the stream closes; false (and
   * not counted) when the bound is reached: the caller refuses the request.
   */
  admitStream(stream: ServerHttp2Stream): boolean {
    if (this.#maxOpenStreams > 0 && this.#openStreams >= this.#maxOpenStreams) return false;
    this.#openStreams++;
    stream.once('close', () => this.#openStreams--);
    return true;
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
