// Where a watcher's bytes go: a chunked HTTP/1.1 response (one JSON line per event, written pre-framed),
// an HTTP/2 stream (one JSON line per event, framed by the stream) or a websocket (one text message per
// event). All report backpressure the same way: write() returns false once the buffer (the socket's, or
// the HTTP/2 stream's) is past its high-water mark, and `drain` fires when it has emptied.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { constants as http2Constants, type Http2ServerResponse } from 'node:http2';
import type { WebSocket } from 'ws';
import type { EventBytes } from '../views/encoder.ts';
import { isHttp2Response, onResponseClose, type ClientResponse } from '../basics/client-http.ts';

export interface WatchSink {
  /** Queues one event; false when the client is not keeping up (wait for onDrain). */
  write(event: EventBytes): boolean;
  /** Ends the stream cleanly. */
  end(): void;
  /** Drops the connection (a client that stopped reading cannot be ended cleanly). */
  destroy(): void;
  onDrain(listener: () => void): void;
  onClose(listener: () => void): void;
}

/**
 * HTTP/1.1 sinks write at most twice per turn of the event loop. A sink's first event of a turn is written
 * at once: most turns carry one event per watcher, and corking it would only add bookkeeping and hold its
 * bytes back until every other watcher's were buffered (a broadcast to 10,000 watchers). From its second
 * event in the same turn (several upstream changes arrive in one read at load) the socket is corked, and
 * the rest go out as one write — one TLS record — when the turn ends. HTTP/2 needs none of this: the
 * session already sends its streams' frames in one write per turn.
 */
let turn = 0;
let turnEndScheduled = false;
const corkedSinks = new Set<HttpWatchSink>();

function endTurn(): void {
  turnEndScheduled = false;
  turn++;
  for (const sink of corkedSinks) sink.uncork();
  corkedSinks.clear();
}

export class HttpWatchSink implements WatchSink {
  readonly #res: ServerResponse;
  /** The turn this sink last wrote in. */
  #turn = -1;
  /** The socket the rest of this turn's events wait in, corked (kept: the response lets go of its socket when it ends). */
  #corked: Socket | undefined;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  /**
   * Once the headers are out, events go straight to the socket as the encoder framed them, one buffer
   * shared by every watcher: `res.write` would frame each one again for every watcher (four socket
   * writes per event). The response's own end() still writes the last chunk, and its state is
   * unaffected: it never saw these bytes.
   */
  write(event: EventBytes): boolean {
    const socket = this.#res.socket;
    if (!socket || !this.#res.headersSent || !this.#res.chunkedEncoding) return this.#res.write(event.line);
    if (this.#turn !== turn) {
      this.#turn = turn;
      if (!turnEndScheduled) {
        turnEndScheduled = true;
        setImmediate(endTurn);
      }
    } else if (!this.#corked) {
      this.#corked = socket;
      socket.cork();
      corkedSinks.add(this);
    }
    return socket.write(event.chunk);
  }

  /** Sends what this turn held back (at the turn's end, or the stream's end). */
  uncork(): void {
    const socket = this.#corked;
    if (!socket) return;
    this.#corked = undefined;
    corkedSinks.delete(this);
    socket.uncork();
  }

  end(): void {
    this.uncork();
    if (!this.#res.writableEnded) this.#res.end();
  }

  destroy(): void {
    this.#res.destroy();
  }

  onDrain(listener: () => void): void {
    // Writes past the headers go to the socket, so its drain is the one that counts; the response's
    // covers the first write.
    this.#res.on('drain', listener);
    const socket = this.#res.socket;
    if (!socket) return;
    socket.on('drain', listener);
    // A keep-alive socket outlives the watch: leave it as it was found.
    this.#res.once('close', () => socket.off('drain', listener));
  }

  onClose(listener: () => void): void {
    onResponseClose(this.#res, listener);
  }
}

/**
 * A watch over HTTP/2: the socket is the session's, shared with the client's other streams, so every
 * write, backpressure signal and ending goes through this stream only; corking the socket would hold
 * back the other streams too.
 */
export class Http2WatchSink implements WatchSink {
  readonly #res: Http2ServerResponse;

  constructor(res: Http2ServerResponse) {
    this.#res = res;
  }

  write(event: EventBytes): boolean {
    return this.#res.write(event.line);
  }

  end(): void {
    if (!this.#res.writableEnded) this.#res.end();
  }

  destroy(): void {
    this.#res.stream.close(http2Constants.NGHTTP2_CANCEL);
  }

  onDrain(listener: () => void): void {
    this.#res.stream.on('drain', listener);
  }

  onClose(listener: () => void): void {
    onResponseClose(this.#res, listener);
  }
}

/** The sink of a watch answered on this response. */
export function httpWatchSink(res: ClientResponse): WatchSink {
  return isHttp2Response(res) ? new Http2WatchSink(res) : new HttpWatchSink(res);
}

const WEBSOCKET_HIGH_WATER_BYTES = 64 * 1024;

export class WebSocketWatchSink implements WatchSink {
  readonly #ws: WebSocket;
  readonly #drainListeners: (() => void)[] = [];
  #waitingForDrain = false;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    // Client messages are ignored, as the apiserver does.
    ws.on('message', () => {});
    // A frame that breaks the protocol or exceeds maxPayload: ws has already closed the connection with
    // the protocol's code (1002, 1009) and reports it here. Without a listener it would be thrown, and
    // take the process down with every other client.
    ws.on('error', () => {});
  }

  write(event: EventBytes): boolean {
    // One event per text message (with its newline, as the apiserver's encoder writes it).
    this.#ws.send(event.line, { binary: false });
    if (this.#ws.bufferedAmount <= WEBSOCKET_HIGH_WATER_BYTES) return true;
    if (!this.#waitingForDrain) {
      this.#waitingForDrain = true;
      // ws has no drain event of its own: follow the underlying socket's.
      const socket = (this.#ws as unknown as { _socket?: import('node:net').Socket })._socket;
      socket?.once('drain', () => {
        this.#waitingForDrain = false;
        for (const l of this.#drainListeners) l();
      });
    }
    return false;
  }

  end(): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1000);
  }

  destroy(): void {
    this.#ws.terminate();
  }

  onDrain(listener: () => void): void {
    this.#drainListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#ws.on('close', listener);
  }
}
