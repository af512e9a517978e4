import assert from "node:assert/strict";
import { test } from "node:test";
import { MvccStore } from "../../src/kv/mvcc-store.js";
import { EventType } from "../../src/kv/types.js";
import { b, del, fresh, get, put, simple, str, unwrap } from "./helpers.js";

test("a fresh store is at revision 1, never compacted, and empty", () => {
  const { mvcc } = fresh();
  assert.equal(mvcc.revision, 1);
  assert.equal(mvcc.compactRevision, -1);
  const r = unwrap(mvcc.range({ key: b("\0"), rangeEnd: b("\0") }));
  assert.deepEqual(r, { header: { revision: 1 }, kvs: [], more: false, count: 0 });
});

test("revision, create revision, mod revision and version across puts and deletes", () => {
  const { mvcc } = fresh();
  const steps: [string, () => number, number][] = [
    ["put a", () => put(mvcc, "a", "1"), 2],
    ["put a again", () => put(mvcc, "a", "2"), 3],
    ["put b", () => put(mvcc, "b", "x"), 4],
  ];
  for (const [name, step, revision] of steps) assert.equal(step(), revision, name);
  assert.deepEqual(unwrap(mvcc.range({ key: b("a") })).kvs.map(simple), [
    { key: "a", value: "2", create: 2, mod: 3, version: 2, lease: 0 },
  ]);
  assert.equal(del(mvcc, "a"), 1);
  assert.equal(mvcc.revision, 5);
  assert.deepEqual(get(mvcc, { key: b("a") }), []);
  // Re-creating after a delete starts a new generation: version 1, new create revision.
  assert.equal(put(mvcc, "a", "3"), 6);
  assert.deepEqual(unwrap(mvcc.range({ key: b("a") })).kvs.map(simple), [
    { key: "a", value: "3", create: 6, mod: 6, version: 1, lease: 0 },
  ]);
});

