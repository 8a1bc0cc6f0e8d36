// One log entry as one Stream entry: the ID is the position, one field `e` holds the rest as JSON (the
// object inline: one parse per entry on every reader). With the deployment's key, the field holds
// `<signature>.<JSON>`, signed over the entry's ID and JSON: a replica with the key refuses an entry it
// cannot verify (written without the key, altered, or moved to another position).
import type { LogEntry } from '../streams/change-log.ts';
import { sealed, unseal, type Signer } from './signer.ts';
import { positionOfStreamId, streamId } from './stream-id.ts';

export const ENTRY_FIELD = 'e';
/** The purpose a log entry's signature covers (redis/signer.ts). */
const SIGNED_AS = 'change-log';

export function encodeEntry(entry: LogEntry, signer?: Signer): string {
  const { position, ...rest } = entry;
  const json = JSON.stringify(rest);
  return signer ? sealed(signer.sign(SIGNED_AS, streamId(position), json), json) : json;
}

type RawEntry = [id: string, fields: string[]];

function isRawEntry(value: unknown): value is RawEntry {
  return Array.isArray(value) && typeof value[0] === 'string' && Array.isArray(value[1]) && value[1].every((f) => typeof f === 'string');
}

/**
 * The JSON of a stored entry field. With a signer, only a signature of this very entry is accepted;
 * without one (a deployment with no key) a signature is not checked, and the JSON after it is taken.
 */
function entryJson(id: string, field: string, signer: Signer | undefined): string | Error {
  const stored = unseal(field);
  if (!signer) return stored ? stored.value : field;
  if (!stored) return new Error(`log entry ${id} is not signed: refused (this replica holds the deployment's key; an entry written without it, by an older replica or by anyone else who can write to Redis, is not served)`);
  if (!signer.verify(stored.signature, SIGNED_AS, id, stored.value)) return new Error(`log entry ${id} does not carry a signature of this deployment's key for this position: refused`);
  return stored.value;
}

/** Stream entries (XRANGE / one stream of XREAD) as log entries; an error naming the first bad one. */
export function decodeEntries(raw: unknown, signer?: Signer): { ok: true; entries: LogEntry[] } | { ok: false; error: Error } {
  if (!Array.isArray(raw)) return { ok: false, error: new Error(`stream reply is not a list: ${JSON.stringify(raw)?.slice(0, 200)}`) };
  const entries: LogEntry[] = [];
  for (const item of raw) {
    if (!isRawEntry(item)) return { ok: false, error: new Error(`stream entry of unexpected shape: ${JSON.stringify(item)?.slice(0, 200)}`) };
    const [id, fields] = item;
    const position = positionOfStreamId(id);
    const field = fields[fields.indexOf(ENTRY_FIELD) + 1];
    if (!position || fields.indexOf(ENTRY_FIELD) % 2 !== 0 || field === undefined) return { ok: false, error: new Error(`log entry ${id} is not a position with an entry field`) };
    const json = entryJson(id, field, signer);
    if (json instanceof Error) return { ok: false, error: json };
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
