import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { etcdctl, TestCluster } from "./cluster.js";

/** Watches, leases, locks and elections on a real 3-process cluster, through etcdctl, the etcd3 npm client and python3-etcd3. */
let cluster: TestCluster;
let ep: string[];
let scratch: string;

before(async () => {
  cluster = await TestCluster.start();
  ep = cluster.endpoints();
  scratch = mkdtempSync(join(tmpdir(), "synod-events-"));
});
after(async () => {
  await cluster.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const ok = (args: string[], endpoints = ep): string => {
  const r = etcdctl(endpoints, args);
  assert.equal(r.status, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test("etcdctl watch through a follower sees every event in order, and replays history", async () => {
  const follower = ep[1] ?? "";
  const watcher = spawn("etcdctl", [`--endpoints=${follower}`, "watch", "--prefix", "w/", "--prev-kv"], { env: { ...process.env, ETCDCTL_API: "3" } });
  let out = "";
  watcher.stdout.on("data", (c: Buffer) => (out += c.toString()));
  await sleep(500);
  ok(["put", "w/a", "1"]);
  const first = JSON.parse(ok(["get", "w/a", "-w", "json"])) as { header: { revision: number } };
  ok(["put", "w/a", "2"]);
  ok(["del", "w/a"]);
  for (let i = 0; i < 50 && !out.includes("DELETE"); i++) await sleep(100);
  watcher.kill("SIGTERM");
  // With --prev-kv etcdctl prints the previous pair before the new one (an empty value for a delete).
  assert.equal(out, "PUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\nDELETE\nw/a\n2\nw/a\n\n");
  const replay = spawnSync("etcdctl", [`--endpoints=${follower}`, "watch", "w/a", `--rev=${first.header.revision}`], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 2000,
    encoding: "utf8",
  });
  assert.equal(replay.stdout, "PUT\nw/a\n1\nPUT\nw/a\n2\nDELETE\nw/a\n\n");
});

test("etcdctl leases: grant, attach, keep-alive, time-to-live, list, revoke deletes attached keys", () => {
  const id = /lease ([0-9a-f]+) granted with TTL\(30s\)/.exec(ok(["lease", "grant", "30"]))?.[1];
  assert.ok(id !== undefined);
  ok(["put", "leased", "v", `--lease=${id}`]);
  assert.match(ok(["lease", "timetolive", id, "--keys"]), new RegExp(`lease ${id} granted with TTL\\(30s\\), remaining\\((29|30)s\\), attached keys\\(\\[leased\\]\\)`));
  assert.match(ok(["lease", "keep-alive", "--once", id]), new RegExp(`lease ${id} keepalived with TTL\\(30\\)`));
  assert.match(ok(["lease", "list"]), new RegExp(id));
  assert.equal(ok(["lease", "revoke", id]), `lease ${id} revoked\n`);
  assert.equal(ok(["get", "leased"]), "");
  assert.match(ok(["lease", "timetolive", id]), /already expired/);
});

test("an expired lease deletes its keys on every member", async () => {
  const id = /lease ([0-9a-f]+) granted/.exec(ok(["lease", "grant", "2"]))?.[1] ?? "";
  ok(["put", "short", "v", `--lease=${id}`]);
  await sleep(3500);
  for (const e of ep) assert.equal(etcdctl([e], ["get", "short", "--consistency=s"]).stdout, "", `through ${e}`);
});

test("etcdctl lock excludes concurrent holders (checked by an enter/exit log)", async () => {
  const log = join(scratch, "lock.log");
  const holders = Array.from({ length: 4 }, (_, i) =>
    new Promise<number>((resolve) => {
      const p = spawn("etcdctl", [`--endpoints=${ep[i % 3]}`, "lock", "mutex", "--", "sh", "-c", `echo enter ${i} >> ${log}; sleep 0.3; echo exit ${i} >> ${log}`], {
        env: { ...process.env, ETCDCTL_API: "3" },
      });
      p.on("exit", (code) => resolve(code ?? -1));
    }),
  );
  assert.deepEqual(await Promise.all(holders), [0, 0, 0, 0]);
  const lines = readFileSync(log, "utf8").trim().split("\n");
  assert.equal(lines.length, 8);
  for (let i = 0; i < lines.length; i += 2) {
    const who = lines[i]?.split(" ")[1];
    assert.equal(lines[i], `enter ${who}`);
    assert.equal(lines[i + 1], `exit ${who}`, `no one entered while ${who} held the lock: ${lines.join(", ")}`);
  }
});

test("etcdctl elect: a campaigner wins, an observer sees the leader", async () => {
  const env = { ...process.env, ETCDCTL_API: "3" };
  const campaigner = spawn("etcdctl", [`--endpoints=${ep[0]}`, "elect", "chief", "alice"], { env });
  let said = "";
  campaigner.stdout.on("data", (c: Buffer) => (said += c.toString()));
  for (let i = 0; i < 50 && !said.includes("alice"); i++) await sleep(100);
  assert.match(said, /^chief\/[0-9a-f]+\nalice\n/);
  const observer = spawnSync("etcdctl", [`--endpoints=${ep[2]}`, "elect", "-l", "chief"], { env, timeout: 1500, encoding: "utf8" });
  assert.match(observer.stdout, /^chief\/[0-9a-f]+\nalice\n/);
  campaigner.kill("SIGTERM");
});

test("the etcd3 npm client: Watcher, Lease with keep-alive, Lock, Election", async () => {
  const client = new Etcd3({ hosts: ep.map((e) => `http://${e}`), faultHandling: { global: noop, host: () => noop } });
  try {
    const watcher = await client.watch().prefix("n/").create();
    const seen: string[] = [];
    watcher.on("put", (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
    watcher.on("delete", (kv) => seen.push(`delete ${kv.key.toString()}`));
    await client.put("n/1").value("a");
    await client.delete().key("n/1");
    for (let i = 0; i < 50 && seen.length < 2; i++) await sleep(50);
    assert.deepEqual(seen, ["put n/1=a", "delete n/1"]);
    await watcher.cancel();

    const lease = client.lease(3);
    await lease.put("n/leased").value("v");
    await sleep(4000); // longer than the TTL: only the client's keep-alives keep it
    assert.equal(await client.get("n/leased").string(), "v");
    await lease.revoke();
    assert.equal(await client.get("n/leased").string(), null);

    // etcd3's Lock is try-once: a second acquire fails while the first holds it.
    const first = client.lock("npm-lock");
    await first.acquire();
    await assert.rejects(client.lock("npm-lock").acquire());
    await first.release();
    const second = client.lock("npm-lock");
    await second.acquire();
    await second.release();

    const election = client.election("npm-election");
    const campaign = election.campaign("candidate-1");
    await campaign.wait();
    assert.equal(await election.leader(), "candidate-1");
    await campaign.resign();
  } finally {
    client.close();
  }
});

test("Debian's python3-etcd3: watch, lease and lock", () => {
  const script = `
import etcd3, threading, time
host, port = "${ep[0]}".split(":")
c = etcd3.client(host=host, port=int(port))
events = []
def cb(resp):
    for e in resp.events: events.append((type(e).__name__, e.key.decode()))
wid = c.add_watch_prefix_callback("py/", cb)
c.put("py/a", "1")
c.delete("py/a")
for _ in range(50):
    if len(events) >= 2: break
    time.sleep(0.1)
c.cancel_watch(wid)
print(events)
lease = c.lease(30)
c.put("py/leased", "v", lease=lease)
print(c.get("py/leased")[0].decode(), lease.remaining_ttl > 0)
lease.revoke()
print(c.get("py/leased")[0])
lock = c.lock("py-lock", ttl=10)
print(lock.acquire(timeout=5), lock.is_acquired())
lock.release()
print(lock.is_acquired())
`;
  const r = spawnSync("/usr/bin/python3", ["-c", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "[('PutEvent', 'py/a'), ('DeleteEvent', 'py/a')]\nv True\nNone\nTrue True\nFalse\n");
});
