// The ChangeLog in a Redis Stream whose IDs are the positions (redis/README.md: layout and why).
import type { Redis } from 'ioredis';
import { batchProblem, type AppendResult, type ChangeLog, type LeaderToken, type LogBounds, type LogEntry, type ReadResult, type TailEvent, type TrimRequest, type TrimResult, type Unavailable } from '../streams/change-log.ts';
import { comparePositions, type Position } from '../streams/position.ts';
import { decodeEntries, encodeEntry, xreadEntries } from './entry-codec.ts';
import { replicationKeys, type ReplicationKeys } from './keys.ts';
import type { Signer } from './signer.ts';
import { leaseValue, replyOf, script, type Script } from './scripts.ts';
import { positionOfStreamId, streamId } from './stream-id.ts';

const TAIL_PAGE = 1000;
const TAIL_BLOCK_MS = 5_000;
const TAIL_RETRY_MS = 500;
export interface RedisChangeLogOptions {
  keyPrefix?: string;
  /** The time index gets at most one mark per this interval: trimming keeps the history asked for plus up to this much. */
  timeMarkIntervalMs?: number;
  /** Signs what is appended and verifies what is read (the deployment's key); without it, nothing is checked. */
  signer?: Signer;
}

const unavailable = (error: unknown, doing: string): Unavailable => ({ ok: false, reason: 'unavailable', error: new Error(`${doing}: ${error instanceof Error ? error.message : String(error)}`) });

/**
 * Whether entries after `cursor` were trimmed before a read saw them. Trimming records the newest ID it
 * dropped; if that is after the cursor, the read is still whole when it returned that very entry (or one
 * before it): it read before the trim.
 */
function trimmedPast(cursor: Position, trimmedId: string | null, firstRead: LogEntry | undefined): Position | undefined {
  const trimmed = trimmedId ? positionOfStreamId(trimmedId) : undefined;
  if (!trimmed || comparePositions(trimmed, cursor) <= 0) return undefined;
  if (firstRead && comparePositions(firstRead.position, trimmed) <= 0) return undefined;
  return trimmed;
}

export class RedisChangeLog implements ChangeLog {
  readonly #redis: Redis;
  readonly #keys: ReplicationKeys;
  readonly #append: Script;
  readonly #trim: Script;
  readonly #reseed: Script;
  readonly #raiseFloor: Script;
  readonly #timeMarkIntervalMs: number;
  readonly #signer: Signer | undefined;

  constructor(redis: Redis, options: RedisChangeLogOptions = {}) {
    this.#redis = redis;
    this.#timeMarkIntervalMs = options.timeMarkIntervalMs ?? 1_000;
    this.#signer = options.signer;
    this.#keys = replicationKeys(options.keyPrefix);
    this.#append = script(redis, 'tenantProxyAppend');
    this.#trim = script(redis, 'tenantProxyTrim');
    this.#reseed = script(redis, 'tenantProxyReseed');
    this.#raiseFloor = script(redis, 'tenantProxyRaiseFloor');
  }

