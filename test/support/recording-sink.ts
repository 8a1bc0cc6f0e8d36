// A watch sink with no socket behind it, for tests of the stream logic: it keeps every event a watcher
// writes, and a subclass can act on each one as a client would.
import type { WatchSink } from '../../src/serve/watch-sink.ts';
import type { EventBytes } from '../../src/views/encoder.ts';

export class RecordingSink implements WatchSink {
  readonly written: EventBytes[] = [];
  closed = false;

  write(event: EventBytes): boolean {
    this.written.push(event);
    this.received(event);
    return true;
  }

  /** Called on every event written, after it is recorded. */
  protected received(_event: EventBytes): void {}

  /** The events as an HTTP/2 or websocket client reads them: one JSON line each. */
  lines(): string[] {
    return this.written.map((e) => e.line.toString('utf8'));
  }

  /** The events as chunked HTTP/1.1 frames, the way they go to the socket. */
  chunks(): string[] {
    return this.written.map((e) => e.chunk.toString('utf8'));
  }

  end(): void {
    this.closed = true;
  }

  destroy(): void {
    this.closed = true;
  }

  onDrain(): void {}
  onClose(): void {}
}
