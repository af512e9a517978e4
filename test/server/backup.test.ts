import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MvccStore } from "../../src/kv/index.js";
import { verifyBackupFile, backupFileRows } from "../../src/server/backup-file.js";
import { backupAlignBytes, digestBytes, RowParser } from "../../src/server/backup-format.js";
import type { BackupRow } from "../../src/server/backup-format.js";
import { BackupStream } from "../../src/server/backup-stream.js";
import { stateMachineTableName } from "../../src/server/kv-state-machine.js";
import { LmdbOrderedStore } from "../../src/server/lmdb-ordered-store.js";
import { Storage } from "../../src/storage/storage.js";
import type { Table } from "../../src/storage/storage.js";
import { repoRoot, tempDir } from "../storage/helpers.js";

/** The backup stream and file: one consistent copy while writes go on, and every damaged file refused. */
const dir = tempDir("backup");
let storage: Storage;
let table: Table;
let mvcc: MvccStore;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

before(async () => {
  storage = Storage.open({ dataDir: join(dir.path, "member") });
  table = storage.table(stateMachineTableName);
  mvcc = new MvccStore(new LmdbOrderedStore(table));
  await storage.transaction(() => {
    for (let i = 0; i < 500; i++) assert.ok(mvcc.put({ key: text(`key-${String(i).padStart(4, "0")}`), value: text(`value-${i}-${"x".repeat(i % 97)}`) }).ok);
    mvcc.setConsistentIndex(777);
  });
});
after(async () => {
  await storage.close();
  dir.cleanup();
});

function tableRows(): BackupRow[] {
  return [...table.getRange({})].map(({ key, value }) => ({ key: Buffer.from(key), value: Buffer.from(value) }));
}

/** takeBackup streams a backup to `path`, running `between` after the first chunk. */
async function takeBackup(path: string, between: () => Promise<void>): Promise<BackupStream> {
  const stream = await BackupStream.open({ table, view: storage.readView(), engine: "raft", nowMs: 1, chunkBytes: 1024 });
  const chunks: Buffer[] = [];
  let first = true;
  for (let chunk = stream.nextChunk(); chunk !== null; chunk = stream.nextChunk()) {
    chunks.push(chunk);
    assert.equal(stream.remainingBytes, stream.totalBytes - chunks.reduce((n, c) => n + c.length, 0));
    if (first) await between();
    first = false;
  }
  writeFileSync(path, Buffer.concat(chunks));
  return stream;
}

function cli(args: readonly string[]): { stdout: string; stderr: string; status: number | null } {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
}

const good = join(dir.path, "good.backup");

test("a backup holds the table as of its read transaction, whatever commits while it streams", async () => {
  const before = tableRows();
  const revision = mvcc.revision;
  const stream = await takeBackup(good, async () => {
    await storage.transaction(() => {
      for (let i = 0; i < 500; i += 2) assert.ok(mvcc.put({ key: text(`key-${String(i).padStart(4, "0")}`), value: text("changed") }).ok);
      assert.ok(mvcc.put({ key: text("key-0000-new"), value: text("new") }).ok);
      assert.ok(mvcc.compact({ revision: revision }).ok);
    });
  });
  assert.ok(mvcc.revision > revision);
  assert.notDeepEqual(tableRows(), before);

  const info = verifyBackupFile(good);
  assert.equal(info.sizeBytes, stream.totalBytes);
  assert.equal((info.sizeBytes - digestBytes) % backupAlignBytes, 0);
  assert.deepEqual(
    { revision: info.header.revision, compactRevision: info.header.compactRevision, appliedIndex: info.header.appliedIndex, rowCount: info.header.rowCount },
    { revision, compactRevision: -1, appliedIndex: 777, rowCount: before.length },
  );
  const rows: BackupRow[] = [];
  for (const batch of backupFileRows(good)) rows.push(...batch);
  assert.deepEqual(rows, before);
});

test("a backup stream releases its read transaction when closed early, and refuses more chunks", async () => {
  const stream = await BackupStream.open({ table, view: storage.readView(), engine: "paxos", nowMs: 1, chunkBytes: 1024 });
  assert.ok(stream.nextChunk() !== null);
  stream.close();
  assert.throws(() => stream.nextChunk(), /closed/);
});

test("status prints what etcdctl prints; a damaged file is refused by status and restore, which then writes nothing", () => {
  const simple = cli(["snapshot", "status", good]);
  assert.equal(simple.status, 0, simple.stderr);
  assert.match(simple.stdout, /^[0-9a-f]{8}, \d+, \d+, \d+(\.\d)? kB\n$/);

  const bytes = readFileSync(good);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)] = (flipped[Math.floor(bytes.length / 2)] ?? 0) ^ 0x01;
  const cases: [string, Buffer, RegExp][] = [
    ["flipped", flipped, /fails its SHA-256 check/],
    ["truncated", bytes.subarray(0, bytes.length - 700), /fails its SHA-256 check/],
    ["short", bytes.subarray(0, 20), /too short/],
    ["foreign", Buffer.alloc(4096 + digestBytes, 7), /fails its SHA-256 check/],
  ];
  for (const [name, content, why] of cases) {
    const path = join(dir.path, `${name}.backup`);
    writeFileSync(path, content);
    assert.throws(() => verifyBackupFile(path), why, name);
    const status = cli(["snapshot", "status", path, "-w", "json"]);
    assert.equal(status.status, 1, name);
    assert.equal(status.stdout, "", name);
    assert.match(status.stderr, new RegExp(`^Error: .*${why.source}.*\\n$`), name);
    const target = join(dir.path, `restored-${name}`);
    const restore = cli(["snapshot", "restore", path, "--data-dir", target]);
    assert.equal(restore.status, 1, name);
    assert.match(restore.stderr, why, name);
    assert.equal(existsSync(target), false, name);
    assert.equal(existsSync(`${target}.restoring`), false, name);
  }
});

test("the row parser refuses rows out of order or past the header's counts", () => {
  const header = { revision: 2, compactRevision: -1, appliedIndex: 0, engine: "raft" as const, rowCount: 2, rowBytes: 2 * (8 + 2), takenAtMs: 0 };
  const row = (key: string): Buffer => {
    const out = Buffer.alloc(8 + 2);
    out.writeUInt32BE(1, 0);
    out.writeUInt32BE(1, 4);
    out.write(key, 8, "latin1");
    return out;
  };
  assert.throws(() => new RowParser(header).feed(Buffer.concat([row("bv"), row("av")])), /out of key order/);
  assert.throws(() => new RowParser(header).feed(Buffer.concat([row("av"), row("bv"), row("cv")])), /run past/);
  const short = new RowParser(header);
  short.feed(row("av"));
  assert.throws(() => short.finish(), /truncated or malformed/);
});
