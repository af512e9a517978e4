import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

test("the leader serves a read at its commit index after a quorum confirms its ballot", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  const commit = c.engine(1).status().commitIndex;
  assert.ok(commit >= 1);
  c.filter = (m) => m.type !== "heartbeatResponse";
  assert.deepEqual(c.engine(1).readIndex(1), { ok: true });
  c.stabilize();
  assert.deepEqual(c.reads.get(nodeId(1)), [], "no read point without the quorum round");
  c.heal();
  c.tick();
  assert.deepEqual(c.reads.get(nodeId(1)), [{ requestId: 1, index: commit }]);
  // No log write for a read.
  assert.equal(c.engine(1).status().lastIndex, commit);
});

test("a follower forwards a read to the leader and gets the leader's read point", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  c.engine(1).propose(bytes("a"));
  c.stabilize();
  const commit = c.engine(1).status().commitIndex;
  assert.deepEqual(c.engine(2).readIndex(5), { ok: true });
  c.stabilize();
  assert.deepEqual(c.reads.get(nodeId(2)), [{ requestId: 5, index: commit }]);
});

test("reads are refused or dropped when no leader can serve them", () => {
  const c = new Cluster([1, 2, 3], { config: { readsPendingMax: 2 } });
  assert.deepEqual(c.engine(2).readIndex(1), { ok: false, reason: "noLeader", leader: 0 });
  c.campaign(1);
  c.tick();
  c.isolate(1);
  assert.deepEqual(c.engine(1).readIndex(2), { ok: true });
  assert.deepEqual(c.engine(1).readIndex(3), { ok: true });
  assert.deepEqual(c.engine(1).readIndex(4), { ok: false, reason: "readsPendingMax", leader: 1 });
  c.stabilize();
  assert.deepEqual(c.reads.get(nodeId(1)), []);
  c.tick(25); // the isolated leader steps down and gives up its reads
  assert.notEqual(c.engine(1).status().role, "leader");
  assert.deepEqual(c.dropped.get(nodeId(1)), [2, 3]);
  assert.deepEqual(c.reads.get(nodeId(1)), []);
});

test("a forwarded read is dropped when the leader changes", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  c.filter = (m) => m.type !== "readIndex";
  assert.deepEqual(c.engine(3).readIndex(9), { ok: true });
  c.stabilize();
  c.heal();
  c.campaign(2);
  assert.deepEqual(c.dropped.get(nodeId(3)), [9]);
});

test("a deposed leader cannot serve a stale read; the planted fault does (the check can fail)", () => {
  for (const faulty of [false, true]) {
    const c = new Cluster([1, 2, 3], faulty ? { faults: { readWithoutBallotCheck: true } } : {});
    c.campaign(1);
    c.tick();
    c.isolate(1);
    c.campaign(2);
    c.engine(2).propose(bytes("new"));
    c.stabilize();
    c.tick();
    const chosen = c.engine(2).status().commitIndex;
    c.engine(1).readIndex(1);
    c.stabilize();
    const stale = (c.reads.get(nodeId(1)) ?? []).filter((r) => r.index < chosen);
    if (faulty) assert.equal(stale.length, 1, "the fault serves a read that misses a chosen write");
    else assert.deepEqual(stale, []);
  }
});
