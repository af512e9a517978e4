import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { open } from "lmdb";
import type { RaftHardState } from "../../src/consensus/raft/messages.js";
import type { Entry } from "../../src/consensus/types.js";
import { groupId, logIndex, nodeId, term } from "../../src/consensus/types.js";
import { StorageCorruptionError, StorageError } from "../../src/storage/errors.js";
import { entryKey, kindHardState, recordKey } from "../../src/storage/layout.js";
import { raftDurableState } from "../../src/storage/raft-state.js";
import { consensusTableName, envFileName, Storage } from "../../src/storage/storage.js";
import { dataOf, hardState, normal, run, snapshotAt, tempDir, threeVoters } from "./helpers.js";

const g1 = groupId(1);
const g2 = groupId(2);

async function withStorage(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(prefix);
  try {
    await body(dir.path);
  } finally {
    dir.cleanup();
  }
}

function indexes(entries: readonly Entry[]): number[] {
  return entries.map((e) => e.index);
}

test("entries, hard state, snapshot and bootstrap round-trip exactly, across a restart", async () => {
  await withStorage("roundtrip", async (dir) => {
    const config: Entry = {
      index: logIndex(3),
      term: term(2),
      type: "config",
      change: { ops: [{ type: "addVoter", node: nodeId(4) }, { type: "removeNode", node: nodeId(1) }] },
    };
    const entries = [normal(1, 1), { ...normal(2, 2), data: new Uint8Array(0) }, config, normal(4, 2, 1000)];
    let s = Storage.open({ dataDir: dir });
    const g = s.group<RaftHardState>(g1);
    assert.deepEqual(g.load(), { hardState: null, snapshot: null, entries: [], bootstrap: null, appliedIndex: 0 });
    await g.saveBootstrap(threeVoters);
    await g.persist({ hardState: hardState(2, 3, 2), entries, snapshot: null });
    const before = g.load();
    assert.deepEqual(before.entries, entries);
    assert.deepEqual(before.hardState, hardState(2, 3, 2));
    assert.deepEqual(before.bootstrap, threeVoters);
    const first = before.entries[0];
    assert.ok(first !== undefined && first.type === "normal");
    assert.equal(Object.getPrototypeOf(first.data), Uint8Array.prototype);
    await s.close();

    s = Storage.open({ dataDir: dir });
    const after = s.group<RaftHardState>(g1).load();
    assert.deepEqual(after, before);
    assert.deepEqual(raftDurableState(after), {
      hardState: hardState(2, 3, 2),
      snapshot: null,
      entries,
      bootstrap: threeVoters,
    });
    await s.close();
  });
});

test("groups share the environment without seeing each other's records", async () => {
  await withStorage("groups", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    await Promise.all([
      s.group<RaftHardState>(g1).persist({ hardState: hardState(1, 1, 0), entries: run(1, 4, 1), snapshot: null }),
      s.group<RaftHardState>(g2).persist({ hardState: hardState(5, 2, 0), entries: run(1, 2, 5), snapshot: null }),
      s.group<RaftHardState>(groupId(2 ** 40)).persist({ hardState: null, entries: run(1, 8, 1), snapshot: null }),
    ]);
    assert.deepEqual(indexes(s.group(g1).load().entries), [1, 2, 3]);
    assert.deepEqual(s.group<RaftHardState>(g2).load().hardState, hardState(5, 2, 0));
    assert.deepEqual(indexes(s.group(g2).load().entries), [1]);
    assert.deepEqual(s.group(groupId(3)).load().entries, []);
    assert.equal(s.group(groupId(2 ** 40)).load().entries.length, 7);
    await s.close();
  });
});

