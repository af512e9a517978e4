import assert from "node:assert/strict";
import { test } from "node:test";
import { peerMessageValidator } from "../../src/server/peer-messages.js";

const raft = peerMessageValidator("raft");
const paxos = peerMessageValidator("paxos");
const envelope = { groupId: 1, from: 2, to: 1 };

test("well-formed engine and forwarding messages pass", () => {
  assert.ok(raft({ ...envelope, type: "heartbeat", term: 3, commit: 7, readContext: 0 }));
  assert.ok(
    raft({
      ...envelope,
      type: "append",
      term: 3,
      prevLogIndex: 4,
      prevLogTerm: 2,
      commit: 4,
      entries: [
        { index: 5, term: 3, type: "normal", data: new Uint8Array([1]) },
        { index: 6, term: 3, type: "config", change: { ops: [{ type: "addLearner", node: 4 }] } },
      ],
    }),
  );
  assert.ok(raft({ ...envelope, type: "snapshot", term: 3, snapshot: { meta: { index: 9, term: 3, membership: { voters: [1, 2, 3], votersOutgoing: [], learners: [] } }, data: new Uint8Array() } }));
  assert.ok(paxos({ ...envelope, type: "prepare", ballot: 65537, fromSlot: 3 }));
  assert.ok(raft({ ...envelope, type: "forwardProposal", id: "1.a.1", data: new Uint8Array([9]) }));
});

test("malformed messages are refused before they reach an engine", () => {
  const bad: unknown[] = [
    null,
    42,
    "append",
    { ...envelope, type: "explode", term: 1 },
    { ...envelope, type: "heartbeat", term: "3", commit: 7, readContext: 0 },
    { ...envelope, type: "heartbeat", term: -1, commit: 7, readContext: 0 },
    { ...envelope, type: "heartbeat", term: 1.5, commit: 7, readContext: 0 },
    { groupId: 1, from: 2, type: "heartbeat", term: 3, commit: 7, readContext: 0 },
    { ...envelope, type: "append", term: 3, prevLogIndex: 4, prevLogTerm: 2, commit: 4, entries: "nope" },
    { ...envelope, type: "append", term: 3, prevLogIndex: 4, prevLogTerm: 2, commit: 4, entries: [{ index: 5, term: 3, type: "normal", data: "x" }] },
    { ...envelope, type: "append", term: 3, prevLogIndex: 4, prevLogTerm: 2, commit: 4, entries: [{ index: 5, term: 3, type: "config", change: { ops: [{ type: "become", node: 1 }] } }] },
    { ...envelope, type: "snapshot", term: 3, snapshot: { meta: { index: 9, term: 3 }, data: new Uint8Array() } },
    { ...envelope, type: "prepare", ballot: 1, fromSlot: 3 }, // a Paxos message sent to a Raft cluster
  ];
  for (const value of bad) assert.equal(raft(value), false, JSON.stringify(value));
  assert.equal(paxos({ ...envelope, type: "vote", term: 1, preVote: false, lastLogIndex: 0, lastLogTerm: 0, transfer: false }), false);
});
