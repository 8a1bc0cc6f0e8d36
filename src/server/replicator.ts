// A replica's part in the deployment (--redis): it always serves from its LogReplica (the change log
// read back), and while it holds the lease it also runs the upstream informers and records what they
// see into the log. Leading starts from the log: the informers' clock from the log's top, each informer
// from its type's objects and upstream resourceVersion there, so a new leader watches on where the
// last one stopped instead of listing everything again. The leader also writes snapshots of its replica
// and trims the log (keeping the watch history and everything after the oldest snapshot kept).
//
// A replica that cannot read the log for --lease-ttl is degraded: it runs its own upstream informers
// (from its stores' resourceVersions, so its watchers go on exactly) and hands out local positions
// (position.ts) that no other replica serves. Once Redis answers it rejoins: as a follower when the log
// has moved past it (its views get the difference from the log's state, at the log's position), or as
// the leader, which starts the log again above every position it handed out (ChangeLog.reseed: every
// follower behind that reloads the snapshot written there). The same start-again covers a log that lost
// its tail (FLUSHALL, a Redis restarted empty, a failover that dropped acknowledged writes).
import type { ChangeLog } from '../../streams/change-log.ts';
import type { InformerHub } from '../../streams/informer-hub.ts';
import type { Leadership, Role } from '../../streams/leadership.ts';
import { LogRecorder, type RecorderFailure } from '../../streams/log-recorder.ts';
import { LogReplica } from '../../streams/log-replica.ts';
import { LogTrimmer } from '../../streams/log-trimmer.ts';
import { LocalRecorder } from '../../streams/local-recorder.ts';
import { comparePositions, formatPosition, localPosition, randomLocalTag, ZERO, type Position } from '../../streams/position.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import { SnapshotWriter, snapshotPolicyFor } from '../../streams/snapshot-writer.ts';
import type { Logger } from '../basics/log.ts';
import { withTimeout } from '../basics/with-timeout.ts';
import type { ReplicaObserver } from './replication-metrics.ts';

/** How long a new leader waits for its replica to have read the log up to the top before it records. */
const CATCH_UP_MS = 10_000;

export interface LeaseControl extends Leadership {
  start(): void;
  stop(): Promise<void>;
  /** Gives the lease up and does not try to take it again for `holdOffMs`. */
  stepDown(reason: string, holdOffMs: number): Promise<void>;
}

export type ReplicaRole = 'leader' | 'follower' | 'degraded';

export const REPLICA_ROLES: readonly ReplicaRole[] = ['leader', 'follower', 'degraded'];

/** How often a replica checks its reading of the log (degrade), Redis (rejoin) and the log's floor (leader). */
const CHECK_INTERVAL_MS = 1_000;
/** A probe of Redis that takes longer than this counts as unanswered (a stopped server never answers). */
const PROBE_TIMEOUT_MS = 2_000;
/**
 * A leader whose upstream lists and watches of a type have all failed this long (refused credentials, a
 * network path of its own that is down) gives the lease up for another replica to try, and waits as
 * long again before trying itself: longer than an apiserver restart, which fails every replica alike.
 */
const UPSTREAM_STEP_DOWN_MS = 30_000;

export interface ReplicatorOptions {
  /** Where replicas start from, and what the leader writes: snapshots. */
  snapshots: SnapshotStore;
  /** --watch-history: the log keeps at least this much; snapshots come every half of it (see snapshotPolicyFor). */
  watchHistoryMs: number;
  /** A replica that cannot read the log this long runs on its own (degraded). */
  degradeAfterMs: number;
  observer?: ReplicaObserver;
}

/** A degraded replica's time on its own. */
interface LocalPeriod {
  tag: number;
  recorder: LocalRecorder;
  /** Epoch ms. */
  since: number;
  /** Since when (epoch ms) its recorder holds back what the informers bring, for the log to get past it. */
  holdingSince?: number;
}

/**
 * How long a degraded replica that reaches Redis again holds its own changes back, waiting for the log
 * to get past its position (the leader moves it above the floor within a check), before it applies them
 * and tries again.
 */
const REJOIN_HOLD_MS = 5_000;

export class Replicator {
  readonly #hub: InformerHub;
  readonly #replica: LogReplica;
  readonly #log: ChangeLog;
  readonly #lease: LeaseControl;
  readonly #logger: Logger;
  readonly #options: ReplicatorOptions;
  #recorder: LogRecorder | undefined;
  /** While degraded: what the replica's own informers record, at positions of this tag. */
  #local: LocalPeriod | undefined;
  #role: ReplicaRole = 'follower';
  /** Bumped on every role change: a leader setup that awaited across one gives up. */
  #generation = 0;
  #unsubscribe: (() => void) | undefined;
  #checks: NodeJS.Timeout | undefined;
  /** A check (degrade, rejoin, floor) is running: the next tick skips. */
  #checking = false;
  readonly #observer: ReplicaObserver | undefined;
  /** Run while leading. */
  readonly snapshotWriter: SnapshotWriter;
  readonly logTrimmer: LogTrimmer;

