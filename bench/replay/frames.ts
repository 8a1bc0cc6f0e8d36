// Watch events of the replay upstream as ready-to-write HTTP chunks: `<hex length>\r\n<line>\r\n`, where
// the line is exactly what kube-apiserver writes per event (`{"type":"MODIFIED","object":{…}}\n`). Each
// frame is built once and the same Buffer goes to every watcher: one socket write per event and watcher,
// no per-watcher encoding or chunk framing.
import type { KubeObject } from '../../streams/kube-object.ts';
import { groupVersion, type ResourceType } from '../../streams/resource-type.ts';
import { bookmarkEvent } from '../../src/serve/encoding.ts';
import { objectJson } from '../../src/views/encoder.ts';

const addedFrames = new WeakMap<KubeObject, Buffer>();

/** One HTTP/1.1 chunk holding `line` (which ends with its newline). */
export function chunk(line: string | Buffer): Buffer {
  const body = typeof line === 'string' ? Buffer.from(line) : line;
  const head = `${body.length.toString(16)}\r\n`;
  const frame = Buffer.allocUnsafe(head.length + body.length + 2);
  frame.write(head, 0, 'latin1');
  body.copy(frame, head.length);
  frame.write('\r\n', head.length + body.length, 'latin1');
  return frame;
}

/** Not through the encoder's per-object cache: a WeakMap entry per change costs the GC more than it saves. */
export function eventFrame(type: string, object: KubeObject): Buffer {
  const line = `{"type":"${type}","object":${JSON.stringify(object)}}\n`;
  return Buffer.from(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
}

/** The synthetic ADDED of a watch from resourceVersion 0, shared by every such watcher. */
export function addedFrame(object: KubeObject): Buffer {
  let frame = addedFrames.get(object);
  if (!frame) addedFrames.set(object, (frame = chunk(`{"type":"ADDED","object":${objectJson(object)}}\n`)));
  return frame;
}

export function bookmarkFrame(type: ResourceType, resourceVersion: number): Buffer {
  return bookmarkEvent(type, groupVersion(type), String(resourceVersion)).chunk;
}

/** The watch cache's answer to a resourceVersion older than its history (HTTP 200, then this). */
export function expiredFrame(requested: number, oldest: number): Buffer {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${requested} (${oldest})`, reason: 'Expired', code: 410 };
  return chunk(`{"type":"ERROR","object":${JSON.stringify(status)}}\n`);
}
