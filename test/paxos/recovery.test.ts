import assert from "node:assert/strict";
import { test } from "node:test";
import { makeBallot } from "../../src/consensus/paxos/ballot.js";
import { PhaseOne } from "../../src/consensus/paxos/proposer.js";
import { logIndex, nodeId } from "../../src/consensus/types.js";
import type { Entry, Membership } from "../../src/consensus/types.js";
import { bytes, Cluster, text } from "./harness.js";

const three: Membership = { voters: [1, 2, 3].map(nodeId), votersOutgoing: [], learners: [] };

function normal(index: number, ballot: number, data: string): Entry {
  return { index: logIndex(index), term: makeBallot(ballot, nodeId(1)), type: "normal", data: bytes(data) };
}

test("phase 1 recovery: highest ballot per slot, chosen values win, holes become no-ops", () => {
  const b = makeBallot(9, nodeId(3));
  const p1 = new PhaseOne(b, logIndex(5), three);
  // Node 1 accepted slots 5..6 under round 2; its commit says slot 5 is chosen.
  p1.add(nodeId(1), [normal(5, 2, "chosen"), normal(6, 2, "old")], logIndex(5), true, false);
  assert.equal(p1.won({ minority: false }), false, "one promise of three is not a quorum");
  // Node 2 accepted slot 5 under a higher round (a value that was never chosen) and slot 6 and 8.
  p1.add(nodeId(2), [normal(5, 4, "loser"), normal(6, 4, "newer"), normal(8, 4, "late")], logIndex(0), true, false);
  assert.equal(p1.won({ minority: false }), true);
  const rec = p1.recovered();
  assert.deepEqual(
    rec.map((e) => [e.index, e.type === "normal" ? text(e.data) : "config", e.term]),
    [
      [5, "chosen", b],
      [6, "newer", b],
      [7, "", b],
      [8, "late", b],
    ],
  );
});

test("phase 1 needs a quorum of every configuration the recovered slots bring in", () => {
  const b = makeBallot(3, nodeId(1));
  const p1 = new PhaseOne(b, logIndex(1), three);
  const joint: Entry = {
    index: logIndex(1),
    term: makeBallot(2, nodeId(1)),
    type: "config",
    change: { ops: [{ type: "addVoter", node: nodeId(4) }, { type: "addVoter", node: nodeId(5) }, { type: "removeNode", node: nodeId(1) }, { type: "removeNode", node: nodeId(2) }] },
  };
  p1.add(nodeId(1), [joint], logIndex(0), true, false);
  p1.add(nodeId(2), [], logIndex(0), true, false);
  // {1,2} is a majority of the old voters, but the recovered joint config needs {3,4,5} too.
  assert.equal(p1.won({ minority: false }), false);
  assert.deepEqual(p1.voters(), [1, 2, 3, 4, 5]);
  p1.add(nodeId(4), [], logIndex(0), true, false);
  assert.equal(p1.won({ minority: false }), false);
  p1.add(nodeId(5), [], logIndex(0), true, false);
  assert.equal(p1.won({ minority: false }), true);
});

/**
 * setUpCrash: leader 1 of five gets "a" and "b" accepted by {1,2,3} (chosen, but
 * node 1 never hears it) and "c" accepted by {1,2} only, then crashes.
 */
function setUpCrash(c: Cluster): { slotA: number } {
  c.campaign(1);
  c.tick();
  c.filter = (m) => !(m.type === "accepted" || m.type === "heartbeatResponse" || (m.type === "accept" && (m.to === 4 || m.to === 5)));
  const ra = c.engine(1).propose(bytes("a"));
  c.engine(1).propose(bytes("b"));
  c.stabilize();
  c.filter = (m) => !(m.type === "accepted" || m.type === "heartbeatResponse" || (m.type === "accept" && m.to !== 2));
  c.engine(1).propose(bytes("c"));
  c.stabilize();
  assert.ok(ra.ok);
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(c.values(id), [], "nothing is known chosen yet");
  c.crash(1);
  c.heal();
  return { slotA: ra.index };
}

test("a new leader recovers accepted-but-unchosen values and re-proposes them under its own ballot", () => {
  const c = new Cluster([1, 2, 3, 4, 5]);
  const { slotA } = setUpCrash(c);
  c.campaign(4);
  assert.deepEqual(c.leaders(), [4]);
  c.tick(2);
  for (const id of [2, 3, 4, 5]) assert.deepEqual(c.values(id), ["a", "b", "c"], `node ${id}`);
  const e = c.engine(5).entryAt(logIndex(slotA));
  assert.ok(e !== undefined && e.type === "normal");
  assert.equal(text(e.data), "a", "same data at the slot the first leader reported");
  assert.equal(e.term, c.engine(4).status().term, "re-proposed under the new ballot");
  assert.ok(c.engine(4).propose(bytes("d")).ok);
  c.stabilize();
  c.tick();
  for (const id of [2, 3, 4, 5]) assert.deepEqual(c.values(id), ["a", "b", "c", "d"]);
  c.checkAgreement();
});

test("without recovery (planted fault) a chosen value is lost: the recovery test can fail", () => {
  const c = new Cluster([1, 2, 3, 4, 5], { faults: { skipRecoveryOfAcceptedValues: true } });
  setUpCrash(c);
  c.campaign(4);
  c.engine(4).propose(bytes("x"));
  c.stabilize();
  c.tick(2);
  assert.notDeepEqual(c.values(2), ["a", "b", "c", "x"], "the fault overwrote the chosen values");
});

test("a new leader serves reads only once every recovered slot is chosen", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  c.tick();
  // "a" reaches node 2 only; node 1 never learns it is chosen.
  c.filter = (m) => !(m.type === "accepted" || m.type === "heartbeatResponse" || (m.type === "accept" && m.to === 3));
  const ra = c.engine(1).propose(bytes("a"));
  c.stabilize();
  assert.ok(ra.ok);
  c.crash(1);
  // Node 3 wins phase 1 with node 2's promise, but its accepts are lost for now.
  c.filter = (m) => !(m.type === "accept" && m.from === 3);
  c.campaign(3);
  assert.deepEqual(c.leaders(), [3]);
  assert.equal(c.engine(3).status().commitIndex < ra.index, true);
  assert.deepEqual(c.engine(3).readIndex(7), { ok: true });
  c.stabilize();
  assert.deepEqual(c.reads.get(nodeId(3)), [], "no read point before recovery is chosen");
  c.heal();
  c.tick(3);
  const reads = c.reads.get(nodeId(3)) ?? [];
  assert.equal(reads.length, 1);
  assert.ok((reads[0]?.index ?? 0) >= ra.index, "the read point covers the value chosen under the old leader");
});
