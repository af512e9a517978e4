import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RawClient, isGrpcError } from "../api/harness.js";
import { etcdctl, TestCluster } from "./cluster.js";

/** Maintenance.MoveLeader: etcdctl move-leader against a real 3-process cluster. */
let cluster: TestCluster;
let ep: string[];

before(async () => {
  cluster = await TestCluster.start();
  ep = cluster.endpoints();
});
after(async () => {
  await cluster.stop();
});

interface EndpointStatus {
  readonly Endpoint: string;
  readonly Status: { readonly header: { readonly member_id: number | string }; readonly leader: number | string };
}

/** statuses reads every member's status; ids as hex, as etcdctl prints them elsewhere. */
function statuses(): { endpoint: string; memberId: string; leader: string }[] {
  const r = etcdctl(ep, ["endpoint", "status", "-w", "json"]);
  assert.equal(r.status, 0, r.stderr);
  // -w json prints uint64 ids as JSON numbers that may exceed 2^53: read them as text.
  const exact = r.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"');
  return (JSON.parse(exact) as EndpointStatus[]).map((s) => ({
    endpoint: s.Endpoint,
    memberId: BigInt(s.Status.header.member_id).toString(16),
    leader: BigInt(s.Status.leader).toString(16),
  }));
}

async function agreedLeader(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const all = statuses();
    const leader = all[0]?.leader;
    if (leader !== undefined && leader !== "0" && all.every((s) => s.leader === leader)) return leader;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("members do not agree on a leader");
}

test("move-leader hands leadership to a follower; endpoint status shows the new leader", async () => {
  const before = await agreedLeader();
  const follower = statuses().find((s) => s.memberId !== before);
  assert.ok(follower !== undefined);
  const r = etcdctl(ep, ["move-leader", follower.memberId]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `Leadership transferred from ${before} to ${follower.memberId}\n`);
  assert.equal(await agreedLeader(), follower.memberId);
  assert.equal(etcdctl(ep, ["put", "after-move", "v"]).stdout, "OK\n");
});

test("move-leader to an unknown member answers etcd's bad leader transferee", async () => {
  await agreedLeader();
  const r = etcdctl(ep, ["move-leader", "1234abcd"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /etcdserver: bad leader transferee/);
});

test("a follower refuses MoveLeader with etcd's not leader (FAILED_PRECONDITION)", async () => {
  const leader = await agreedLeader();
  const follower = statuses().find((s) => s.memberId !== leader);
  assert.ok(follower !== undefined);
  const client = new RawClient(follower.endpoint);
  try {
    await assert.rejects(client.call("etcdserverpb.Maintenance", "MoveLeader", { targetID: BigInt(`0x${follower.memberId}`).toString() }), (error: unknown) => {
      assert.ok(isGrpcError(error));
      assert.equal(error.code, 9);
      assert.equal(error.details, "etcdserver: not leader");
      return true;
    });
  } finally {
    client.close();
  }
});
