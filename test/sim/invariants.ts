import { logIndex } from "../../src/consensus/types.js";
import type { Engine, Entry, Envelope } from "../../src/consensus/types.js";
import { durableTermAt } from "./disk.js";
import type { SimDisk } from "./disk.js";
import { hashBytes, mixHash32 } from "./hash.js";

/** Violation names a broken invariant and what was seen. */
export interface Violation {
  readonly invariant: string;
  readonly detail: string;
}

/** termSpan keys the log record by (index, term): Raft terms and packed Paxos ballots stay below 2^32. */
const termSpan = 0x100000000;
const entryHashes = new WeakMap<Entry, number>();

/** entryHash is a 32-bit hash of an entry's type and content (not its index or term). */
export function entryHash(entry: Entry): number {
  const cached = entryHashes.get(entry);
  if (cached !== undefined) return cached;
  let h: number;
  if (entry.type === "normal") {
    h = mixHash32(hashBytes(entry.data), 1);
  } else {
    h = 2;
    for (const op of entry.change.ops) {
      h = mixHash32(h, op.type === "addVoter" ? 11 : op.type === "addLearner" ? 12 : 13);
      h = mixHash32(h, op.node);
    }
    h = mixHash32(h, entry.change.ops.length);
  }
  entryHashes.set(entry, h);
  return h;
}

/**
 * SafetyChecker holds the global records the per-step safety checks compare
 * against, across the whole run and every restart:
 *
 * - election safety: the one leader of each term;
 * - log matching: for each (index, term) ever made durable anywhere, the entry's
 *   content hash and (with `termsMatchPrefixes`) the term of the entry before
 *   it. Same (index, term) ⇒ same content, and for Raft same predecessor term,
 *   which by induction is prefix agreement;
 * - state-machine safety: what was applied at each index, by anyone;
 * - leader completeness: a new leader's log holds every applied entry its
 *   snapshot does not cover;
 * - snapshot agreement: the state-machine bytes at each compacted index.
 *
 * `termsMatchPrefixes` is Raft's Log Matching property: an entry keeps the term
 * it was proposed in, so (index, term) names the entry and its whole prefix,
 * and every node applies the same term at an index. Without it (Multi-Paxos) a
 * recovered value is re-proposed under a new ballot: the same content may sit
 * at an index under several terms, so only content is compared there.
 */
export class SafetyChecker {
  violation: Violation | null = null;
  private readonly termsMatchPrefixes: boolean;
  private readonly leaderOfTerm = new Map<number, number>();
  private readonly logHash = new Map<number, number>();
  private readonly logPrevTerm = new Map<number, number>();
  private readonly appliedTerm: number[] = [0];
  private readonly appliedHash: number[] = [0];
  private readonly stateHashAt = new Map<number, number>();
  /** maxApplied is the highest index applied by any node: everything up to it is known committed. */
  maxApplied = 0;

  constructor(options: { readonly termsMatchPrefixes: boolean }) {
    this.termsMatchPrefixes = options.termsMatchPrefixes;
  }

  private fail(invariant: string, detail: string): void {
    if (this.violation === null) this.violation = { invariant, detail };
  }

