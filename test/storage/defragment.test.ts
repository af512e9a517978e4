import assert from "node:assert/strict";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { groupId } from "../../src/consensus/types.js";
import { StorageError } from "../../src/storage/errors.js";
import { defragFileName, envFileName, Storage } from "../../src/storage/storage.js";
import { run, tempDir } from "./helpers.js";

/** Storage.defragment: the file shrinks, handles keep working, writes wait and none is lost, reads go on. */
const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(6, "0")}`);
const rowsTotal = 20_000;
const rowsKept = 500;

test("defragment shrinks the file; tables, group storage and held writes survive it; a reopen sees it all", async () => {
  const dir = tempDir("defrag");
  try {
    let storage = Storage.open({ dataDir: dir.path });
    const table = storage.table("mvcc");
    const group = storage.group(groupId(1));
    await group.persist({ hardState: null, entries: run(1, 50, 1), snapshot: null });
    await storage.transaction(() => {
      for (let i = 0; i < rowsTotal; i++) table.putSync(key(i), Buffer.alloc(400, i & 0xff));
    });
    await storage.transaction(() => {
      for (let i = rowsKept; i < rowsTotal; i++) table.removeSync(key(i));
    });
    const path = join(dir.path, envFileName);
    const beforeBytes = statSync(path).size;

    const defrag = storage.defragment();
    // Writes queued while the copy is made wait for the new file; reads go on meanwhile.
    let writeDone = false;
    const write = storage.transaction(() => table.putSync(Buffer.from("during"), Buffer.from("held"))).then(() => (writeDone = true));
    const persisted = group.persist({ hardState: null, entries: run(50, 60, 1), snapshot: null });
    assert.equal(table.get(key(7))?.[0], 7);
    await assert.rejects(storage.defragment(), (e: unknown) => e instanceof StorageError && e.code === "busy");
    const result = await defrag;
    assert.equal(result.beforeBytes, beforeBytes);
    await Promise.all([write, persisted]);
    assert.ok(writeDone);
    assert.ok(result.afterBytes < beforeBytes / 4, `${result.afterBytes} bytes after, ${beforeBytes} before`);
    assert.equal(existsSync(join(dir.path, defragFileName)), false);

    // The handles handed out before the defragment read and write the new file.
    assert.equal(table.getCount(), rowsKept + 1);
    assert.equal(table.get(Buffer.from("during"))?.toString(), "held");
    assert.equal(table.get(key(rowsKept - 1))?.[0], (rowsKept - 1) & 0xff);
    await storage.transaction(() => table.putSync(Buffer.from("after"), Buffer.from("v")));
    assert.equal(group.load().entries.length, 59);
    await storage.close();

    storage = Storage.open({ dataDir: dir.path });
    assert.equal(storage.table("mvcc").getCount(), rowsKept + 2);
    assert.equal(storage.group(groupId(1)).load().entries.length, 59);
    await storage.close();
  } finally {
    dir.cleanup();
  }
});

test("defragment is refused while a read view is open, and a copy left by a crash is removed on open", async () => {
  const dir = tempDir("defrag-busy");
  try {
    writeFileSync(join(dir.path, defragFileName), "left by a crash before the rename");
    const storage = Storage.open({ dataDir: dir.path });
    assert.equal(existsSync(join(dir.path, defragFileName)), false);
    const table = storage.table("mvcc");
    await storage.transaction(() => table.putSync(Buffer.from("k"), Buffer.from("v")));
    const view = storage.readView();
    await assert.rejects(storage.defragment(), (e: unknown) => e instanceof StorageError && e.code === "busy");
    assert.equal(table.get(Buffer.from("k"), { transaction: view.transaction })?.toString(), "v");
    view.done();
    await storage.defragment();
    assert.equal(table.get(Buffer.from("k"))?.toString(), "v");
    await storage.close();
  } finally {
    dir.cleanup();
  }
});

test("a view that yields to a defragment is released before the swap and may be taken again after it", async () => {
  const dir = tempDir("defrag-yield");
  try {
    const storage = Storage.open({ dataDir: dir.path });
    const table = storage.table("mvcc");
    await storage.transaction(() => table.putSync(Buffer.from("k"), Buffer.from("v1")));
    const events: string[] = [];
    let pinned = storage.readView({ yieldToDefragment: () => {
      events.push("released");
      pinned.done();
    } });
    storage.onDefragmented(() => {
      events.push("defragmented");
      pinned = storage.readView();
    });
    await storage.transaction(() => table.putSync(Buffer.from("k"), Buffer.from("v2")));
    assert.equal(table.get(Buffer.from("k"), { transaction: pinned.transaction })?.toString(), "v1");
    await storage.defragment();
    assert.deepEqual(events, ["released", "defragmented"]);
    // The view taken after the swap reads the new file.
    assert.equal(table.get(Buffer.from("k"), { transaction: pinned.transaction })?.toString(), "v2");
    pinned.done();
    await storage.close();
  } finally {
    dir.cleanup();
  }
});
