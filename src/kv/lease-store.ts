/**
 * LeaseStore is the replicated half of etcd's lessor: which leases exist,
 * their TTLs and checkpointed remaining TTLs, and which keys are attached to
 * each. It lives in the same {@link OrderedStore} as the MVCC store, under
 * its own prefixes (`l/` leases, `a/` attachments, see layout.ts), so it is
 * in every snapshot, survives restarts, and commits atomically with the
 * writes that change it. Pure and deterministic: every member applies the
 * same lease commands to the same state and gets the same result.
 *
 * What it does not do is decide when a lease expires: that is the leader's
 * job, with its clock ({@link LeaseClock} in lease-clock.ts); an expiry
 * becomes a revoke proposal like any other.
 *
 * Wiring: construct the MvccStore with `{ leases: leaseStore }`, so applied
 * puts and deletes attach and detach keys (see {@link LeaseAttachments}),
 * and a put naming an unknown lease fails with "requested lease not found".
 */
import { fail, ok } from "./errors.js";
import type { KvResult } from "./errors.js";
import {
  attachKey,
  attachKeyPrefix,
  decodeLeaseRecord,
  decodeMeta,
  encodeLeaseRecord,
  encodeMeta,
  leaseIdOfKey,
  leaseKey,
  leaseKeyspaceEnd,
  leaseKeyspaceStart,
  metaKey,
  userKeyOfAttachKey,
} from "./layout.js";
import type { Applied, LeaseAttachments, MvccStore } from "./mvcc-store.js";
import type { OrderedStore } from "./ports.js";
import type { KvEvent, ResponseHeader } from "./types.js";

/** leaseTtlMaxSeconds is etcd's MaxLeaseTTL; a longer grant fails with "too large lease TTL". */
export const leaseTtlMaxSeconds = 9_000_000_000;
/**
 * leaseTtlMinSecondsDefault is etcd's minimum with its default timing:
 * ceil(1.5 election timeouts) = ceil(1.5 s) = 2 s. Shorter grants are raised to it.
 */
export const leaseTtlMinSecondsDefault = 2;
/** leaseIdLimit: lease ids are integers in [1, leaseIdLimit), so they stay exact as numbers. */
export const leaseIdLimit = 2 ** 53;

/** LeaseStoreOptions configures a lease store. */
export interface LeaseStoreOptions {
  /** leaseTtlMinSeconds: grants (and stored leases, when read) below it are raised to it. */
  readonly leaseTtlMinSeconds?: number;
}

/** LeaseInfo is one lease: its TTL and its last checkpointed remaining TTL (0: none), in seconds. */
export interface LeaseInfo {
  readonly id: number;
  readonly ttl: number;
  readonly remainingTtl: number;
}

/** LeaseGrantRequest: `id` 0 or absent lets the store pick one. */
export interface LeaseGrantRequest {
  readonly id?: number;
  readonly ttl: number;
}

/** LeaseCheckpoint records a lease's remaining TTL (0 clears it), as the leader measured it. */
export interface LeaseCheckpoint {
  readonly id: number;
  readonly remainingTtl: number;
}

/** LeaseRequest is one replicated lease command. */
export type LeaseRequest =
  | { readonly leaseGrant: LeaseGrantRequest }
  | { readonly leaseRevoke: { readonly id: number } }
  | { readonly leaseCheckpoint: { readonly checkpoints: readonly LeaseCheckpoint[] } };

/** LeaseResponse answers a {@link LeaseRequest} under the same field name; headers carry the MVCC revision. */
export type LeaseResponse =
  | { readonly leaseGrant: { readonly header: ResponseHeader; readonly id: number; readonly ttl: number } }
  | { readonly leaseRevoke: { readonly header: ResponseHeader; readonly deleted: number } }
  | { readonly leaseCheckpoint: { readonly header: ResponseHeader } };

/**
 * LeaseTimeToLive is what the replicated state knows of a lease: its granted
 * TTL, its remaining TTL as last checkpointed (the TTL if never), and its
 * keys if asked for. The leader's live remaining time comes from its
 * {@link LeaseClock}; an unknown lease is etcd's TTL -1 answer at the API.
 */
