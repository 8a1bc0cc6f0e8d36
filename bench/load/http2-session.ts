// HTTP/2 client sessions of the load generators, with client-go's flow-control windows (Go's http2
// transport: 4 MiB per stream, 1 GiB per connection). With Node's 64 KiB, one event to a hundred watches
// of a session (~60 KB) fills the connection window, and the latency would measure how soon the client
// sends WINDOW_UPDATEs rather than the server.
import http2 from 'node:http2';

const STREAM_WINDOW_BYTES = 4 * 2 ** 20;
const SESSION_WINDOW_BYTES = 2 ** 30;

/** A session to `origin` with wide flow-control windows; errors are left to its streams (and `once('error')` listeners). */
export function connectSession(origin: string, options: http2.SecureClientSessionOptions): http2.ClientHttp2Session {
  const session = http2.connect(origin, { ...options, settings: { ...options.settings, initialWindowSize: STREAM_WINDOW_BYTES } });
  session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
  session.on('error', () => undefined); // each stream reports its own failure
  return session;
}
