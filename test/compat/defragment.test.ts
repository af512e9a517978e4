import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { op, SynodClient } from "../../src/client/index.js";
import { etcdctl, TestCluster } from "./cluster.js";

/** etcdctl defrag on a real member after deleting and compacting a lot: the file shrinks, data stays, reads go on. */
let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start({ size: 3 });
});
after(async () => {
  await cluster.stop();
});

interface EndpointStatus {
  Endpoint: string;
  Status: { dbSize: number; header: { revision: number } };
}

/** etcdctlAsync runs etcdctl without blocking this process, so the test's own clients keep working meanwhile. */
function etcdctlAsync(endpoint: string, args: readonly string[]): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const child = spawn("etcdctl", [`--endpoints=${endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once("exit", (status) => resolve({ stdout, stderr, status })));
}

function dbSizeBytes(endpoint: string): number {
  const statuses = JSON.parse(etcdctl([endpoint], ["endpoint", "status", "-w", "json"]).stdout) as EndpointStatus[];
  return statuses[0]?.Status.dbSize ?? 0;
}

test("etcdctl defrag shrinks a member's file after delete and compaction; data intact, reads answered throughout", async (t) => {
  const ep = cluster.endpoints();
  const target = ep[0] ?? "";
  const client = new SynodClient({ endpoints: ep });
  let compactRevision = 0;
  const value = "d".repeat(1000);
  try {
    for (let i = 0; i < 20_000; i += 100) {
      await client.kv.txn({ success: Array.from({ length: 100 }, (_, j) => op.put(`big/${String(i + j).padStart(6, "0")}`, value)) });
    }
    await client.kv.put("keep/a", "1");
    await client.kv.put("keep/b", "2");
    const deleted = await client.kv.delete("big/", { prefix: true });
    assert.equal(deleted.deleted, 20_000);
    compactRevision = deleted.revision;
    assert.match(etcdctl([target], ["compact", String(compactRevision)]).stdout, /compacted revision/);
  } finally {
    client.close();
  }
  // Compaction is applied by every member: wait until the target's file stops growing.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const beforeBytes = dbSizeBytes(target);

  // A reader hammers the member being defragmented; every read must succeed.
  const reader = new SynodClient({ endpoints: [target] });
  let reading = true;
  let reads = 0;
  const readerLoop = (async () => {
    while (reading) {
      const got = await reader.kv.get("keep/", { prefix: true, serializable: true });
      assert.equal(got.kvs.length, 2);
      reads++;
    }
  })();
  const defragStartedMs = performance.now();
  const defrag = await etcdctlAsync(target, ["defrag"]);
  const defragMs = Math.round(performance.now() - defragStartedMs);
  reading = false;
  await readerLoop;
  reader.close();
  assert.equal(defrag.status, 0, defrag.stderr);
  assert.equal(defrag.stdout, `Finished defragmenting etcd member[${target}]\n`);
  assert.ok(reads > 0);
  const afterBytes = dbSizeBytes(target);

  t.diagnostic(`dbSize ${beforeBytes} bytes before defrag, ${afterBytes} after; etcdctl defrag took ${defragMs} ms; ${reads} reads answered during it`);
  // What remains is mostly the consensus log, which holds the 20 MB of writes until the next log snapshot.
  assert.ok(afterBytes < beforeBytes / 2, `dbSize ${afterBytes} after, ${beforeBytes} before`);
  // The data is intact and the member keeps working: same hash as a member that was not defragmented, and writes go on.
  assert.equal(etcdctl([target], ["get", "keep/", "--prefix", "--print-value-only"]).stdout, "1\n2\n");
  assert.equal(etcdctl([target], ["put", "keep/c", "3"]).stdout, "OK\n");
  const hashes = ep.map((e) => (JSON.parse(etcdctl([e], ["endpoint", "hashkv", "--rev", String(compactRevision + 1), "-w", "json"]).stdout) as { HashKV: { hash: number } }[])[0]?.HashKV.hash);
  assert.equal(new Set(hashes).size, 1, `hashes ${hashes.join(",")}`);
});
