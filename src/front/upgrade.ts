// Relays HTTP/1.1 Upgrade requests (websocket exec/attach/port-forward, SPDY/3.1, websocket watches):
// the request goes upstream with impersonation; the upstream's answer is written back as it came
// (101 with Sec-WebSocket-Protocol and X-Stream-Protocol-Version, or an error response), and after a 101
// both sockets are piped byte for byte until either side closes.
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { Identity } from '../basics/identity.ts';
import { endSocketWithStatus, failure } from '../basics/status.ts';
import type { Upstream } from '../basics/upstream.ts';

/** Answers an upgrade request with a Status error on the raw socket, then closes it. */
export const rejectUpgrade = endSocketWithStatus;

function rawHead(statusLine: string, rawHeaders: string[], skip: (name: string) => boolean): string {
  let head = `${statusLine}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    if (!skip(name.toLowerCase())) head += `${name}: ${rawHeaders[i + 1] ?? ''}\r\n`;
  }
  return head + '\r\n';
}

/** Resolves with the upstream status code once the relay is over. */
export async function relayUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity, upstream: Upstream, onOpen?: () => () => void): Promise<number> {
  const options = await upstream.requestOptions(req.method ?? 'GET', req.url ?? '/', upstreamRequestHeaders(req, identity, { upgrade: true }));
  return new Promise<number>((resolve) => {
    const upstreamReq = https.request(options);
    const clientGone = () => upstreamReq.destroy();
    socket.once('close', clientGone);
    socket.on('error', () => socket.destroy());

    upstreamReq.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
      socket.off('close', clientGone);
      const statusLine = `HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? 'Switching Protocols'}`;
      socket.write(rawHead(statusLine, upstreamRes.rawHeaders, () => false));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      const closed = onOpen?.();
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        socket.destroy();
        upstreamSocket.destroy();
        closed?.();
        resolve(upstreamRes.statusCode ?? 101);
      };
      upstreamSocket.on('error', finish);
      upstreamSocket.on('close', finish);
      socket.on('error', finish);
      socket.on('close', finish);
    });

    upstreamReq.on('response', (upstreamRes) => {
      // Refused upgrade (401/403/400…): pass the answer on and close.
      socket.off('close', clientGone);
      const code = upstreamRes.statusCode ?? 502;
      const headers = downstreamResponseHeaders(upstreamRes.headers);
      const names = new Set(Object.keys(headers));
      const statusLine = `HTTP/1.1 ${code} ${upstreamRes.statusMessage ?? ''}`;
      const chunks: Buffer[] = [];
      upstreamRes.on('data', (c: Buffer) => chunks.push(c));
      upstreamRes.on('end', () => {
        const body = Buffer.concat(chunks);
        const headText = rawHead(statusLine, upstreamRes.rawHeaders, (n) => !names.has(n) || n === 'content-length');
        socket.end(Buffer.concat([Buffer.from(headText.slice(0, -2) + `content-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]));
        resolve(code);
      });
      upstreamRes.on('error', () => {
        socket.destroy();
        resolve(code);
      });
    });

    upstreamReq.on('error', (err) => {
      socket.off('close', clientGone);
      rejectUpgrade(socket, failure(502, 'BadGateway', `error trying to reach the API server: ${err.message}`));
      resolve(502);
    });
    upstreamReq.end();
  });
}
