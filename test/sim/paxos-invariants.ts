import { applyConfChange } from "../../src/consensus/membership.js";
import type { PaxosHardState, PaxosMessage } from "../../src/consensus/paxos/messages.js";
import { assertNever } from "../../src/consensus/types.js";
import type { ConfChange, Entry, Membership, NodeId, Ready, SnapshotMeta } from "../../src/consensus/types.js";
import { durableLastIndex } from "./disk.js";
import type { SimDisk } from "./disk.js";
import type { EngineChecker } from "./engines.js";
import { entryHash } from "./invariants.js";
import type { Violation } from "./invariants.js";

/** Acceptance is one (slot, ballot) value and which nodes ever made it durable. */
interface Acceptance {
  readonly ballot: number;
  readonly hash: number;
  /** change is the value's membership change when it is a config entry, else null. */
  readonly change: ConfChange | null;
  /** mask has bit `id` set for each node that accepted it durably. */
  mask: number;
  /** after caches the configuration after this slot in the ballot's view (see `PaxosChecker`), once known. */
  after: Membership | undefined;
}

/** SlotRecord is everything ever accepted at one slot, and the value chosen there once known. */
interface SlotRecord {
  readonly acceptances: Acceptance[];
  chosen: { readonly ballot: number; readonly hash: number } | null;
}

function hasMajority(voters: readonly NodeId[], mask: number): boolean {
  let count = 0;
  for (const id of voters) if ((mask & (1 << id)) !== 0) count++;
  return 2 * count > voters.length;
}

/** isQuorum says whether the nodes in `mask` hold a quorum of `m` (both majorities while joint). */
function isQuorum(m: Membership, mask: number): boolean {
  if (m.voters.length === 0 || !hasMajority(m.voters, mask)) return false;
  return m.votersOutgoing.length === 0 || hasMajority(m.votersOutgoing, mask);
}

function fold(m: Membership, change: ConfChange | null): Membership {
  if (change === null) return m;
  const r = applyConfChange(m, change);
  return r.ok ? r.membership : m;
}

/**
 * PaxosChecker checks the Paxos safety properties on every step, from what the
 * acceptors made durable (a value counts as accepted by a node once its entry
 * is on that node's disk; a crash loses only what was never written):
 *
 * - at most one value is ever chosen per slot;
 * - a chosen value never changes ("Paxos Made Simple" P2b): once v is chosen
 *   under ballot b at s, every value accepted at s under a ballot >= b is v,
 *   and every node that applies s applies v;
 * - an acceptor never accepts below its promise and never promises below it:
 *   an `accepted` for ballot b needs the promise in force when it was sent to
 *   be <= b, a `promise` for b needs it <= b too; the promise in force is the
 *   durable one before the Ready, raised by each promise, acceptance or own
 *   prepare the Ready sends before the message (steps batched into one Ready);
 * - persist before acknowledge: a `promise`, an own `prepare` and an
 *   `accepted` for b need the DURABLE promise >= b (an acceptor that forgot a
 *   promise, or the ballot of a value it accepted, could later take part in a
 *   lower ballot), and an acknowledged prefix (of an `accepted` or a
 *   `heartbeatResponse`) must be on disk.
 *
 * What "chosen" means when the configuration is in the log: value v is chosen
 * at slot s under ballot b when a quorum of the configuration ballot b's
 * proposer used for s durably accepted (s, b, v). That configuration is b's
 * VIEW of the slots below s: b's own values where b proposed one (a new leader
 * re-proposes every slot above its commit index), and below them the slots
 * known chosen (whose configuration the checker learns from applied entries
 * and snapshots). A quorum under the configuration that is eventually chosen
 * for s is not enough: b may have proposed s over values below it that were
 * never chosen, and counted nothing at s (a leader counts a slot only with
 * everything below it, and an acceptor accepts a batch only on top of a
 * prefix it shares with the ballot).
 */