test("reads at older revisions see the history, including deletions", () => {
  const { mvcc } = fresh();
  put(mvcc, "a", "1"); // 2
  put(mvcc, "a", "2"); // 3
  put(mvcc, "b", "x"); // 4
  del(mvcc, "a"); // 5
  put(mvcc, "a", "3"); // 6
  const table: [number, string[]][] = [
    [1, []],
    [2, ["a=1"]],
    [3, ["a=2"]],
    [4, ["a=2", "b=x"]],
    [5, ["b=x"]],
    [6, ["a=3", "b=x"]],
    [0, ["a=3", "b=x"]],
    [-3, ["a=3", "b=x"]],
  ];
  for (const [revision, expected] of table) {
    const r = unwrap(mvcc.range({ key: b("a"), rangeEnd: b("c"), revision }));
    assert.deepEqual(r.kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}`), expected, `at ${revision}`);
    assert.equal(r.header.revision, 6, "the header carries the current revision, whatever was read");
    assert.equal(r.count, expected.length);
  }
  assert.deepEqual(unwrap(mvcc.range({ key: b("a"), revision: 3 })).kvs.map(simple), [
    { key: "a", value: "2", create: 2, mod: 3, version: 2, lease: 0 },
  ]);
});

test("deleting nothing does not bump the revision and reports the current one", () => {
  const { mvcc } = fresh();
  put(mvcc, "a", "1");
  const applied = unwrap(mvcc.deleteRange({ key: b("zzz") }));
  assert.deepEqual(applied.response, { header: { revision: 2 }, deleted: 0, prevKvs: [] });
  assert.deepEqual(applied.events, []);
  assert.equal(mvcc.revision, 2);
  // A second delete of an already deleted key deletes nothing as well.
  del(mvcc, "a");
  assert.equal(del(mvcc, "a"), 0);
  assert.equal(mvcc.revision, 3);
});

test("a range delete gives every deleted key its own sub revision of one main revision", () => {
  const { mvcc } = fresh();
  put(mvcc, "a", "1");
  put(mvcc, "b", "2");
  put(mvcc, "c", "3");
  put(mvcc, "d", "4");
  const applied = unwrap(mvcc.deleteRange({ key: b("b"), rangeEnd: b("d"), prevKv: true }));
  assert.equal(applied.response.deleted, 2);
  assert.equal(applied.response.header.revision, 6);
  assert.deepEqual(applied.response.prevKvs.map(simple), [
    { key: "b", value: "2", create: 3, mod: 3, version: 1, lease: 0 },
    { key: "c", value: "3", create: 4, mod: 4, version: 1, lease: 0 },
  ]);
  assert.deepEqual(
    applied.events.map((e) => [e.type, str(e.kv.key), e.kv.modRevision, e.kv.version, e.kv.createRevision]),
    [
      [EventType.DELETE, "b", 6, 0, 0],
      [EventType.DELETE, "c", 6, 0, 0],
    ],
  );
  assert.deepEqual(get(mvcc, { key: b("\0"), rangeEnd: b("\0") }), ["a=1", "d=4"]);
});

test("puts produce PUT events with the previous value; a create has none", () => {
  const { mvcc } = fresh();
  const first = unwrap(mvcc.put({ key: b("k"), value: b("v1") }));
  assert.equal(first.events.length, 1);
  assert.equal(first.events[0]?.type, EventType.PUT);
  assert.equal(first.events[0]?.prevKv, undefined);
  const second = unwrap(mvcc.put({ key: b("k"), value: b("v2"), lease: 7 }));
  const event = second.events[0];
  assert.ok(event !== undefined);
  assert.deepEqual(simple(event.kv), { key: "k", value: "v2", create: 2, mod: 3, version: 2, lease: 7 });
  assert.ok(event.prevKv !== undefined);
  assert.deepEqual(simple(event.prevKv), { key: "k", value: "v1", create: 2, mod: 2, version: 1, lease: 0 });
});

test("put prevKv returns the previous value, and nothing for a new key", () => {
  const { mvcc } = fresh();
  const created = unwrap(mvcc.put({ key: b("k"), value: b("1"), prevKv: true })).response;
  assert.deepEqual(created, { header: { revision: 2 } });
  const updated = unwrap(mvcc.put({ key: b("k"), value: b("2"), prevKv: true })).response;
  assert.ok(updated.prevKv !== undefined);
  assert.deepEqual(simple(updated.prevKv), { key: "k", value: "1", create: 2, mod: 2, version: 1, lease: 0 });
  // Without prevKv the response carries none.
  assert.equal(unwrap(mvcc.put({ key: b("k"), value: b("3") })).response.prevKv, undefined);
});

test("empty values and binary keys round-trip", () => {
  const { mvcc } = fresh();
  const key = new Uint8Array([0, 255, 0, 1]);
  unwrap(mvcc.put({ key }));
  const kv = unwrap(mvcc.range({ key })).kvs[0];
  assert.ok(kv !== undefined);
  assert.deepEqual([...kv.key], [0, 255, 0, 1]);
  assert.equal(kv.value.length, 0);
});

test("a reopened store rebuilds everything from the ordered store", () => {
  const { mvcc, store } = fresh();
  put(mvcc, "a", "1");
  put(mvcc, "a", "2");
  del(mvcc, "a");
  put(mvcc, "b", "1");
  unwrap(mvcc.compact({ revision: 3 }));
  mvcc.setConsistentIndex(42);
  const hashBefore = unwrap(mvcc.hashKv(0));
  const reopened = new MvccStore(store);
  assert.deepEqual(unwrap(reopened.hashKv(0)), hashBefore);
  assert.equal(reopened.revision, 5);
  assert.equal(reopened.compactRevision, 3);
  assert.equal(reopened.consistentIndex(), 42);
  assert.deepEqual(get(reopened, { key: b("a"), rangeEnd: b("c"), revision: 4 }), []);
  assert.deepEqual(get(reopened, { key: b("a"), rangeEnd: b("c"), revision: 3 }), ["a=2"]);
  assert.equal(put(reopened, "a", "3"), 6);
  assert.deepEqual(unwrap(reopened.range({ key: b("a") })).kvs.map(simple), [
    { key: "a", value: "3", create: 6, mod: 6, version: 1, lease: 0 },
  ]);
});
