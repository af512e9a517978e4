/**
 * Locks and elections as etcd's server builds them (its v3lock and
 * v3election services over the clientv3 `concurrency` package), over the
 * backend's KV, lease and watch operations. No state of its own: the queue
 * of a lock or an election is the set of keys under `name + "/"`, ordered by
 * create revision.
 *
 * Lock(name, lease): the waiter's key is `name/<lease in hex>`, created if
 * absent with the lease attached (a second Lock with the same lease takes
 * the same place in the queue). The waiter holds the lock once no key under
 * `name/` has a lower create revision: it watches its immediate predecessor
 * and, when that is deleted, looks again (a revoked lease deletes its keys,
 * so a dead holder frees the lock when its lease ends). Before answering it
 * checks that its key still exists and its lease is alive: a waiter whose
 * lease ended never gets the lock. The key's create revision orders holders:
 * it is the fencing token. A Lock that fails or is cancelled while waiting
 * deletes its key, as etcd's does.
 *
 * Differences from etcd, on purpose: a waiter also watches its own key and
 * fails at once when it is deleted (etcd notices only when its turn comes),
 * and the final check also asks the lease's remaining TTL (etcd looks at the
 * key alone, so a lease past its deadline whose revoke is pending would
 * still win there); Campaign makes the same final check.
 */
import { CompareResult, CompareTarget, EventType, SortOrder, SortTarget, prefixEnd } from "../../kv/index.js";
import type { Compare, KeyValue, KvRequest, RangeRequest, RangeResponse, ResponseHeader, ResponseOp, TxnResponse } from "../../kv/index.js";
import type { EventsBackend } from "./backend.js";
import { abortReason } from "./calls.js";
import type { ApiLogger } from "./calls.js";
import { ConcurrencyError } from "./errors.js";
import { WatchChannel } from "./watch-channel.js";

/** sessionTtlSecondsDefault is the TTL of the lease etcd grants for a Lock or Campaign that names lease 0. */
export const sessionTtlSecondsDefault = 60;

/** ConcurrencyEnv is what locks and elections need from the server. */
export interface ConcurrencyEnv {
  readonly backend: EventsBackend;
  /** checked applies etcd's boundary checks to a request built from client input (throws etcd's error). */
  checked<R extends KvRequest>(request: R): R;
  readonly logger: ApiLogger;
}

/** LeaderKey is v3electionpb.LeaderKey: one leadership of one election. */
export interface LeaderKey {
  readonly name: Uint8Array;
  readonly key: Uint8Array;
  /** rev is the leader key's create revision. */
  readonly rev: number;
  readonly lease: number;
}

const empty = new Uint8Array(0);
const slash = new TextEncoder().encode("/");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** queuePrefix is the prefix of an election's or lock's keys: its name and a slash. */
export function queuePrefix(name: Uint8Array): Uint8Array {
  return concat(name, slash);
}

/** queueKey is a participant's key: the prefix and its lease ID in lower-case hex, as etcd's `%x`. */
export function queueKey(prefix: Uint8Array, lease: number): Uint8Array {
  return concat(prefix, new TextEncoder().encode(lease.toString(16)));
}

/** endOf is the range end of every key under `prefix` ("\0", every key >= it, if no end exists). */
function endOf(prefix: Uint8Array): Uint8Array {
  return prefixEnd(prefix) ?? new Uint8Array([0]);
}

/** firstCreated reads the key of the prefix with the lowest create revision (etcd's WithFirstCreate). */
function firstCreated(prefix: Uint8Array): RangeRequest {
  return { key: prefix, rangeEnd: endOf(prefix), sortTarget: SortTarget.CREATE, sortOrder: SortOrder.ASCEND, limit: 1 };
}

function rangeOf(op: ResponseOp | undefined): RangeResponse {
  if (op === undefined || !("responseRange" in op)) throw new Error("concurrency: txn answered without the expected range");
  return op.responseRange;
}

/** createdIs compares a key's create revision (0: the key does not exist). */
function createdIs(key: Uint8Array, createRevision: number): Compare {
  return { result: CompareResult.EQUAL, target: CompareTarget.CREATE, key, createRevision };
}

/** sessionLease is the lease a Lock or Campaign runs under: the one named, or a fresh one for lease 0 (as etcd's session). */
async function sessionLease(env: ConcurrencyEnv, lease: number): Promise<number> {
  if (lease !== 0) return lease;
  return (await env.backend.leaseGrant({ id: 0, ttl: sessionTtlSecondsDefault })).id;
}

/**
 * waitDelete resolves once `key` is deleted at a revision above `afterRevision`
 * (it must exist at `afterRevision`); reacts to the deletion event itself, no polling.
 */
async function waitDelete(env: ConcurrencyEnv, key: Uint8Array, afterRevision: number, signal: AbortSignal): Promise<void> {
  const channel = new WatchChannel(env.backend, { key, startRevision: afterRevision + 1 }, signal);
  try {
    for (;;) {
      const response = await channel.next();
      if (response.events.some((event) => event.type === EventType.DELETE)) return;
    }
  } finally {
    channel.close();
  }
}

