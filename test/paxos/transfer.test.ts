import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

test("leadership transfer refuses followers, self, learners and unknown nodes", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.addNode(4);
  assert.ok(c.engine(1).proposeConfChange({ ops: [{ type: "addLearner", node: nodeId(4) }] }).ok);
  c.stabilize();
  c.tick(6);
  assert.deepEqual(c.engine(2).transferLeadership(nodeId(3)), { ok: false, reason: "notLeader" });
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(1)), { ok: false, reason: "self" });
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(4)), { ok: false, reason: "learner" });
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(9)), { ok: false, reason: "unknownNode" });
  assert.deepEqual(c.leaders(), [1]);
});

test("leadership transfer waits until the target is caught up, then it starts phase 1 at once", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  // Node 3 misses a few values.
  c.filter = (m) => !(m.type === "accept" && m.to === 3);
  for (const v of ["a", "b", "c"]) c.engine(1).propose(bytes(v));
  c.stabilize();
  c.sent.length = 0;
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(3)), { ok: true });
  c.stabilize();
  assert.ok(!c.sent.some((m) => m.type === "timeoutNow"), "no TimeoutNow to a lagging target");
  assert.deepEqual(c.engine(1).propose(bytes("x")), { ok: false, reason: "transferring", leader: 1 });
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(2)), { ok: false, reason: "transferring" });
  c.heal();
  c.tick(4); // node 3 catches up; the leader then sends TimeoutNow; node 3 wins phase 1 without waiting for a timeout
  const timeoutNow = c.sent.findIndex((m) => m.type === "timeoutNow" && m.to === 3);
  assert.ok(timeoutNow >= 0);
  assert.deepEqual(c.leaders(), [3]);
  assert.ok(c.engine(3).propose(bytes("d")).ok);
  c.stabilize();
  c.tick();
  for (const id of [1, 2, 3]) assert.deepEqual(c.values(id), ["a", "b", "c", "d"], `node ${id}`);
  c.checkAgreement();
});

test("a transfer that does not complete in an election timeout is abandoned and proposals resume", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  c.filter = (m) => m.type !== "timeoutNow";
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(2)), { ok: true });
  assert.equal(c.engine(1).propose(bytes("x")).ok, false);
  c.tick(10);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(c.engine(1).propose(bytes("x")).ok, true);
});
