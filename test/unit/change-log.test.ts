// The ChangeLog conformance suite on the in-memory log (the single-process deployment's).
import type { LeaderToken } from '../../streams/change-log.ts';
import { MemoryChangeLog } from '../../streams/memory-change-log.ts';
import { changeLogConformance } from '../support/change-log-conformance.ts';

changeLogConformance('memory', async () => {
  let holder: LeaderToken | undefined;
  let epoch = 0;
  return {
    log: new MemoryChangeLog({ leaseHolder: () => holder }),
    lead: async () => (holder = { epoch: ++epoch, holder: 'this-process' }),
    close: async () => undefined,
  };
});
