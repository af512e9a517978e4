import { assert } from "../types.js";
import type { LogIndex } from "../types.js";

/**
 * ProgressState is how the leader replicates to one follower:
 * - probe: one append at a time until the follower's match point is found;
 * - replicate: pipelined appends, bounded by the in-flight window;
 * - snapshot: a snapshot is on its way; appends wait.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Inflights bounds the unacknowledged appends to one follower, in messages and bytes. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), "inflights: add to a full window");
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** freeLE releases every message whose last index is ≤ `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && (this.lastIndexes[n] ?? 0) <= index) {
      this.bytes -= this.sizes[n] ?? 0;
      n++;
    }
    this.lastIndexes.splice(0, n);
    this.sizes.splice(0, n);
  }

  /** freeFirst releases the oldest message: used when appends may have been lost. */
  freeFirst(): void {
    const first = this.lastIndexes[0];
    if (first !== undefined) this.freeLE(first);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.messagesMax || this.bytes >= this.bytesMax;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

/** Progress is the leader's view of one follower's log. Invariant: match < next. */
export class Progress {
  match: LogIndex = 0 as LogIndex;
  next: LogIndex;
  state: ProgressState = "probe";
  /** In probe state: an append was sent and not yet answered (or a heartbeat round passed). */
  probeSent = false;
  /** The snapshot index being sent, in snapshot state. */
  pendingSnapshot: LogIndex = 0 as LogIndex;
  /** Ticks since the snapshot was sent; a lost snapshot is retried after a timeout. */
  snapshotElapsedTicks = 0;
  /** Heard from within the current election timeout (CheckQuorum). */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: LogIndex, limits: { inflightMessagesMax: number; inflightBytesMax: number }) {
    this.next = next;
    this.inflights = new Inflights(limits.inflightMessagesMax, limits.inflightBytesMax);
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise after the last match.
    const from = this.state === "snapshot" ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.state = "probe";
    this.next = (from + 1) as LogIndex;
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.next = (this.match + 1) as LogIndex;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: LogIndex): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotElapsedTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** maybeUpdate records an acknowledgement up to `index`; returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index as LogIndex;
      updated = true;
      this.probeSent = false;
    }
    if (index + 1 > this.next) this.next = (index + 1) as LogIndex;
    return updated;
  }

  /**
   * maybeDecreaseTo handles a rejection of the append at `rejected`, moving next
   * back to `hint + 1`. A stale rejection (of an append already superseded) is ignored.
   */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1) as LogIndex;
    this.probeSent = false;
    return true;
  }

  /** isPaused says whether the leader must hold further appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
