import assert from "node:assert/strict";
import { test } from "node:test";
import { KvError } from "../../src/kv/errors.js";
import { requestSizeBytes } from "../../src/kv/request-size.js";
import { CompareResult, CompareTarget } from "../../src/kv/types.js";
import type { KvRequest } from "../../src/kv/types.js";
import { b, fresh } from "./helpers.js";

test("requestSizeBytes matches hand-encoded protobuf sizes", () => {
  const table: [string, KvRequest, number][] = [
    // put {key "foo" (5), value "bar" (5)} inside InternalRaftRequest field 4 (+2)
    ["put", { put: { key: b("foo"), value: b("bar") } }, 12],
    // + lease 300 (1 tag + 2 varint) + prev_kv (2)
    ["put with lease and prevKv", { put: { key: b("foo"), value: b("bar"), lease: 300, prevKv: true } }, 17],
    // range {key "a" (3), range_end "\0" (3), limit 1 (2)} in field 3 (+2)
    ["range", { range: { key: b("a"), rangeEnd: b("\0"), limit: 1 } }, 10],
    // negative int64 takes 10 bytes
    ["range with negative revision", { range: { key: b("a"), revision: -1 } }, 3 + 11 + 2],
    ["delete", { deleteRange: { key: b("a"), prevKv: true } }, 3 + 2 + 2],
    ["compaction", { compaction: { revision: 1000, physical: true } }, 3 + 2 + 2],
    // txn {compare [{key "a" (3), version 0 (2, set oneof)}] (7), success [op put{a=b} (8)] (10)} in field 6 (+2)
    [
      "txn",
      {
        txn: {
          compare: [{ key: b("a"), target: CompareTarget.VERSION, result: CompareResult.EQUAL, version: 0 }],
          success: [{ requestPut: { key: b("a"), value: b("b") } }],
        },
      },
      19,
    ],
    // range_end is field 64: a two-byte tag
    [
      "compare with range end",
      { txn: { compare: [{ key: b("a"), target: CompareTarget.MOD, result: CompareResult.LESS, modRevision: 5, rangeEnd: b("b") }] } },
      2 + (2 + (2 + 2 + 3 + 2 + 4)),
    ],
  ];
  for (const [name, request, size] of table) assert.equal(requestSizeBytes(request), size, name);
  // Lengths of 128 bytes and more take a two-byte varint.
  assert.equal(requestSizeBytes({ put: { key: b("k"), value: new Uint8Array(200) } }), 2 + 3 + (1 + 2 + 200) + 1);
});

test("check rejects requests over requestBytesMax (1.5 MiB by default)", () => {
  const { mvcc } = fresh();
  assert.equal(mvcc.requestBytesMax, 1.5 * 1024 * 1024);
  const big = { put: { key: b("k"), value: new Uint8Array(1.5 * 1024 * 1024) } };
  const error = mvcc.check(big);
  assert.ok(error instanceof KvError);
  assert.equal(error.code, "requestTooLarge");
  assert.equal(error.message, "etcdserver: request is too large");
  assert.equal(error.grpcStatus, 3);
  assert.equal(mvcc.check({ put: { key: b("k"), value: new Uint8Array(1.5 * 1024 * 1024 - 16) } }), undefined);
  // The limit is configurable, and an already-known size can be passed in.
  const small = fresh({ requestBytesMax: 64 }).mvcc;
  assert.equal(small.check({ put: { key: b("k"), value: new Uint8Array(50) } }), undefined);
  assert.equal(small.check({ put: { key: b("k"), value: new Uint8Array(70) } })?.code, "requestTooLarge");
  assert.equal(small.check({ put: { key: b("k") } }, 65)?.code, "requestTooLarge");
  // Shape errors come before size, as in etcd (checked at the gRPC layer, size when proposing).
  assert.equal(small.check({ put: { key: new Uint8Array(0), value: new Uint8Array(100) } })?.code, "emptyKey");
});

test("check applies the per-request rules of etcd's gRPC layer", () => {
  const { mvcc } = fresh();
  const table: [string, KvRequest, string | undefined][] = [
    ["range ok", { range: { key: b("a") } }, undefined],
    ["range empty key", { range: { key: new Uint8Array(0) } }, "emptyKey"],
    ["put empty key", { put: { key: new Uint8Array(0) } }, "emptyKey"],
    ["put ignoreValue with value", { put: { key: b("a"), value: b("v"), ignoreValue: true } }, "valueProvided"],
    ["put ignoreValue with empty value", { put: { key: b("a"), value: new Uint8Array(0), ignoreValue: true } }, undefined],
    ["put ignoreLease with lease", { put: { key: b("a"), lease: 1, ignoreLease: true } }, "leaseProvided"],
    ["delete empty key", { deleteRange: { key: new Uint8Array(0) } }, "emptyKey"],
    ["compaction is not checked here", { compaction: { revision: 100 } }, undefined],
  ];
  for (const [name, request, code] of table) assert.equal(mvcc.check(request)?.code, code, name);
});

test("apply re-runs the request checks, so bad input never changes the store", () => {
  const { mvcc } = fresh();
  const results = [
    mvcc.apply({ put: { key: new Uint8Array(0), value: b("v") } }),
    mvcc.apply({ deleteRange: { key: new Uint8Array(0) } }),
    mvcc.apply({ range: { key: new Uint8Array(0) } }),
    mvcc.apply({ txn: { success: [{ requestPut: { key: b("a") } }, { requestPut: { key: b("a") } }] } }),
  ];
  assert.deepEqual(
    results.map((r) => (r.ok ? "ok" : r.error.code)),
    ["emptyKey", "emptyKey", "emptyKey", "duplicateKey"],
  );
  assert.equal(mvcc.revision, 1);
  const applied = mvcc.apply({ put: { key: b("a"), value: b("v") } });
  assert.ok(applied.ok && "put" in applied.value.response);
  assert.equal(applied.value.response.put.header.revision, 2);
  assert.equal(applied.value.events.length, 1);
  const read = mvcc.apply({ range: { key: b("a") } });
  assert.ok(read.ok && "range" in read.value.response);
  assert.equal(read.value.response.range.count, 1);
});
