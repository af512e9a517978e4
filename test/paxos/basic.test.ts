import assert from "node:assert/strict";
import { test } from "node:test";
import { ballotNode, ballotRound, makeBallot, nextBallot } from "../../src/consensus/paxos/ballot.js";
import { quorumIndex } from "../../src/consensus/paxos/quorum.js";
import { nodeId, term } from "../../src/consensus/types.js";
import type { Membership } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

test("ballots order by round, then node id, and unpack", () => {
  const rows: [number, number, number, number][] = [
    // round a, node a, round b, node b: a < b
    [1, 5, 2, 1],
    [3, 1, 3, 2],
    [7, 65535, 8, 1],
  ];
  for (const [ra, na, rb, nb] of rows) {
    const a = makeBallot(ra, nodeId(na));
    const b = makeBallot(rb, nodeId(nb));
    assert.ok(a < b, `(${ra},${na}) < (${rb},${nb})`);
    assert.equal(ballotRound(a), ra);
    assert.equal(ballotNode(a), na);
  }
  assert.throws(() => makeBallot(1, nodeId(65536)));
  const next = nextBallot(nodeId(2), [makeBallot(4, nodeId(9)), term(0)]);
  assert.equal(ballotRound(next), 5);
  assert.equal(ballotNode(next), 2);
});

test("quorum math: majorities, joint configurations, and the planted minority fault", () => {
  const m = (voters: number[], outgoing: number[] = []): Membership => ({
    voters: voters.map(nodeId),
    votersOutgoing: outgoing.map(nodeId),
    learners: [],
  });
  const match: Record<number, number> = { 1: 9, 2: 7, 3: 5, 4: 3, 5: 1 };
  const of = (id: number): number => match[id] ?? 0;
  const honest = { minority: false };
  assert.equal(quorumIndex(m([1, 2, 3]), of, honest), 7);
  assert.equal(quorumIndex(m([1, 2, 3, 4, 5]), of, honest), 5);
  assert.equal(quorumIndex(m([1]), of, honest), 9);
  assert.equal(quorumIndex(m([1, 2]), of, honest), 7);
  // Joint: both halves must reach the slot.
  assert.equal(quorumIndex(m([3, 4, 5], [1, 2, 3]), of, honest), 3);
  assert.equal(quorumIndex(m([], []), of, honest), 0);
  // The fault lets one node of three decide.
  assert.equal(quorumIndex(m([1, 2, 3]), of, { minority: true }), 9);
});

test("phase 1 elects a leader; its ballot is (round, id) and everyone follows it", () => {
  const c = new Cluster([1, 2, 3]);
  c.campaign(1);
  assert.deepEqual(c.leaders(), [1]);
  const s = c.engine(1).status();
  assert.equal(ballotNode(s.term), 1);
  assert.equal(ballotRound(s.term), 1);
  c.tick(); // a heartbeat names the leader
  for (const id of [2, 3]) {
    assert.equal(c.engine(id).status().role, "follower");
    assert.equal(c.engine(id).status().leader, 1);
    assert.equal(c.engine(id).status().term, s.term);
  }
});

test("a single voter leads alone and decides once its own accept is durable", () => {
  const c = new Cluster([1]);
  c.campaign(1);
  assert.equal(c.engine(1).status().role, "leader");
  const r = c.engine(1).propose(bytes("a"));
  assert.ok(r.ok);
  assert.equal(c.engine(1).status().commitIndex, 0, "not decided before the Ready is persisted");
  c.stabilize();
  assert.deepEqual(c.values(1), ["a"]);
});
