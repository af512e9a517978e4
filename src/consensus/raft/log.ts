import { assert } from "../types.js";
import type { Entry, LogIndex, Membership, Snapshot, Term } from "../types.js";

/**
 * RaftLog is a node's log in memory: a snapshot boundary, the entries after it,
 * and cursors for what the driver has been handed to persist and to apply.
 *
 *   (0, snapshotIndex]        covered by the snapshot, gone from memory
 *   (snapshotIndex, last]     `entries`
 *   [persistFrom, last]       not yet handed to the driver for persisting
 *   (applyHandedTo, commit]   committed, not yet handed to the driver for applying
 */
export class RaftLog {
  private snapshotIndex: LogIndex;
  private snapshotTerm: Term;
  private snapshotMembership: Membership;
  private entries: Entry[];
  /** Index of the first entry the driver has not been handed for persisting. */
  private persistFrom: number;
  /** Last index confirmed durable by `advance`. */
  private persistedIndex: number;
  committed: LogIndex;
  /** Last index handed out for applying; applied ≤ applyHandedTo ≤ committed (except under the planted fault). */
  applyHandedTo: LogIndex;
  applied: LogIndex;
  /** Latest snapshot taken or received; what a lagging follower is sent. */
  snapshot: Snapshot | null;
  /** A received snapshot not yet handed to the driver. */
  pendingSnapshot: Snapshot | null;

