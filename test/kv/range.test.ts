import assert from "node:assert/strict";
import { test } from "node:test";
import { prefixEnd } from "../../src/kv/bytes.js";
import type { MvccStore } from "../../src/kv/mvcc-store.js";
import type { RangeRequest, SortOrder as SortOrderType, SortTarget as SortTargetType } from "../../src/kv/types.js";
import { SortOrder, SortTarget } from "../../src/kv/types.js";
import { b, expectError, fresh, put, str, unwrap } from "./helpers.js";

/**
 * The data set, at revision 8:
 *   a  = "4"  create 2  mod 5  version 2
 *   ab = "0"  create 6  mod 6  version 1
 *   b  = "5"  create 3  mod 7  version 2
 *   c  = "2"  create 4  mod 4  version 1
 *   d  = "9"  create 8  mod 8  version 1
 */
function dataset(): MvccStore {
  const { mvcc } = fresh();
  put(mvcc, "a", "3");
  put(mvcc, "b", "1");
  put(mvcc, "c", "2");
  put(mvcc, "a", "4");
  put(mvcc, "ab", "0");
  put(mvcc, "b", "5");
  put(mvcc, "d", "9");
  assert.equal(mvcc.revision, 8);
  return mvcc;
}

const all = { key: b("\0"), rangeEnd: b("\0") } as const;

function keys(mvcc: MvccStore, request: RangeRequest): { keys: string[]; more: boolean; count: number } {
  const r = unwrap(mvcc.range(request));
  return { keys: r.kvs.map((kv) => str(kv.key)), more: r.more, count: r.count };
}

test("range end conventions: single key, [key, end), prefix, from key, everything", () => {
  const mvcc = dataset();
  const table: [string, RangeRequest, string[]][] = [
    ["single key", { key: b("a") }, ["a"]],
    ["single missing key", { key: b("aa") }, []],
    ["empty rangeEnd is a single key", { key: b("b"), rangeEnd: new Uint8Array(0) }, ["b"]],
    ["half-open range", { key: b("ab"), rangeEnd: b("c") }, ["ab", "b"]],
    ["prefix", { key: b("a"), rangeEnd: prefixEnd(b("a")) ?? b("\0") }, ["a", "ab"]],
    ["from key", { key: b("b"), rangeEnd: b("\0") }, ["b", "c", "d"]],
    ["everything", all, ["a", "ab", "b", "c", "d"]],
    ["end before key", { key: b("c"), rangeEnd: b("b") }, []],
    ["end equal to key", { key: b("c"), rangeEnd: b("c") }, []],
  ];
  for (const [name, request, expected] of table) {
    const r = keys(mvcc, request);
    assert.deepEqual(r.keys, expected, name);
    assert.equal(r.count, expected.length, name);
    assert.equal(r.more, false, name);
  }
});

test("sort by every target in both orders (ties keep ascending key order)", () => {
  const mvcc = dataset();
  const table: [SortTargetType, SortOrderType, string[]][] = [
    [SortTarget.KEY, SortOrder.NONE, ["a", "ab", "b", "c", "d"]],
    [SortTarget.KEY, SortOrder.ASCEND, ["a", "ab", "b", "c", "d"]],
    [SortTarget.KEY, SortOrder.DESCEND, ["d", "c", "b", "ab", "a"]],
    [SortTarget.VERSION, SortOrder.NONE, ["ab", "c", "d", "a", "b"]],
    [SortTarget.VERSION, SortOrder.ASCEND, ["ab", "c", "d", "a", "b"]],
    [SortTarget.VERSION, SortOrder.DESCEND, ["a", "b", "ab", "c", "d"]],
    [SortTarget.CREATE, SortOrder.ASCEND, ["a", "b", "c", "ab", "d"]],
    [SortTarget.CREATE, SortOrder.DESCEND, ["d", "ab", "c", "b", "a"]],
    [SortTarget.MOD, SortOrder.ASCEND, ["c", "a", "ab", "b", "d"]],
    [SortTarget.MOD, SortOrder.DESCEND, ["d", "b", "ab", "a", "c"]],
    [SortTarget.VALUE, SortOrder.ASCEND, ["ab", "c", "a", "b", "d"]],
    [SortTarget.VALUE, SortOrder.DESCEND, ["d", "b", "a", "c", "ab"]],
  ];
  for (const [sortTarget, sortOrder, expected] of table) {
    assert.deepEqual(keys(mvcc, { ...all, sortTarget, sortOrder }).keys, expected, `target ${sortTarget} order ${sortOrder}`);
  }
});

