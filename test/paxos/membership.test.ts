import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import type { ConfChange, Membership } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

const n = nodeId;

/** settle delivers everything, then ticks long enough for lost batches to be resent and commits to spread. */
function settle(c: Cluster): void {
  c.stabilize();
  c.tick(6);
}

function membershipOf(c: Cluster, id: number): Membership {
  return c.engine(id).status().membership;
}

test("joint-consensus membership change: add a learner, promote it, remove the leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  settle(c);

  // 1. A brand-new node joins as a learner: it gets the initial configuration by snapshot, then the log.
  c.addNode(4);
  const addLearner: ConfChange = { ops: [{ type: "addLearner", node: n(4) }] };
  assert.ok(c.engine(1).proposeConfChange(addLearner).ok);
  assert.deepEqual(c.engine(1).proposeConfChange({ ops: [{ type: "addLearner", node: n(5) }] }), {
    ok: false,
    reason: "confChangePending",
    leader: 1,
  });
  settle(c);
  for (const id of [1, 2, 3, 4]) {
    assert.deepEqual(membershipOf(c, id), { voters: [1, 2, 3], votersOutgoing: [], learners: [4] }, `node ${id}`);
  }
  assert.deepEqual(c.values(4), ["a"], "the learner learns chosen values");

  // 2. A learner never counts: with voters 2 and 3 cut off nothing is chosen, though node 4 accepts.
  c.isolate(2);
  c.isolate(3);
  c.cut.delete("1>4");
  c.cut.delete("4>1");
  const rb = c.engine(1).propose(bytes("b"));
  c.stabilize();
  assert.ok(rb.ok);
  assert.ok(c.engine(1).status().commitIndex < rb.index, "leader + learner is not a quorum");
  assert.equal(c.engine(4).entryAt(rb.index)?.type, "normal", "the learner did accept the value");
  assert.equal(c.engine(4).status().role, "follower");
  c.heal();
  settle(c);
  assert.deepEqual(c.values(4), ["a", "b"]);

  // 3. Promote: a voter change goes joint, and the leader leaves the joint configuration itself.
  assert.ok(c.engine(1).proposeConfChange({ ops: [{ type: "addVoter", node: n(4) }] }).ok);
  c.stabilize();
  settle(c);
  for (const id of [1, 2, 3, 4]) {
    assert.deepEqual(membershipOf(c, id), { voters: [1, 2, 3, 4], votersOutgoing: [], learners: [] }, `node ${id}`);
  }
  const configs = (c.applied.get(n(2)) ?? []).filter((e) => e.type === "config");
  assert.deepEqual(
    configs.map((e) => (e.type === "config" ? e.change.ops.length : -1)),
    [1, 1, 0],
    "learner, joint, leave-joint (empty ops, proposed automatically)",
  );

  // 4. Remove the leader: once the change is chosen it stops leading and a remaining voter takes over.
  assert.ok(c.engine(1).proposeConfChange({ ops: [{ type: "removeNode", node: n(1) }] }).ok);
  settle(c);
  c.tick(40);
  for (const id of [2, 3, 4]) {
    assert.deepEqual(membershipOf(c, id), { voters: [2, 3, 4], votersOutgoing: [], learners: [] }, `node ${id}`);
  }
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  assert.ok(leaders[0] !== undefined && leaders[0] !== 1);
  assert.notEqual(c.engine(1).status().role, "candidate");
  assert.ok(c.engine(leaders[0]).propose(bytes("c")).ok);
  settle(c);
  for (const id of [2, 3, 4]) assert.deepEqual(c.values(id), ["a", "b", "c"], `node ${id}`);
  c.checkAgreement();
});

test("while joint, every decision needs both majorities", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  settle(c);
  for (const id of [4, 5]) c.addNode(id);
  // Replace 2 and 3 by 4 and 5 in one change. The joint entry's own slot is governed by the
  // old configuration, so {1, 2, 3} chooses it even with 4 and 5 cut off.
  const change: ConfChange = {
    ops: [
      { type: "addVoter", node: n(4) },
      { type: "addVoter", node: n(5) },
      { type: "removeNode", node: n(2) },
      { type: "removeNode", node: n(3) },
    ],
  };
  assert.ok(c.engine(1).proposeConfChange(change).ok);
  c.isolate(4);
  c.isolate(5);
  c.stabilize();
  c.tick(2);
  assert.deepEqual(membershipOf(c, 1), { voters: [1, 4, 5], votersOutgoing: [1, 2, 3], learners: [] });
  // Every later slot needs a majority of {1, 4, 5} too: neither the automatic leave-joint entry
  // nor a client value is chosen by the old voters alone.
  const r = c.engine(1).propose(bytes("x"));
  assert.ok(r.ok);
  c.stabilize();
  c.tick(2);
  assert.ok(c.engine(1).status().commitIndex < r.index);
  assert.deepEqual(c.values(2), []);
  c.heal();
  c.stabilize();
  c.tick(3);
  assert.deepEqual(membershipOf(c, 1), { voters: [1, 4, 5], votersOutgoing: [], learners: [] });
  for (const id of [1, 4, 5]) assert.deepEqual(c.values(id), ["x"], `node ${id}`);
  c.checkAgreement();
});

test("invalid changes are refused with a typed result", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  assert.deepEqual(c.engine(1).proposeConfChange({ ops: [{ type: "addVoter", node: n(2) }] }), {
    ok: false,
    reason: "invalidConfChange",
    leader: 1,
  });
  assert.deepEqual(c.engine(1).proposeConfChange({ ops: [] }), { ok: false, reason: "invalidConfChange", leader: 1 });
  assert.deepEqual(c.engine(2).proposeConfChange({ ops: [{ type: "removeNode", node: n(3) }] }).ok, false);
});

test("a leader never chooses its own removal: it hands over, and the next leader leaves the joint configuration", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  settle(c);
  const ballot1 = c.engine(1).status().term;
  assert.ok(c.engine(1).proposeConfChange({ ops: [{ type: "removeNode", node: n(1) }] }).ok);
  settle(c);
  c.tick(40);
  const leaveSentBy1 = c.sent.some(
    (m) => m.type === "accept" && m.from === 1 && m.ballot === ballot1 && m.entries.some((e) => e.type === "config" && e.change.ops.length === 0),
  );
  assert.equal(leaveSentBy1, false, "node 1 never ran phase 2 for the entry that removes it");
  for (const id of [2, 3]) {
    assert.deepEqual(membershipOf(c, id), { voters: [2, 3], votersOutgoing: [], learners: [] }, `node ${id}`);
  }
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  const l = leaders[0] ?? 0;
  assert.ok(l === 2 || l === 3, "a voter of the new configuration leads");
  // The removed node may now disappear: the remaining voters know the change is chosen.
  c.crash(1);
  assert.ok(c.engine(l).propose(bytes("b")).ok);
  settle(c);
  for (const id of [2, 3]) assert.deepEqual(c.values(id), ["a", "b"], `node ${id}`);
  c.checkAgreement();
});
