import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

test("a single voter elects itself and commits at once", () => {
  const c = new Cluster([1]);
  c.campaign(1);
  assert.equal(c.engine(1).status().role, "leader");
  const r = c.engine(1).propose(bytes("a"));
  assert.equal(r.ok, true);
  c.stabilize();
  assert.deepEqual(c.appliedData(1), ["a"]);
});

test("three voters elect one leader and every node applies the same entries in order", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  assert.equal(c.leader(), 1);
  for (const v of ["a", "b", "c"]) assert.equal(c.engine(1).propose(bytes(v)).ok, true);
  c.stabilize();
  c.tick(2); // heartbeats carry the final commit index
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ["a", "b", "c"]);
});

test("a follower refuses proposals and names the leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  const r = c.engine(2).propose(bytes("x"));
  assert.deepEqual(r, { ok: false, reason: "notLeader", leader: 1 });
});

test("pre-vote keeps a partitioned node from inflating its term", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  const termBefore = c.engine(3).status().term;
  c.isolate(3);
  c.tick(100);
  assert.equal(c.engine(3).status().term, termBefore);
  c.heal();
  c.tick(5);
  assert.equal(c.leader(), 1, "the healed node did not depose the leader");
});

test("check-quorum makes an isolated leader step down", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(1);
  c.tick(40);
  assert.notEqual(c.engine(1).status().role, "leader");
  const leader = c.leader();
  assert.ok(leader === 2 || leader === 3, `a new leader among the connected pair, got ${leader}`);
});

test("a proposal beyond the uncommitted byte limit is rejected with a typed result", () => {
  const c = new Cluster([1, 2, 3], { uncommittedBytesMax: 200 });
  c.campaign(1);
  c.isolate(1);
  let rejected = false;
  for (let i = 0; i < 10; i++) {
    const r = c.engine(1).propose(new Uint8Array(64));
    if (!r.ok) {
      assert.equal(r.reason, "uncommittedBytesMax");
      rejected = true;
    }
  }
  assert.ok(rejected);
});

test("an oversized entry is rejected", () => {
  const c = new Cluster([1], { entryBytesMax: 10 });
  c.campaign(1);
  const r = c.engine(1).propose(new Uint8Array(11));
  assert.deepEqual(r, { ok: false, reason: "entryBytesMax", leader: 1 });
});

test("ReadIndex on the leader waits for a quorum round; on a follower it is forwarded", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  assert.deepEqual(c.engine(1).readIndex(7), { ok: true });
  assert.equal(c.reads.get(nodeId(1))?.length, 0, "no read state before the heartbeat round");
  c.stabilize();
  const commit = c.engine(1).status().commitIndex;
  assert.deepEqual(c.reads.get(nodeId(1)), [{ requestId: 7, index: commit }]);
  c.engine(2).readIndex(8);
  c.stabilize();
  assert.deepEqual(c.reads.get(nodeId(2)), [{ requestId: 8, index: commit }]);
});

test("ReadIndex on an isolated leader never completes, and is dropped when it steps down", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(1);
  c.engine(1).readIndex(9);
  c.tick(40);
  assert.deepEqual(c.reads.get(nodeId(1)), []);
  assert.deepEqual(c.dropped.get(nodeId(1)), [9]);
});

test("a lagging follower catches up from a snapshot after compaction", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(3);
  for (let i = 0; i < 20; i++) c.engine(1).propose(bytes(`v${i}`));
  c.stabilize();
  const applied = c.engine(1).status().appliedIndex;
  assert.deepEqual(c.engine(1).compact(applied, bytes("state")), { ok: true });
  c.heal();
  c.tick(5);
  const disk = c.disks.get(nodeId(3));
  assert.equal(disk?.snapshot?.meta.index, applied);
  assert.equal(c.engine(3).status().appliedIndex, c.engine(1).status().appliedIndex);
});