/**
 * waitDeletes resolves once no key under `prefix` has a create revision at
 * or below `maxCreateRevision`, waiting for each latest such key in turn.
 */
async function waitDeletes(env: ConcurrencyEnv, prefix: Uint8Array, maxCreateRevision: number, signal: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    if (signal.aborted) throw abortReason(signal);
    const predecessor = await env.backend.range({
      key: prefix,
      rangeEnd: endOf(prefix),
      sortTarget: SortTarget.CREATE,
      sortOrder: SortOrder.DESCEND,
      limit: 1,
      maxCreateRevision,
    });
    const last = predecessor.kvs[0];
    if (last === undefined) return predecessor.header;
    await waitDelete(env, last.key, predecessor.header.revision, signal);
  }
}

/** QueueSpot is a participant's key in a queue, its create revision, and a revision at which it existed. */
interface QueueSpot {
  readonly prefix: Uint8Array;
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly revision: number;
}

/**
 * waitTurn waits until the spot's key is first under its prefix, failing
 * with `lost()` as soon as the key itself is deleted.
 */
async function waitTurn(env: ConcurrencyEnv, spot: QueueSpot, lost: () => Error, signal: AbortSignal): Promise<void> {
  const local = new AbortController();
  const forward = (): void => local.abort(signal.reason);
  if (signal.aborted) forward();
  signal.addEventListener("abort", forward, { once: true });
  const deleted = waitDelete(env, spot.key, spot.revision, local.signal).then(() => {
    throw lost();
  });
  try {
    await Promise.race([waitDeletes(env, spot.prefix, spot.createRevision - 1, local.signal), deleted]);
  } finally {
    signal.removeEventListener("abort", forward);
    local.abort(new Error("concurrency: wait over"));
  }
}

/** stillHeld reads `key` and the lease: the key must exist with `createRevision` and the lease have time left. */
async function stillHeld(env: ConcurrencyEnv, key: Uint8Array, createRevision: number, lease: number): Promise<RangeResponse | undefined> {
  const got = await env.backend.range({ key });
  const kv = got.kvs[0];
  if (kv === undefined || kv.createRevision !== createRevision) return undefined;
  const ttl = await env.backend.leaseTimeToLive(lease, false);
  return ttl.ttl > 0 ? got : undefined;
}

/** deleteQuietly deletes a lock waiter's key after a failure, logging (not throwing) if that fails too. */
async function deleteQuietly(env: ConcurrencyEnv, key: Uint8Array): Promise<void> {
  try {
    await env.backend.deleteRange({ key });
  } catch (error) {
    env.logger.error("etcd API: could not delete a lock waiter's key after a failed wait", error);
  }
}

// ---- Lock ----------------------------------------------------------------------

/** lock implements v3lock Lock (see the file comment); resolves to the response header and the held key. */
export async function lock(
  env: ConcurrencyEnv,
  request: { readonly name: Uint8Array; readonly lease: number },
  signal: AbortSignal,
): Promise<{ readonly header: ResponseHeader; readonly key: Uint8Array }> {
  const lease = await sessionLease(env, request.lease);
  const prefix = queuePrefix(request.name);
  const key = queueKey(prefix, lease);
  const owner = firstCreated(prefix);
  const { txn } = env.checked({
    txn: {
      compare: [createdIs(key, 0)],
      success: [{ requestPut: { key, value: empty, lease } }, { requestRange: owner }],
      failure: [{ requestRange: { key } }, { requestRange: owner }],
    },
  });
  const acquired: TxnResponse = await env.backend.txn(txn);
  const mine = acquired.succeeded ? undefined : rangeOf(acquired.responses[0]).kvs[0];
  const createRevision = mine?.createRevision ?? acquired.header.revision;
  const first = rangeOf(acquired.responses[1]).kvs[0];
  try {
    if (first !== undefined && first.createRevision !== createRevision) {
      const spot = { prefix, key, createRevision, revision: acquired.header.revision };
      await waitTurn(env, spot, () => new ConcurrencyError("sessionExpired"), signal);
    }
    const held = await stillHeld(env, key, createRevision, lease);
    if (held === undefined) throw new ConcurrencyError("sessionExpired");
    const uncontended = first === undefined || first.createRevision === createRevision;
    return { header: uncontended ? acquired.header : held.header, key };
  } catch (error) {
    await deleteQuietly(env, key);
    throw error;
  }
}

/** unlock implements v3lock Unlock: deletes the key, held or not. */
export async function unlock(env: ConcurrencyEnv, key: Uint8Array): Promise<ResponseHeader> {
  return (await env.backend.deleteRange(env.checked({ deleteRange: { key } }).deleteRange)).header;
}

// ---- Election ------------------------------------------------------------------

/**
 * campaign implements v3election Campaign: puts `value` under the
 * candidate's key (or proclaims it if the key exists with another value),
 * then waits for every earlier candidate to go. The header is the first
 * txn's, as etcd's.
 */