  async append(token: LeaderToken, entries: readonly LogEntry[]): Promise<AppendResult> {
    const problem = batchProblem(entries);
    if (problem) return { ok: false, reason: 'invalid', detail: problem };
    const args: string[] = [];
    for (const entry of entries) args.push(streamId(entry.position), encodeEntry(entry, this.#signer));
    let raw: unknown;
    try {
      raw = await this.#append(this.#keys.lease, this.#keys.log, this.#keys.times, leaseValue(token), this.#timeMarkIntervalMs, ...args);
    } catch (err) {
      return unavailable(err, `appending ${entries.length} entries`);
    }
    const reply = replyOf(raw);
    const [status, detail = ''] = reply ?? [];
    const position = positionOfStreamId(detail);
    if (status === 'ok' && position) return { ok: true, top: position };
    if (status === 'behind' && position) return { ok: false, reason: 'behind', top: position };
    if (status === 'deposed') return { ok: false, reason: 'deposed', detail: detail ? `the lease is held by ${detail}` : 'nobody holds the lease' };
    return unavailable(new Error(`unexpected reply ${JSON.stringify(raw)}`), 'appending');
  }

  async read(after: Position, count: number): Promise<ReadResult> {
    try {
      const raw = await this.#redis.xrange(this.#keys.log, `(${streamId(after)}`, '+', 'COUNT', count);
      const trimmedId = await this.#redis.get(this.#keys.trimmed);
      const decoded = decodeEntries(raw, this.#signer);
      if (!decoded.ok) return { ok: false, reason: 'unavailable', error: decoded.error };
      const trimmed = trimmedPast(after, trimmedId, decoded.entries[0]);
      return trimmed ? { ok: false, reason: 'trimmed', trimmedThrough: trimmed } : decoded;
    } catch (err) {
      return unavailable(err, 'reading the log');
    }
  }

  /** Blocks on its own connection (a blocked XREAD holds its connection); abort disconnects it. */
  async *tail(after: Position, signal: AbortSignal): AsyncIterable<TailEvent> {
    // Its own command timeout: one inherited from the main connection may be shorter than the block.
    const blocking = this.#redis.duplicate({ maxRetriesPerRequest: 1, connectionName: 'tenant-proxy-tail', commandTimeout: TAIL_BLOCK_MS + 5_000 });
    blocking.on('error', () => undefined);
    const stop = () => blocking.disconnect();
    signal.addEventListener('abort', stop, { once: true });
    let cursor = after;
    try {
      while (!signal.aborted) {
        let entries: LogEntry[];
        let trimmedId: string | null;
        try {
          // One write and one read per page instead of two round trips: Redis runs the GET as soon as the
          // XREAD returns, so it reads the trim state right after the page, as a second round trip did.
          const replies = await blocking.pipeline().xread('COUNT', TAIL_PAGE, 'BLOCK', TAIL_BLOCK_MS, 'STREAMS', this.#keys.log, streamId(cursor)).get(this.#keys.trimmed).exec();
          const [[readError, reply] = [], [trimmedError, trimmedReply] = []] = replies ?? [];
          if (readError ?? trimmedError) throw readError ?? trimmedError;
          trimmedId = typeof trimmedReply === 'string' ? trimmedReply : null;
          const decoded = decodeEntries(xreadEntries(reply), this.#signer);
          if (!decoded.ok) throw decoded.error;
          entries = decoded.entries;
        } catch (err) {
          if (signal.aborted) return;
          yield { kind: 'error', error: new Error(`tailing the log after ${streamId(cursor)}: ${(err as Error).message}`) };
          await new Promise((resolve) => setTimeout(resolve, TAIL_RETRY_MS));
          continue;
        }
        const trimmed = trimmedPast(cursor, trimmedId, entries[0]);
        if (trimmed) {
          yield { kind: 'gap', trimmedThrough: trimmed };
          return;
        }
        const last = entries[entries.length - 1];
        if (!last) {
          yield { kind: 'idle' };
          continue;
        }
        cursor = last.position;
        yield { kind: 'entries', entries };
      }
    } finally {
      signal.removeEventListener('abort', stop);
      blocking.disconnect();
    }
  }

  async bounds(): Promise<{ ok: true; bounds: LogBounds } | Unavailable> {
    try {
      const [exists, trimmedId, floorId] = await Promise.all([this.#redis.exists(this.#keys.log), this.#redis.get(this.#keys.trimmed), this.#redis.get(this.#keys.floor)]);
      const trimmedThrough = trimmedId ? positionOfStreamId(trimmedId) : undefined;
      const floor = floorId ? positionOfStreamId(floorId) : undefined;
      if (!exists) return { ok: true, bounds: { first: undefined, last: undefined, top: undefined, trimmedThrough, floor } };
      const info = await this.#redis.call('XINFO', 'STREAM', this.#keys.log);
      if (!Array.isArray(info)) return unavailable(new Error(`unexpected XINFO reply ${JSON.stringify(info)?.slice(0, 200)}`), 'reading the log bounds');
      const field = (name: string): unknown => info[info.indexOf(name) + 1];
      const idOf = (entry: unknown) => (Array.isArray(entry) && typeof entry[0] === 'string' ? positionOfStreamId(entry[0]) : undefined);
      const top = field('last-generated-id');
      return { ok: true, bounds: { first: idOf(field('first-entry')), last: idOf(field('last-entry')), top: typeof top === 'string' ? positionOfStreamId(top) : undefined, trimmedThrough, floor } };
    } catch (err) {
      return unavailable(err, 'reading the log bounds');
    }
  }

  async trim(token: LeaderToken, request: TrimRequest): Promise<TrimResult> {
    let raw: unknown;
    try {
      raw = await this.#trim(this.#keys.lease, this.#keys.log, this.#keys.trimmed, this.#keys.times, leaseValue(token), Math.max(0, Math.round(request.keepMs)), request.notAfter ? streamId(request.notAfter) : '');
    } catch (err) {
      return unavailable(err, 'trimming the log');
    }
    const [status, detail = ''] = replyOf(raw) ?? [];
    if (status === 'ok') return { ok: true, trimmedThrough: detail ? positionOfStreamId(detail) : undefined };
    if (status === 'deposed') return { ok: false, reason: 'deposed', detail: detail ? `the lease is held by ${detail}` : 'nobody holds the lease' };
    return unavailable(new Error(`unexpected reply ${JSON.stringify(raw)}`), 'trimming the log');
  }

  async reseed(token: LeaderToken, through: Position): Promise<{ ok: true } | { ok: false; reason: 'deposed'; detail: string } | Unavailable> {
    let raw: unknown;
    try {
      raw = await this.#reseed(this.#keys.lease, this.#keys.log, this.#keys.trimmed, leaseValue(token), streamId(through));
    } catch (err) {
      return unavailable(err, 'starting the log again');
    }
    const [status, detail = ''] = replyOf(raw) ?? [];
    if (status === 'ok') return { ok: true };
    if (status === 'deposed') return { ok: false, reason: 'deposed', detail: detail ? `the lease is held by ${detail}` : 'nobody holds the lease' };
    return unavailable(new Error(`unexpected reply ${JSON.stringify(raw)}`), 'starting the log again');
  }

  async raiseFloor(position: Position): Promise<{ ok: true; floor: Position } | Unavailable> {
    try {
      const raw = await this.#raiseFloor(this.#keys.floor, streamId(position));
      const floor = typeof raw === 'string' ? positionOfStreamId(raw) : undefined;
      return floor ? { ok: true, floor } : unavailable(new Error(`unexpected reply ${JSON.stringify(raw)}`), 'raising the log floor');
    } catch (err) {
      return unavailable(err, 'raising the log floor');
    }
  }
}