test("membership: add a learner, promote it through a joint configuration, remove a voter", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.addNode(nodeId(4));
  assert.equal(c.engine(1).proposeConfChange({ ops: [{ type: "addLearner", node: nodeId(4) }] }).ok, true);
  c.tick(3);
  assert.deepEqual(c.engine(4).status().membership.learners, [4]);
  assert.equal(c.engine(1).transferLeadership(nodeId(4)).ok, false, "no transfer to a learner");
  const promote = c.engine(1).proposeConfChange({ ops: [{ type: "addVoter", node: nodeId(4) }, { type: "removeNode", node: nodeId(2) }] });
  assert.equal(promote.ok, true);
  c.tick(5);
  for (const id of [1, 3, 4]) {
    const m = c.engine(id).status().membership;
    assert.deepEqual(m, { voters: [1, 3, 4], votersOutgoing: [], learners: [] }, `node ${id}`);
  }
  assert.equal(c.engine(1).propose(bytes("after")).ok, true);
  c.tick(3);
  assert.deepEqual(c.appliedData(4).at(-1), "after");
});

test("a second change waits until the first is committed", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(1);
  assert.equal(c.engine(1).proposeConfChange({ ops: [{ type: "addLearner", node: nodeId(4) }] }).ok, true);
  const second = c.engine(1).proposeConfChange({ ops: [{ type: "addLearner", node: nodeId(5) }] });
  assert.deepEqual(second, { ok: false, reason: "confChangePending", leader: 1 });
});

test("invalid membership changes are refused and change nothing", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  const before = c.engine(1).status();
  for (const ops of [
    [{ type: "removeNode" as const, node: nodeId(9) }],
    [{ type: "addVoter" as const, node: nodeId(2) }],
    [{ type: "addLearner" as const, node: nodeId(2) }],
    [],
  ]) {
    assert.deepEqual(c.engine(1).proposeConfChange({ ops }), { ok: false, reason: "invalidConfChange", leader: 1 });
  }
  assert.equal(c.engine(1).status().lastIndex, before.lastIndex);
});

test("removing the leader: it keeps leading until the change commits, then steps down", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  assert.equal(c.engine(1).proposeConfChange({ ops: [{ type: "removeNode", node: nodeId(1) }] }).ok, true);
  c.tick(3);
  assert.notEqual(c.engine(1).status().role, "leader");
  c.tick(60);
  const leader = c.leader();
  assert.ok(leader === 2 || leader === 3, `a remaining voter leads, got ${leader}`);
});

test("leadership transfer to a caught-up follower", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(3)), { ok: true });
  c.stabilize();
  assert.equal(c.leader(), 3);
});

test("leadership transfer waits for a lagging follower to catch up", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(3);
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  assert.deepEqual(c.engine(1).transferLeadership(nodeId(3)), { ok: true });
  assert.deepEqual(c.engine(1).propose(bytes("b")), { ok: false, reason: "transferring", leader: 1 });
  c.stabilize();
  assert.equal(c.leader(), 1, "not transferred while 3 is cut off");
  c.heal();
  c.tick(1);
  assert.equal(c.leader(), 3);
});

test("a restarted node remembers its vote and term", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  const term = c.engine(2).status().term;
  c.crash(nodeId(2));
  c.start(nodeId(2));
  assert.equal(c.engine(2).status().term, term);
  assert.equal(c.disks.get(nodeId(2))?.hardState.vote, 1);
});

test("a follower with a divergent uncommitted suffix is repaired by the new leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.isolate(1);
  for (let i = 0; i < 5; i++) c.engine(1).propose(bytes(`lost${i}`));
  c.stabilize();
  c.tick(40);
  const leader = c.leader();
  assert.ok(leader !== undefined && leader !== 1);
  c.engine(leader).propose(bytes("kept"));
  c.heal();
  c.tick(30);
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ["kept"], `node ${id}`);
  assert.equal(c.engine(1).status().lastIndex, c.engine(leader).status().lastIndex);
});
