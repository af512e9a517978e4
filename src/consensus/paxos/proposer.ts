import { applyConfChange } from "../membership.js";
import { logIndex } from "../types.js";
import type { Entry, LogIndex, Membership, NodeId, Term } from "../types.js";
import { entryBytes } from "./log.js";
import { hasQuorum } from "./quorum.js";
import type { QuorumOptions } from "./quorum.js";

/** RecoveredSlot is the value phase 1 found for one slot. */
interface RecoveredSlot {
  readonly entry: Entry;
  /** chosen: some promise reported the slot at or below its commit index. */
  readonly chosen: boolean;
}

/**
 * PhaseOne is the proposer's phase 1 ("Paxos Made Simple" §2.2, run once for
 * all slots as in §3): it collects promises for `ballot` covering every slot
 * from `fromSlot` (the first slot this proposer does not know chosen) and
 * works out, per slot, the value it must propose in phase 2:
 *
 * - a slot some promise reports at or below that acceptor's commit index is
 *   chosen, and its value is taken as is;
 * - otherwise the value accepted under the highest ballot among the promises
 *   (the Paxos rule: if a value was chosen, every accepted value with a ballot
 *   at or above the choosing one is that value, and the promise quorum
 *   intersects the choosing quorum);
 * - a slot below the highest reported one that nobody reports is a hole,
 *   filled with a no-op. (Each acceptor's log is contiguous — it refuses an
 *   accept batch that would leave a gap — so among complete promises the
 *   longest log covers every slot; the rule is kept for safety regardless.)
 *
 * Which quorum is enough depends on the configurations the recovered slots
 * bring in: see `configChain`.
 */
export class PhaseOne {
  readonly promised = new Set<NodeId>();
  readonly asked = new Set<NodeId>();
  private readonly slots = new Map<number, RecoveredSlot>();
  private maxSlot: number;

  constructor(
    readonly ballot: Term,
    readonly fromSlot: LogIndex,
    /** base is the configuration in force at fromSlot (after every chosen slot below it). */
    private readonly base: Membership,
  ) {
    this.maxSlot = fromSlot - 1;
  }

  /**
   * add records one page of a promise. A promise too large for one message
   * comes in pages (the proposer asks again from the slot after the last one
   * reported, under the same ballot); the acceptor counts once its report is
   * `complete`. `ignoreValues` is the planted fault that drops the values.
   */
  add(from: NodeId, entries: readonly Entry[], commit: LogIndex, complete: boolean, ignoreValues: boolean): void {
    if (complete) this.promised.add(from);
    if (ignoreValues) return;
    for (const e of entries) {
      if (e.index < this.fromSlot) continue;
      const chosen = e.index <= commit;
      const have = this.slots.get(e.index);
      if (have === undefined || (!have.chosen && (chosen || e.term > have.entry.term))) {
        this.slots.set(e.index, { entry: e, chosen });
      }
      this.maxSlot = Math.max(this.maxSlot, e.index);
    }
  }

  /** lastSlot is the highest slot any promise reported (fromSlot - 1 when none). */
  lastSlot(): LogIndex {
    return logIndex(this.maxSlot);
  }

  /**
   * recovered lists the values to propose in [fromSlot, lastSlot], re-stamped
   * with this proposer's ballot, holes filled with no-ops.
   */
  recovered(): Entry[] {
    const out: Entry[] = [];
    for (let slot = this.fromSlot; slot <= this.maxSlot; slot++) {
      const e = this.slots.get(slot)?.entry;
      const index = logIndex(slot);
      if (e === undefined) out.push({ index, term: this.ballot, type: "normal", data: new Uint8Array(0) });
      else if (e.type === "normal") out.push({ index, term: this.ballot, type: "normal", data: e.data });
      else out.push({ index, term: this.ballot, type: "config", change: e.change });
    }
    return out;
  }