  constructor(options: { snapshot: Snapshot | null; entries: readonly Entry[]; commit: LogIndex; bootstrap: Membership }) {
    const { snapshot } = options;
    this.snapshot = snapshot;
    this.pendingSnapshot = null;
    this.snapshotIndex = snapshot?.meta.index ?? (0 as LogIndex);
    this.snapshotTerm = snapshot?.meta.term ?? (0 as Term);
    this.snapshotMembership = snapshot?.meta.membership ?? options.bootstrap;
    this.entries = options.entries.filter((e) => e.index > this.snapshotIndex);
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]?.index === this.snapshotIndex + 1 + i, "restored log is contiguous after the snapshot");
    }
    this.persistFrom = this.lastIndex() + 1;
    this.persistedIndex = this.lastIndex();
    this.committed = Math.max(this.snapshotIndex, Math.min(options.commit, this.lastIndex())) as LogIndex;
    this.applied = this.snapshotIndex;
    this.applyHandedTo = this.snapshotIndex;
  }

  firstIndex(): LogIndex {
    return (this.snapshotIndex + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.snapshotIndex + this.entries.length) as LogIndex;
  }

  lastTerm(): Term {
    return this.termAt(this.lastIndex()) ?? (0 as Term);
  }

  snapshotBoundary(): { index: LogIndex; term: Term; membership: Membership } {
    return { index: this.snapshotIndex, term: this.snapshotTerm, membership: this.snapshotMembership };
  }

  /** termAt returns the term of `index`, or undefined if compacted away or beyond the log. */
  termAt(index: number): Term | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1]?.term;
  }

  entryAt(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** isUpToDate is §5.4.1's election restriction: is (lastTerm, lastIndex) at least as recent as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** slice returns entries in [lo, hi), bounded by count and bytes, always at least one if any. */
  slice(lo: number, hi: number, limits: { entriesMax: number; bytesMax: number }): Entry[] {
    assert(lo > this.snapshotIndex, "slice starts after the snapshot");
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && i <= this.lastIndex(); i++) {
      const entry = this.entries[i - this.snapshotIndex - 1];
      assert(entry !== undefined, "entry in range");
      const size = entryBytes(entry);
      if (out.length > 0 && (out.length >= limits.entriesMax || bytes + size > limits.bytesMax)) break;
      out.push(entry);
      bytes += size;
    }
    return out;
  }

  /** append adds entries at the end of the log (leader path). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, "appended entries are contiguous");
      this.entries.push(entry);
    }
  }

  /**
   * truncateAndAppend stores entries received from a leader: entries already
   * present with the same term are kept; at the first conflict the log is cut
   * and the rest appended. Returns the index where the log was cut, if it was.
   */
  truncateAndAppend(entries: readonly Entry[]): LogIndex | undefined {
    let cutAt: LogIndex | undefined;
    for (const entry of entries) {
      if (entry.index <= this.snapshotIndex) continue;
      const existing = this.termAt(entry.index);
      if (existing === entry.term) continue;
      if (existing !== undefined) {
        assert(entry.index > this.committed, `a committed entry (${entry.index}) is never overwritten`);
        this.entries.length = entry.index - this.snapshotIndex - 1;
        cutAt ??= entry.index;
        this.persistFrom = Math.min(this.persistFrom, entry.index);
        this.persistedIndex = Math.min(this.persistedIndex, entry.index - 1);
      }
      assert(entry.index === this.lastIndex() + 1, "received entries are contiguous with the log");
      this.entries.push(entry);
    }
    return cutAt;
  }

  /** commitTo raises the commit index; it never goes backwards. */
  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `commit ${index} within the log (last ${this.lastIndex()})`);
    this.committed = index as LogIndex;
    return true;
  }

  hasUnpersisted(): boolean {
    return this.persistFrom <= this.lastIndex();
  }

  /** takeUnpersisted hands out entries not yet given to the driver to persist. */
  takeUnpersisted(): Entry[] {
    if (this.persistFrom > this.lastIndex()) return [];
    const out = this.entries.slice(this.persistFrom - this.snapshotIndex - 1);
    this.persistFrom = this.lastIndex() + 1;
    return out;
  }

  /** takeCommitted hands out committed entries not yet given to the driver to apply. */
  takeCommitted(upTo: number): Entry[] {
    const hi = Math.min(upTo, this.lastIndex());
    if (hi <= this.applyHandedTo) return [];
    const out = this.entries.slice(this.applyHandedTo - this.snapshotIndex, hi - this.snapshotIndex);
    this.applyHandedTo = hi as LogIndex;
    return out;
  }

  /** persistedTo records that the driver made entries up to (index, term) durable. */
  persistedTo(index: number, term: number): void {
    if (this.termAt(index) === term) this.persistedIndex = Math.max(this.persistedIndex, index);
  }

  persisted(): LogIndex {
    return this.persistedIndex as LogIndex;
  }

  appliedTo(index: number): void {
    assert(index <= this.applyHandedTo, "applied only what was handed out");
    if (index > this.applied) this.applied = index as LogIndex;
  }

  /** compact replaces the log prefix up to `index` (applied) with `snapshot`. */
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    assert(index > this.snapshotIndex && index <= this.applied, "compact inside the applied log");
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshotMembership = snapshot.meta.membership;
    this.snapshot = snapshot;
  }

  /** restore replaces the whole log with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.entries = [];
    this.snapshotIndex = snapshot.meta.index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshotMembership = snapshot.meta.membership;
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.committed = snapshot.meta.index;
    this.applyHandedTo = snapshot.meta.index;
    this.persistFrom = snapshot.meta.index + 1;
    this.persistedIndex = snapshot.meta.index;
  }

  /**
   * conflictHint finds, for fast backtracking, the largest index ≤ `index` whose
   * term is ≤ `term`: every entry after it up to `index` has a larger term and
   * cannot match the leader.
   */
  conflictHint(index: number, term: number): { index: LogIndex; term: Term } {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.snapshotIndex; i--) {
      const t = this.termAt(i);
      if (t !== undefined && t <= term) break;
    }
    return { index: i as LogIndex, term: this.termAt(i) ?? (0 as Term) };
  }

  /** uncommittedBytes sums the size of entries in (committed, last]. */
  uncommittedBytes(): number {
    let bytes = 0;
    for (let i = this.committed + 1; i <= this.lastIndex(); i++) {
      const entry = this.entryAt(i);
      if (entry !== undefined) bytes += entryBytes(entry);
    }
    return bytes;
  }
}

/** entryBytes is the size an entry counts for in every byte limit. */
export function entryBytes(entry: Entry): number {
  // A fixed overhead keeps empty entries from being free in flow control.
  return entry.type === "normal" ? entry.data.length + 16 : 16 + 8 * entry.change.ops.length;
}