test("entries replace the stored suffix from their first index on", async () => {
  await withStorage("suffix", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    const g = s.group<RaftHardState>(g1);
    await g.persist({ hardState: hardState(1, 1, 0), entries: run(1, 11, 1), snapshot: null });
    // A new leader of term 2 overwrites 6..10 with a shorter suffix.
    await g.persist({ hardState: hardState(2, 2, 5), entries: run(6, 8, 2), snapshot: null });
    const state = g.load();
    assert.deepEqual(indexes(state.entries), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(
      state.entries.map((e) => e.term),
      [1, 1, 1, 1, 1, 2, 2],
    );
    assert.deepEqual(g.entries(logIndex(8), logIndex(20)), []);
    // Appending right after the end works; a gap is refused and changes nothing.
    await g.persist({ hardState: null, entries: run(8, 9, 2), snapshot: null });
    await assert.rejects(g.persist({ hardState: hardState(9, 9, 9), entries: run(10, 11, 2), snapshot: null }), {
      code: "invalidWrite",
    });
    assert.deepEqual(indexes(g.load().entries), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(g.load().hardState, hardState(2, 2, 5));
    await assert.rejects(g.persist({ hardState: null, entries: [normal(9, 2), normal(11, 2)], snapshot: null }), {
      code: "invalidWrite",
    });
    await s.close();
  });
});

test("a saved snapshot hides the log it covers, and compaction drops it", async () => {
  await withStorage("compact", async (dir) => {
    let s = Storage.open({ dataDir: dir, snapshotChunkBytes: 1000 });
    let g = s.group<RaftHardState>(g1);
    await g.persist({ hardState: hardState(1, 1, 20), entries: run(1, 21, 1), snapshot: null });
    await assert.rejects(g.compact(logIndex(5)), { code: "invalidWrite" }); // no snapshot yet
    const snap = snapshotAt(10, 1, 4500); // 5 chunks
    await g.saveSnapshot(snap);
    assert.deepEqual(g.load().snapshot, snap);
    assert.deepEqual(indexes(g.load().entries), run(11, 21, 1).map((e) => e.index));
    assert.equal(g.entries(logIndex(1), logIndex(3)).length, 2); // still stored until compacted
    await g.compact(logIndex(10));
    assert.deepEqual(g.entries(logIndex(1), logIndex(11)), []);
    await assert.rejects(g.saveSnapshot(snapshotAt(5, 1, 10)), { code: "invalidWrite" }); // older
    await assert.rejects(g.saveSnapshot(snapshotAt(21, 1, 10)), { code: "invalidWrite" }); // beyond the log
    // A later, smaller snapshot replaces every chunk of the earlier one.
    await Promise.all([g.saveSnapshot(snapshotAt(15, 1, 10)), g.compact(logIndex(15))]);
    await s.close();

    s = Storage.open({ dataDir: dir, snapshotChunkBytes: 1000 });
    g = s.group<RaftHardState>(g1);
    const state = g.load();
    assert.deepEqual(state.snapshot, snapshotAt(15, 1, 10));
    assert.deepEqual(indexes(state.entries), [16, 17, 18, 19, 20]);
    await g.persist({ hardState: null, entries: run(21, 23, 1), snapshot: null });
    assert.deepEqual(indexes(g.load().entries), [16, 17, 18, 19, 20, 21, 22]);
    await s.close();
  });
});

test("an installed snapshot replaces the whole stored log; entries in the same Ready follow it", async () => {
  await withStorage("install", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    const a = s.group<RaftHardState>(g1);
    await a.persist({ hardState: null, entries: run(1, 11, 1), snapshot: null });
    // Even a log that continues the snapshot goes: the engine re-sends what it keeps.
    await a.persist({ hardState: hardState(1, 0, 6), entries: [], snapshot: snapshotAt(6, 1, 64) });
    assert.deepEqual(a.load().entries, []);
    assert.deepEqual(a.entries(logIndex(1), logIndex(11)), []);
    await a.persist({ hardState: null, entries: run(7, 9, 1), snapshot: snapshotAt(6, 1, 64) });
    assert.deepEqual(indexes(a.load().entries), [7, 8]);

    const b = s.group<RaftHardState>(g2);
    await b.persist({ hardState: null, entries: run(1, 11, 1), snapshot: null });
    await b.persist({ hardState: hardState(3, 0, 8), entries: run(9, 11, 3), snapshot: snapshotAt(8, 3, 64) });
    const state = b.load();
    assert.equal(state.snapshot?.meta.index, 8);
    assert.deepEqual(indexes(state.entries), [9, 10]);
    assert.deepEqual(
      state.entries.map((e) => e.term),
      [3, 3],
    );
    assert.deepEqual(b.entries(logIndex(1), logIndex(9)), []);
    // A snapshot far ahead of a short log leaves an empty log after it.
    await b.persist({ hardState: null, entries: [], snapshot: snapshotAt(100, 4, 8) });
    assert.deepEqual(b.load().entries, []);
    await b.persist({ hardState: null, entries: run(101, 103, 4), snapshot: null });
    assert.deepEqual(indexes(b.load().entries), [101, 102]);
    await assert.rejects(b.persist({ hardState: null, entries: run(100, 101, 4), snapshot: null }), {
      code: "invalidWrite",
    });
    await assert.rejects(b.persist({ hardState: null, entries: run(12, 13, 4), snapshot: snapshotAt(10, 4, 8) }), {
      code: "invalidWrite",
    });
    assert.deepEqual(indexes(b.load().entries), [101, 102], "a refused Ready wrote nothing");
    await s.close();
  });
});