  /**
   * observeLeader records that `node` is leader of `term`, as its status says
   * (`sentType` null) or as a leader-only message of type `sentType` it sent
   * shows; a second leader of one term is a violation.
   */
  observeLeader(node: number, term: number, sentType: string | null): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) {
      this.leaderOfTerm.set(term, node);
    } else if (known !== node) {
      const how = sentType === null ? "by their status" : `node ${node} sent a leader's ${sentType}`;
      this.fail("election safety", `nodes ${known} and ${node} are both leader of term ${term} (${how})`);
    }
  }

  /** checkPersisted checks entries just made durable by `node` against every durable entry seen. */
  checkPersisted<H>(node: number, disk: SimDisk<H>, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    let prevTerm = durableTermAt(disk, first.index - 1);
    if (prevTerm === undefined) {
      this.fail("log matching", `node ${node} persisted entry ${first.index} with no durable predecessor`);
      return;
    }
    for (const entry of entries) {
      if (entry.term >= termSpan) throw new Error(`term ${entry.term} too large for the log record`);
      if (this.termsMatchPrefixes && entry.term < prevTerm) {
        this.fail("log matching", `node ${node} persisted entry ${entry.index} of term ${entry.term} after one of term ${prevTerm}`);
        return;
      }
      const key = entry.index * termSpan + entry.term;
      const hash = entryHash(entry);
      const knownHash = this.logHash.get(key);
      if (knownHash === undefined) {
        this.logHash.set(key, hash);
        if (this.termsMatchPrefixes) this.logPrevTerm.set(key, prevTerm);
      } else if (knownHash !== hash) {
        this.fail("log matching", `node ${node} persisted entry (index ${entry.index}, term ${entry.term}) with different content`);
        return;
      } else if (this.termsMatchPrefixes) {
        const knownPrev = this.logPrevTerm.get(key);
        if (knownPrev !== prevTerm) {
          this.fail("log matching", `node ${node} persisted entry (index ${entry.index}, term ${entry.term}) with a predecessor of term ${prevTerm}, elsewhere ${knownPrev}`);
          return;
        }
      }
      prevTerm = entry.term;
    }
  }

  /** checkApply checks `node` applying `entry` right after `applied`, against what others applied there. */
  checkApply(node: number, entry: Entry, applied: number): void {
    if (entry.index !== applied + 1) {
      this.fail("state machine safety", `node ${node} applied index ${entry.index} right after ${applied}`);
      return;
    }
    const hash = entryHash(entry);
    if (entry.index <= this.maxApplied) {
      const t = this.appliedTerm[entry.index];
      const h = this.appliedHash[entry.index];
      if (t === -1) {
        // Known so far only inside a snapshot; the first node to apply it singly records it.
        this.appliedTerm[entry.index] = entry.term;
        this.appliedHash[entry.index] = hash;
        return;
      }
      if ((this.termsMatchPrefixes && t !== entry.term) || h !== hash) {
        this.fail(
          "state machine safety",
          `node ${node} applied (index ${entry.index}, term ${entry.term}) where another node applied term ${t} (content ${h === hash ? "same" : "different"})`,
        );
      }
      return;
    }
    if (entry.index !== this.maxApplied + 1) {
      // Reached only through a snapshot: the indices between are known only by their state hash.
      for (let i = this.maxApplied + 1; i < entry.index; i++) {
        this.appliedTerm[i] = -1;
        this.appliedHash[i] = -1;
      }
    }
    this.appliedTerm[entry.index] = entry.term;
    this.appliedHash[entry.index] = hash;
    this.maxApplied = entry.index;
  }

  /** noteSnapshotApplied moves the known-committed point past a snapshot installed at `index`. */
  noteSnapshotApplied(index: number): void {
    for (let i = this.maxApplied + 1; i <= index; i++) {
      this.appliedTerm[i] = -1;
      this.appliedHash[i] = -1;
    }
    if (index > this.maxApplied) this.maxApplied = index;
  }

  /** checkStateAt compares the state-machine bytes at `index` with what any other node had there. */
  checkStateAt(node: number, index: number, data: Uint8Array, how: string): void {
    const hash = hashBytes(data);
    const known = this.stateHashAt.get(index);
    if (known === undefined) this.stateHashAt.set(index, hash);
    else if (known !== hash) this.fail("state machine safety", `node ${node} ${how} a state at index ${index} that differs from another node's`);
  }

  /** checkLeaderCompleteness checks that a new leader's log holds every entry known committed. */
  checkLeaderCompleteness<M extends Envelope, H>(node: number, term: number, engine: Engine<M, H>): void {
    const status = engine.status();
    const from = Math.max(status.firstIndex, 1);
    for (let i = from; i <= this.maxApplied; i++) {
      const want = this.appliedTerm[i] ?? -1;
      if (want === -1) continue;
      const entry = engine.entryAt(logIndex(i));
      if (entry === undefined) {
        this.fail("leader completeness", `node ${node}, leader of term ${term}, lacks committed entry ${i} (its log is [${status.firstIndex}, ${status.lastIndex}])`);
        return;
      }
      if ((this.termsMatchPrefixes && entry.term !== want) || entryHash(entry) !== this.appliedHash[i]) {
        const what = entryHash(entry) !== this.appliedHash[i] ? "other content" : "the committed content";
        this.fail("leader completeness", `node ${node}, leader of term ${term}, has ${what} at (index ${i}, term ${entry.term}) where term ${want} was committed`);
        return;
      }
    }
  }
}
