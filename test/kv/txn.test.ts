import assert from "node:assert/strict";
import { test } from "node:test";
import type { MvccStore } from "../../src/kv/mvcc-store.js";
import { CompareResult, CompareTarget, EventType } from "../../src/kv/types.js";
import type {
  Compare,
  CompareResult as CompareResultType,
  CompareTarget as CompareTargetType,
  PutRequest,
  RangeRequest,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from "../../src/kv/types.js";
import { b, del, expectError, fresh, get, put, simple, snapshotOf, str, unwrap } from "./helpers.js";

const putOp = (key: string, value: string, extra: Partial<PutRequest> = {}): RequestOp => ({
  requestPut: { key: b(key), value: b(value), ...extra },
});
const delOp = (key: string, rangeEnd?: string): RequestOp => ({
  requestDeleteRange: rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) },
});
const rangeOp = (key: string, extra: Partial<RangeRequest> = {}): RequestOp => ({ requestRange: { key: b(key), ...extra } });
const txnOp = (t: TxnRequest): RequestOp => ({ requestTxn: t });
const cmp = (key: string, target: CompareTargetType, result: CompareResultType, operand: Partial<Compare> = {}): Compare => ({
  key: b(key),
  target,
  result,
  ...operand,
});

function txn(mvcc: MvccStore, request: TxnRequest): TxnResponse {
  return unwrap(mvcc.txn(request)).response;
}

