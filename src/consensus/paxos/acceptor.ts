import { assert, logIndex } from "../types.js";
import type { Entry, LogIndex, Term } from "../types.js";
import { zeroBallot } from "./ballot.js";
import { entryBytes } from "./log.js";
import type { PaxosLog } from "./log.js";

/** MessageBounds caps the entries one message carries; at least one entry always goes. */
export interface MessageBounds {
  readonly entriesMax: number;
  readonly bytesMax: number;
}

/** PrepareOutcome is an acceptor's answer to phase 1a. */
export type PrepareOutcome =
  | { readonly kind: "nack"; readonly promised: Term }
  | { readonly kind: "promise"; readonly entries: readonly Entry[]; readonly complete: boolean; readonly compacted: boolean };

/** AcceptOutcome is an acceptor's answer to phase 2a (and to heartbeats, which carry no values). */
export type AcceptOutcome =
  | { readonly kind: "nack"; readonly promised: Term }
  | { readonly kind: "reject"; readonly prefix: LogIndex }
  | { readonly kind: "ok"; readonly prefix: LogIndex };

/**
 * Acceptor is the Paxos acceptor of every slot at once ("Paxos Made Simple" §2.2):
 *
 * - phase 1b: on prepare(n) with n >= promised, promise n (for every slot from
 *   the requested one on) and report the highest-ballot value accepted per slot;
 * - phase 2b: on accept(n, v) with n >= promised, accept v — the promise is
 *   raised to n too, so promised >= every accepted ballot, always.
 *
 * The promise is durable before any reply leaves (the engine puts it in the
 * Ready's hard state; the replies are Ready messages, sent after persisting).
 *
 * Besides the pure role it tracks its consistent prefix with the current
 * leader: `matchBallot`/`matchUpTo` say that every slot in (commit, matchUpTo]
 * holds what leader `matchBallot` sent for it. That is what lets a commit index
 * announced by that leader be applied here safely: a slot is only marked chosen
 * when its local value is known to be the leader's, never a stale value
 * accepted under an older ballot.
 */
export class Acceptor {
  /** promised is the highest ballot promised, in memory. */
  promised: Term;
  /** durablePromised is the promise as it goes into the hard state (differs only under a planted fault). */
  durablePromised: Term;
  private matchBallot: Term = zeroBallot;
  private matchUpTo = 0;

  constructor(
    private readonly log: PaxosLog,
    promised: Term,
    private readonly faults: { readonly acceptBelowPromise: boolean; readonly forgetPromisePersist: boolean },
  ) {
    this.promised = promised;
    this.durablePromised = promised;
  }

  /** prepare is phase 1b. `bounds` null means unbounded (a proposer's own promise to itself). */
  prepare(ballot: Term, fromSlot: LogIndex, bounds: MessageBounds | null): PrepareOutcome {
    if (ballot < this.promised) return { kind: "nack", promised: this.promised };
    if (ballot > this.promised) {
      this.promised = ballot;
      // Planted fault: the promise is acted on without being written down.
      if (!this.faults.forgetPromisePersist) this.durablePromised = ballot;
    }
    if (fromSlot <= this.log.snapshotIndex()) return { kind: "promise", entries: [], complete: false, compacted: true };
    const last = this.log.lastIndex();
    const entries: Entry[] = [];
    let bytes = 0;
    for (let slot = fromSlot; slot <= last; slot++) {
      const e = this.log.entry(slot);
      assert(e !== undefined, `slot ${slot} missing below lastIndex`);
      if (bounds !== null && entries.length > 0) {
        if (entries.length >= bounds.entriesMax || bytes + entryBytes(e) > bounds.bytesMax) {
          return { kind: "promise", entries, complete: false, compacted: false };
        }
      }
      entries.push(e);
      bytes += entryBytes(e);
    }
    return { kind: "promise", entries, complete: true, compacted: false };
  }

  /**
   * accept is phase 2b for a contiguous batch. Entries at or below
   * `leaderCommit` are chosen values the leader is copying to this lagging
   * acceptor; later ones are proposals under `ballot`. The batch must start at
   * or below prefix + 1 (no holes: an Entry cannot express "nothing accepted"),
   * otherwise it is rejected with the prefix to resume from.
   */
  accept(ballot: Term, entries: readonly Entry[], leaderCommit: LogIndex, commit: LogIndex): AcceptOutcome {
    const below = ballot < this.promised;
    if (below && !this.faults.acceptBelowPromise) return { kind: "nack", promised: this.promised };
    this.raisePromise(ballot);
    const prefix = this.prefixFor(ballot, commit);
    const first = entries[0];
    if (first === undefined) return { kind: "ok", prefix };
    if (first.index > prefix + 1) return { kind: "reject", prefix };
    let expected = first.index;
    for (const e of entries) {
      assert(e.index === expected, `accept batch is not contiguous at slot ${e.index}`);
      expected++;
      if (e.index <= prefix) continue; // already holds the leader's value (or a chosen one)
      assert(e.index <= leaderCommit || e.term === ballot || below, `slot ${e.index} proposed under ${e.term}, not ${ballot}`);
      this.log.write(e);
    }
    this.matchUpTo = Math.max(this.matchUpTo, expected - 1);
    return { kind: "ok", prefix: this.prefixFor(ballot, commit) };
  }

  /** heartbeat checks a leader's ballot against the promise; it changes nothing durable. */
  heartbeat(ballot: Term, commit: LogIndex): AcceptOutcome {
    if (ballot < this.promised) return { kind: "nack", promised: this.promised };
    return { kind: "ok", prefix: this.prefixFor(ballot, commit) };
  }

  /**
   * prefixFor is the highest slot p such that [1, p] holds leader `ballot`'s
   * values or chosen ones: everything up to the local commit index, plus what
   * this ballot's leader sent contiguously after it.
   */
  prefixFor(ballot: Term, commit: LogIndex): LogIndex {
    this.syncMatch(ballot, commit);
    return logIndex(Math.max(commit, Math.min(this.matchUpTo, this.log.lastIndex())));
  }

  /**
   * syncMatch starts tracking a new leader's ballot. Its starting point comes
   * from the durable log, so it survives a restart: an entry whose term is
   * `ballot` holds exactly what that ballot's leader proposed for the slot (a
   * ballot proposes one value per slot), so the run of such entries right after
   * the commit index already matches the leader.
   */
  private syncMatch(ballot: Term, commit: LogIndex): void {
    if (this.matchBallot === ballot) return;
    this.matchBallot = ballot;
    let upTo: number = commit;
    while (this.log.entry(upTo + 1)?.term === ballot) upTo++;
    this.matchUpTo = upTo;
  }

  private raisePromise(ballot: Term): void {
    if (ballot > this.promised) {
      this.promised = ballot;
      this.durablePromised = ballot;
    }
  }
}
