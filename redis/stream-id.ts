// Positions as Stream IDs: `<rv>.<seq>` is `<rv>-<seq>`, so Redis itself keeps the log in position order
// and refuses an ID at or below the top.
import type { Position } from '../streams/position.ts';

export function streamId(position: Position): string {
  return `${position.rv}-${position.seq}`;
}

export function positionOfStreamId(id: string): Position | undefined {
  const m = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  return m ? { rv: Number(m[1]), seq: Number(m[2]) } : undefined;
}