export interface LeaseTimeToLive {
  readonly id: number;
  readonly grantedTtl: number;
  readonly remainingTtl: number;
  readonly keys: readonly Uint8Array[];
}

const empty = new Uint8Array(0);
const metaLeaseIdNext = metaKey("leaseIdNext");

/** validLeaseId: an integer in [1, leaseIdLimit). */
export function validLeaseId(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 1 && id < leaseIdLimit;
}

/** See the file comment. */
export class LeaseStore implements LeaseAttachments {
  readonly leaseTtlMinSeconds: number;

  constructor(
    private readonly store: OrderedStore,
    options: LeaseStoreOptions = {},
  ) {
    const min = options.leaseTtlMinSeconds ?? leaseTtlMinSecondsDefault;
    if (!Number.isSafeInteger(min) || min < 1 || min > leaseTtlMaxSeconds) throw new RangeError(`LeaseStore: leaseTtlMinSeconds ${min}`);
    this.leaseTtlMinSeconds = min;
  }

  // ---- LeaseAttachments (called by MvccStore while applying writes) --------

  /** exists tells whether a lease is granted (and not revoked). */
  exists(id: number): boolean {
    return validLeaseId(id) && this.store.get(leaseKey(id)) !== undefined;
  }

  /** attach records that `key` is attached to lease `id`. */
  attach(id: number, key: Uint8Array): void {
    if (!this.exists(id)) throw new Error(`LeaseStore: attach to unknown lease ${id}`);
    this.store.put(attachKey(id, key), empty);
  }

  /** detach forgets that `key` is attached to lease `id`. */
  detach(id: number, key: Uint8Array): void {
    if (validLeaseId(id)) this.store.delete(attachKey(id, key));
  }

  // ---- apply ---------------------------------------------------------------

  /** apply executes one replicated lease command against this store and `mvcc` (built with this store as its `leases`). */
  apply(request: LeaseRequest, mvcc: MvccStore): KvResult<Applied<LeaseResponse>> {
    const header = (): ResponseHeader => ({ revision: mvcc.revision });
    if ("leaseGrant" in request) {
      const granted = this.grant(request.leaseGrant);
      return granted.ok ? ok({ response: { leaseGrant: { header: header(), id: granted.value.id, ttl: granted.value.ttl } }, events: [] }) : granted;
    }
    if ("leaseRevoke" in request) {
      const revoked = this.revoke(request.leaseRevoke.id, mvcc);
      if (!revoked.ok) return revoked;
      return ok({ response: { leaseRevoke: { header: header(), deleted: revoked.value.deleted } }, events: revoked.value.events });
    }
    for (const checkpoint of request.leaseCheckpoint.checkpoints) this.checkpoint(checkpoint.id, checkpoint.remainingTtl);
    return ok({ response: { leaseCheckpoint: { header: header() } }, events: [] });
  }

  /**
   * grant creates a lease. Id 0 (or absent) picks the lowest free id from
   * the replicated next-id counter; a TTL above {@link leaseTtlMaxSeconds}
   * fails; one below the minimum is raised to it (etcd does the same and
   * answers with the raised TTL); an id in use fails with "lease already exists".
   */
  grant(r: LeaseGrantRequest): KvResult<LeaseInfo> {
    const requested = r.id ?? 0;
    if (requested !== 0 && !validLeaseId(requested)) return fail("leaseIdOutOfRange");
    if (!Number.isFinite(r.ttl) || r.ttl > leaseTtlMaxSeconds) return fail("leaseTtlTooLarge");
    if (requested !== 0 && this.exists(requested)) return fail("leaseExists");
    const id = requested === 0 ? this.takeNextId() : requested;
    const ttl = Math.max(Math.trunc(r.ttl), this.leaseTtlMinSeconds);
    this.store.put(leaseKey(id), encodeLeaseRecord({ ttl, remainingTtl: 0 }));
    return ok({ id, ttl, remainingTtl: 0 });
  }

