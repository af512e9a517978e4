import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SynodClient } from "../../src/client/index.js";
import type { KeyValue } from "../../src/client/index.js";
import { etcdctl, synodCli, TestCluster, testClusterToken } from "./cluster.js";

/**
 * Backup and restore with real processes: etcdctl takes a backup from one
 * member of a 3-member cluster, `synod snapshot status` reads it, and
 * `synod snapshot restore` builds each member of a NEW 3-member cluster from
 * it, which then serves exactly the data the backup held.
 */
let original: TestCluster;
let restored: TestCluster | undefined;
let work: string;
let backupRevision = 0;
const longLeaseTtlSeconds = 3600;

before(async () => {
  original = await TestCluster.start({ size: 3 });
  work = mkdtempSync(join(tmpdir(), "synod-backup-"));
});
after(async () => {
  await restored?.stop();
  await original.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Row {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

function rows(kvs: readonly KeyValue[]): Row[] {
  return kvs.map((kv) => ({
    key: Buffer.from(kv.key).toString(),
    value: Buffer.from(kv.value).toString(),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  }));
}

async function hashKv(endpoint: string, revision: number): Promise<{ hash: number; compactRevision: number }> {
  const client = new SynodClient({ endpoints: [endpoint] });
  try {
    const r = await client.connection.unary<{ hash: number; compact_revision: string }>("etcdserverpb.Maintenance", "HashKV", { revision }, { idempotent: true });
    return { hash: r.hash, compactRevision: Number(r.compact_revision) };
  } finally {
    client.close();
  }
}

async function rangeAt(endpoint: string, revision: number): Promise<Row[]> {
  const client = new SynodClient({ endpoints: [endpoint] });
  try {
    return rows((await client.kv.get("a/", { prefix: true, revision })).kvs);
  } finally {
    client.close();
  }
}

test("etcdctl snapshot save from a 3-member cluster, synod snapshot restore into a new 3-member cluster", async () => {
  const ep = original.endpoints();
  const client = new SynodClient({ endpoints: ep });
  let leaseId = 0;
  try {
    for (let i = 0; i < 40; i++) await client.kv.put(`a/${String(i).padStart(2, "0")}`, `first-${i}`);
    for (let i = 0; i < 40; i += 3) await client.kv.put(`a/${String(i).padStart(2, "0")}`, `second-${i}`);
    await client.kv.delete("a/07");
    const lease = await client.lease(longLeaseTtlSeconds, { keepAlive: false });
    leaseId = lease.id;
    await client.kv.put("a/leased", "held", { lease: leaseId });
    const compactTo = (await client.kv.get("a/00")).revision - 5;
    assert.match(etcdctl([ep[0] ?? ""], ["compact", String(compactTo)]).stdout, /compacted revision/);
    backupRevision = (await client.kv.put("a/last", "before-backup")).revision;
  } finally {
    client.close();
  }

  const file = join(work, "etcdctl.backup");
  const saved = etcdctl([ep[1] ?? ""], ["snapshot", "save", file]);
  assert.equal(saved.status, 0, saved.stderr);
  assert.equal(saved.stdout, `Snapshot saved at ${file}\n`);
  assert.equal(existsSync(`${file}.part`), false);

  // Writes after the backup must not reach the restored cluster.
  const later = new SynodClient({ endpoints: ep });
  await later.kv.put("a/after", "not-in-backup");
  later.close();

  const status = synodCli(["snapshot", "status", file, "-w", "json"]);
  assert.equal(status.status, 0, status.stderr);
  const parsed = JSON.parse(status.stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
  assert.equal(parsed.revision, backupRevision);
  assert.equal(parsed.totalSize, statSync(file).size);
  assert.ok(parsed.totalKey > 40, `totalKey ${parsed.totalKey}`);
  const table = synodCli(["snapshot", "status", file, "-w", "table"]);
  assert.match(table.stdout, /\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|/);

  restored = await TestCluster.start({
    size: 3,
    prepare: (fresh) => {
      for (const m of fresh.members) {
        const r = synodCli([
          "snapshot", "restore", file,
          "--name", m.name,
          "--initial-cluster", fresh.initialCluster(),
          "--initial-cluster-token", testClusterToken,
          "--initial-advertise-peer-urls", `http://127.0.0.1:${m.peerPort}`,
          "--data-dir", m.dataDir,
        ]);
        assert.equal(r.status, 0, r.stderr);
      }
    },
  });
  const rep = restored.endpoints();

  const want = await rangeAt(ep[0] ?? "", backupRevision);
  assert.equal(want.length, 41);
  for (const endpoint of rep) assert.deepEqual(await rangeAt(endpoint, backupRevision), want);
  const wantHash = await hashKv(ep[0] ?? "", backupRevision);
  for (const endpoint of rep) assert.deepEqual(await hashKv(endpoint, backupRevision), wantHash);

  const fresh = new SynodClient({ endpoints: rep });
  try {
    const now = await fresh.kv.get("a/after");
    assert.equal(now.kvs.length, 0);
    assert.equal(now.revision, backupRevision);
    // The lease came along with its key; the restored cluster grants nothing new to hold it.
    assert.match(etcdctl([rep[0] ?? ""], ["lease", "list"]).stdout, new RegExp(leaseId.toString(16)));
    // The new cluster's members, not the old one's, and none of its alarms.
    const members = etcdctl([rep[0] ?? ""], ["member", "list"]).stdout;
    for (const m of restored.members) assert.match(members, new RegExp(`${m.name}, http://127.0.0.1:${m.peerPort}`));
    for (const m of original.members) assert.doesNotMatch(members, new RegExp(`127.0.0.1:${m.peerPort}`));
    assert.equal(etcdctl([rep[0] ?? ""], ["alarm", "list"]).stdout, "");
    // It takes writes from the backup's revision on.
    assert.equal((await fresh.kv.put("a/new", "v")).revision, backupRevision + 1);
    assert.equal(etcdctl([rep[2] ?? ""], ["get", "a/new", "--print-value-only"]).stdout, "v\n");
  } finally {
    fresh.close();
  }
});

test("restore refuses a non-empty data dir and changes nothing; an empty one is filled", () => {
  const file = join(work, "etcdctl.backup");
  const busy = mkdtempSync(join(work, "busy-"));
  writeFileSync(join(busy, "keep"), "mine");
  const refused = synodCli(["snapshot", "restore", file, "--data-dir", busy]);
  assert.equal(refused.status, 1);
  assert.equal(refused.stderr, `Error: data-dir "${busy}" exists\n`);
  assert.deepEqual(readdirSync(busy), ["keep"]);
  assert.equal(existsSync(`${busy}.restoring`), false);

  const empty = mkdtempSync(join(work, "empty-"));
  const ok = synodCli(["snapshot", "restore", file, "--data-dir", empty]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(readdirSync(empty).includes("synod.mdb"));
});
