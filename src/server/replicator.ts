// A replica's part in the deployment (--redis): it always serves from its LogReplica (the change log
// read back), and while it holds the lease it also runs the upstream informers and records what they
// see into the log. Leading starts from the log: the informers' clock from the log's top, each informer
// from its type's objects and upstream resourceVersion there, so a new leader watches on where the
// last one stopped instead of listing everything again. The leader also writes snapshots of its replica
// and trims the log (keeping the watch history and everything after the oldest snapshot kept).
import type { ChangeLog } from '../../streams/change-log.ts';
import type { InformerHub } from '../../streams/informer-hub.ts';
import type { Leadership, Role } from '../../streams/leadership.ts';
import { LogRecorder, type RecorderFailure } from '../../streams/log-recorder.ts';
import type { LogReplica } from '../../streams/log-replica.ts';
import { LogTrimmer } from '../../streams/log-trimmer.ts';
import { comparePositions, formatPosition } from '../../streams/position.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import { SnapshotWriter, snapshotPolicyFor } from '../../streams/snapshot-writer.ts';
import type { Logger } from '../basics/log.ts';
import type { ReplicaObserver } from './replication-metrics.ts';

/** How long a new leader waits for its replica to have read the log up to the top before it records. */
const CATCH_UP_MS = 10_000;

export interface LeaseControl extends Leadership {
  start(): void;
  stop(): Promise<void>;
}

export type ReplicaRole = 'leader' | 'follower';

/** What the leader keeps up besides the log: snapshots, and the log's length. */
export interface LogUpkeep {
  snapshots: SnapshotStore;
  /** --watch-history: the log keeps at least this much; snapshots come every half of it (see snapshotPolicyFor). */
  watchHistoryMs: number;
}

export class Replicator {
  readonly #hub: InformerHub;
  readonly #replica: LogReplica;
  readonly #log: ChangeLog;
  readonly #lease: LeaseControl;
  readonly #logger: Logger;
  #recorder: LogRecorder | undefined;
  #role: ReplicaRole = 'follower';
  /** Bumped on every role change: a leader setup that awaited across one gives up. */
  #generation = 0;
  #unsubscribe: (() => void) | undefined;
  readonly #observer: ReplicaObserver | undefined;
  /** Run while leading. */
  readonly snapshotWriter: SnapshotWriter | undefined;
  readonly logTrimmer: LogTrimmer | undefined;

  constructor(hub: InformerHub, replica: LogReplica, log: ChangeLog, lease: LeaseControl, logger: Logger, upkeep?: LogUpkeep, observer?: ReplicaObserver) {
    this.#observer = observer;
    this.#hub = hub;
    this.#replica = replica;
    this.#log = log;
    this.#lease = lease;
    this.#logger = logger.child({ component: 'replicator' });
    if (upkeep) {
      const policy = snapshotPolicyFor(upkeep.watchHistoryMs);
      this.snapshotWriter = new SnapshotWriter(replica, upkeep.snapshots, lease, logger, policy);
      this.logTrimmer = new LogTrimmer(log, upkeep.snapshots, lease, logger, { keepMs: upkeep.watchHistoryMs, everyMs: policy.intervalMs });
    }
  }

  get role(): ReplicaRole {
    return this.#role;
  }

  start(): void {
    this.#replica.start();
    this.#unsubscribe = this.#lease.onChange((role) => void this.#onRole(role));
    this.#lease.start();
  }

  async #onRole(role: Role): Promise<void> {
    const generation = ++this.#generation;
    if (role.role !== 'leader') {
      this.#stopLeading(`follower: ${role.reason}`);
      return;
    }
    await this.#lead(generation);
  }

  async #lead(generation: number): Promise<void> {
    const bounds = await this.#log.bounds();
    if (!bounds.ok) {
      this.#logger.warn({ err: bounds.error.message }, 'leading, but the change log cannot be read: not recording until it can');
      return;
    }
    const top = bounds.bounds.top;
    if (top && !(await this.#replica.clock.waitFor(top, CATCH_UP_MS))) {
      this.#logger.warn({ top: formatPosition(top), at: formatPosition(this.#replica.position) }, 'leading, but this replica has not read the change log up to its top: not recording');
      return;
    }
    if (generation !== this.#generation) return;
    const from = top && comparePositions(top, this.#replica.clock.now) > 0 ? top : this.#replica.clock.now;
    this.#hub.clock.adopt(from);
    let seeded = 0;
    for (const reflector of this.#hub.reflectors()) {
      const store = this.#replica.store(reflector.type);
      if (store?.state !== 'synced' || !store.resourceVersion) continue;
      reflector.seed(store.list(), store.resourceVersion);
      seeded++;
    }
    this.#recorder = new LogRecorder(this.#hub, this.#log, this.#lease, this.#logger, (failure) => this.#onRecorderFailure(failure), this.#observer);
    this.#role = 'leader';
    this.#observer?.roleChanged('leader');
    this.#hub.setRunning(true);
    this.snapshotWriter?.start();
    this.logTrimmer?.start();
    this.#logger.info({ from: formatPosition(from), seeded }, 'leading: running the upstream informers, recording into the change log');
  }

  #onRecorderFailure(failure: RecorderFailure): void {
    this.#stopLeading(`the change log refused the appends (${failure.reason}: ${failure.detail})`);
    // Behind the log: another leader appended meanwhile, or this one's clock started too low. Start
    // again from the log, if the lease is still ours.
    if (failure.reason === 'behind' && this.#lease.token()) void this.#lead(++this.#generation);
  }

  #stopLeading(reason: string): void {
    this.snapshotWriter?.stop();
    this.logTrimmer?.stop();
    this.#recorder?.stop();
    this.#recorder = undefined;
    const wasLeader = this.#role === 'leader';
    this.#role = 'follower';
    this.#hub.setRunning(false);
    if (wasLeader) this.#observer?.roleChanged('follower');
    if (wasLeader) this.#logger.warn({ reason }, 'no longer leading: upstream informers stopped');
    else this.#logger.info({ reason }, 'following the change log');
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.snapshotWriter?.stop();
    this.logTrimmer?.stop();
    this.#recorder?.stop();
    await this.#lease.stop();
    await this.#replica.stop();
  }
}
