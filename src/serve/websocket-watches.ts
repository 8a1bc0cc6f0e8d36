// The websocket side of served watches: completes handshakes for watches the proxy answers. A watch
// client has nothing to say: its messages are read and dropped, and a large one closes it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BEARER_PROTOCOL_PREFIX } from '../front/authenticate.ts';
import { StatusError } from '../basics/status.ts';

const WEBSOCKET_MAX_PAYLOAD_BYTES = 4 * 1024;

export class WebSocketWatches {
  readonly #wss = new WebSocketServer({
    noServer: true,
    maxPayload: WEBSOCKET_MAX_PAYLOAD_BYTES,
    // The bearer token travels as a subprotocol: never echo it back.
    handleProtocols: (protocols) => [...protocols].find((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX)) ?? false,
  });
  /** Pending handshakes: how to fail each when `ws` refuses it. */
  readonly #handshakes = new Map<Duplex, (message: string) => void>();

  constructor() {
    this.#wss.on('wsClientError', (err: Error, socket: Duplex) => this.#handshakes.get(socket)?.(err.message));
  }

  /**
   * Completes the handshake, or rejects with the Status to answer: `ws` refuses bad handshakes (method,
   * key, version, protocol header) through `wsClientError` without ever calling back, and a client may
   * go away before the handshake completes.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const settle = (err: StatusError | undefined, ws?: WebSocket) => {
        this.#handshakes.delete(socket);
        socket.off('close', onClose);
        if (ws) resolve(ws);
        else reject(err);
      };
      const onClose = () => settle(new StatusError(499, '', 'the client closed the connection during the websocket handshake'));
      socket.once('close', onClose);
      this.#handshakes.set(socket, (message) => settle(message === 'Invalid HTTP method' ? new StatusError(405, 'MethodNotAllowed', `websocket handshake refused: ${message}`) : new StatusError(400, 'BadRequest', `websocket handshake refused: ${message}`)));
      this.#wss.handleUpgrade(req, socket, head, (ws) => settle(undefined, ws));
    });
  }

  close(): void {
    for (const client of this.#wss.clients) client.terminate();
  }
}
