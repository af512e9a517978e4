/**
 * Membership changes with the real etcdctl against real member processes,
 * for both engines: add (voter and learner), a joining member catching up,
 * promote, update, remove (a follower and the leader), and etcd's errors.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { etcdctl, TestCluster } from "./cluster.js";

interface ListedMember {
  readonly ID: bigint;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly isLearner: boolean;
}

function memberList(endpoints: readonly string[]): ListedMember[] {
  const r = etcdctl(endpoints, ["member", "list", "-w", "json"]);
  assert.equal(r.status, 0, r.stderr);
  // ids exceed 2^53: read them as text before JSON.parse rounds them.
  const text = r.stdout.replace(/"ID":(\d+)/g, '"ID":"$1"');
  const parsed = JSON.parse(text) as { members: { ID: string; name?: string; peerURLs: string[]; isLearner?: boolean }[] };
  return parsed.members.map((m) => ({ ID: BigInt(m.ID), name: m.name ?? "", peerURLs: m.peerURLs, isLearner: m.isLearner === true }));
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function leaderIndex(cluster: TestCluster): number {
  for (let i = 0; i < cluster.members.length; i++) {
    const m = cluster.member(i);
    if (m.child === undefined) continue;
    const r = etcdctl([`127.0.0.1:${m.clientPort}`], ["endpoint", "status", "-w", "json"]);
    if (r.status !== 0) continue;
    const text = r.stdout.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"');
    const [s] = JSON.parse(text) as { Status: { header: { member_id: string }; leader: string } }[];
    if (s !== undefined && s.Status.header.member_id === s.Status.leader) return i;
  }
  return -1;
}

for (const consensus of ["raft", "paxos"] as const) {
  describe(`membership changes with etcdctl (${consensus})`, () => {
    let cluster: TestCluster | undefined;
    after(async () => cluster?.stop());

    it("adds a learner that catches up, promotes it, updates, removes a follower and the leader", async () => {
      cluster = await TestCluster.start({ size: 3, consensus });
      const c = cluster;
      const eps = c.endpoints();
      assert.equal(etcdctl(eps, ["put", "before", "v1"]).status, 0);
      assert.equal(memberList(eps).length, 3);

      // Bad ids and URLs get etcd's errors.
      const missing = etcdctl(eps, ["member", "remove", "1234abcd"]);
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /etcdserver: member not found/);
      // The JSON gateway routes the Cluster service too.
      const viaGateway = await fetch(`http://127.0.0.1:${c.member(0).clientPort}/v3/cluster/member/promote`, { method: "POST", body: JSON.stringify({ ID: "305441741" }) });
      assert.match(await viaGateway.text(), /etcdserver: member not found/);
      const notLearner = etcdctl(eps, ["member", "promote", memberList(eps)[0]!.ID.toString(16)]);
      assert.match(notLearner.stderr, /etcdserver: can only promote a learner member/);
      const taken = etcdctl(eps, ["member", "add", "dup", `--peer-urls=http://127.0.0.1:${c.member(0).peerPort}`]);
      assert.match(taken.stderr, /etcdserver: Peer URLs already exists/);

      // Add a learner: etcdctl prints what the new member must be started with.
      const base = await TestCluster.reservePorts();
      const peerUrl = `http://127.0.0.1:${base + 1}`;
      const added = etcdctl(eps, ["member", "add", "m4", `--peer-urls=${peerUrl}`, "--learner"]);
      assert.equal(added.status, 0, added.stderr);
      assert.match(added.stdout, /Member +[0-9a-f]+ added to cluster/); // etcdctl pads the id to 16 columns
      const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added.stdout)?.[1];
      assert.ok(initialCluster !== undefined, added.stdout);
      assert.ok(initialCluster.includes(`m4=${peerUrl}`), initialCluster);
      for (const m of c.members) assert.ok(initialCluster.includes(`${m.name}=http://127.0.0.1:${m.peerPort}`), initialCluster);
      assert.match(added.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
      const learner = memberList(eps).find((m) => m.peerURLs.includes(peerUrl));
      assert.ok(learner !== undefined && learner.isLearner && learner.name === "", "an unstarted learner is listed without a name");
      const second = etcdctl(eps, ["member", "add", "m5", `--peer-urls=http://127.0.0.1:${base + 2}`, "--learner"]);
      assert.match(second.stderr, /etcdserver: too many learner members in cluster/);

      // Promoting it before it has started is refused: it holds nothing yet.
      const early = etcdctl(eps, ["member", "promote", learner.ID.toString(16)]);
      assert.match(early.stderr, /etcdserver: can only promote a learner member which is in sync with leader/);

      // Start it as etcdctl said; it catches up and serves serializable reads.
      const i4 = c.addMemberProcess("m4", base, initialCluster);
      const own = [`127.0.0.1:${base}`];
      const caughtUp = await eventually("the learner to catch up", () => {
        const r = etcdctl(own, ["get", "before", "--print-value-only", "--consistency=s"]);
        return r.status === 0 && r.stdout.trim() === "v1" ? true : undefined;
      }).catch((error: unknown) => {
        throw new Error(`${String(error)}; its output:\n${c.member(i4).output}`);
      });
      process.stderr.write(`${consensus}: a new learner served a key written before it joined after ${caughtUp.ms} ms\n`);
      await eventually("m4 to publish its name", () => (memberList(eps).find((m) => m.ID === learner.ID)?.name === "m4" ? true : undefined));

      const promoted = await eventually("promotion", () => (etcdctl(eps, ["member", "promote", learner.ID.toString(16)]).status === 0 ? true : undefined));
      assert.ok(promoted.value);
      assert.equal(memberList(eps).find((m) => m.ID === learner.ID)?.isLearner, false);
      assert.equal(etcdctl(eps, ["put", "after", "v2"]).status, 0);
      assert.equal(etcdctl(own, ["get", "after", "--print-value-only"]).stdout.trim(), "v2");

      // Update: the peer URLs of a member change through the log.
      const updatedUrl = `http://127.0.0.1:${base + 1},http://localhost:${base + 1}`;
      const upd = etcdctl(eps, ["member", "update", learner.ID.toString(16), `--peer-urls=${updatedUrl}`]);
      assert.equal(upd.status, 0, upd.stderr);
      assert.deepEqual(memberList(eps).find((m) => m.ID === learner.ID)?.peerURLs, updatedUrl.split(","));

      // Remove a follower (not the one etcdctl talks to): it stops by itself, non-zero.
      let leader = leaderIndex(c);
      assert.ok(leader >= 0);
      const victim = [0, 1, 2].find((i) => i !== leader)!;
      const victimId = memberList(eps).find((m) => m.name === c.member(victim).name)!.ID;
      const others = c.endpoints().filter((_, i) => i !== victim);
      // Asked of the member being removed, the answer is etcd's: the member stopped.
      const removed = etcdctl([c.endpoints()[victim]!], ["member", "remove", victimId.toString(16)]);
      assert.notEqual(removed.status, 0);
      assert.match(removed.stderr, /etcdserver: server stopped/);
      assert.equal(memberList(others).length, 3);
      const exit = await eventually("the removed member to exit", () => c.member(victim).child?.exitCode ?? undefined);
      assert.equal(exit.value, 3);
      assert.match(c.member(victim).output, /was removed from the cluster/);
      c.member(victim).child = undefined;

      // Remove the leader: it hands over first, the new leader removes it.
      leader = leaderIndex(c);
      const leaderId = memberList(others).find((m) => m.name === c.member(leader).name)!.ID;
      const rest = c.endpoints().filter((_, i) => i !== victim && i !== leader);
      const removedLeader = etcdctl(rest, ["member", "remove", leaderId.toString(16)]);
      assert.equal(removedLeader.status, 0, removedLeader.stderr);
      assert.equal(memberList(rest).length, 2);
      assert.equal(etcdctl(rest, ["put", "last", "v3"]).status, 0);
      assert.ok(i4 >= 0);
      // A removed id is never reused.
      const again = etcdctl(rest, ["member", "add", "back", `--peer-urls=http://127.0.0.1:${c.member(victim).peerPort}`]);
      assert.match(again.stderr, /etcdserver: member not found/);
    });

    it("with --auto-promote, the leader promotes a learner once it is in sync", async () => {
      const c = await TestCluster.start({ size: 3, consensus, extraArgs: ["--auto-promote"] });
      try {
        const eps = c.endpoints();
        assert.equal(etcdctl(eps, ["put", "k", "v"]).status, 0);
        const base = await TestCluster.reservePorts();
        const added = etcdctl(eps, ["member", "add", "m4", `--peer-urls=http://127.0.0.1:${base + 1}`, "--learner"]);
        assert.equal(added.status, 0, added.stderr);
        const id = BigInt(`0x${/Member +([0-9a-f]+) added/.exec(added.stdout)?.[1] ?? "0"}`);
        // Not started: it holds nothing, so it stays a learner.
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(memberList(eps).find((m) => m.ID === id)?.isLearner, true);
        c.addMemberProcess("m4", base, /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added.stdout)?.[1] ?? "", ["--auto-promote"]);
        const promoted = await eventually("auto-promotion", () => (memberList(eps).find((m) => m.ID === id)?.isLearner === false ? true : undefined));
        process.stderr.write(`${consensus}: auto-promoted a new learner ${promoted.ms} ms after it started\n`);
      } finally {
        await c.stop();
      }
    });

    it("a removed member restarted on its old data cannot disrupt the cluster", async () => {
      const c = await TestCluster.start({ size: 3, consensus });
      try {
        const eps = c.endpoints();
        // Each member publishes its name through the log after it starts.
        const { value: target } = await eventually("m3 to publish its name", () => memberList(eps).find((m) => m.name === "m3"));
        await c.kill(2);
        const live = eps.slice(0, 2);
        const removed = etcdctl(live, ["member", "remove", target.ID.toString(16), "--command-timeout=15s"]);
        assert.equal(removed.status, 0, `${removed.stderr}\n${c.members.slice(0, 2).map((m) => m.output).join("\n")}`);
        const termOf = (): number => {
          const r = etcdctl([live[0]!], ["endpoint", "status", "-w", "json"]);
          return (JSON.parse(r.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as { Status: { raftTerm: number } }[])[0]!.Status.raftTerm;
        };
        const termBefore = termOf();
        c.spawn(2); // old data: it still believes it is a voter and will campaign
        for (let i = 0; i < 10; i++) {
          assert.equal(etcdctl(live, ["put", `k${i}`, "v"]).status, 0);
          await new Promise((r) => setTimeout(r, 400));
        }
        assert.equal(termOf(), termBefore, "the removed member's campaigns must not raise the cluster's term");
        assert.equal(memberList(live).length, 2);
        assert.match(c.members.slice(0, 2).map((m) => m.output).join(""), /not admitted \(removed from the cluster\)/);
      } finally {
        await c.stop();
      }
    });
  });
}
