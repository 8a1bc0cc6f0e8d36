// The replay process's control protocol: one JSON command per input line, one JSON answer per output
// line (see bench/replay-upstream.ts for the commands). A command's "id", when given, is echoed in its
// answer; `emit` answers when its emission ends and the others at once, so answers can come out of
// order. A malformed line or a failed command answers {"ok":false,"error":…}; nothing ends the loop but
// `stop` or the end of the input, which both call `onStop`.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { EmitOptions, EmitResult, ReplayStats } from '../replay-upstream.ts';
import type { KubeObject } from '../../streams/kube-object.ts';

/** What the commands drive (the ReplayUpstream). */
export interface Commandable {
  emit(options: EmitOptions): Promise<EmitResult>;
  modify(name: string): KubeObject;
  stats(): ReplayStats;
}

export function serveCommands(replay: Commandable, input: Readable, answer: (line: string) => void, onStop: () => void): void {
  const send = (value: Record<string, unknown>) => answer(JSON.stringify(value));
  const lines = createInterface({ input });
  lines.on('close', onStop);
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let command: Record<string, unknown>;
    try {
      command = JSON.parse(line) as Record<string, unknown>;
    } catch {
      send({ ok: false, error: `not JSON: ${line.slice(0, 200)}` });
      return;
    }
    const id = command.id === undefined ? {} : { id: command.id };
    const fail = (err: unknown) => send({ ...id, ok: false, error: err instanceof Error ? err.message : String(err) });
    try {
      switch (command.cmd) {
        case 'emit':
          replay.emit(command as unknown as EmitOptions).then((r) => send({ ...id, ok: true, ...r }), fail);
          break;
        case 'modify':
          send({ ...id, ok: true, resourceVersion: replay.modify(String(command.name)).metadata.resourceVersion });
          break;
        case 'stats':
          send({ ...id, ok: true, stats: replay.stats() });
          break;
        case 'stop':
          send({ ...id, ok: true });
          onStop();
          break;
        default:
          fail(new Error(`unknown command ${JSON.stringify(command.cmd)}`));
      }
    } catch (err) {
      fail(err);
    }
  });
}
