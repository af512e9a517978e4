import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { etcdctl, TestCluster } from "./cluster.js";

/** Process-level behaviour of `synod start`: refusal of a data dir in use, clean stop, restart on the same data. */
const mainScript = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start();
});
after(async () => {
  await cluster.stop();
});

test("a second member on a data dir in use refuses to start, with a clear message", () => {
  const m = cluster.member(0);
  const r = spawnSync(process.execPath, ["--import", "tsx", mainScript, "start", "--name", m.name, "--data-dir", m.dataDir, "--listen-client-urls", "http://127.0.0.1:1", "--listen-peer-urls", "http://127.0.0.1:2"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /in use|locked|held by/i);
  assert.equal(cluster.member(0).child?.exitCode, null, "the running member is untouched");
});

test("bad flags are refused with the flag named", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", mainScript, "start", "--name", "x", "--listen-client-urls", "localhost"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--listen-client-urls/);
});

test("SIGTERM stops a member cleanly; it restarts on its data and catches up", async () => {
  const ep = cluster.endpoints();
  assert.equal(etcdctl(ep, ["put", "survive", "1"]).stdout, "OK\n");
  await cluster.kill(2, "SIGTERM");
  assert.match(cluster.member(2).output, /received SIGTERM, stopping/);
  // If it led, the other two elect a new leader first.
  await cluster.waitHealthy([0, 1]);
  assert.equal(etcdctl(ep.slice(0, 2), ["put", "while-down", "2"]).stdout, "OK\n");
  cluster.spawn(2);
  await cluster.waitHealthy([2]);
  const third = ep[2] ?? "";
  for (const [key, value] of [["survive", "1\n"], ["while-down", "2\n"]] as const) {
    const r = etcdctl([third], ["get", key, "--print-value-only"]);
    assert.equal(r.stdout, value, `get ${key} through the restarted member: ${r.stderr}\n${cluster.member(2).output}`);
  }
});
