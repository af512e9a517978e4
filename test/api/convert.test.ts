/** Table tests for the pure parts of the etcd API layer: number conversions, request checks, error mapping. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { status as GrpcCode } from "@grpc/grpc-js";
import { compareFromPb, idToWire, int64ToNumber, requestOpFromPb, uint64ToBigInt } from "../../src/api/etcd/convert.js";
import { ApiError, checkRequest, internalErrorMessage, isProposed, toGrpcFailure } from "../../src/api/etcd/index.js";
import { KvError } from "../../src/kv/index.js";

const enc = new TextEncoder();
const limits = { txnOpsMax: 4, requestBytesMax: 100 };

test("int64ToNumber: exact below 2^53, saturating beyond, in both directions", () => {
  const cases: readonly (readonly [string, number])[] = [
    ["0", 0],
    ["-1", -1],
    ["9007199254740991", 9007199254740991],
    ["9007199254740992", 2 ** 53],
    ["9007199254740993", 2 ** 53],
    ["9223372036854775807", 2 ** 53],
    ["-9223372036854775808", -(2 ** 53)],
  ];
  for (const [wire, expected] of cases) assert.equal(int64ToNumber(wire), expected, wire);
});

test("uint64 IDs round-trip exactly through decimal strings", () => {
  for (const id of [0n, 1n, 2n ** 53n + 1n, 2n ** 63n + 12345n, 2n ** 64n - 1n]) {
    assert.equal(uint64ToBigInt(idToWire(id)), id);
  }
  assert.throws(() => idToWire(-1n), RangeError);
  assert.throws(() => idToWire(2n ** 64n), RangeError);
});

test("compareFromPb carries only the operand named by target_union", () => {
  const base = { result: 0, target: 2, key: Buffer.from("k"), range_end: Buffer.alloc(0) };
  assert.deepEqual(compareFromPb({ ...base, target_union: "mod_revision", mod_revision: "7" }).modRevision, 7);
  const valued = compareFromPb({ ...base, target: 3, target_union: "value", value: Buffer.from("v") });
  assert.deepEqual(valued.value, enc.encode("v"));
  assert.equal(valued.modRevision, undefined);
  const none = compareFromPb(base);
  assert.deepEqual(Object.keys(none).sort(), ["key", "rangeEnd", "result", "target"]);
});

test("an op with no request set becomes an empty op, which the check refuses as etcd does", () => {
  const op = requestOpFromPb({});
  assert.deepEqual(op, {});
  const error = checkRequest({ txn: { success: [op] } }, limits);
  assert.equal(error?.message, "etcdserver: key not found");
});

test("checkRequest: shape, txn size, duplicates, then size of proposed requests only", () => {
  const put = (key: string, value = "") => ({ requestPut: { key: enc.encode(key), value: enc.encode(value) } });
  assert.equal(checkRequest({ put: { key: new Uint8Array(0) } }, limits)?.code, "emptyKey");
  assert.equal(checkRequest({ txn: { success: [put("a"), put("b"), put("c"), put("d"), put("e")] } }, limits)?.code, "tooManyOps");
  assert.equal(checkRequest({ txn: { success: [put("a"), put("a")] } }, limits)?.code, "duplicateKey");
  assert.equal(checkRequest({ put: { key: enc.encode("k"), value: new Uint8Array(200) } }, limits)?.code, "requestTooLarge");
  assert.equal(checkRequest({ range: { key: new Uint8Array(200) } }, limits), undefined);
  const readOnlyTxn = { txn: { success: [{ requestRange: { key: new Uint8Array(200) } }] } };
  assert.equal(isProposed(readOnlyTxn), false);
  assert.equal(checkRequest(readOnlyTxn, limits), undefined);
  assert.equal(checkRequest({ txn: { failure: [put("k", "x".repeat(200))] } }, limits)?.code, "requestTooLarge");
  assert.equal(checkRequest({ compaction: { revision: 5 } }, limits), undefined);
});

test("toGrpcFailure: KvError and ApiError keep their status and message; anything else is INTERNAL", () => {
  assert.deepEqual(toGrpcFailure(new KvError("compacted"), () => assert.fail("not unexpected")), {
    code: GrpcCode.OUT_OF_RANGE,
    details: "etcdserver: mvcc: required revision has been compacted",
  });
  assert.deepEqual(toGrpcFailure(new ApiError("noLeader"), () => assert.fail("not unexpected")), {
    code: GrpcCode.UNAVAILABLE,
    details: "etcdserver: no leader",
  });
  const seen: unknown[] = [];
  const odd = new TypeError("boom");
  assert.deepEqual(toGrpcFailure(odd, (e) => seen.push(e)), { code: GrpcCode.INTERNAL, details: internalErrorMessage });
  assert.deepEqual(seen, [odd]);
});
