// HTTP/2 spoken by hand, for the abuse Node's client API will not commit: a TLS connection offering only
// h2 (ALPN), the connection preface, then whatever frames a test builds (SETTINGS and PING floods,
// streams whose window is never opened). It parses what the server sends back into frames, so a test sees
// the GOAWAY and its error code, and records when the server closed the connection.
import tls from 'node:tls';
import { withTimeout } from '../../src/basics/with-timeout.ts';
import type { Credentials } from './kube-http.ts';

export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 } as const;
export const FLAG = { ACK: 0x1, END_STREAM: 0x1, END_HEADERS: 0x4 } as const;
/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SETTING = { HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4 } as const;
/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ERROR_CODE = { NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, FLOW_CONTROL_ERROR: 0x3, REFUSED_STREAM: 0x7, CANCEL: 0x8, ENHANCE_YOUR_CALM: 0xb } as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One frame's bytes. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** A SETTINGS frame (not an ACK) carrying these identifier/value pairs. */
export function settingsFrame(entries: [number, number][] = []): Buffer {
  const payload = Buffer.alloc(6 * entries.length);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export function pingFrame(data: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(data >>> 0, 4);
  return frame(FRAME.PING, 0, 0, payload);
}

export interface GoAway {
  lastStreamId: number;
  errorCode: number;
}

export class H2FrameConnection {
  readonly socket: tls.TLSSocket;
  /** Every frame the server sent, in order (bounded by what a test provokes). */
  readonly frames: Frame[] = [];
  goaway: GoAway | undefined;
  readonly closed: Promise<void>;
  #pending = Buffer.alloc(0);
  #isClosed = false;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.#receive(d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        resolve();
      }),
    );
  }

  /** A TLS connection that negotiated h2, the client preface and an empty SETTINGS frame sent. */
  static async open(port: number, credentials: Credentials): Promise<H2FrameConnection> {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      throw new Error(`the server did not negotiate h2 (ALPN: ${String(socket.alpnProtocol)})`);
    }
    const connection = new H2FrameConnection(socket);
    socket.write(Buffer.concat([PREFACE, settingsFrame()]));
    return connection;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Writes frames; resolves once the socket took them (or at once if it is closed). */
  write(bytes: Buffer): Promise<void> {
    if (this.#isClosed || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  /** Waits for the server to close, at most `timeoutMs`; true if it did. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return (await withTimeout(this.closed.then(() => true), timeoutMs)) ?? false;
  }

  /** Frames of this type received so far. */
  count(type: number, flags?: number): number {
    return this.frames.filter((f) => f.type === type && (flags === undefined || (f.flags & flags) === flags)).length;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #receive(data: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, data]);
    while (this.#pending.length >= FRAME_HEADER_BYTES) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < FRAME_HEADER_BYTES + length) return;
      const f: Frame = {
        type: this.#pending.readUInt8(3),
        flags: this.#pending.readUInt8(4),
        streamId: this.#pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.#pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length),
      };
      this.#pending = this.#pending.subarray(FRAME_HEADER_BYTES + length);
      // Only the payloads a test reads are kept (a flood brings thousands of ACKs).
      if (f.type === FRAME.GOAWAY) this.goaway = { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, errorCode: f.payload.readUInt32BE(4) };
      this.frames.push({ ...f, payload: f.type === FRAME.DATA || f.type === FRAME.HEADERS || f.type === FRAME.GOAWAY ? Buffer.from(f.payload) : Buffer.alloc(0) });
    }
  }
}
