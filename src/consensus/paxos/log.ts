import { assert, logIndex, term } from "../types.js";
import type { Entry, LogIndex, Snapshot, Term } from "../types.js";

/**
 * PaxosLog is an acceptor's accepted values, one per slot, held contiguously
 * over (snapshotIndex, lastIndex]; slots at or below `snapshotIndex` are covered
 * by the snapshot (they are chosen and applied).
 *
 * Unlike a Raft log it never loses a suffix: an acceptor must not forget a value
 * it accepted, so overwriting slot i keeps every slot above i. Persistence
 * follows the Ready contract ("entries replace any stored entries from
 * entries[0].index on"), so the unpersisted region is always handed out from
 * its lowest written slot to the last slot — re-emitting any tail above a
 * rewritten slot. In the common case (in-order accepts) that tail is empty.
 */
export class PaxosLog {
  private entries: Entry[] = [];
  private snapshotValue: Snapshot | null;
  private offset: number;
  private offsetTerm: Term;
  /** unpersistedFrom is the lowest slot written since the last hand-out, or +Infinity. */
  private unpersistedFrom = Number.POSITIVE_INFINITY;
  /** handedLast is lastIndex when entries were last handed out for persisting. */
  private handedLast = 0;
  /**
   * stableLast is the highest slot s such that [1, s] is durable with its
   * current content: a leader counts its own acceptance of a slot only then.
   */
  stableLast: number;

  constructor(snapshot: Snapshot | null, entries: readonly Entry[]) {
    this.snapshotValue = snapshot;
    this.offset = snapshot?.meta.index ?? 0;
    this.offsetTerm = snapshot?.meta.term ?? term(0);
    for (const e of entries) {
      if (e.index <= this.offset) continue;
      assert(e.index === this.lastIndex() + 1, `durable log has a gap before slot ${e.index}`);
      this.entries.push(e);
    }
    this.stableLast = this.lastIndex();
    this.handedLast = this.stableLast;
  }

  /** snapshot is the latest snapshot (taken locally or installed), or null. */
  get snapshot(): Snapshot | null {
    return this.snapshotValue;
  }

  snapshotIndex(): LogIndex {
    return logIndex(this.offset);
  }

  firstIndex(): LogIndex {
    return logIndex(this.offset + 1);
  }

  lastIndex(): LogIndex {
    return logIndex(this.offset + this.entries.length);
  }

  /** entry returns the accepted value at `slot`, or undefined when absent or compacted. */
  entry(slot: number): Entry | undefined {
    if (slot <= this.offset) return undefined;
    return this.entries[slot - this.offset - 1];
  }

  /** termAt is the ballot of `slot` (the snapshot's for the snapshot index, 0 when unknown). */
  termAt(slot: number): Term {
    if (slot === this.offset) return this.offsetTerm;
    return this.entry(slot)?.term ?? term(0);
  }

  /** slice returns entries in [lo, hi) ∩ (snapshotIndex, lastIndex]. */
  slice(lo: number, hi: number): Entry[] {
    const from = Math.max(lo, this.offset + 1) - this.offset - 1;
    const to = Math.min(hi, this.lastIndex() + 1) - this.offset - 1;
    return from < to ? this.entries.slice(from, to) : [];
  }

  /** write stores `e` at its slot, which must be above the snapshot and at most lastIndex + 1. */
  write(e: Entry): void {
    assert(e.index > this.offset, `write at slot ${e.index} at or below the snapshot ${this.offset}`);
    assert(e.index <= this.lastIndex() + 1, `write at slot ${e.index} leaves a gap after ${this.lastIndex()}`);
    const i = e.index - this.offset - 1;
    if (i === this.entries.length) this.entries.push(e);
    else this.entries[i] = e;
    this.unpersistedFrom = Math.min(this.unpersistedFrom, e.index);
    this.stableLast = Math.min(this.stableLast, e.index - 1);
  }

  hasUnpersisted(): boolean {
    return this.unpersistedFrom <= this.lastIndex();
  }

  /** takeUnpersisted hands out [unpersistedFrom, lastIndex] for the driver to persist. */
  takeUnpersisted(): Entry[] {
    const out = this.hasUnpersisted() ? this.slice(this.unpersistedFrom, this.lastIndex() + 1) : [];
    this.unpersistedFrom = Number.POSITIVE_INFINITY;
    this.handedLast = this.lastIndex();
    return out;
  }

  /** markPersisted records that the last hand-out is durable. */
  markPersisted(): void {
    this.stableLast = Math.max(this.stableLast, Math.min(this.handedLast, this.unpersistedFrom - 1));
  }

  /** compact replaces [1, snapshot.meta.index] by `snapshot`; the index must be in the log. */
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index > this.offset && index <= this.lastIndex(), `compact at ${index} outside (${this.offset}, ${this.lastIndex()}]`);
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = snapshot.meta.term;
    this.snapshotValue = snapshot;
  }

  /**
   * installSnapshot replaces everything up to the snapshot's index by it and
   * keeps the accepted values above it (an acceptor never forgets an accepted
   * value). That kept tail is marked unpersisted, so a driver that clears its
   * stored log when it installs a snapshot gets it back in the same Ready.
   */
  installSnapshot(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index >= this.offset, `snapshot at ${index} below the current one at ${this.offset}`);
    const kept = index < this.lastIndex() ? this.entries.slice(index - this.offset) : [];
    this.entries = kept;
    this.offset = index;
    this.offsetTerm = snapshot.meta.term;
    this.snapshotValue = snapshot;
    this.unpersistedFrom = kept.length > 0 ? index + 1 : Number.POSITIVE_INFINITY;
    this.stableLast = Math.min(this.stableLast, index);
  }
}

/** entryBytes is the size counted against byte limits: the data, or a small constant for a config change. */
export function entryBytes(e: Entry): number {
  return e.type === "normal" ? e.data.length : 16 + 8 * e.change.ops.length;
}
