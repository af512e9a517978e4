/**
 * Mutex is a distributed lock over the Lock service (v3lockpb): `lock()`
 * waits its turn, `unlock()` releases. It runs under a lease: one given, or
 * its own, granted at the first `lock()` and kept alive by the client; if
 * the lease is lost, so is the lock.
 *
 * Fencing. A lock alone cannot stop a holder that was paused (GC, swap, a
 * partition) from writing after its lease ended and someone else took the
 * lock. `fencingToken` is the create revision of the holder's lock key: it
 * grows with every new holder, and the holder's key exists exactly while it
 * holds the lock. A protected write is a txn guarded by that fact, so the
 * store itself refuses the stale holder:
 *
 * ```ts
 * const mutex = new Mutex(client, "locks/job-42");
 * await mutex.lock();
 * // ... long work, during which the lease may have expired ...
 * const written = await fencedPut(client, mutex, "results/job-42", "done");
 * if (!written) {
 *   // a newer holder exists (our key is gone, its token is larger): stop.
 * }
 * ```
 *
 * A resource outside the store fences the same way: it remembers the
 * largest token it has seen and refuses requests carrying a smaller one.
 *
 * The lock's queue is every key under `name + "/"`: keep other keys out of
 * that prefix (a protected key under it would itself queue for the lock).
 */
import { status as GrpcCode } from "@grpc/grpc-js";
import type { SynodClient } from "./client.js";
import { SynodClientError } from "./errors.js";
import { bytes, compare, op } from "./kv.js";
import type { Bytes, Compare } from "./kv.js";
import type { Lease } from "./lease.js";

/** mutexLeaseTtlSecondsDefault is the TTL of a mutex's own lease (etcdctl lock uses 10 s, sessions 60 s). */
export const mutexLeaseTtlSecondsDefault = 10;

export interface MutexOptions {
  /** lease to hold the lock under; absent: the mutex grants and keeps alive its own. */
  readonly lease?: Lease;
  readonly ttlSeconds?: number;
}

/** See the file comment. */
export class Mutex {
  private heldKey: Uint8Array | undefined;
  private token: number | undefined;
  private lease: Lease | undefined;
  /** ownsLease: the mutex granted its lease itself (at first, or because a given one was lost), so it revokes it. */
  private ownsLease: boolean;

  constructor(
    private readonly client: SynodClient,
    readonly name: string,
    private readonly options: MutexOptions = {},
  ) {
    this.lease = options.lease;
    this.ownsLease = options.lease === undefined;
  }

  /** key is the lock key while held. */
  get key(): Uint8Array | undefined {
    return this.heldKey;
  }

  /** fencingToken is the lock key's create revision while held (see the file comment). */
  get fencingToken(): number | undefined {
    return this.token;
  }

  /** leaseId is the lease the lock is held under, once known. */
  get leaseId(): number | undefined {
    return this.lease?.id;
  }

  /**
   * lock waits until the lock is ours (aborting `signal` gives up and
   * removes our place in the queue). Fails with "mutex: session is expired"
   * if the lease ends while waiting.
   */
  async lock(signal?: AbortSignal): Promise<void> {
    if (this.lease === undefined || !this.lease.alive) {
      this.lease = await this.client.lease(this.options.ttlSeconds ?? mutexLeaseTtlSecondsDefault);
      this.ownsLease = true;
    }
    const response = await this.client.connection.unary<{ key: Buffer }>(
      "v3lockpb.Lock",
      "Lock",
      { name: bytes(this.name), lease: this.lease.id },
      { idempotent: false, wait: true, ...(signal === undefined ? {} : { signal }) },
    );
    const held = (await this.client.kv.get(response.key)).kvs[0];
    if (held === undefined) throw new SynodClientError(GrpcCode.UNKNOWN, "mutex: session is expired");
    this.heldKey = new Uint8Array(response.key);
    this.token = held.createRevision;
  }

  /** unlock releases the lock (deletes our key); a mutex with its own lease revokes it too. */
  async unlock(): Promise<void> {
    const key = this.heldKey;
    this.heldKey = undefined;
    this.token = undefined;
    if (key !== undefined) await this.client.connection.unary("v3lockpb.Lock", "Unlock", { key: bytes(key) }, { idempotent: true });
    if (this.ownsLease && this.lease !== undefined) {
      const lease = this.lease;
      this.lease = undefined;
      // A lease that already ended (the stale-holder case) has nothing left to revoke.
      await lease.revoke().catch((error: unknown) => {
        if (!(error instanceof Error && /lease not found/.test(error.message))) throw error;
      });
    }
  }

  /** isOwner is the txn guard "this mutex still holds the lock with this token" (etcd's Mutex.IsOwner). */
  isOwner(): Compare {
    if (this.heldKey === undefined || this.token === undefined) throw new Error("Mutex: not locked");
    return compare.createRevision(this.heldKey, "=", this.token);
  }
}

/**
 * fencedPut writes `key` only if `mutex` still holds its lock with the same
 * fencing token; resolves to whether the write happened (see the file comment).
 */
export async function fencedPut(client: SynodClient, mutex: Mutex, key: Bytes, value: Bytes): Promise<boolean> {
  const result = await client.kv.txn({ compare: [mutex.isOwner()], success: [op.put(key, value)] });
  return result.succeeded;
}
