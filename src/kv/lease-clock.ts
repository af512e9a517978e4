/**
 * LeaseClock is the time-keeping half of etcd's lessor, and runs on every
 * member; only the leader ("primary") has deadlines. It mirrors the
 * replicated leases (the driver tells it about each applied grant, revoke
 * and checkpoint), takes the leader's monotonic milliseconds from the driver
 * on every call, and answers what the leader must propose: revokes of
 * expired leases and checkpoints of remaining TTLs. It changes no replicated
 * state itself. Pure: no clock, no timers.
 *
 * Driving contract:
 * - `load(leaseStore.leases())` at start and after installing a snapshot.
 * - After applying: `granted(lease, nowMs)`, `revoked(id)`,
 *   `checkpointed(id, remainingTtl)`.
 * - On becoming leader: `promote(nowMs, extendMs)` (extend: an election
 *   timeout, as etcd); on losing it: `demote()`.
 * - Leader, periodically (etcd: every 500 ms): propose a revoke for each id
 *   of `expired(nowMs)`, and a checkpoint command with `dueCheckpoints(nowMs)`.
 * - LeaseKeepAlive on the leader: `keepAlive(id, nowMs)`; when it says
 *   `clearCheckpoint`, propose a checkpoint of 0 for the lease (etcd does,
 *   so a stale checkpoint cannot shorten the lease after a failover).
 * - LeaseTimeToLive on the leader: `remainingMs(id, nowMs)`.
 *
 * Failover safety: a new leader does not know when the old one last
 * refreshed a lease, so `promote` gives every lease at least its full
 * remaining TTL (the checkpointed one if any, else the TTL) plus `extendMs`
 * from now. No lease expires because leadership moved.
 */
import type { LeaseInfo } from "./lease-store.js";

/** LeaseClockOptions: intervals in milliseconds, bounds in leases. */
export interface LeaseClockOptions {
  /** checkpointIntervalMs: how often a long lease's remaining TTL is checkpointed (etcd: 5 minutes). */
  readonly checkpointIntervalMs?: number;
  /** expiredRetryMs: how long after proposing a revoke the clock proposes it again if it has not applied (etcd: 3 s). */
  readonly expiredRetryMs?: number;
  /** revokeBatchMax bounds the ids one `expired()` returns (etcd: half its revoke rate of 1000/s per 500 ms). */
  readonly revokeBatchMax?: number;
  /** checkpointBatchMax bounds the checkpoints one `dueCheckpoints()` returns (etcd: 1000). */
  readonly checkpointBatchMax?: number;
}

/** KeepAliveResult: renewed (with the TTL to report), or why not. */
export type KeepAliveResult =
  | { readonly kind: "renewed"; readonly ttl: number; readonly clearCheckpoint: boolean }
  | { readonly kind: "notFound" }
  | { readonly kind: "notPrimary" }
  /** expired: past its deadline, its revoke is pending; etcd answers "not found" once the revoke applies. */
  | { readonly kind: "expired" };

interface ClockLease {
  ttl: number;
  remainingTtl: number;
  /** deadlineMs: when the lease expires (Infinity while not primary). */
  deadlineMs: number;
  /** checkpointAtMs: when its remaining TTL is next due to be checkpointed (Infinity: not scheduled). */
  checkpointAtMs: number;
  /** revokeRetryAtMs: after its revoke was proposed, when to propose it again (0: not proposed). */
  revokeRetryAtMs: number;
}

export const checkpointIntervalMsDefault = 5 * 60 * 1000;
export const expiredRetryMsDefault = 3000;
export const revokeBatchMaxDefault = 500;
export const checkpointBatchMaxDefault = 1000;

const msPerSecond = 1000;

function positive(name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`LeaseClock: ${name} must be positive, got ${n}`);
  return n;
}

function newEntry(lease: LeaseInfo): ClockLease {
  return { ttl: lease.ttl, remainingTtl: lease.remainingTtl, deadlineMs: Infinity, checkpointAtMs: Infinity, revokeRetryAtMs: 0 };
}

/** See the file comment. */
export class LeaseClock {
  readonly checkpointIntervalMs: number;
  readonly expiredRetryMs: number;
  readonly revokeBatchMax: number;
  readonly checkpointBatchMax: number;
  private readonly leases = new Map<number, ClockLease>();
  private isPrimary = false;

  constructor(options: LeaseClockOptions = {}) {
    this.checkpointIntervalMs = positive("checkpointIntervalMs", options.checkpointIntervalMs, checkpointIntervalMsDefault);
    this.expiredRetryMs = positive("expiredRetryMs", options.expiredRetryMs, expiredRetryMsDefault);
    this.revokeBatchMax = positive("revokeBatchMax", options.revokeBatchMax, revokeBatchMaxDefault);
    this.checkpointBatchMax = positive("checkpointBatchMax", options.checkpointBatchMax, checkpointBatchMaxDefault);
  }

  /** primary is true between `promote` and `demote`. */
  get primary(): boolean {
    return this.isPrimary;
  }

  /** size is the number of leases mirrored. */
  get size(): number {
    return this.leases.size;
  }

  /** load replaces the mirror with the store's leases; they get deadlines at the next `promote` (a loaded primary is demoted). */
  load(leases: Iterable<LeaseInfo>): void {
    this.leases.clear();
    this.isPrimary = false;
    for (const lease of leases) this.leases.set(lease.id, newEntry(lease));
  }

