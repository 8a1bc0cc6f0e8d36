// One log entry as one Stream entry: the ID is the position, one field `e` holds the rest as JSON (the
// object inline: one parse per entry on every reader).
import type { LogEntry } from '../streams/change-log.ts';
import { positionOfStreamId } from './stream-id.ts';

export const ENTRY_FIELD = 'e';

export function encodeEntry(entry: LogEntry): string {
  const { position: _position, ...rest } = entry;
  return JSON.stringify(rest);
}

type RawEntry = [id: string, fields: string[]];

function isRawEntry(value: unknown): value is RawEntry {
  return Array.isArray(value) && typeof value[0] === 'string' && Array.isArray(value[1]) && value[1].every((f) => typeof f === 'string');
}

/** Stream entries (XRANGE / one stream of XREAD) as log entries; an error naming the first bad one. */
export function decodeEntries(raw: unknown): { ok: true; entries: LogEntry[] } | { ok: false; error: Error } {
  if (!Array.isArray(raw)) return { ok: false, error: new Error(`stream reply is not a list: ${JSON.stringify(raw)?.slice(0, 200)}`) };
  const entries: LogEntry[] = [];
  for (const item of raw) {
    if (!isRawEntry(item)) return { ok: false, error: new Error(`stream entry of unexpected shape: ${JSON.stringify(item)?.slice(0, 200)}`) };
    const [id, fields] = item;
    const position = positionOfStreamId(id);
    const json = fields[fields.indexOf(ENTRY_FIELD) + 1];
    if (!position || fields.indexOf(ENTRY_FIELD) % 2 !== 0 || json === undefined) return { ok: false, error: new Error(`log entry ${id} is not a position with an entry field`) };
    let body: unknown;
    try {
      body = JSON.parse(json);
    } catch (err) {
      return { ok: false, error: new Error(`log entry ${id} is not JSON: ${(err as Error).message}`) };
    }
    const kind = (body as { kind?: unknown } | null)?.kind;
    if (kind !== 'change' && kind !== 'progress' && kind !== 'informers') return { ok: false, error: new Error(`log entry ${id} has no known kind`) };
    entries.push({ ...(body as Omit<LogEntry, 'position'>), position } as LogEntry);
  }
  return { ok: true, entries };
}

/** The entries of one stream in an XREAD reply (`[[key, entries]]`, or null when the block timed out). */
export function xreadEntries(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) return [];
  const stream: unknown = reply[0];
  return Array.isArray(stream) && Array.isArray(stream[1]) ? stream[1] : [];
}
