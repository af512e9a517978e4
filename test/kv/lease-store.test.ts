import assert from "node:assert/strict";
import { test } from "node:test";
import { GrpcStatus } from "../../src/kv/errors.js";
import { LeaseStore, leaseIdLimit, leaseTtlMaxSeconds } from "../../src/kv/lease-store.js";
import { MemoryStore } from "../../src/kv/memory-store.js";
import { MvccStore } from "../../src/kv/mvcc-store.js";
import type { LeaseStoreOptions } from "../../src/kv/lease-store.js";
import { WatchHub } from "../../src/kv/watch-hub.js";
import { b, expectError, get, snapshotOf, str, unwrap } from "./helpers.js";
import { Recorder, eventString } from "./watch-helpers.js";

function kv(options: LeaseStoreOptions = {}, store = new MemoryStore()): { store: MemoryStore; leases: LeaseStore; mvcc: MvccStore } {
  const leases = new LeaseStore(store, options);
  return { store, leases, mvcc: new MvccStore(store, { leases }) };
}

function putWith(mvcc: MvccStore, key: string, lease: number): number {
  return unwrap(mvcc.put({ key: b(key), value: b(key), lease })).response.header.revision;
}

function keysOf(leases: LeaseStore, id: number): string[] {
  return leases.attachedKeys(id).map(str);
}

const all = { key: b("\0"), rangeEnd: b("\0") } as const;

test("grant: client ids, picked ids, TTL raised to the minimum, etcd's errors and status codes", () => {
  const { leases, store } = kv();
  assert.deepEqual(unwrap(leases.grant({ id: 2, ttl: 60 })), { id: 2, ttl: 60, remainingTtl: 0 });
  // Picked ids start at 1 and skip ids a client took.
  assert.equal(unwrap(leases.grant({ ttl: 60 })).id, 1);
  assert.equal(unwrap(leases.grant({ id: 0, ttl: 60 })).id, 3);
  // etcd raises short TTLs to its minimum (2 s by default) and answers with the raised TTL.
  assert.equal(unwrap(leases.grant({ id: 10, ttl: 1 })).ttl, 2);
  assert.equal(unwrap(leases.grant({ id: 11, ttl: -5 })).ttl, 2);
  assert.equal(unwrap(leases.grant({ id: 12, ttl: leaseTtlMaxSeconds })).ttl, leaseTtlMaxSeconds);
  const before = snapshotOf(store);
  const tooLarge = leases.grant({ id: 13, ttl: leaseTtlMaxSeconds + 1 });
  expectError(tooLarge, "leaseTtlTooLarge");
  if (!tooLarge.ok) {
    assert.equal(tooLarge.error.message, "etcdserver: too large lease TTL");
    assert.equal(tooLarge.error.grpcStatus, GrpcStatus.OUT_OF_RANGE);
  }
  const exists = leases.grant({ id: 2, ttl: 5 });
  expectError(exists, "leaseExists");
  if (!exists.ok) {
    assert.equal(exists.error.message, "etcdserver: lease already exists");
    assert.equal(exists.error.grpcStatus, GrpcStatus.FAILED_PRECONDITION);
  }
  expectError(leases.grant({ id: -1, ttl: 5 }), "leaseIdOutOfRange");
  expectError(leases.grant({ id: leaseIdLimit, ttl: 5 }), "leaseIdOutOfRange");
  assert.deepEqual(snapshotOf(store), before, "a failed grant changes nothing");
  assert.deepEqual(
    leases.leases().map((l) => l.id),
    [1, 2, 3, 10, 11, 12],
  );
  const custom = kv({ leaseTtlMinSeconds: 5 }).leases;
  assert.equal(unwrap(custom.grant({ ttl: 3 })).ttl, 5);
});

test("a put naming a lease that does not exist fails with NOT_FOUND and writes nothing", () => {
  const { mvcc, store } = kv();
  const before = snapshotOf(store);
  const result = mvcc.put({ key: b("k"), value: b("v"), lease: 7 });
  expectError(result, "leaseNotFound");
  if (!result.ok) {
    assert.equal(result.error.message, "etcdserver: requested lease not found");
    assert.equal(result.error.grpcStatus, GrpcStatus.NOT_FOUND);
  }
  expectError(mvcc.txn({ success: [{ requestPut: { key: b("k"), lease: 7 } }] }), "leaseNotFound");
  assert.deepEqual(snapshotOf(store), before);
  assert.throws(() => new MvccStore(store, { leases: new LeaseStore(store), leaseExists: () => true }), /either leases or leaseExists/);
});

test("puts attach keys, and a put with another lease or none, or a delete, detaches them", () => {
  const { leases, mvcc } = kv();
  unwrap(leases.grant({ id: 1, ttl: 60 }));
  unwrap(leases.grant({ id: 2, ttl: 60 }));
  putWith(mvcc, "a", 1);
  putWith(mvcc, "b", 1);
  putWith(mvcc, "c", 1);
  putWith(mvcc, "d", 0);
  assert.deepEqual(keysOf(leases, 1), ["a", "b", "c"]);
  putWith(mvcc, "b", 2); // moves to lease 2
  putWith(mvcc, "c", 0); // no lease any more
  unwrap(mvcc.put({ key: b("a"), value: b("kept"), ignoreLease: true })); // keeps lease 1
  assert.deepEqual(keysOf(leases, 1), ["a"]);
  assert.deepEqual(keysOf(leases, 2), ["b"]);
  unwrap(mvcc.deleteRange({ key: b("b") }));
  assert.deepEqual(keysOf(leases, 2), []);
  unwrap(mvcc.txn({ success: [{ requestPut: { key: b("t1"), lease: 2 } }, { requestPut: { key: b("t2"), lease: 2 } }] }));
  assert.deepEqual(keysOf(leases, 2), ["t1", "t2"]);
  unwrap(mvcc.deleteRange({ key: b("t"), rangeEnd: b("u") }));
  assert.deepEqual(keysOf(leases, 2), []);
  const lease = unwrap(mvcc.range({ key: b("a") })).kvs[0]?.lease;
  assert.equal(lease, 1);
});