  /** granted mirrors an applied grant; on the primary its deadline is now + TTL. */
  granted(lease: LeaseInfo, nowMs: number): void {
    const entry = newEntry(lease);
    this.leases.set(lease.id, entry);
    if (this.isPrimary) this.refresh(entry, nowMs, 0);
  }

  /** revoked mirrors an applied revoke. */
  revoked(id: number): void {
    this.leases.delete(id);
  }

  /** checkpointed mirrors an applied checkpoint (it only matters at the next promote); the primary schedules the next one. */
  checkpointed(id: number, remainingTtl: number, nowMs: number): void {
    const entry = this.leases.get(id);
    if (entry === undefined) return;
    entry.remainingTtl = remainingTtl;
    if (this.isPrimary) this.scheduleCheckpoint(entry, nowMs);
  }

  /**
   * promote makes this member the primary: every lease's deadline becomes
   * now + extendMs + its remaining TTL (checkpointed, else full).
   */
  promote(nowMs: number, extendMs: number): void {
    if (!Number.isFinite(nowMs) || !Number.isFinite(extendMs) || extendMs < 0) throw new RangeError(`LeaseClock.promote(${nowMs}, ${extendMs})`);
    this.isPrimary = true;
    for (const entry of this.leases.values()) this.refresh(entry, nowMs, extendMs);
  }

  /** demote ends primacy: no deadlines, no checkpoints, no revokes. */
  demote(): void {
    this.isPrimary = false;
    for (const entry of this.leases.values()) {
      entry.deadlineMs = Infinity;
      entry.checkpointAtMs = Infinity;
      entry.revokeRetryAtMs = 0;
    }
  }

  /** keepAlive renews a lease on the primary: deadline now + TTL. */
  keepAlive(id: number, nowMs: number): KeepAliveResult {
    if (!this.isPrimary) return { kind: "notPrimary" };
    const entry = this.leases.get(id);
    if (entry === undefined) return { kind: "notFound" };
    if (entry.deadlineMs <= nowMs) return { kind: "expired" };
    const clearCheckpoint = entry.remainingTtl > 0;
    entry.deadlineMs = nowMs + entry.ttl * msPerSecond;
    entry.revokeRetryAtMs = 0;
    return { kind: "renewed", ttl: entry.ttl, clearCheckpoint };
  }

  /**
   * expired lists the leases past their deadline (earliest first, then by
   * id), at most `revokeBatchMax`, for the primary to propose revoking. Each
   * returned lease is not returned again for `expiredRetryMs` unless its
   * revoke applies (then it is gone); it stays expired meanwhile, so a
   * keep-alive cannot bring it back.
   */
  expired(nowMs: number): number[] {
    if (!this.isPrimary) return [];
    const due: { readonly id: number; readonly deadlineMs: number }[] = [];
    for (const [id, entry] of this.leases) {
      if (entry.deadlineMs <= nowMs && entry.revokeRetryAtMs <= nowMs) due.push({ id, deadlineMs: entry.deadlineMs });
    }
    due.sort((a, b) => a.deadlineMs - b.deadlineMs || a.id - b.id);
    const out: number[] = [];
    for (const { id } of due.slice(0, this.revokeBatchMax)) {
      const entry = this.leases.get(id);
      if (entry !== undefined) entry.revokeRetryAtMs = nowMs + this.expiredRetryMs;
      out.push(id);
    }
    return out;
  }

  /**
   * dueCheckpoints lists, on the primary, the leases whose checkpoint is due
   * with their remaining TTL in whole seconds (rounded up), skipping those
   * already expired or still at their full TTL, as etcd does.
   */
  dueCheckpoints(nowMs: number): { readonly id: number; readonly remainingTtl: number }[] {
    if (!this.isPrimary) return [];
    const out: { id: number; remainingTtl: number }[] = [];
    const ids = [...this.leases.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      if (out.length >= this.checkpointBatchMax) break;
      const entry = this.leases.get(id);
      if (entry === undefined || entry.checkpointAtMs > nowMs) continue;
      entry.checkpointAtMs = Infinity;
      if (entry.deadlineMs <= nowMs) continue;
      const remainingTtl = Math.ceil((entry.deadlineMs - nowMs) / msPerSecond);
      if (remainingTtl >= entry.ttl) continue;
      out.push({ id, remainingTtl });
    }
    return out;
  }

  /** remainingMs is how long the lease has left on the primary (Infinity elsewhere), or undefined if unknown. */
  remainingMs(id: number, nowMs: number): number | undefined {
    const entry = this.leases.get(id);
    if (entry === undefined) return undefined;
    return Math.max(entry.deadlineMs - nowMs, 0);
  }

  /** deadlineMs is the lease's deadline (Infinity if not primary), or undefined if unknown. */
  deadlineMs(id: number): number | undefined {
    return this.leases.get(id)?.deadlineMs;
  }

  private refresh(entry: ClockLease, nowMs: number, extendMs: number): void {
    const remaining = entry.remainingTtl > 0 ? entry.remainingTtl : entry.ttl;
    entry.deadlineMs = nowMs + extendMs + remaining * msPerSecond;
    entry.revokeRetryAtMs = 0;
    this.scheduleCheckpoint(entry, nowMs);
  }

  /** scheduleCheckpoint: only leases with more than one interval left are worth checkpointing. */
  private scheduleCheckpoint(entry: ClockLease, nowMs: number): void {
    const remaining = entry.remainingTtl > 0 ? entry.remainingTtl : entry.ttl;
    entry.checkpointAtMs = remaining * msPerSecond > this.checkpointIntervalMs ? nowMs + this.checkpointIntervalMs : Infinity;
  }
}
