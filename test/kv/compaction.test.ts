import assert from "node:assert/strict";
import { test } from "node:test";
import type { MemoryStore } from "../../src/kv/memory-store.js";
import type { MvccStore } from "../../src/kv/mvcc-store.js";
import { b, del, expectError, fresh, get, put, unwrap } from "./helpers.js";

const all = { key: b("\0"), rangeEnd: b("\0") } as const;

function countPrefix(store: MemoryStore, prefix: string): number {
  let n = 0;
  for (const [key] of store.entries()) if (String.fromCharCode(key[0] ?? 0, key[1] ?? 0) === prefix) n++;
  return n;
}

/** a: 2 "a1", 3 "a2", 6 "a3"; b: 4 "b1", 5 deleted. */
function history(): { mvcc: MvccStore; store: MemoryStore } {
  const s = fresh();
  put(s.mvcc, "a", "a1");
  put(s.mvcc, "a", "a2");
  put(s.mvcc, "b", "b1");
  del(s.mvcc, "b");
  put(s.mvcc, "a", "a3");
  return s;
}

test("compaction keeps each key's latest revision at or before it, and drops deleted keys", () => {
  const { mvcc, store } = history();
  const before5 = get(mvcc, { ...all, revision: 5 });
  const applied = unwrap(mvcc.compact({ revision: 5 }));
  assert.deepEqual(applied.response, { header: { revision: 6 } });
  assert.deepEqual(applied.events, []);
  assert.equal(mvcc.revision, 6, "compaction is not a write");
  assert.equal(mvcc.compactRevision, 5);
  assert.deepEqual(get(mvcc, { ...all, revision: 5 }), before5);
  assert.deepEqual(get(mvcc, { ...all, revision: 5 }), ["a=a2"]);
  assert.deepEqual(get(mvcc, all), ["a=a3"]);
  expectError(mvcc.range({ ...all, revision: 4 }), "compacted");
  // Physically: a2 (kept) and a3 remain; b's put and tombstone and a1 are gone.
  assert.equal(countPrefix(store, "r/"), 2);
  assert.equal(countPrefix(store, "h/"), 2);
  assert.equal(countPrefix(store, "k/"), 1);
  // Kept revisions keep their create revision and version.
  const a = unwrap(mvcc.range({ key: b("a"), revision: 5 })).kvs[0];
  assert.deepEqual([a?.createRevision, a?.modRevision, a?.version], [2, 3, 2]);
});

test("compaction revision rules: at most current, strictly above the last", () => {
  const { mvcc, store } = history();
  const before = [...store.entries()].length;
  expectError(mvcc.compact({ revision: 7 }), "futureRevision");
  assert.equal([...store.entries()].length, before);
  unwrap(mvcc.compact({ revision: 3 }));
  expectError(mvcc.compact({ revision: 3 }), "compacted");
  expectError(mvcc.compact({ revision: 2 }), "compacted");
  unwrap(mvcc.compact({ revision: 6, physical: true }));
  assert.equal(mvcc.compactRevision, 6);
  assert.deepEqual(get(mvcc, all), ["a=a3"]);
  expectError(mvcc.compact({ revision: 6 }), "compacted");
  // A fresh store (revision 1, never compacted) can compact at 0 or 1.
  const other = fresh().mvcc;
  unwrap(other.compact({ revision: 1 }));
  expectError(other.compact({ revision: 1 }), "compacted");
});

test("a key deleted and re-created: the old generation goes, the new one stays", () => {
  const { mvcc } = fresh();
  put(mvcc, "c", "1"); // 2
  del(mvcc, "c"); // 3
  put(mvcc, "c", "2"); // 4
  put(mvcc, "c", "3"); // 5
  unwrap(mvcc.compact({ revision: 3 }));
  assert.deepEqual(get(mvcc, { key: b("c"), revision: 3 }), []);
  assert.deepEqual(get(mvcc, { key: b("c"), revision: 4 }), ["c=2"]);
  assert.deepEqual(get(mvcc, { key: b("c") }), ["c=3"]);
  unwrap(mvcc.compact({ revision: 4 }));
  assert.deepEqual(get(mvcc, { key: b("c"), revision: 4 }), ["c=2"]);
  const kv = unwrap(mvcc.range({ key: b("c") })).kvs[0];
  assert.deepEqual([kv?.createRevision, kv?.version], [4, 2]);
  // Deleting after compaction, then compacting past the delete, removes the key entirely.
  del(mvcc, "c"); // 6
  unwrap(mvcc.compact({ revision: 6 }));
  assert.deepEqual(get(mvcc, all), []);
  assert.equal(put(mvcc, "c", "4"), 7);
  const recreated = unwrap(mvcc.range({ key: b("c") })).kvs[0];
  assert.deepEqual([recreated?.createRevision, recreated?.version], [7, 1]);
});

test("compacting at a revision with several changes keeps only each key's last sub revision", () => {
  const { mvcc } = fresh();
  unwrap(
    mvcc.txn({
      success: [
        { requestTxn: { success: [{ requestPut: { key: b("x"), value: b("1") } }] } },
        { requestTxn: { success: [{ requestDeleteRange: { key: b("x") } }] } },
        { requestPut: { key: b("y"), value: b("1") } },
      ],
    }),
  ); // 2: put x, delete x, put y
  put(mvcc, "z", "1"); // 3
  unwrap(mvcc.compact({ revision: 2 }));
  assert.deepEqual(get(mvcc, { ...all, revision: 2 }), ["y=1"]);
});

test("hashKv: revision rules, stability, and sensitivity", () => {
  const { mvcc } = history();
  const h3 = unwrap(mvcc.hashKv(3));
  assert.equal(h3.hashRevision, 3);
  assert.equal(h3.compactRevision, -1);
  assert.equal(h3.header.revision, 6);
  assert.equal(unwrap(mvcc.hashKv(0)).hashRevision, 6);
  expectError(mvcc.hashKv(7), "futureRevision");
  put(mvcc, "later", "1");
  assert.equal(unwrap(mvcc.hashKv(3)).hash, h3.hash, "later writes do not change the hash of earlier revisions");
  assert.notEqual(unwrap(mvcc.hashKv(4)).hash, h3.hash);
  unwrap(mvcc.compact({ revision: 4 }));
  expectError(mvcc.hashKv(3), "compacted");
  assert.equal(unwrap(mvcc.hashKv(4)).compactRevision, 4);
  // Same commands, same hash; one different value, different hash.
  const same = history().mvcc;
  put(same, "later", "1");
  unwrap(same.compact({ revision: 4 }));
  assert.equal(unwrap(same.hashKv(0)).hash, unwrap(mvcc.hashKv(0)).hash);
  const different = history().mvcc;
  put(different, "later", "2");
  unwrap(different.compact({ revision: 4 }));
  assert.notEqual(unwrap(different.hashKv(0)).hash, unwrap(mvcc.hashKv(0)).hash);
});