  constructor(hub: InformerHub, replica: LogReplica, log: ChangeLog, lease: LeaseControl, logger: Logger, options: ReplicatorOptions) {
    this.#observer = options.observer;
    this.#options = options;
    this.#hub = hub;
    this.#replica = replica;
    this.#log = log;
    this.#lease = lease;
    this.#logger = logger.child({ component: 'replicator' });
    const policy = snapshotPolicyFor(options.watchHistoryMs);
    this.snapshotWriter = new SnapshotWriter(replica, options.snapshots, lease, logger, policy);
    this.logTrimmer = new LogTrimmer(log, options.snapshots, lease, logger, { keepMs: options.watchHistoryMs, everyMs: policy.intervalMs });
  }

  get role(): ReplicaRole {
    return this.#role;
  }

  /** While degraded: since when (epoch ms). */
  get degradedSince(): number | undefined {
    return this.#local?.since;
  }

  start(): void {
    this.#replica.start();
    this.#unsubscribe = this.#lease.onChange((role) => void this.#onRole(role));
    this.#lease.start();
    this.#checks = setInterval(() => void this.#check(), CHECK_INTERVAL_MS);
    this.#checks.unref();
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      if (this.#role === 'degraded') await this.#tryRejoin();
      else if (this.#replica.failingForMs >= this.#options.degradeAfterMs) await this.#degrade();
      else if (this.#role === 'leader' && !(await this.#stepDownIfUpstreamFails())) await this.#keepAboveFloor();
    } finally {
      this.#checking = false;
    }
  }

  async #onRole(role: Role): Promise<void> {
    const generation = ++this.#generation;
    if (role.role !== 'leader') {
      if (this.#role === 'leader') this.#stopLeading(`follower: ${role.reason}`);
      return;
    }
    await this.#lead(generation);
  }

  async #lead(generation: number): Promise<void> {
    let bounds = await this.#log.bounds();
    if (!bounds.ok) {
      this.#logger.warn({ err: bounds.error.message }, 'leading, but the change log cannot be read: not recording until it can');
      return;
    }
    if (this.#role === 'degraded' && bounds.bounds.top && comparePositions(bounds.bounds.top, this.#replica.position) > 0) {
      // Another leader recorded while this replica ran on its own: take the log's state first.
      if (!(await this.#rejoin(bounds.bounds.top))) return;
      bounds = await this.#log.bounds();
      if (!bounds.ok) return;
    }
    if (generation !== this.#generation) return;
    const { top, floor } = bounds.bounds;
    // The log lacks this replica's state: it lost its tail, or this replica ran on its own.
    const lost = comparePositions(this.#replica.position, ZERO) > 0 && (!top || comparePositions(top, this.#replica.position) < 0);
    if (!lost && top && !(await this.#replica.clock.waitFor(top, CATCH_UP_MS))) {
      this.#logger.warn({ top: formatPosition(top), at: formatPosition(this.#replica.position) }, 'leading, but this replica has not read the change log up to its top: not recording');
      return;
    }
    // Above everything any replica may have read from a lost log too (a follower may have read entries
    // this replica had not): every follower then reloads the snapshot taken there.
    const current = lost
      ? await this.#hub.upstreamRevision().catch((err: Error) => {
          this.#logger.warn({ err: err.message }, 'the apiserver\'s current revision is unknown: a follower that read further in the lost log than this replica may not reload');
          return undefined;
        })
      : undefined;
    if (generation !== this.#generation) return;
    const degraded = this.#local !== undefined;
    let seeded = 0;
    // A degraded replica's informers run already, and its replica holds exactly what they saw.
    if (!this.#local) {
      this.#hub.clock.adopt(top && comparePositions(top, this.#replica.clock.now) > 0 ? top : this.#replica.clock.now);
      seeded = this.#seedInformers();
    }
    let recorder: LogRecorder;
    if (lost) {
      const started = await this.#startLogAgain(Math.max(top?.rv ?? 0, floor?.rv ?? 0, current ?? 0), top);
      if (!started) return;
      recorder = started;
    } else {
      // The local recorder hands over to the log in the same turn: nothing the hub processes falls between.
      this.#local?.recorder.stop();
      recorder = this.#newRecorder(false);
    }
    this.#local = undefined;
    this.#recorder = recorder;
    recorder.release();
    this.#setRole('leader');
    this.#hub.setRunning(true);
    if (degraded || lost) this.#replica.resume();
    this.snapshotWriter.start();
    this.logTrimmer.start();
    this.#logger.info({ from: formatPosition(this.#hub.clock.now), seeded, startedAgain: lost, wasDegraded: degraded }, 'leading: running the upstream informers, recording into the change log');
  }

  /**
   * Starts the log again above revision `above` and every position this replica handed out, from its
   * state: the replica moves there, a snapshot of it is written, then the log is marked trimmed through
   * it (followers behind reload that snapshot). Returns the recorder, held, that queued what the hub
   * processed meanwhile (a degraded replica's informers never stop); undefined when the log could not be
   * started again.
   */
  async #startLogAgain(above: number, top: Position | undefined): Promise<LogRecorder | undefined> {
    const token = this.#lease.token();
    if (!token) return undefined;
    await this.#replica.suspend();
    // From the local recorder to the held one in one turn, the clock past `position` first: what the hub
    // processes from here on is queued after the snapshot, for the log.
    const local = this.#local;
    local?.recorder.release();
    local?.recorder.stop();
    const position = { rv: Math.max(above, this.#replica.clock.now.rv, this.#hub.clock.now.rv) + 1, seq: 0 };
    this.#replica.jumpTo(position);
    this.#hub.clock.adopt(position);
    const recorder = this.#newRecorder(true);
    const written = await this.snapshotWriter.write();
    const reseeded = written ? await this.#log.reseed(token, position) : undefined;
    if (!written || !reseeded?.ok) {
      const why = !written ? 'the snapshot could not be written' : reseeded && !reseeded.ok ? (reseeded.reason === 'deposed' ? reseeded.detail : reseeded.error.message) : '';
      this.#logger.warn({ at: formatPosition(position), why }, 'the change log lacks this replica\'s state, and starting it again failed: not leading');
      const queued = recorder.abandon();
      if (local && this.#local === local) {
        // Still on its own: what the hub processed meanwhile is this replica's, at local positions.
        for (const entry of queued) this.#replica.apply({ ...entry, position: localPosition(entry.position, local.tag) });
        local.recorder = new LocalRecorder(this.#hub, this.#replica, local.tag);
        local.holdingSince = undefined;
      }
      this.#replica.resume();
      return undefined;
    }
    this.#logger.warn({ at: formatPosition(position), top: top ? formatPosition(top) : 'none' }, 'the change log lacked this replica\'s state (it lost entries, or this replica ran on its own): started it again from a snapshot of this replica; followers behind reload it');
    return recorder;
  }

  /** Records what the hub processes into the log (`held`: queued until released). */
  #newRecorder(held: boolean): LogRecorder {
    return new LogRecorder(this.#hub, this.#log, this.#lease, this.#logger, (failure) => this.#onRecorderFailure(failure), this.#observer, held);
  }

  #seedInformers(): number {
    let seeded = 0;
    for (const reflector of this.#hub.reflectors()) {
      const store = this.#replica.store(reflector.type);
      if (store?.state !== 'synced' || !store.resourceVersion) continue;
      reflector.seed(store.list(), store.resourceVersion);
      seeded++;
    }
    return seeded;
  }

  /** Reading the log has failed for too long: run the upstream informers here, recording locally. */
  async #degrade(): Promise<void> {
    const wasLeader = this.#role === 'leader';
    this.#stopLeading('Redis does not answer', true);
    await this.#replica.suspend();
    const tag = randomLocalTag();
    this.#replica.beginLocal(tag);
    this.#hub.clock.adopt(this.#replica.clock.now);
    const seeded = this.#seedInformers();
    this.#local = { tag, recorder: new LocalRecorder(this.#hub, this.#replica, tag), since: Date.now() };
    this.#setRole('degraded');
    this.#hub.setRunning(true);
    this.#logger.warn({ at: formatPosition(this.#replica.position), failingForMs: Math.round(this.#replica.failingForMs), wasLeader, seeded }, 'degraded: the change log cannot be read; running this replica\'s own upstream informers until Redis answers (resourceVersions handed out meanwhile are resumable on this replica only)');
  }

  /**
   * While degraded: once Redis answers and the log has moved past this replica, follow it again. The log
   * and this replica see the same upstream changes at the same revisions, so under steady changes the
   * log would never get past a replica that keeps applying them: once Redis answers, it holds them back
   * (its watchers wait; they get the log's state at the rejoin) until the log is past its last position.
   */
  async #tryRejoin(): Promise<void> {
    const local = this.#local;
    if (!local) return;
    const bounds = await withTimeout(this.#log.bounds(), PROBE_TIMEOUT_MS);
    if (!bounds?.ok) return this.#stopHolding(local);
    local.holdingSince ??= Date.now();
    local.recorder.hold();
    // Whoever leads appends above every position handed out here (#keepAboveFloor).
    const raised = await withTimeout(this.#log.raiseFloor(this.#replica.clock.now), PROBE_TIMEOUT_MS);
    if (!raised?.ok) return this.#stopHolding(local);
    const { top } = bounds.bounds;
    const past = top !== undefined && comparePositions(top, this.#replica.position) > 0;
    if (past && this.#role === 'degraded' && (await this.#rejoin(top))) return;
    if (this.#local === local && Date.now() - local.holdingSince >= REJOIN_HOLD_MS) this.#stopHolding(local);
  }

  /** Applies what a degraded replica held back, and goes on applying (it is still on its own). */
  #stopHolding(local: LocalPeriod): void {
    if (local.holdingSince === undefined) return;
    local.holdingSince = undefined;
    local.recorder.release();
  }

  /** Takes the log's state (at a position past this replica's) and follows the log again. */
  async #rejoin(top: Position): Promise<boolean> {
    const local = this.#local;
    if (!local) return true;
    const shadow = new LogReplica(this.#log, this.#logger, this.#options.snapshots);
    try {
      const read = await shadow.readToTop();
      if (!read.ok || comparePositions(shadow.position, this.#replica.position) <= 0 || this.#local !== local) return false;
      local.recorder.stop();
      this.#hub.setRunning(false);
      const from = this.#replica.position;
      this.#replica.restore(shadow.snapshot());
      this.#replica.endLocal(shadow.position);
      this.#local = undefined;
      this.#replica.resume();
      this.#setRole('follower');
      this.#logger.info({ from: formatPosition(from), at: formatPosition(shadow.position), top: formatPosition(top), degradedForMs: Date.now() - local.since }, 'Redis answers again: following the change log (views got the difference from its state)');
      return true;
    } finally {
      await shadow.stop();
    }
  }

  /** Leader: steps down when a type's upstream list and watch have failed for UPSTREAM_STEP_DOWN_MS. */
  async #stepDownIfUpstreamFails(): Promise<boolean> {
    const failing = this.#hub.reflectors().find((r) => r.failingForMs >= UPSTREAM_STEP_DOWN_MS);
    if (!failing) return false;
    const reason = `the upstream ${failing.type.resource} list/watch has failed for ${Math.round(failing.failingForMs / 1000)} s: ${failing.lastError}`;
    this.#logger.warn({ reason, holdOffMs: UPSTREAM_STEP_DOWN_MS }, 'stepping down: another replica may reach the apiserver');
    this.#stopLeading(reason, true);
    await this.#lease.stepDown(reason, UPSTREAM_STEP_DOWN_MS);
    return true;
  }

  /**
   * Leader: a degraded replica handed out positions up to the floor, and rejoins once the log's top is
   * past them: the log goes on above them at once (with an entry), not at the next upstream change.
   */
  async #keepAboveFloor(): Promise<void> {
    const bounds = await withTimeout(this.#log.bounds(), PROBE_TIMEOUT_MS);
    if (!bounds?.ok || !this.#recorder) return;
    const { floor, top } = bounds.bounds;
    if (!floor || (top && comparePositions(top, floor) > 0)) return;
    this.#recorder.moveAbove({ rv: floor.rv + 1, seq: 0 });
    this.#logger.info({ floor: formatPosition(floor), at: formatPosition(this.#hub.clock.now) }, 'moved the change log above the positions a degraded replica handed out');
  }

  #onRecorderFailure(failure: RecorderFailure): void {
    this.#stopLeading(`the change log refused the appends (${failure.reason}: ${failure.detail})`);
    // Behind the log: another leader appended meanwhile, or this one's clock started too low. Start
    // again from the log, if the lease is still ours.
    if (failure.reason === 'behind' && this.#lease.token()) void this.#lead(++this.#generation);
  }

  #setRole(role: ReplicaRole): void {
    if (role === this.#role) return;
    this.#role = role;
    this.#observer?.roleChanged(role);
  }

  #stopLeading(reason: string, quiet = false): void {
    this.snapshotWriter.stop();
    this.logTrimmer.stop();
    this.#recorder?.stop();
    this.#recorder = undefined;
    const wasLeader = this.#role === 'leader';
    this.#hub.setRunning(false);
    if (!wasLeader) return;
    this.#setRole('follower');
    if (!quiet) this.#logger.warn({ reason }, 'no longer leading: upstream informers stopped');
  }

  async stop(): Promise<void> {
    if (this.#checks) clearInterval(this.#checks);
    this.#unsubscribe?.();
    this.snapshotWriter.stop();
    this.logTrimmer.stop();
    this.#recorder?.stop();
    this.#local?.recorder.stop();
    await this.#lease.stop();
    await this.#replica.stop();
  }
}
