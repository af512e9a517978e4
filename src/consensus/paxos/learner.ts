import { applyConfChange } from "../membership.js";
import { assert, logIndex } from "../types.js";
import type { Entry, LogIndex, Membership, Snapshot } from "../types.js";
import type { PaxosLog } from "./log.js";

/**
 * Learner is the Paxos learner ("Paxos Made Simple" §2.3): it records which
 * slots are chosen and hands chosen values to the state machine, in slot order,
 * never one that is not chosen.
 *
 * `commit` is the highest slot such that every slot in [1, commit] is chosen
 * AND this replica's log holds the chosen value for it (the engine only moves
 * it under that condition). Membership changes take effect here, when their
 * slot becomes chosen: `membership` is the configuration after every config
 * entry in [1, commit].
 *
 * (Not to be confused with `Membership.learners`, the non-voting members: every
 * replica, voter or not, runs this role.)
 */
export class Learner {
  commit: LogIndex;
  /** applyHandedTo is the last slot handed to the driver for applying. */
  applyHandedTo: LogIndex;
  /** applied is the last slot the driver confirmed applied (via advance). */
  applied: LogIndex;
  membership: Membership;
  /** base is the configuration at the log's snapshot index (the bootstrap one before any snapshot). */
  base: Membership;
  /** pendingSnapshot is an installed snapshot not yet handed to the driver. */
  pendingSnapshot: Snapshot | null = null;

  constructor(
    private readonly log: PaxosLog,
    commit: LogIndex,
    bootstrap: Membership,
  ) {
    const base = log.snapshotIndex();
    assert(commit <= log.lastIndex(), `durable commit ${commit} beyond the log's last slot ${log.lastIndex()}`);
    this.commit = logIndex(Math.max(commit, base));
    this.applyHandedTo = base;
    this.applied = base;
    this.base = log.snapshot?.meta.membership ?? bootstrap;
    this.membership = this.membershipAt(this.commit);
  }

  /** membershipAt computes the configuration after the config entries in (snapshotIndex, slot]. */
  membershipAt(slot: number): Membership {
    let m = this.base;
    for (const e of this.log.slice(this.log.snapshotIndex() + 1, slot + 1)) {
      if (e.type !== "config") continue;
      const r = applyConfChange(m, e.change);
      // A change that does not apply is a no-op on every replica alike.
      if (r.ok) m = r.membership;
    }
    return m;
  }

  /**
   * commitTo marks every slot up to `slot` chosen; the caller guarantees the
   * local log holds the chosen values. It returns the config entries that
   * became chosen, in order (their membership is already in effect).
   */
  commitTo(slot: number): Entry[] {
    if (slot <= this.commit) return [];
    assert(slot <= this.log.lastIndex(), `commit ${slot} beyond the log's last slot ${this.log.lastIndex()}`);
    const configs: Entry[] = [];
    for (const e of this.log.slice(this.commit + 1, slot + 1)) {
      if (e.type !== "config") continue;
      const r = applyConfChange(this.membership, e.change);
      if (r.ok) this.membership = r.membership;
      configs.push(e);
    }
    this.commit = logIndex(slot);
    return configs;
  }

  /** installSnapshot learns a snapshot's chosen prefix; the log has already installed it. */
  installSnapshot(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    if (index > this.commit) this.commit = index;
    this.base = snapshot.meta.membership;
    this.membership = this.membershipAt(this.commit);
    this.pendingSnapshot = snapshot;
  }

  hasCommittedToApply(): boolean {
    return this.commit > this.applyHandedTo;
  }

  /** takeSnapshot hands out a pending snapshot; applying resumes after it. */
  takeSnapshot(): Snapshot | null {
    const s = this.pendingSnapshot;
    this.pendingSnapshot = null;
    if (s !== null && s.meta.index > this.applyHandedTo) this.applyHandedTo = s.meta.index;
    return s;
  }

  /** takeCommitted hands out the chosen values not yet handed out, in slot order. */
  takeCommitted(): Entry[] {
    const from = Math.max(this.applyHandedTo, this.log.snapshotIndex()) + 1;
    const out = this.log.slice(from, this.commit + 1);
    assert(out.length === this.commit - from + 1 || this.commit < from, "a chosen slot is missing from the log");
    this.applyHandedTo = logIndex(Math.max(this.applyHandedTo, this.commit));
    return out;
  }

  appliedTo(slot: number): void {
    if (slot > this.applied) this.applied = logIndex(slot);
  }
}