function rangeOf(op: ResponseOp | undefined): string[] {
  assert.ok(op !== undefined && "responseRange" in op);
  return op.responseRange.kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}`);
}

/** k = "v2", create 2, mod 3, version 2, lease 7 at revision 3. */
function withK(): MvccStore {
  const { mvcc } = fresh();
  put(mvcc, "k", "v1");
  put(mvcc, "k", "v2", 7);
  return mvcc;
}

test("compares of every target and result against an existing key", () => {
  const mvcc = withK();
  const { EQUAL, NOT_EQUAL, GREATER, LESS } = CompareResult;
  const { VERSION, CREATE, MOD, VALUE, LEASE } = CompareTarget;
  const table: [CompareTargetType, CompareResultType, Partial<Compare>, boolean][] = [
    [VERSION, EQUAL, { version: 2 }, true],
    [VERSION, EQUAL, { version: 1 }, false],
    [VERSION, NOT_EQUAL, { version: 1 }, true],
    [VERSION, GREATER, { version: 1 }, true],
    [VERSION, GREATER, { version: 2 }, false],
    [VERSION, LESS, { version: 3 }, true],
    [VERSION, LESS, { version: 2 }, false],
    [CREATE, EQUAL, { createRevision: 2 }, true],
    [CREATE, GREATER, { createRevision: 2 }, false],
    [CREATE, LESS, { createRevision: 3 }, true],
    [MOD, EQUAL, { modRevision: 3 }, true],
    [MOD, NOT_EQUAL, { modRevision: 3 }, false],
    [MOD, GREATER, { modRevision: 2 }, true],
    [VALUE, EQUAL, { value: b("v2") }, true],
    [VALUE, EQUAL, { value: b("v1") }, false],
    [VALUE, GREATER, { value: b("v1") }, true],
    [VALUE, LESS, { value: b("v3") }, true],
    [VALUE, LESS, { value: b("v2") }, false],
    [VALUE, NOT_EQUAL, { value: b("v2") }, false],
    [VALUE, GREATER, {}, true],
    [LEASE, EQUAL, { lease: 7 }, true],
    [LEASE, EQUAL, { lease: 0 }, false],
    [LEASE, GREATER, { lease: 6 }, true],
    [LEASE, LESS, { lease: 6 }, false],
    // The oneof field of another target is ignored: VERSION reads `version`, absent → 0.
    [VERSION, GREATER, { modRevision: 100 }, true],
  ];
  for (const [target, result, operand, expected] of table) {
    const r = txn(mvcc, { compare: [cmp("k", target, result, operand)] });
    assert.equal(r.succeeded, expected, `target ${target} result ${result} ${JSON.stringify(operand)}`);
  }
  assert.equal(mvcc.revision, 3, "compares alone write nothing");
});

test("compares against a missing key see zeros, and a value compare always fails", () => {
  const mvcc = withK();
  const { EQUAL, NOT_EQUAL, LESS } = CompareResult;
  const { VERSION, CREATE, MOD, VALUE, LEASE } = CompareTarget;
  const table: [CompareTargetType, CompareResultType, Partial<Compare>, boolean][] = [
    [VERSION, EQUAL, { version: 0 }, true],
    [CREATE, EQUAL, { createRevision: 0 }, true],
    [MOD, LESS, { modRevision: 1 }, true],
    [LEASE, EQUAL, {}, true],
    [VALUE, EQUAL, { value: new Uint8Array(0) }, false],
    [VALUE, NOT_EQUAL, { value: b("x") }, false],
  ];
  for (const [target, result, operand, expected] of table) {
    assert.equal(txn(mvcc, { compare: [cmp("missing", target, result, operand)] }).succeeded, expected, `target ${target}`);
  }
});

test("a range compare needs every key of the range to satisfy it", () => {
  const { mvcc } = fresh();
  put(mvcc, "a", "1");
  put(mvcc, "b", "1");
  put(mvcc, "b", "2");
  put(mvcc, "c", "1");
  const { EQUAL, GREATER } = CompareResult;
  const table: [Compare, boolean][] = [
    [{ ...cmp("a", CompareTarget.VERSION, GREATER, { version: 0 }), rangeEnd: b("d") }, true],
    [{ ...cmp("a", CompareTarget.VERSION, EQUAL, { version: 1 }), rangeEnd: b("d") }, false],
    [{ ...cmp("a", CompareTarget.VERSION, EQUAL, { version: 1 }), rangeEnd: b("b") }, true],
    [{ ...cmp("c", CompareTarget.VERSION, EQUAL, { version: 1 }), rangeEnd: b("\0") }, true],
    [{ ...cmp("b", CompareTarget.VERSION, EQUAL, { version: 1 }), rangeEnd: b("\0") }, false],
    [{ ...cmp("a", CompareTarget.VALUE, EQUAL, { value: b("1") }), rangeEnd: b("b") }, true],
    [{ ...cmp("a", CompareTarget.MOD, GREATER, { modRevision: 1 }), rangeEnd: b("d") }, true],
    // An empty range compares as a missing key.
    [{ ...cmp("x", CompareTarget.CREATE, EQUAL, { createRevision: 0 }), rangeEnd: b("z") }, true],
    [{ ...cmp("x", CompareTarget.VALUE, EQUAL, { value: new Uint8Array(0) }), rangeEnd: b("z") }, false],
  ];
  for (const [compare, expected] of table) {
    assert.equal(txn(mvcc, { compare: [compare] }).succeeded, expected, `${str(compare.key)}..${str(compare.rangeEnd ?? new Uint8Array(0))}`);
  }
  // Every compare of the list must hold.
  const both = [cmp("a", CompareTarget.VERSION, EQUAL, { version: 1 }), cmp("b", CompareTarget.VERSION, EQUAL, { version: 1 })];
  assert.equal(txn(mvcc, { compare: both }).succeeded, false);
  assert.equal(txn(mvcc, { compare: both.slice(0, 1) }).succeeded, true);
});

test("the taken branch runs; the other does not", () => {
  const mvcc = withK();
  const request: TxnRequest = {
    compare: [cmp("k", CompareTarget.VALUE, CompareResult.EQUAL, { value: b("v2") })],
    success: [putOp("yes", "1")],
    failure: [putOp("no", "1")],
  };
  const taken = txn(mvcc, request);
  assert.equal(taken.succeeded, true);
  assert.equal(taken.responses.length, 1);
  assert.deepEqual(get(mvcc, { key: b("no") }), []);
  assert.deepEqual(get(mvcc, { key: b("yes") }), ["yes=1"]);
  put(mvcc, "k", "other");
  const otherwise = txn(mvcc, request);
  assert.equal(otherwise.succeeded, false);
  assert.deepEqual(get(mvcc, { key: b("no") }), ["no=1"]);
});

test("all writes of a txn share one main revision, in order, and reads see earlier writes", () => {
  const mvcc = withK();
  const applied = unwrap(
    mvcc.txn({
      // A put and a delete of one key may not share a branch; a later nested txn may delete it.
      success: [
        rangeOp("k"),
        txnOp({ success: [putOp("k", "v3")] }),
        rangeOp("k"),
        putOp("n", "1"),
        txnOp({ success: [delOp("k")] }),
        rangeOp("k"),
        rangeOp("n"),
      ],
    }),
  );
  const r = applied.response;
  assert.equal(r.header.revision, 4);
  assert.equal(mvcc.revision, 4);
  assert.deepEqual(rangeOf(r.responses[0]), ["k=v2"]);
  assert.deepEqual(rangeOf(r.responses[2]), ["k=v3"]);
  assert.deepEqual(rangeOf(r.responses[5]), []);
  assert.deepEqual(rangeOf(r.responses[6]), ["n=1"]);
  // A read before any write sees the old revision; after one, the txn's.
  const first = r.responses[0];
  const third = r.responses[2];
  assert.ok(first !== undefined && "responseRange" in first && third !== undefined && "responseRange" in third);
  assert.equal(first.responseRange.header.revision, 3);
  assert.equal(third.responseRange.header.revision, 4);
  const nested = r.responses[1];
  assert.ok(nested !== undefined && "responseTxn" in nested);
  const putResponse = nested.responseTxn.responses[0];
  assert.ok(putResponse !== undefined && "responsePut" in putResponse);
  assert.equal(putResponse.responsePut.header.revision, 4);
  assert.deepEqual(
    applied.events.map((e) => [e.type, str(e.kv.key), e.kv.modRevision, e.kv.version]),
    [
      [EventType.PUT, "k", 4, 3],
      [EventType.PUT, "n", 4, 1],
      [EventType.DELETE, "k", 4, 0],
    ],
  );
  // The deleted key's prevKv is the value written earlier in the same txn.
  assert.equal(str(applied.events[2]?.prevKv?.value ?? new Uint8Array(0)), "v3");
  // History inside one main revision: reading revision 3 still sees v2.
  assert.deepEqual(get(mvcc, { key: b("k"), revision: 3 }), ["k=v2"]);
  assert.deepEqual(get(mvcc, { key: b("k"), revision: 4 }), []);
});

test("a txn that writes nothing keeps the revision", () => {
  const mvcc = withK();
  const table: [string, TxnRequest][] = [
    ["empty", {}],
    ["reads only", { success: [rangeOp("k")] }],
    ["deletes nothing", { success: [delOp("missing")] }],
    ["failed compare with no failure ops", { compare: [cmp("k", CompareTarget.VERSION, CompareResult.EQUAL, { version: 9 })], success: [putOp("x", "1")] }],
  ];
  for (const [name, request] of table) {
    const applied = unwrap(mvcc.txn(request));
    assert.equal(applied.response.header.revision, 3, name);
    assert.deepEqual(applied.events, [], name);
    assert.equal(mvcc.revision, 3, name);
  }
  // The delete response inside reports the unchanged revision too.
  const r = txn(mvcc, { success: [delOp("missing")] }).responses[0];
  assert.ok(r !== undefined && "responseDeleteRange" in r);
  assert.deepEqual(r.responseDeleteRange, { header: { revision: 3 }, deleted: 0, prevKvs: [] });
});

test("nested txns: compares see the state before the outer txn; responses nest", () => {
  const { mvcc } = fresh();
  put(mvcc, "a", "old"); // 2
  const r = txn(mvcc, {
    success: [
      putOp("a", "new"),
      txnOp({
        compare: [cmp("a", CompareTarget.VALUE, CompareResult.EQUAL, { value: b("new") })],
        success: [putOp("seen-new", "1")],
        failure: [putOp("seen-old", "1"), rangeOp("a")],
      }),
    ],
  });
  assert.equal(r.header.revision, 3);
  const nested = r.responses[1];
  assert.ok(nested !== undefined && "responseTxn" in nested);
  assert.equal(nested.responseTxn.succeeded, false, "the nested compare ran against the pre-txn state");
  assert.equal(nested.responseTxn.header.revision, 0);
  assert.deepEqual(rangeOf(nested.responseTxn.responses[1]), ["a=new"], "nested reads still see earlier writes");
  assert.deepEqual(get(mvcc, { key: b("seen"), rangeEnd: b("seeo") }), ["seen-old=1"]);
  // Deeper nesting and both outcomes of sibling nested txns.
  const deep = txn(mvcc, {
    success: [
      txnOp({ compare: [cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, { version: 2 })], success: [putOp("x", "1")], failure: [putOp("x", "2")] }),
      txnOp({
        compare: [cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, { version: 1 })],
        success: [putOp("y", "1")],
        failure: [txnOp({ success: [putOp("z", "deep")] })],
      }),
    ],
  });
  assert.equal(deep.header.revision, 4);
  assert.deepEqual(get(mvcc, { key: b("x"), rangeEnd: b("\0") }), ["x=1", "z=deep"]);
});

test("duplicate keys in a branch are rejected, as etcd checks them", () => {
  const table: [string, TxnRequest, boolean][] = [
    ["two puts of one key", { success: [putOp("a", "1"), putOp("a", "2")] }, true],
    ["put and delete of one key", { success: [delOp("a"), putOp("a", "1")] }, true],
    ["put inside a deleted range", { success: [putOp("b", "1"), delOp("a", "c")] }, true],
    ["put after a from-key delete", { success: [delOp("a", "\0"), putOp("m", "1")] }, true],
    ["put at the end of a deleted range", { success: [delOp("a", "c"), putOp("c", "1")] }, false],
    ["overlapping deletes", { success: [delOp("a", "c"), delOp("b", "d"), delOp("b")] }, false],
    ["same key in success and failure", { success: [putOp("a", "1")], failure: [putOp("a", "2")] }, false],
    ["put in success, delete in failure", { success: [putOp("a", "1")], failure: [delOp("a")] }, false],
    ["outer put and nested put", { success: [putOp("a", "1"), txnOp({ success: [putOp("a", "2")] })] }, true],
    ["nested success and failure put one key", { success: [txnOp({ success: [putOp("a", "1")], failure: [putOp("a", "2")] })] }, false],
    ["two nested txns put one key", { success: [txnOp({ success: [putOp("a", "1")] }), txnOp({ success: [putOp("a", "2")] })] }, true],
    ["nested then and later nested else", { success: [txnOp({ success: [putOp("a", "1")] }), txnOp({ failure: [putOp("a", "2")] })] }, true],
    ["nested delete and outer put", { success: [txnOp({ success: [delOp("a")] }), putOp("a", "1")] }, true],
    ["outer delete and nested put", { success: [delOp("a"), txnOp({ failure: [putOp("a", "1")] })] }, true],
    ["earlier nested delete, later nested put", { success: [txnOp({ success: [delOp("a", "b")] }), txnOp({ success: [putOp("a", "1")] })] }, true],
    ["duplicate inside a nested branch", { success: [txnOp({ failure: [putOp("a", "1"), putOp("a", "1")] })] }, true],
    ["duplicate in the failure branch", { failure: [putOp("a", "1"), putOp("a", "1")] }, true],
    ["distinct keys", { success: [putOp("a", "1"), putOp("b", "1"), delOp("c"), txnOp({ success: [putOp("d", "1")] })] }, false],
  ];
  for (const [name, request, duplicate] of table) {
    const { mvcc, store } = fresh();
    put(mvcc, "a", "0");
    const before = snapshotOf(store);
    const result = mvcc.txn(request);
    if (duplicate) {
      expectError(result, "duplicateKey");
      assert.deepEqual(snapshotOf(store), before, name);
      assert.equal(mvcc.revision, 2, name);
      assert.equal(mvcc.check({ txn: request })?.code, "duplicateKey", name);
    } else {
      assert.ok(result.ok, `${name}: ${result.ok ? "" : result.error.code}`);
      assert.equal(mvcc.check({ txn: request }), undefined, name);
    }
  }
});

test("too many ops, counted etcd's way, are rejected at the boundary", () => {
  const { mvcc } = fresh({ txnOpsMax: 3 });
  const puts = (n: number, prefix = "k"): RequestOp[] => Array.from({ length: n }, (_, i) => putOp(`${prefix}${i}`, "v"));
  const compares = (n: number): Compare[] => Array.from({ length: n }, () => cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, { version: 0 }));
  const table: [string, TxnRequest, boolean][] = [
    ["3 ops per branch", { compare: compares(3), success: puts(3), failure: puts(3) }, false],
    ["4 success ops", { success: puts(4) }, true],
    ["4 failure ops", { failure: puts(4) }, true],
    ["4 compares", { compare: compares(4) }, true],
    ["nested within what the parent leaves", { success: [putOp("a", "1"), txnOp({ success: puts(1, "n") })] }, false],
    ["nested beyond what the parent leaves", { success: [putOp("a", "1"), txnOp({ success: puts(2, "n") })] }, true],
    ["nested compares count too", { success: [putOp("a", "1"), txnOp({ compare: compares(2) })] }, true],
  ];
  for (const [name, request, tooMany] of table) {
    const error = mvcc.check({ txn: request });
    assert.equal(error?.code, tooMany ? "tooManyOps" : undefined, name);
  }
  const error = mvcc.check({ txn: { success: puts(4) } });
  assert.equal(error?.message, "etcdserver: too many operations in txn request");
  assert.equal(error?.grpcStatus, 3);
  // Applying does not depend on this node's limit: a committed txn applies everywhere alike.
  assert.ok(mvcc.txn({ success: puts(4) }).ok);
  // The default limit is etcd's 128.
  const defaults = fresh().mvcc;
  assert.equal(defaults.check({ txn: { success: puts(128) } }), undefined);
  assert.equal(defaults.check({ txn: { success: puts(129) } })?.code, "tooManyOps");
});

test("empty keys and empty ops inside a txn are rejected and change nothing", () => {
  const table: [string, TxnRequest, string][] = [
    ["compare without key", { compare: [cmp("", CompareTarget.VERSION, CompareResult.EQUAL)] }, "emptyKey"],
    ["put without key", { success: [putOp("", "v")] }, "emptyKey"],
    ["delete without key", { failure: [delOp("")] }, "emptyKey"],
    ["range without key", { success: [rangeOp("")] }, "emptyKey"],
    ["nested put without key", { success: [txnOp({ failure: [putOp("", "v")] })] }, "emptyKey"],
    ["empty op", { success: [{} as RequestOp] }, "keyNotFound"],
    ["ignoreValue with a value", { success: [putOp("a", "v", { ignoreValue: true })] }, "valueProvided"],
  ];
  for (const [name, request, code] of table) {
    const { mvcc, store } = fresh();
    put(mvcc, "a", "0");
    const before = snapshotOf(store);
    const result = mvcc.txn(request);
    assert.ok(!result.ok, name);
    assert.equal(result.error.code, code, name);
    assert.deepEqual(snapshotOf(store), before, name);
    assert.equal(mvcc.check({ txn: request })?.code, code, name);
  }
});

test("state checks on the taken branch fail the whole txn before anything is written", () => {
  const table: [string, TxnRequest, string][] = [
    ["ignoreValue on a missing key", { success: [putOp("x", "1"), putOp("missing", "", { ignoreValue: true, value: new Uint8Array(0) })] }, "keyNotFound"],
    ["ignoreLease on a missing key", { success: [putOp("x", "1"), txnOp({ success: [putOp("missing", "v", { ignoreLease: true })] })] }, "keyNotFound"],
    ["unknown lease", { success: [putOp("x", "1"), putOp("y", "1", { lease: 99 })] }, "leaseNotFound"],
    ["future revision read", { success: [putOp("x", "1"), rangeOp("a", { revision: 4 })] }, "futureRevision"],
    ["compacted revision read", { success: [putOp("x", "1"), rangeOp("a", { revision: 1 })] }, "compacted"],
  ];
  for (const [name, request, code] of table) {
    const { mvcc, store } = fresh({ leaseExists: (id) => id === 7 });
    put(mvcc, "a", "0"); // 2
    put(mvcc, "a", "1"); // 3
    unwrap(mvcc.compact({ revision: 2 }));
    const before = snapshotOf(store);
    const result = mvcc.txn(request);
    assert.ok(!result.ok, name);
    assert.equal(result.error.code, code, name);
    assert.deepEqual(snapshotOf(store), before, name);
    assert.equal(mvcc.revision, 3, name);
    // The same ops on the branch not taken are not checked.
    const notTaken = mvcc.txn({ compare: [cmp("a", CompareTarget.VERSION, CompareResult.EQUAL, { version: 99 })], success: request.success ?? [] });
    assert.ok(notTaken.ok, `${name} (branch not taken)`);
  }
});

test("ignoreValue and ignoreLease keep the old value or lease", () => {
  const { mvcc, store } = fresh();
  put(mvcc, "k", "v1", 5); // 2
  const keepValue = unwrap(mvcc.put({ key: b("k"), ignoreValue: true, lease: 6, prevKv: true }));
  assert.deepEqual(simple(keepValue.events[0]?.kv ?? assert.fail()), { key: "k", value: "v1", create: 2, mod: 3, version: 2, lease: 6 });
  assert.equal(keepValue.response.prevKv?.lease, 5);
  const keepLease = unwrap(mvcc.put({ key: b("k"), value: b("v2"), ignoreLease: true }));
  assert.deepEqual(simple(keepLease.events[0]?.kv ?? assert.fail()), { key: "k", value: "v2", create: 2, mod: 4, version: 3, lease: 6 });
  const both = unwrap(mvcc.put({ key: b("k"), ignoreValue: true, ignoreLease: true }));
  assert.deepEqual(simple(both.events[0]?.kv ?? assert.fail()), { key: "k", value: "v2", create: 2, mod: 5, version: 4, lease: 6 });
  // Errors, each leaving the store as it was.
  const before = snapshotOf(store);
  expectError(mvcc.put({ key: b("k"), value: b("x"), ignoreValue: true }), "valueProvided");
  expectError(mvcc.put({ key: b("k"), lease: 3, ignoreLease: true }), "leaseProvided");
  expectError(mvcc.put({ key: b("missing"), ignoreValue: true }), "keyNotFound");
  expectError(mvcc.put({ key: b("missing"), ignoreLease: true }), "keyNotFound");
  del(mvcc, "k");
  expectError(mvcc.put({ key: b("k"), ignoreValue: true }), "keyNotFound");
  assert.equal(mvcc.revision, 6);
  assert.notDeepEqual(snapshotOf(store), before);
  const messages = [
    mvcc.put({ key: b("k"), value: b("x"), ignoreValue: true }),
    mvcc.put({ key: b("k"), lease: 3, ignoreLease: true }),
    mvcc.put({ key: b("k"), ignoreValue: true }),
  ].map((r) => (r.ok ? "" : r.error.message));
  assert.deepEqual(messages, ["etcdserver: value is provided", "etcdserver: lease is provided", "etcdserver: key not found"]);
});

test("the lease hook: a put naming an unknown lease fails before anything else", () => {
  const { mvcc, store } = fresh({ leaseExists: (id) => id === 7 });
  assert.equal(put(mvcc, "a", "1", 7), 2);
  assert.equal(put(mvcc, "b", "1", 0), 3);
  const before = snapshotOf(store);
  const unknown = mvcc.put({ key: b("c"), value: b("1"), lease: 8 });
  assert.ok(!unknown.ok);
  assert.equal(unknown.error.code, "leaseNotFound");
  assert.equal(unknown.error.message, "etcdserver: requested lease not found");
  assert.equal(unknown.error.grpcStatus, 5);
  // A standalone put checks the lease before the key (etcd's order).
  expectError(mvcc.put({ key: b("missing"), ignoreValue: true, lease: 8 }), "leaseNotFound");
  // Inside a txn the key is checked first.
  expectError(mvcc.txn({ success: [putOp("missing", "", { ignoreValue: true, lease: 8, value: new Uint8Array(0) })] }), "keyNotFound");
  assert.deepEqual(snapshotOf(store), before);
  // The lease is stored and returned.
  assert.equal(unwrap(mvcc.range({ key: b("a") })).kvs[0]?.lease, 7);
});
