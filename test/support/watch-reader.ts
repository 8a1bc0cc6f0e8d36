// Reads a raw watch stream (chunked HTTP, one JSON event per line) as it arrives: every event with the
// time it came, the time the stream ended, and waits for events matching a predicate. Lines must be
// complete JSON; anything else is recorded as a parse failure and fails the waits.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { eventually } from './eventually.ts';
import type { KubeHttp, RequestOptions } from './kube-http.ts';

export interface WatchEvent {
  type: string;
  object: { kind?: string; apiVersion?: string; metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> }; [k: string]: unknown };
}

export interface TimedEvent {
  event: WatchEvent;
  /** Milliseconds since the request was sent. */
  atMs: number;
  /** The raw line, without its newline. */
  line: string;
}

export class WatchReader {
  readonly events: TimedEvent[] = [];
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly startedAt: number;
  /** Milliseconds since the request was sent when the stream ended, once it has. */
  endedAtMs: number | undefined;
  error: Error | undefined;
  body = '';
  readonly #req: ClientRequest;
  readonly #res: IncomingMessage;
  readonly #waiters = new Set<() => void>();
  #partial = '';

  private constructor(req: ClientRequest, res: IncomingMessage, startedAt: number) {
    this.#req = req;
    this.#res = res;
    this.status = res.statusCode ?? 0;
    this.headers = res.headers;
    this.startedAt = startedAt;
    res.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      this.body += text;
      this.#partial += text;
      let nl: number;
      while ((nl = this.#partial.indexOf('\n')) >= 0) {
        const line = this.#partial.slice(0, nl);
        this.#partial = this.#partial.slice(nl + 1);
        if (line.trim() === '') continue;
        try {
          this.events.push({ event: JSON.parse(line) as WatchEvent, atMs: Date.now() - startedAt, line });
        } catch (err) {
          this.error ??= new Error(`not a JSON event line: ${line.slice(0, 300)} (${(err as Error).message})`);
        }
      }
      this.#notify();
    });
    const end = () => {
      this.endedAtMs ??= Date.now() - startedAt;
      this.#notify();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', (err) => {
      this.error ??= err;
      end();
    });
  }

  static async open(client: KubeHttp, path: string, options: RequestOptions = {}): Promise<WatchReader> {
    const startedAt = Date.now();
    const { req, res } = await client.stream('GET', path, options);
    return new WatchReader(req, res, startedAt);
  }

  get ended(): boolean {
    return this.endedAtMs !== undefined;
  }

  types(): string[] {
    return this.events.map((e) => e.event.type);
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves with the first event (from index `from`) matching `match`. */
  waitFor(match: (e: WatchEvent) => boolean, what: string, timeoutMs = 15_000, from = 0): Promise<TimedEvent> {
    return this.#wait(() => this.events.slice(from).find((e) => match(e.event)), what, timeoutMs);
  }

  /** Resolves once at least `count` events have arrived. */
  waitForCount(count: number, what: string, timeoutMs = 15_000): Promise<TimedEvent[]> {
    return this.#wait(() => (this.events.length >= count ? this.events.slice(0, count) : undefined), what, timeoutMs);
  }

  /** Resolves once the server has ended the stream. */
  waitForEnd(timeoutMs = 15_000): Promise<number> {
    return this.#wait(() => this.endedAtMs, 'the end of the stream', timeoutMs);
  }

  #wait<T>(probe: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.error) return finish(() => reject(this.error));
        const found = probe();
        if (found !== undefined) return finish(() => resolve(found));
        if (this.ended) return finish(() => reject(new Error(`stream ended before ${what}; events: ${this.#summary()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms; events: ${this.#summary()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  #summary(): string {
    return JSON.stringify(this.events.map((e) => `${e.atMs}ms ${e.event.type} ${e.event.object.metadata?.name ?? e.event.object.kind ?? ''}`)).slice(0, 3_000);
  }

  /** Stops reading the socket, as a client that is stuck or too slow: the server's writes back up. */
  pause(): void {
    this.#res.pause();
  }

  resume(): void {
    this.#res.resume();
  }

  close(): void {
    this.#req.destroy();
  }
}

export interface ListedItems {
  metadata: { resourceVersion: string };
  items: { metadata: { name: string; resourceVersion: string } }[];
}

/**
 * What a client does at start (and after a 410): lists `path` until the list is what `accept` wants,
 * then watches from the list's resourceVersion.
 */
export async function watchAfterList(client: KubeHttp, path: string, accept: (list: ListedItems) => boolean, what: string): Promise<{ list: ListedItems; reader: WatchReader }> {
  const listed = await eventually(() => client.json<ListedItems>('GET', path).catch(() => undefined), (l) => l !== undefined && accept(l), what, 30_000);
  const list = listed as ListedItems;
  return { list, reader: await WatchReader.open(client, `${path}?watch=1&resourceVersion=${list.metadata.resourceVersion}`) };
}
