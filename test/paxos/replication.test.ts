import assert from "node:assert/strict";
import { test } from "node:test";
import { ballotNode } from "../../src/consensus/paxos/ballot.js";
import type { PaxosMessage } from "../../src/consensus/paxos/messages.js";
import { bytes, Cluster } from "./harness.js";

test("proposals are chosen and applied in slot order on every node", () => {
  const c = new Cluster([1, 2, 3, 4, 5]);
  c.campaign(1);
  const values = ["a", "b", "c", "d", "e", "f"];
  const results = values.map((v) => c.engine(1).propose(bytes(v)));
  for (const [i, r] of results.entries()) {
    assert.ok(r.ok);
    assert.equal(r.term, c.engine(1).status().term, "ok results carry the ballot");
    if (i > 0) assert.equal(r.index, (results[i - 1] as { index: number }).index + 1, "consecutive slots");
  }
  c.stabilize();
  c.tick(); // the heartbeat carries the final commit index
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(c.values(id), values, `node ${id}`);
  c.checkAgreement();
});

test("a follower refuses proposals and names the leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  assert.deepEqual(c.engine(2).propose(bytes("x")), { ok: false, reason: "notLeader", leader: 1 });
  // A candidate knows no leader.
  c.isolate(3);
  c.campaign(3);
  assert.deepEqual(c.engine(3).propose(bytes("x")), { ok: false, reason: "notLeader", leader: 0 });
});

test("accept batches respect appendEntriesMax and the in-flight bound, and lost batches are resent", () => {
  const c = new Cluster([1, 2, 3], { config: { appendEntriesMax: 2, inflightMessagesMax: 2 } });
  c.campaign(1);
  c.tick();
  c.sent.length = 0;
  // Lose everything to node 3 for a while.
  c.filter = (m) => m.to !== 3;
  for (let i = 0; i < 10; i++) c.engine(1).propose(bytes(`v${i}`));
  c.stabilize();
  const accepts = c.sent.filter((m): m is Extract<PaxosMessage, { type: "accept" }> => m.type === "accept");
  assert.ok(accepts.every((m) => m.entries.length <= 2), "no batch above appendEntriesMax");
  const toThree = accepts.filter((m) => m.to === 3);
  assert.ok(toThree.length <= 2, `at most 2 unacknowledged batches to node 3, saw ${toThree.length}`);
  c.heal();
  c.tick(8); // heartbeat replies show node 3 behind; the leader resends
  assert.deepEqual(c.values(3), c.values(1));
  assert.equal(c.values(3).length, 10);
  c.checkAgreement();
});

test("a higher ballot deposes the leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  const old = c.engine(1).status().term;
  c.campaign(2);
  assert.deepEqual(c.leaders(), [2]);
  assert.equal(c.engine(1).status().role, "follower");
  assert.ok(c.engine(1).status().term > old, "node 1 promised the higher ballot");
  c.tick();
  assert.deepEqual(c.engine(1).propose(bytes("x")), { ok: false, reason: "notLeader", leader: 2 });
  assert.ok(c.engine(2).propose(bytes("y")).ok);
  c.stabilize();
  c.tick();
  for (const id of [1, 2, 3]) assert.deepEqual(c.values(id), ["y"]);
});

test("a leader that hears of a higher ballot through a nack stops leading", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  // Node 2 runs phase 1 but its messages to node 1 are lost: node 1 still thinks it leads.
  c.filter = (m) => m.to !== 1;
  c.campaign(2);
  assert.equal(c.engine(1).status().role, "leader");
  c.heal();
  c.engine(1).propose(bytes("stale")); // its accepts are refused with nacks
  c.stabilize();
  assert.equal(c.engine(1).status().role, "follower");
  c.tick(3);
  for (const id of [1, 2, 3]) assert.ok(!c.values(id).includes("stale"));
});

test("duelling proposers converge on one leader thanks to randomized backoff", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const c = new Cluster([1, 2, 3], { seed });
    // Everyone times out at once, repeatedly, with all prepares crossing in flight.
    for (let round = 0; round < 3; round++) {
      for (const id of [1, 2, 3]) c.engine(id).tick();
      for (let i = 0; i < 30; i++) for (const id of [1, 2, 3]) c.engine(id).tick();
      c.process();
      c.stabilize();
    }
    c.tick(60);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1, `seed ${seed}: one leader, got ${leaders.join(",")}`);
    const leader = leaders[0] ?? 0;
    for (const id of [1, 2, 3]) {
      assert.equal(c.engine(id).status().leader, leader, `seed ${seed}: node ${id} follows the leader`);
      assert.equal(ballotNode(c.engine(id).status().term), leader);
    }
    assert.ok(c.engine(leader).propose(bytes("after")).ok);
    c.stabilize();
    c.tick();
    for (const id of [1, 2, 3]) assert.deepEqual(c.values(id), ["after"], `seed ${seed}: node ${id}`);
  }
});

test("an isolated leader steps down after an election timeout without a quorum", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(1);
  c.tick(25);
  assert.notEqual(c.engine(1).status().role, "leader");
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  assert.ok(leaders[0] === 2 || leaders[0] === 3);
});

test("a proposal beyond the uncommitted byte limit is rejected with a typed result, never dropped", () => {
  const c = new Cluster([1, 2, 3], { config: { uncommittedBytesMax: 100, entryBytesMax: 60 } });
  c.campaign(1);
  c.tick();
  assert.deepEqual(c.engine(1).propose(new Uint8Array(61)), { ok: false, reason: "entryBytesMax", leader: 1 });
  c.isolate(1);
  const results = [];
  for (let i = 0; i < 5; i++) results.push(c.engine(1).propose(new Uint8Array(40)));
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, true, false, false, false],
  );
  assert.deepEqual(results[2], { ok: false, reason: "uncommittedBytesMax", leader: 1 });
  c.heal();
  c.stabilize();
  c.tick();
  // Once decided, the budget is free again.
  assert.ok(c.engine(1).propose(new Uint8Array(40)).ok);
  c.stabilize();
  c.tick();
  assert.equal(c.applied.get(c.engine(2).status().id)?.filter((e) => e.type === "normal" && e.data.length === 40).length, 3);
});