export class PaxosChecker implements EngineChecker<PaxosMessage, PaxosHardState> {
  private readonly slots: (SlotRecord | undefined)[] = [];
  /** membershipAfter[i] is the configuration after slot i, for the slots known committed (a snapshot leaves gaps). */
  private readonly membershipAfter: (Membership | undefined)[] = [];
  /** knownTo is the highest slot known committed with the configuration after it known. */
  private knownTo = 0;
  /** undecided lists the slots holding acceptances whose ballot's view is not known yet. */
  private readonly undecided = new Set<number>();

  constructor(bootstrap: Membership) {
    this.membershipAfter[0] = bootstrap;
  }

  afterPersist(node: number, ready: Ready<PaxosMessage, PaxosHardState>, before: PaxosHardState, disk: SimDisk<PaxosHardState>): Violation | null {
    for (const entry of ready.entries) {
      const found = this.recordAcceptance(node, entry);
      if (found !== null) return found;
    }
    return this.checkMessages(node, ready.messages, before, disk);
  }

  noteApplied(entry: Entry): Violation | null {
    const slot = this.slots[entry.index];
    const chosen = slot?.chosen ?? null;
    if (chosen !== null && chosen.hash !== entryHash(entry)) {
      return {
        invariant: "chosen value changed",
        detail: `slot ${entry.index} was chosen under ballot ${chosen.ballot} but is applied with other content (ballot ${entry.term})`,
      };
    }
    if (entry.index !== this.knownTo + 1) return null;
    const before = this.membershipAfter[this.knownTo];
    if (before === undefined) return null;
    return this.advanceKnown(entry.index, fold(before, entry.type === "config" ? entry.change : null));
  }

  noteSnapshot(meta: SnapshotMeta): Violation | null {
    if (meta.index <= this.knownTo) return null;
    return this.advanceKnown(meta.index, meta.membership);
  }

  private advanceKnown(index: number, after: Membership): Violation | null {
    this.knownTo = index;
    this.membershipAfter[index] = after;
    for (const s of this.undecided) {
      const found = this.evaluate(s);
      if (found !== null) return found;
    }
    return null;
  }

  private recordAcceptance(node: number, entry: Entry): Violation | null {
    let slot = this.slots[entry.index];
    if (slot === undefined) {
      slot = { acceptances: [], chosen: null };
      this.slots[entry.index] = slot;
    }
    const hash = entryHash(entry);
    let acceptance = slot.acceptances.find((a) => a.ballot === entry.term);
    if (acceptance === undefined) {
      const change = entry.type === "config" ? entry.change : null;
      acceptance = { ballot: entry.term, hash, change, mask: 0, after: undefined };
      slot.acceptances.push(acceptance);
    } else if (acceptance.hash !== hash) {
      return {
        invariant: "one value per ballot",
        detail: `node ${node} accepted at slot ${entry.index} under ballot ${entry.term} a value other than the one that ballot proposed`,
      };
    }
    acceptance.mask |= 1 << node;
    return this.evaluate(entry.index);
  }

  private acceptanceAt(slot: number, ballot: number): Acceptance | undefined {
    return this.slots[slot]?.acceptances.find((a) => a.ballot === ballot);
  }

  /**
   * viewBefore is the configuration ballot `ballot` used for slot `slot`:
   * the one after the highest slot below it where the ballot proposed nothing
   * (known chosen), folded with the ballot's config values above that. It
   * returns undefined while that slot is not known committed, and null when
   * it never will be (it was passed inside a snapshot).
   */
  private viewBefore(slot: number, ballot: number): Membership | null | undefined {
    const chain: Acceptance[] = [];
    let t = slot - 1;
    let base: Membership | undefined;
    for (; t > 0; t--) {
      const a = this.acceptanceAt(t, ballot);
      if (a === undefined) break;
      if (a.after !== undefined) {
        base = a.after;
        break;
      }
      chain.push(a);
    }
    if (base === undefined) {
      if (t > this.knownTo) return undefined;
      base = this.membershipAfter[t];
      if (base === undefined) return null;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const a = chain[i] as Acceptance;
      base = fold(base, a.change);
      a.after = base;
    }
    return base;
  }