export async function campaign(
  env: ConcurrencyEnv,
  request: { readonly name: Uint8Array; readonly lease: number; readonly value: Uint8Array },
  signal: AbortSignal,
): Promise<{ readonly header: ResponseHeader; readonly leader: LeaderKey }> {
  const lease = await sessionLease(env, request.lease);
  const prefix = queuePrefix(request.name);
  const key = queueKey(prefix, lease);
  const { txn } = env.checked({
    txn: {
      compare: [createdIs(key, 0)],
      success: [{ requestPut: { key, value: request.value, lease } }],
      failure: [{ requestRange: { key } }],
    },
  });
  const put = await env.backend.txn(txn);
  const existing = put.succeeded ? undefined : rangeOf(put.responses[0]).kvs[0];
  const leader: LeaderKey = { name: request.name, key, rev: existing?.createRevision ?? put.header.revision, lease };
  if (existing !== undefined && !sameBytes(existing.value, request.value)) {
    try {
      await proclaim(env, leader, request.value);
    } catch (error) {
      await resignQuietly(env, leader);
      throw error;
    }
  }
  try {
    const spot = { prefix, key, createRevision: leader.rev, revision: put.header.revision };
    await waitTurn(env, spot, () => new ConcurrencyError("notLeader"), signal);
    if ((await stillHeld(env, key, leader.rev, lease)) === undefined) throw new ConcurrencyError("notLeader");
  } catch (error) {
    if (signal.aborted) await resignQuietly(env, leader);
    throw error;
  }
  return { header: put.header, leader };
}

/** proclaim implements v3election Proclaim: a new value under the leader key, if it is still the same key. */
export async function proclaim(env: ConcurrencyEnv, leader: LeaderKey, value: Uint8Array): Promise<ResponseHeader> {
  const { txn } = env.checked({
    txn: { compare: [createdIs(leader.key, leader.rev)], success: [{ requestPut: { key: leader.key, value, lease: leader.lease } }] },
  });
  const response = await env.backend.txn(txn);
  if (!response.succeeded) throw new ConcurrencyError("notLeader");
  return response.header;
}

/** resign implements v3election Resign: deletes the leader key if it is still the same key; never fails for "not leader". */
export async function resign(env: ConcurrencyEnv, leader: LeaderKey): Promise<ResponseHeader> {
  const { txn } = env.checked({ txn: { compare: [createdIs(leader.key, leader.rev)], success: [{ requestDeleteRange: { key: leader.key } }] } });
  return (await env.backend.txn(txn)).header;
}

async function resignQuietly(env: ConcurrencyEnv, leader: LeaderKey): Promise<void> {
  try {
    await resign(env, leader);
  } catch (error) {
    env.logger.error("etcd API: could not resign after a failed campaign", error);
  }
}

/** leader implements v3election Leader: the key with the lowest create revision, or "election: no leader". */
export async function leader(env: ConcurrencyEnv, name: Uint8Array): Promise<{ readonly header: ResponseHeader; readonly kv: KeyValue }> {
  const got = await env.backend.range(firstCreated(queuePrefix(name)));
  const kv = got.kvs[0];
  if (kv === undefined) throw new ConcurrencyError("noLeader");
  return { header: got.header, kv };
}

/**
 * observe implements v3election Observe: sends the current leader (waiting
 * for one if there is none), then every new value it proclaims, then, once
 * its key is deleted, the next leader, until `signal` aborts. `send` may
 * return a promise to hold the loop (a full gRPC stream).
 */
export async function observe(
  env: ConcurrencyEnv,
  name: Uint8Array,
  send: (header: ResponseHeader, kv: KeyValue) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const prefix = queuePrefix(name);
  for (;;) {
    if (signal.aborted) throw abortReason(signal);
    const got = await env.backend.range(firstCreated(prefix));
    let current = got.kvs[0];
    let header = got.header;
    if (current === undefined) {
      ({ header, kv: current } = await firstPut(env, prefix, got.header.revision, signal));
    }
    await send(header, current);
    const channel = new WatchChannel(env.backend, { key: current.key, startRevision: header.revision + 1 }, signal);
    try {
      for (let deleted = false; !deleted; ) {
        const response = await channel.next();
        for (const event of response.events) {
          if (event.type === EventType.DELETE) {
            deleted = true;
            break;
          }
          await send(response.header, event.kv);
        }
      }
    } finally {
      channel.close();
    }
  }
}

/** firstPut waits for the first put under `prefix` after `revision`; its header revision is the put's, as etcd's. */
async function firstPut(
  env: ConcurrencyEnv,
  prefix: Uint8Array,
  revision: number,
  signal: AbortSignal,
): Promise<{ readonly header: ResponseHeader; readonly kv: KeyValue }> {
  const channel = new WatchChannel(env.backend, { key: prefix, rangeEnd: endOf(prefix), startRevision: revision + 1 }, signal);
  try {
    for (;;) {
      const response = await channel.next();
      const put = response.events.find((event) => event.type === EventType.PUT);
      if (put !== undefined) return { header: { revision: put.kv.modRevision }, kv: put.kv };
    }
  } finally {
    channel.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