test("revoke deletes every attached key in one revision, in key order, then the lease; the watch hub sees the deletions", () => {
  const { leases, mvcc, store } = kv();
  const hub = new WatchHub(mvcc);
  const recorder = new Recorder();
  hub.openStream(recorder).createWatch({ key: b("\0"), rangeEnd: b("\0") });
  unwrap(leases.grant({ id: 5, ttl: 60 }));
  unwrap(leases.grant({ id: 6, ttl: 60 }));
  for (const k of ["z", "m", "a"]) {
    const applied = unwrap(mvcc.put({ key: b(k), value: b(k), lease: 5 }));
    hub.onApplied(applied.response.header.revision, applied.events);
  }
  const other = unwrap(mvcc.put({ key: b("other"), value: b("other"), lease: 6 }));
  hub.onApplied(other.response.header.revision, other.events);
  const revision = mvcc.revision;
  const revoked = unwrap(leases.apply({ leaseRevoke: { id: 5 } }, mvcc));
  assert.deepEqual(revoked.response, { leaseRevoke: { header: { revision: revision + 1 }, deleted: 3 } });
  assert.equal(mvcc.revision, revision + 1, "one revision for all the keys");
  assert.deepEqual(revoked.events.map(eventString), [
    `DELETE a=@0/${revision + 1}/0/l0 prev a@${revision - 1}`,
    `DELETE m=@0/${revision + 1}/0/l0 prev m@${revision - 2}`,
    `DELETE z=@0/${revision + 1}/0/l0 prev z@${revision - 3}`,
  ]);
  hub.onApplied(mvcc.revision, revoked.events);
  assert.deepEqual(recorder.responses.at(-1)?.events.map((e) => str(e.kv.key)), ["a", "m", "z"]);
  assert.deepEqual(get(mvcc, all), ["other=other"]);
  assert.equal(leases.lease(5), undefined);
  assert.deepEqual(keysOf(leases, 5), []);
  assert.deepEqual(keysOf(leases, 6), ["other"]);
  const before = snapshotOf(store);
  expectError(leases.revoke(5, mvcc), "leaseNotFound");
  assert.deepEqual(snapshotOf(store), before);
  // A lease without live keys is revoked without a new revision.
  unwrap(leases.grant({ id: 7, ttl: 60 }));
  const empty = unwrap(leases.revoke(7, mvcc));
  assert.deepEqual([empty.deleted, empty.events.length, mvcc.revision], [0, 0, revision + 1]);
  // A put on a revoked lease fails.
  expectError(mvcc.put({ key: b("x"), lease: 5 }), "leaseNotFound");
});

test("checkpoint records the remaining TTL; timeToLive reports it and the keys; unknown leases", () => {
  const { leases, mvcc } = kv();
  unwrap(leases.grant({ id: 1, ttl: 100 }));
  putWith(mvcc, "k", 1);
  assert.deepEqual(unwrap(leases.timeToLive(1)), { id: 1, grantedTtl: 100, remainingTtl: 100, keys: [] });
  unwrap(leases.apply({ leaseCheckpoint: { checkpoints: [{ id: 1, remainingTtl: 40 }, { id: 99, remainingTtl: 5 }] } }, mvcc));
  const ttl = unwrap(leases.timeToLive(1, { keys: true }));
  assert.deepEqual([ttl.grantedTtl, ttl.remainingTtl, ttl.keys.map(str)], [100, 40, ["k"]]);
  assert.equal(leases.lease(99), undefined, "a checkpoint of an unknown lease is ignored, as etcd does");
  leases.checkpoint(1, -3);
  assert.equal(leases.lease(1)?.remainingTtl, 0, "0 clears it");
  expectError(leases.timeToLive(42), "leaseNotFound");
});

test("leases live in the ordered store: a restart (or snapshot) sees the same leases, keys and next id", () => {
  const first = kv();
  unwrap(first.leases.grant({ ttl: 30 })); // 1
  unwrap(first.leases.grant({ ttl: 30 })); // 2
  putWith(first.mvcc, "k", 2);
  first.leases.checkpoint(2, 12);
  unwrap(first.leases.revoke(1, first.mvcc));
  const again = kv({ leaseTtlMinSeconds: 40 }, first.store);
  assert.deepEqual(again.leases.leases(), [{ id: 2, ttl: 40, remainingTtl: 12 }], "a stored TTL below a raised minimum reads as the minimum");
  assert.deepEqual(keysOf(again.leases, 2), ["k"]);
  assert.equal(unwrap(again.leases.grant({ ttl: 50 })).id, 3, "ids are not reused after a restart");
  const revoked = unwrap(again.leases.revoke(2, again.mvcc));
  assert.equal(revoked.deleted, 1);
});

test("apply: grant answers with the id and TTL and the current revision; a failed command is an error result", () => {
  const { leases, mvcc } = kv();
  putWith(mvcc, "x", 0); // revision 2
  assert.deepEqual(unwrap(leases.apply({ leaseGrant: { ttl: 1 } }, mvcc)), {
    response: { leaseGrant: { header: { revision: 2 }, id: 1, ttl: 2 } },
    events: [],
  });
  expectError(leases.apply({ leaseGrant: { id: 1, ttl: 10 } }, mvcc), "leaseExists");
  expectError(leases.apply({ leaseRevoke: { id: 9 } }, mvcc), "leaseNotFound");
});
