import type { Entry, Envelope, Membership, Ready, Snapshot } from "../../src/consensus/types.js";

/**
 * SimDisk is what one simulated node has made durable: the hard state, the
 * latest snapshot, and the log after it. `entries` is contiguous and starts at
 * `snapshotIndex(disk) + 1`. Anything not written here is lost by a crash.
 */
export interface SimDisk<H> {
  hardState: H;
  snapshot: Snapshot | null;
  entries: Entry[];
  /** bootstrap is the initial membership a brand-new group member starts from; kept for restarts. */
  readonly bootstrap: Membership;
}

/** snapshotIndex is the last index the disk's snapshot covers (0 without one). */
export function snapshotIndex<H>(disk: SimDisk<H>): number {
  return disk.snapshot === null ? 0 : disk.snapshot.meta.index;
}

/** durableLastIndex is the last index the disk covers, by log or snapshot. */
export function durableLastIndex<H>(disk: SimDisk<H>): number {
  const last = disk.entries[disk.entries.length - 1];
  return last === undefined ? snapshotIndex(disk) : last.index;
}

/** durableTermAt is the term of the durable entry at `index`, the snapshot's term at its index, or undefined. */
export function durableTermAt<H>(disk: SimDisk<H>, index: number): number | undefined {
  const base = snapshotIndex(disk);
  if (index === base) return disk.snapshot === null ? (index === 0 ? 0 : undefined) : disk.snapshot.meta.term;
  if (index < base) return undefined;
  return disk.entries[index - base - 1]?.term;
}

/** PersistProblem describes a Ready that cannot be written as given (an engine bug). */
export type PersistProblem = string | null;

/**
 * persistSnapshot installs a snapshot on disk: the log prefix it covers is
 * dropped; the rest of the log is kept only if it continues the snapshot (the
 * entry at the snapshot's index has the snapshot's term), as the Raft paper's
 * InstallSnapshot rule says; otherwise the whole log is discarded.
 */
export function persistSnapshot<H>(disk: SimDisk<H>, snapshot: Snapshot): void {
  const index = snapshot.meta.index;
  const matches = durableTermAt(disk, index) === snapshot.meta.term;
  const base = snapshotIndex(disk);
  disk.entries = matches && index >= base ? disk.entries.slice(index - base) : [];
  disk.snapshot = snapshot;
}

/**
 * persistEntries writes `entries`, which replace every stored entry from
 * `entries[0].index` on. Returns a problem when they would leave a gap or are
 * not contiguous, or would overwrite what the snapshot covers.
 */
export function persistEntries<H>(disk: SimDisk<H>, entries: readonly Entry[]): PersistProblem {
  const first = entries[0];
  if (first === undefined) return null;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]?.index !== first.index + i) return `ready entries are not contiguous from ${first.index}`;
  }
  const base = snapshotIndex(disk);
  const last = durableLastIndex(disk);
  if (first.index > last + 1) return `ready entries start at ${first.index}, leaving a gap after durable last index ${last}`;
  if (first.index <= base) return `ready entries start at ${first.index}, inside the snapshot up to ${base}`;
  const keep = first.index - base - 1;
  if (keep < disk.entries.length) disk.entries.length = keep;
  for (const entry of entries) disk.entries.push(entry);
  return null;
}

/**
 * persistReady writes a Ready in the contract's order: snapshot, entries, hard
 * state. The simulated disk writes the whole Ready atomically (one LMDB
 * transaction in production), so a crash loses all of it or none.
 */
export function persistReady<M extends Envelope, H>(disk: SimDisk<H>, ready: Ready<M, H>): PersistProblem {
  if (ready.snapshot !== null) persistSnapshot(disk, ready.snapshot);
  const problem = persistEntries(disk, ready.entries);
  if (problem !== null) return problem;
  if (ready.hardState !== null) disk.hardState = ready.hardState;
  return null;
}

/** cloneDisk copies the parts an engine might keep, so later writes to the disk cannot reach into it. */
export function cloneDisk<H>(disk: SimDisk<H>): SimDisk<H> {
  return { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries.slice(), bootstrap: disk.bootstrap };
}
