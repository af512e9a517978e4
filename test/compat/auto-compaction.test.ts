import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseAutoCompaction } from "../../src/server/config.js";
import { etcdctl, TestCluster } from "./cluster.js";

/** etcd's auto-compaction flags, on a real member. */
let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start({ size: 1, extraArgs: ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"] });
});
after(async () => {
  await cluster.stop();
});

test("the retention flag reads etcd's forms", () => {
  assert.deepEqual(parseAutoCompaction("periodic", "1"), { mode: "periodic", retentionMs: 3_600_000 });
  assert.deepEqual(parseAutoCompaction("periodic", "30m"), { mode: "periodic", retentionMs: 1_800_000 });
  assert.deepEqual(parseAutoCompaction("periodic", "0"), { mode: "none" });
  assert.deepEqual(parseAutoCompaction("revision", "1000"), { mode: "revision", retention: 1000 });
  assert.throws(() => parseAutoCompaction("revision", "1h"), /--auto-compaction-retention/);
  assert.throws(() => parseAutoCompaction("hourly", "1"), /--auto-compaction-mode/);
});

test("periodic auto-compaction drops history older than the retention, keeps the newer", async () => {
  const ep = cluster.endpoints();
  etcdctl(ep, ["put", "ac", "old"]);
  const old = (JSON.parse(etcdctl(ep, ["get", "ac", "-w", "json"]).stdout) as { header: { revision: number } }).header.revision;
  await new Promise((r) => setTimeout(r, 3000));
  etcdctl(ep, ["put", "ac", "new"]);
  let compacted = false;
  for (let i = 0; i < 60 && !compacted; i++) {
    await new Promise((r) => setTimeout(r, 250));
    compacted = /required revision has been compacted/.test(etcdctl(ep, ["get", "ac", `--rev=${old - 1}`]).stderr);
  }
  assert.ok(compacted, "a revision older than the retention was compacted");
  assert.equal(etcdctl(ep, ["get", "ac", "--print-value-only"]).stdout, "new\n");
});