  /**
   * configChain is the base configuration followed by the one after each
   * config entry among the recovered values, in slot order. Phase 1 needs a
   * quorum of EVERY configuration in the chain: a slot is governed by the
   * configuration chosen before it, and a config entry chosen at slot s may
   * already have let later slots be chosen by a quorum of the new
   * configuration. Because a chosen value is always recovered (it is visible to
   * any quorum of the configuration that governs its slot), induction along the
   * chain shows every chosen slot is seen. Unchosen config entries only make the
   * requirement stricter, never weaker.
   */
  configChain(): Membership[] {
    const chain = [this.base];
    let m = this.base;
    for (let slot = this.fromSlot; slot <= this.maxSlot; slot++) {
      const e = this.slots.get(slot)?.entry;
      if (e?.type !== "config") continue;
      const r = applyConfChange(m, e.change);
      if (!r.ok) continue;
      m = r.membership;
      chain.push(m);
    }
    return chain;
  }

  /** voters lists every voter of every configuration in the chain: whom to ask. */
  voters(): NodeId[] {
    const out = new Set<NodeId>();
    for (const m of this.configChain()) for (const id of [...m.voters, ...m.votersOutgoing]) out.add(id);
    return [...out].sort((a, b) => a - b);
  }

  /** won says whether the promises hold a quorum of every configuration in the chain. */
  won(options: QuorumOptions): boolean {
    return this.configChain().every((m) => hasQuorum(m, this.promised, options));
  }
}

/** Inflight is one unacknowledged accept batch. */
interface Inflight {
  readonly first: number;
  readonly last: number;
  readonly bytes: number;
}

/**
 * Progress is the leader's view of one acceptor in phase 2: `match` is its
 * acknowledged consistent prefix (its log on [1, match] holds this leader's
 * values or chosen ones), `next` the next slot to send. Batches are pipelined
 * up to the in-flight bounds.
 */
export class Progress {
  match = 0;
  next: number;
  private inflight: Inflight[] = [];
  private inflightBytes = 0;
  /** snapshotPending: a snapshot was sent and is not yet acknowledged. */
  snapshotPending = false;
  /** needSnapshot: the acceptor has no base configuration and must get a snapshot first. */
  needSnapshot = false;
  /** stalled counts heartbeat replies showing the acceptor behind what was sent, with no ack in between. */
  stalled = 0;
  /** readAck is the highest read round the acceptor confirmed. */
  readAck = 0;
  /** active: heard from since the last quorum check. */
  active = true;

  constructor(next: number) {
    this.next = next;
  }

  hasInflight(): boolean {
    return this.inflight.length > 0;
  }

  isFull(messagesMax: number, bytesMax: number): boolean {
    return this.inflight.length >= messagesMax || (this.inflight.length > 0 && this.inflightBytes >= bytesMax);
  }

  /** isInflight says whether a batch starting at `first` is still unacknowledged. */
  isInflight(first: number): boolean {
    return this.inflight.some((f) => f.first === first);
  }

  sent(first: number, last: number, bytes: number): void {
    this.inflight.push({ first, last, bytes });
    this.inflightBytes += bytes;
    this.next = last + 1;
  }

  /** ackedTo records a consistent prefix reported by the acceptor. */
  ackedTo(prefix: number): void {
    if (prefix > this.match) this.match = prefix;
    if (this.next <= this.match) this.next = this.match + 1;
    while (this.inflight[0] !== undefined && this.inflight[0].last <= this.match) {
      this.inflightBytes -= this.inflight[0].bytes;
      this.inflight.shift();
    }
  }

  /**
   * resetTo forgets what is in flight and resumes sending after `prefix`, the
   * acceptor's own report. It may lower `match`: only the acceptor knows its
   * prefix, and counting it lower only delays decisions, never makes a wrong one.
   */
  resetTo(prefix: number): void {
    this.inflight = [];
    this.inflightBytes = 0;
    this.match = prefix;
    this.next = prefix + 1;
    this.snapshotPending = false;
    this.stalled = 0;
  }
}

/** batchBytes sums the byte size of entries. */
export function batchBytes(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += entryBytes(e);
  return n;
}
