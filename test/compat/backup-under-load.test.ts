import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { op, SynodClient } from "../../src/client/index.js";
import type { DecodedKeyValue } from "../../src/client/kv.js";
import { synodCli, TestCluster, testClusterToken } from "./cluster.js";

/**
 * A backup taken with `synod snapshot save` while several clients write
 * without pause: writes go on during the save, and a cluster restored from
 * the file holds exactly the data as of the backup's revision.
 */
let original: TestCluster;
let restored: TestCluster | undefined;
let work: string;
const mainScript = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
const preloadKeys = 20_000;
const preloadValueBytes = 400;
const writers = 4;

before(async () => {
  original = await TestCluster.start({ size: 3 });
  work = mkdtempSync(join(tmpdir(), "synod-backup-load-"));
});
after(async () => {
  await restored?.stop();
  await original.stop();
  rmSync(work, { recursive: true, force: true });
});

/** rssBytes is a process's resident set size, from /proc. */
function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? 0 : Number(match[1]) * 1024;
}

interface Row {
  key: string;
  value: string;
  create: string;
  mod: string;
  version: string;
  lease: string;
}

/** rangeAll reads every key at `revision` in pages, so no single answer is large. */
async function rangeAll(endpoint: string, revision: number): Promise<Row[]> {
  const client = new SynodClient({ endpoints: [endpoint] });
  const out: Row[] = [];
  try {
    let from = Buffer.from([0]);
    for (;;) {
      const page = await client.connection.unary<{ kvs: DecodedKeyValue[]; more: boolean }>(
        "etcdserverpb.KV",
        "Range",
        { key: from, range_end: Buffer.from([0]), revision, limit: 2000, serializable: true },
        { idempotent: true },
      );
      for (const kv of page.kvs) {
        out.push({ key: kv.key.toString(), value: kv.value.toString(), create: kv.create_revision, mod: kv.mod_revision, version: kv.version, lease: kv.lease });
      }
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) return out;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  } finally {
    client.close();
  }
}

test("synod snapshot save under continuous writes; the restored cluster holds exactly the backup's revision", async (t) => {
  const ep = original.endpoints();
  const loader = new SynodClient({ endpoints: ep });
  const value = "v".repeat(preloadValueBytes);
  for (let i = 0; i < preloadKeys; i += 100) {
    const success = Array.from({ length: 100 }, (_, j) => op.put(`p/${String(i + j).padStart(6, "0")}`, value));
    await loader.kv.txn({ success });
  }
  loader.close();

  // Writers run until told to stop, recording when each write was acknowledged.
  let stopping = false;
  const acknowledged: { atMs: number; revision: number }[] = [];
  const loops = Array.from({ length: writers }, async (_, w) => {
    const client = new SynodClient({ endpoints: [ep[w % ep.length] ?? ""] });
    try {
      for (let n = 0; !stopping; n++) {
        const { revision } = await client.kv.put(`w/${w}/${n % 500}`, `${w}-${n}`);
        acknowledged.push({ atMs: performance.now(), revision });
      }
    } finally {
      client.close();
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300));

  const file = join(work, "load.backup");
  const member = original.member(0);
  const memberPid = member.child?.pid ?? 0;
  let rssPeakBytes = rssBytes(memberPid);
  const rssBeforeBytes = rssPeakBytes;
  const startedMs = performance.now();
  const save = spawn(process.execPath, ["--import", "tsx", mainScript, "snapshot", "save", file, "--endpoints", `127.0.0.1:${member.clientPort}`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let saveOutput = "";
  save.stdout.on("data", (c: Buffer) => (saveOutput += c.toString()));
  save.stderr.on("data", (c: Buffer) => (saveOutput += c.toString()));
  const sampler = setInterval(() => {
    rssPeakBytes = Math.max(rssPeakBytes, rssBytes(memberPid));
  }, 20);
  const exitCode = await new Promise<number | null>((resolve) => save.once("exit", resolve));
  const endedMs = performance.now();
  clearInterval(sampler);
  await new Promise((resolve) => setTimeout(resolve, 300));
  stopping = true;
  await Promise.all(loops);
  assert.equal(exitCode, 0, saveOutput);
  assert.equal(saveOutput, `Snapshot saved at ${file}\n`);

  const status = JSON.parse(synodCli(["snapshot", "status", file, "-w", "json"]).stdout) as { revision: number; totalKey: number; totalSize: number };
  const during = acknowledged.filter((a) => a.atMs > startedMs && a.atMs < endedMs).length;
  // Writes past the backup's revision, acknowledged before the save finished, committed while its read transaction was open.
  const pastBackup = acknowledged.filter((a) => a.revision > status.revision && a.atMs < endedMs).length;
  const lastRevision = Math.max(...acknowledged.map((a) => a.revision));
  t.diagnostic(
    `backup of ${preloadKeys} preloaded keys (${status.totalKey} rows, ${statSync(file).size} bytes) took ${Math.round(endedMs - startedMs)} ms including the CLI's start; ` +
      `${during} writes acknowledged meanwhile, ${pastBackup} of them after the backup's revision; member RSS ${Math.round(rssBeforeBytes / 1e6)} MB before, peak ${Math.round(rssPeakBytes / 1e6)} MB while streaming`,
  );
  assert.ok(pastBackup > 0, "no write committed while the backup was open");
  assert.ok(status.revision > preloadKeys / 100 && status.revision < lastRevision, `backup revision ${status.revision}, last write ${lastRevision}`);

  restored = await TestCluster.start({
    size: 1,
    prepare: (fresh) => {
      const m = fresh.member(0);
      const r = synodCli([
        "snapshot", "restore", file,
        "--name", m.name,
        "--initial-cluster", fresh.initialCluster(),
        "--initial-cluster-token", testClusterToken,
        "--initial-advertise-peer-urls", `http://127.0.0.1:${m.peerPort}`,
        "--data-dir", m.dataDir,
      ]);
      assert.equal(r.status, 0, r.stderr);
    },
  });
  const want = await rangeAll(ep[0] ?? "", status.revision);
  const got = await rangeAll(restored.endpoints()[0] ?? "", status.revision);
  assert.ok(want.length > preloadKeys, `${want.length} keys`);
  assert.equal(got.length, want.length);
  assert.deepEqual(got, want);
  const hash = async (endpoint: string): Promise<number> => {
    const client = new SynodClient({ endpoints: [endpoint] });
    try {
      return (await client.connection.unary<{ hash: number }>("etcdserverpb.Maintenance", "HashKV", { revision: status.revision }, { idempotent: true })).hash;
    } finally {
      client.close();
    }
  };
  assert.equal(await hash(restored.endpoints()[0] ?? ""), await hash(ep[0] ?? ""));
  // Every write acknowledged at or below the backup's revision is in it; none after.
  const restoredClient = new SynodClient({ endpoints: restored.endpoints() });
  try {
    assert.equal((await restoredClient.kv.get("w/", { prefix: true, limit: 1 })).revision, status.revision);
  } finally {
    restoredClient.close();
  }
});