test("persists issued in one event-loop turn share one durable commit", async () => {
  await withStorage("groupcommit", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    const groups = [1, 2, 3, 4].map((id) => s.group<RaftHardState>(groupId(id)));
    await s.group(groupId(9)).setAppliedIndex(logIndex(1)); // a first commit, so lastTxnId is known
    const before = s.stats();
    const writes: Promise<void>[] = [];
    for (const g of groups) {
      writes.push(g.persist({ hardState: hardState(1, 1, 0), entries: run(1, 3, 1), snapshot: null }));
      writes.push(g.persist({ hardState: hardState(1, 1, 2), entries: run(3, 5, 1), snapshot: null }));
    }
    writes.push(s.transaction(() => groups[0]?.writeAppliedIndex(logIndex(2))));
    let resolved = 0;
    for (const w of writes) void w.then(() => resolved++);
    assert.equal(resolved, 0);
    await Promise.all(writes);
    const after = s.stats();
    assert.equal(after.commits - before.commits, 1);
    assert.equal(after.writes - before.writes, 9);
    assert.equal(after.lastTxnId - before.lastTxnId, 1, "LMDB saw exactly one write transaction");
    for (const g of groups) assert.deepEqual(indexes(g.load().entries), [1, 2, 3, 4]);
    assert.equal(groups[0]?.appliedIndex(), 2);

    // The next turn's writes form the next commit.
    await Promise.all(groups.map((g) => g.persist({ hardState: hardState(2, 2, 4), entries: [], snapshot: null })));
    assert.equal(s.stats().commits - after.commits, 1);
    await s.close();
  });
});

test("a caller transaction commits its table writes with the applied index, or fails the whole batch", async () => {
  await withStorage("txn", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    const table = s.table("kv");
    const g = s.group<RaftHardState>(g1);
    await s.transaction(() => {
      table.putSync(Buffer.from("k"), Buffer.from("v"));
      g.writeAppliedIndex(logIndex(7));
    });
    assert.deepEqual(table.get(Buffer.from("k")), Buffer.from("v"));
    assert.equal(g.appliedIndex(), 7);
    assert.throws(() => g.writeAppliedIndex(logIndex(8)), /only inside Storage.transaction/);

    const other = s.group<RaftHardState>(g2).persist({ hardState: hardState(1, 1, 0), entries: [], snapshot: null });
    const failing = s.transaction(() => {
      table.putSync(Buffer.from("k"), Buffer.from("partial"));
      throw new Error("apply bug");
    });
    await assert.rejects(failing, /apply bug/);
    await assert.rejects(other);
    assert.deepEqual(table.get(Buffer.from("k")), Buffer.from("v"), "the aborted batch wrote nothing");
    await assert.rejects(g.setAppliedIndex(logIndex(9)), { code: "failed" });
    await s.close();

    const reopened = Storage.open({ dataDir: dir });
    assert.equal(reopened.group(g2).load().hardState, null);
    assert.equal(reopened.group(g1).appliedIndex(), 7);
    await reopened.close();
  });
});

