import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { etcdctl, TestCluster } from "./cluster.js";

/** The real etcdctl 3.4 against a real 3-process Synod cluster. */
let cluster: TestCluster;
let ep: string[];
const ok = (args: string[], input?: string): string => {
  const r = etcdctl(ep, args, input);
  assert.equal(r.status, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  cluster = await TestCluster.start();
  ep = cluster.endpoints();
});
after(async () => {
  await cluster.stop();
});

test("put, get and delete through any member", () => {
  assert.equal(ok(["put", "k1", "v1"]), "OK\n");
  for (const e of cluster.endpoints()) {
    assert.equal(etcdctl([e], ["get", "k1"]).stdout, "k1\nv1\n", `read through ${e}`);
  }
  assert.equal(ok(["del", "k1"]), "1\n");
  assert.equal(ok(["get", "k1"]), "");
  assert.equal(ok(["del", "k1"]), "0\n");
});

test("prefix and range reads, limits, sorting, keys-only and values-only", () => {
  for (const [k, v] of [["p/a", "3"], ["p/b", "1"], ["p/c", "2"], ["q", "x"]]) ok(["put", k ?? "", v ?? ""]);
  assert.equal(ok(["get", "p/", "--prefix", "--keys-only"]), "p/a\n\np/b\n\np/c\n\n");
  assert.equal(ok(["get", "p/a", "p/c"]), "p/a\n3\np/b\n1\n");
  assert.equal(ok(["get", "p/", "--prefix", "--limit=2", "--print-value-only"]), "3\n1\n");
  assert.equal(ok(["get", "p/", "--prefix", "--sort-by=VALUE", "--order=DESCEND", "--print-value-only"]), "3\n2\n1\n");
  assert.equal(ok(["get", "p/", "--prefix", "--sort-by=KEY", "--order=DESCEND", "--keys-only"]), "p/c\n\np/b\n\np/a\n\n");
  const json = JSON.parse(ok(["get", "p/", "--prefix", "--limit=1", "-w", "json"])) as { count: number; more: boolean; kvs: unknown[] };
  assert.equal(json.count, 3);
  assert.equal(json.more, true);
  assert.equal(json.kvs.length, 1);
  assert.equal(ok(["del", "p/", "--prefix"]), "3\n");
});

test("txn compare-and-swap takes the right branch", () => {
  ok(["put", "cas", "old"]);
  const success = ok(["txn"], 'value("cas") = "old"\n\nput cas new\n\nput cas failed\n\n');
  assert.equal(success, "SUCCESS\n\nOK\n");
  const failure = ok(["txn"], 'value("cas") = "old"\n\nput cas wrong\n\nget cas\n\n');
  assert.equal(failure, "FAILURE\n\ncas\nnew\n");
});

test("history reads, compaction and the compacted error", () => {
  ok(["put", "h", "one"]);
  const rev1 = (JSON.parse(ok(["get", "h", "-w", "json"])) as { header: { revision: number } }).header.revision;
  ok(["put", "h", "two"]);
  ok(["put", "h", "three"]);
  assert.equal(ok(["get", "h", `--rev=${rev1}`, "--print-value-only"]), "one\n");
  assert.equal(ok(["compaction", String(rev1 + 1)]), `compacted revision ${rev1 + 1}\n`);
  const r = etcdctl(ep, ["get", "h", `--rev=${rev1}`]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /etcdserver: mvcc: required revision has been compacted/);
  assert.equal(ok(["get", "h", `--rev=${rev1 + 1}`, "--print-value-only"]), "two\n");
});

test("endpoint health, status, hashkv and member list describe the cluster", async () => {
  ok(["put", "sync", "1"]);
  // etcdctl's health check is a linearizable read of the key "health" through each endpoint.
  const health = etcdctl(ep, ["endpoint", "health"]);
  assert.equal(health.status, 0, health.stderr);
  assert.equal(`${health.stdout}${health.stderr}`.match(/is healthy: successfully committed proposal/g)?.length, 3, health.stdout + health.stderr);
  // Give followers a moment to apply the last write before comparing hashes.
  await new Promise((r) => setTimeout(r, 300));
  const status = JSON.parse(ok(["endpoint", "status", "-w", "json"])) as { Status: { leader: number; raftTerm: number; header: { member_id: number } } }[];
  assert.equal(status.length, 3);
  const leaders = new Set(status.map((s) => String(s.Status.leader)));
  assert.equal(leaders.size, 1, "every member names the same leader");
  assert.ok(status.some((s) => String(s.Status.header.member_id) === [...leaders][0]), "the leader is a member");
  const hashes = ok(["endpoint", "hashkv"]).trim().split("\n").map((line) => line.split(", ")[1]);
  assert.equal(hashes.length, 3);
  assert.equal(new Set(hashes).size, 1, `members agree on the KV hash: ${hashes.join(" ")}`);
  const members = ok(["member", "list"]).trim().split("\n");
  assert.equal(members.length, 3);
  // Every member published its client URL through the log, so each line names it.
  for (const line of members) assert.match(line, /^[0-9a-f]+, started, m\d, http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+, false$/);
});

test("bad requests get etcd's errors and change nothing", () => {
  const before = ok(["get", "", "--prefix", "--keys-only"]);
  const empty = etcdctl(ep, ["put", "", "v"]);
  assert.notEqual(empty.status, 0);
  assert.match(empty.stderr, /etcdserver: key is not provided/);
  const big = etcdctl(ep, ["put", "big"], "x".repeat(2 * 1024 * 1024));
  assert.notEqual(big.status, 0);
  assert.match(big.stderr, /request is too large|larger than max/);
  const future = etcdctl(ep, ["get", "k", "--rev=999999"]);
  assert.match(future.stderr, /etcdserver: mvcc: required revision is a future revision/);
  assert.equal(ok(["get", "", "--prefix", "--keys-only"]), before);
});

test("the client port also serves etcd's JSON gateway, as etcd's does", async () => {
  const url = `http://${ep[0]}`;
  const version = (await (await fetch(`${url}/version`)).json()) as { etcdserver: string };
  assert.equal(version.etcdserver, "3.4.0");
  ok(["put", "gw", "json"]);
  const res = await fetch(`${url}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("gw").toString("base64") }) });
  const body = (await res.json()) as { kvs: { value: string }[] };
  assert.equal(Buffer.from(body.kvs[0]?.value ?? "", "base64").toString(), "json");
});