test("limit, more and count, with and without sort and filters", () => {
  const mvcc = dataset();
  const table: [string, RangeRequest, string[], boolean, number][] = [
    ["limit below size", { ...all, limit: 2 }, ["a", "ab"], true, 5],
    ["limit one below size", { ...all, limit: 4 }, ["a", "ab", "b", "c"], true, 5],
    ["limit equal to size", { ...all, limit: 5 }, ["a", "ab", "b", "c", "d"], false, 5],
    ["limit above size", { ...all, limit: 6 }, ["a", "ab", "b", "c", "d"], false, 5],
    ["negative limit is no limit", { ...all, limit: -1 }, ["a", "ab", "b", "c", "d"], false, 5],
    ["limit then key descend takes the last keys", { ...all, limit: 2, sortOrder: SortOrder.DESCEND }, ["d", "c"], true, 5],
    ["limit after sorting by mod", { ...all, limit: 2, sortTarget: SortTarget.MOD, sortOrder: SortOrder.ASCEND }, ["c", "a"], true, 5],
    ["min mod filter, count unfiltered", { ...all, minModRevision: 6 }, ["ab", "b", "d"], false, 5],
    ["filter then limit", { ...all, minModRevision: 6, limit: 2 }, ["ab", "b"], true, 5],
    ["filter leaves exactly the limit", { ...all, minModRevision: 7, limit: 2 }, ["b", "d"], false, 5],
    ["max mod filter", { ...all, maxModRevision: 5 }, ["a", "c"], false, 5],
    ["max create filter", { ...all, maxCreateRevision: 3 }, ["a", "b"], false, 5],
    ["min create and max mod", { ...all, minCreateRevision: 4, maxModRevision: 6 }, ["ab", "c"], false, 5],
    ["filters removing everything", { ...all, minCreateRevision: 100 }, [], false, 5],
    ["count only", { ...all, countOnly: true }, [], false, 5],
    ["count only ignores limit", { ...all, countOnly: true, limit: 1 }, [], false, 5],
    ["count only on a prefix", { key: b("a"), rangeEnd: b("b"), countOnly: true }, [], false, 2],
    ["limit on an older revision", { ...all, revision: 4, limit: 2 }, ["a", "b"], true, 3],
  ];
  for (const [name, request, expected, more, count] of table) {
    assert.deepEqual(keys(mvcc, request), { keys: expected, more, count }, name);
  }
});

test("keysOnly blanks values but keeps revisions", () => {
  const mvcc = dataset();
  const r = unwrap(mvcc.range({ key: b("a"), keysOnly: true }));
  assert.equal(r.kvs.length, 1);
  assert.equal(r.kvs[0]?.value.length, 0);
  assert.equal(r.kvs[0]?.modRevision, 5);
  assert.equal(r.kvs[0]?.version, 2);
});

test("future and compacted revisions are errors; the compaction revision itself is readable", () => {
  const mvcc = dataset();
  expectError(mvcc.range({ ...all, revision: 9 }), "futureRevision");
  unwrap(mvcc.range({ ...all, revision: 8 }));
  unwrap(mvcc.compact({ revision: 5 }));
  expectError(mvcc.range({ ...all, revision: 4 }), "compacted");
  expectError(mvcc.range({ ...all, revision: 1 }), "compacted");
  assert.deepEqual(keys(mvcc, { ...all, revision: 5 }).keys, ["a", "b", "c"]);
  assert.deepEqual(keys(mvcc, { ...all, revision: 0 }).keys, ["a", "ab", "b", "c", "d"]);
  const error = mvcc.range({ ...all, revision: 4 });
  assert.ok(!error.ok);
  assert.equal(error.error.message, "etcdserver: mvcc: required revision has been compacted");
  assert.equal(error.error.grpcStatus, 11);
  const future = mvcc.range({ ...all, revision: 100 });
  assert.ok(!future.ok);
  assert.equal(future.error.message, "etcdserver: mvcc: required revision is a future revision");
  assert.equal(future.error.grpcStatus, 11);
});

test("an empty key or an unknown sort option is rejected", () => {
  const mvcc = dataset();
  expectError(mvcc.range({ key: new Uint8Array(0) }), "emptyKey");
  expectError(mvcc.range({ key: new Uint8Array(0), rangeEnd: b("\0") }), "emptyKey");
  expectError(mvcc.range({ ...all, sortOrder: 7 as SortOrderType }), "invalidSortOption");
  expectError(mvcc.range({ ...all, sortTarget: 9 as SortTargetType }), "invalidSortOption");
});

test("prefixEnd increments the last byte below 0xff", () => {
  assert.deepEqual(prefixEnd(b("a")), b("b"));
  assert.deepEqual(prefixEnd(new Uint8Array([0x61, 0xff])), b("b"));
  assert.deepEqual(prefixEnd(new Uint8Array([0xff, 0xff])), undefined);
  assert.deepEqual(prefixEnd(new Uint8Array(0)), undefined);
});