  /** evaluate decides which values are chosen at `index` and checks P2b there, as far as the ballots' views are known. */
  private evaluate(index: number): Violation | null {
    const slot = this.slots[index];
    if (slot === undefined) return null;
    let undecided = false;
    for (const a of slot.acceptances) {
      const m = this.viewBefore(index, a.ballot);
      if (m === undefined) undecided = true;
      if (m === undefined || m === null || !isQuorum(m, a.mask)) continue;
      if (slot.chosen === null || (slot.chosen.hash === a.hash && a.ballot < slot.chosen.ballot)) {
        slot.chosen = { ballot: a.ballot, hash: a.hash };
      } else if (slot.chosen.hash !== a.hash) {
        return {
          invariant: "one value chosen",
          detail: `slot ${index}: a value was chosen under ballot ${slot.chosen.ballot} and another under ballot ${a.ballot}`,
        };
      }
    }
    if (undecided) this.undecided.add(index);
    else this.undecided.delete(index);
    const chosen = slot.chosen;
    if (chosen === null) return null;
    for (const a of slot.acceptances) {
      if (a.ballot >= chosen.ballot && a.hash !== chosen.hash) {
        return {
          invariant: "chosen value changed",
          detail: `slot ${index}: chosen under ballot ${chosen.ballot}, yet another value was accepted under ballot ${a.ballot} (by nodes ${maskIds(a.mask)})`,
        };
      }
    }
    return null;
  }

  private checkMessages(node: number, messages: readonly PaxosMessage[], before: PaxosHardState, disk: SimDisk<PaxosHardState>): Violation | null {
    const durable = disk.hardState.promised;
    let inForce: number = before.promised;
    for (const msg of messages) {
      switch (msg.type) {
        case "promise":
          if (durable < msg.ballot) return persistViolation(`node ${node} promised ballot ${msg.ballot} while its durable promise is ${durable}`);
          if (inForce > msg.ballot) return promiseViolation(`node ${node} promised ballot ${msg.ballot} after promising ${inForce}`);
          inForce = msg.ballot;
          break;
        case "prepare":
          if (msg.from !== node) break;
          if (durable < msg.ballot) return persistViolation(`node ${node} asked promises for its ballot ${msg.ballot} while its own durable promise is ${durable}`);
          inForce = Math.max(inForce, msg.ballot);
          break;
        case "accepted": {
          if (msg.reject) break;
          if (inForce > msg.ballot) return promiseViolation(`node ${node} accepted under ballot ${msg.ballot} after promising ${inForce}`);
          // batchFirst 0 acknowledges an installed snapshot: chosen state, accepted under no ballot.
          if (msg.batchFirst === 0) break;
          if (durable < msg.ballot) return persistViolation(`node ${node} accepted under ballot ${msg.ballot} while its durable promise is ${durable}`);
          const last = durableLastIndex(disk);
          if (last < msg.prefix) return persistViolation(`node ${node} acknowledged slots up to ${msg.prefix} under ballot ${msg.ballot} but its durable log ends at ${last}`);
          inForce = msg.ballot;
          break;
        }
        case "heartbeatResponse": {
          const last = durableLastIndex(disk);
          if (!msg.needSnapshot && last < msg.prefix) {
            return persistViolation(`node ${node} reported slots up to ${msg.prefix} to ballot ${msg.ballot} but its durable log ends at ${last}`);
          }
          break;
        }
        case "accept":
        case "heartbeat":
        case "nack":
        case "readIndex":
        case "readIndexResponse":
        case "snapshot":
        case "timeoutNow":
          break;
        default:
          return assertNever(msg);
      }
    }
    return null;
  }
}

function persistViolation(detail: string): Violation {
  return { invariant: "persist before acknowledge", detail };
}

function promiseViolation(detail: string): Violation {
  return { invariant: "acceptor promise", detail };
}

function maskIds(mask: number): string {
  const ids: number[] = [];
  for (let id = 1; id < 31; id++) if ((mask & (1 << id)) !== 0) ids.push(id);
  return ids.join(",");
}