  /**
   * revoke deletes every key attached to the lease, in key order, in one
   * MVCC revision (none if it has no live keys), then the lease itself.
   * Returns the deletions' events, which the watch hub must be given.
   */
  revoke(id: number, mvcc: MvccStore): KvResult<{ readonly deleted: number; readonly events: readonly KvEvent[] }> {
    if (!this.exists(id)) return fail("leaseNotFound");
    const keys = this.attachedKeys(id);
    const applied = mvcc.deleteKeys(keys);
    // Attachments the MVCC hook did not clear (keys already gone, or a store built without the hook).
    for (const key of this.attachedKeys(id)) this.store.delete(attachKey(id, key));
    this.store.delete(leaseKey(id));
    return ok({ deleted: applied.response.deleted, events: applied.events });
  }

  /** checkpoint records a lease's remaining TTL (clamped to [0, TTL max]); an unknown lease is ignored, as etcd does. */
  checkpoint(id: number, remainingTtl: number): void {
    const current = this.lease(id);
    if (current === undefined) return;
    const remaining = Number.isFinite(remainingTtl) ? Math.min(Math.max(Math.trunc(remainingTtl), 0), leaseTtlMaxSeconds) : 0;
    this.store.put(leaseKey(id), encodeLeaseRecord({ ttl: this.storedTtl(id), remainingTtl: remaining }));
  }

  // ---- reads ---------------------------------------------------------------

  /** lease reads one lease, or undefined if it is not granted. */
  lease(id: number): LeaseInfo | undefined {
    if (!validLeaseId(id)) return undefined;
    const bytes = this.store.get(leaseKey(id));
    if (bytes === undefined) return undefined;
    const record = decodeLeaseRecord(bytes);
    return { id, ttl: Math.max(record.ttl, this.leaseTtlMinSeconds), remainingTtl: record.remainingTtl };
  }

  /** leases lists every granted lease in id order. */
  leases(): LeaseInfo[] {
    const out: LeaseInfo[] = [];
    for (const [key, value] of this.store.scan(leaseKeyspaceStart, leaseKeyspaceEnd, { reverse: false })) {
      const record = decodeLeaseRecord(value);
      out.push({ id: leaseIdOfKey(key), ttl: Math.max(record.ttl, this.leaseTtlMinSeconds), remainingTtl: record.remainingTtl });
    }
    return out;
  }

  /** attachedKeys lists the keys attached to a lease, in byte order. */
  attachedKeys(id: number): Uint8Array[] {
    if (!validLeaseId(id)) return [];
    const end = id + 1 < leaseIdLimit ? attachKeyPrefix(id + 1) : undefined;
    const keys: Uint8Array[] = [];
    for (const [key] of this.store.scan(attachKeyPrefix(id), end, { reverse: false })) keys.push(userKeyOfAttachKey(key).slice());
    return keys;
  }

  /** timeToLive answers LeaseTimeToLive from the replicated state (see {@link LeaseTimeToLive}). */
  timeToLive(id: number, options: { readonly keys?: boolean } = {}): KvResult<LeaseTimeToLive> {
    const lease = this.lease(id);
    if (lease === undefined) return fail("leaseNotFound");
    return ok({
      id,
      grantedTtl: lease.ttl,
      remainingTtl: lease.remainingTtl > 0 ? lease.remainingTtl : lease.ttl,
      keys: options.keys === true ? this.attachedKeys(id) : [],
    });
  }

  // ---- ids -----------------------------------------------------------------

  private storedTtl(id: number): number {
    const bytes = this.store.get(leaseKey(id));
    if (bytes === undefined) throw new Error(`LeaseStore: lease ${id} vanished`);
    return decodeLeaseRecord(bytes).ttl;
  }

  /** takeNextId returns the lowest free id at or after the counter (wrapping below 2^53) and moves the counter past it. */
  private takeNextId(): number {
    const stored = this.store.get(metaLeaseIdNext);
    let id = stored === undefined ? 1 : decodeMeta(stored);
    // Each step skips a granted lease, so this ends within (number of leases + 1) steps.
    while (this.exists(id) || !validLeaseId(id)) id = id + 1 >= leaseIdLimit ? 1 : id + 1;
    this.store.put(metaLeaseIdNext, encodeMeta(id + 1));
    return id;
  }
}