/** corrupt flips one byte of the stored value under `key`, through a raw LMDB handle. */
async function corrupt(dir: string, key: Buffer, offset: number): Promise<void> {
  const env = open<Buffer, Buffer>({
    path: join(dir, envFileName),
    noSubdir: true,
    maxDbs: 32,
    compression: false,
    overlappingSync: false,
  });
  const db = env.openDB<Buffer, Buffer>({ name: consensusTableName, keyEncoding: "binary", encoding: "binary", compression: false });
  const value = db.get(key);
  assert.ok(value !== undefined, "record to corrupt exists");
  const damaged = Buffer.from(value);
  damaged[offset] = (damaged[offset] ?? 0) ^ 0x40;
  db.putSync(key, damaged);
  await env.close();
}

test("a damaged record is detected by its checksum and never used", async () => {
  await withStorage("corrupt", async (dir) => {
    const g7 = groupId(7);
    let s = Storage.open({ dataDir: dir });
    await s.group<RaftHardState>(g7).persist({ hardState: hardState(3, 1, 2), entries: run(1, 6, 3, 64), snapshot: null });
    await s.group<RaftHardState>(groupId(8)).persist({ hardState: hardState(3, 1, 2), entries: [], snapshot: null });
    await s.close();

    await corrupt(dir, entryKey(g7, 3), 40); // a byte of entry 3's data
    s = Storage.open({ dataDir: dir });
    const err = (() => {
      try {
        s.group(g7).load();
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.ok(err instanceof StorageCorruptionError, `expected a corruption error, got ${String(err)}`);
    assert.ok(err instanceof StorageError);
    assert.equal(err.code, "corruption");
    assert.equal(err.groupId, 7);
    assert.equal(err.index, 3);
    assert.equal(err.record, "entry");
    assert.throws(() => s.group(g7).entries(logIndex(1), logIndex(6)), { code: "corruption", index: 3 });
    assert.deepEqual(indexes(s.group(g7).entries(logIndex(1), logIndex(3))), [1, 2]);
    await s.close();

    await corrupt(dir, recordKey(groupId(8), kindHardState), 0); // the checksum itself
    s = Storage.open({ dataDir: dir });
    assert.throws(() => s.group(groupId(8)).load(), { code: "corruption", record: "hardState", groupId: 8, index: null });
    await s.close();
  });
});

test("the same data directory cannot be opened twice in one process", async () => {
  await withStorage("twice", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    assert.throws(() => Storage.open({ dataDir: dir }), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.code, "locked");
      assert.match(err.message, new RegExp(`in use by process ${process.pid}`));
      return true;
    });
    await s.close();
    assert.throws(() => s.group(g1), { code: "closed" });
    const again = Storage.open({ dataDir: dir });
    await again.close();
  });
});

test("bad input is refused before it is queued", async () => {
  await withStorage("input", async (dir) => {
    const s = Storage.open({ dataDir: dir });
    const g = s.group<RaftHardState>(g1);
    await assert.rejects(g.persist({ hardState: null, entries: [normal(0, 1)], snapshot: null }), { code: "invalidWrite" });
    await assert.rejects(g.persist({ hardState: null, entries: [normal(1, 1), normal(3, 1)], snapshot: null }), {
      code: "invalidWrite",
    });
    await g.persist({ hardState: null, entries: [], snapshot: null }); // nothing to do
    assert.equal(s.stats().commits, 0);
    const data = dataOf(1, 1, 3);
    await g.persist({ hardState: { term: term(1), vote: nodeId(2), commit: logIndex(0) }, entries: [normal(1, 1, 3)], snapshot: null });
    const first = g.load().entries[0];
    assert.ok(first?.type === "normal");
    assert.deepEqual(first.data, data);
    await s.close();
  });
});

test("writes beyond pendingWritesMax are refused, not queued", async () => {
  await withStorage("overload", async (dir) => {
    const s = Storage.open({ dataDir: dir, pendingWritesMax: 2 });
    const g = s.group<RaftHardState>(g1);
    const first = g.persist({ hardState: hardState(1, 1, 0), entries: run(1, 2, 1), snapshot: null });
    const second = g.persist({ hardState: null, entries: run(2, 3, 1), snapshot: null });
    await assert.rejects(g.persist({ hardState: null, entries: run(3, 4, 1), snapshot: null }), { code: "overloaded" });
    await Promise.all([first, second]);
    assert.deepEqual(indexes(g.load().entries), [1, 2]);
    await s.close();
  });
});
