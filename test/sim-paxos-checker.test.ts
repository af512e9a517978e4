import assert from "node:assert/strict";
import { test } from "node:test";
import { initialPaxosHardState } from "../src/consensus/paxos/config.js";
import type { PaxosHardState, PaxosMessage } from "../src/consensus/paxos/messages.js";
import { groupId, logIndex, nodeId, term } from "../src/consensus/types.js";
import type { Entry, Membership, Ready } from "../src/consensus/types.js";
import type { SimDisk } from "./sim/disk.js";
import { PaxosChecker } from "./sim/paxos-invariants.js";

const three: Membership = { voters: [nodeId(1), nodeId(2), nodeId(3)], votersOutgoing: [], learners: [] };

function value(slot: number, ballot: number, text: string): Entry {
  return { index: logIndex(slot), term: term(ballot), type: "normal", data: new TextEncoder().encode(text) };
}

function ready(entries: Entry[], messages: PaxosMessage[] = [], promised = 0): Ready<PaxosMessage, PaxosHardState> {
  return {
    hardState: { promised: term(promised), commit: logIndex(0) },
    entries,
    snapshot: null,
    messages,
    messagesBeforePersist: [],
    committedEntries: [],
    readStates: [],
    droppedReads: [],
  };
}

function disk(promised: number, entries: Entry[]): SimDisk<PaxosHardState> {
  return { hardState: { promised: term(promised), commit: logIndex(0) }, snapshot: null, entries, bootstrap: three };
}

/** accept records `entries` as durably accepted by `node`, with no messages. */
function accept(c: PaxosChecker, node: number, entries: Entry[]): string | null {
  return c.afterPersist(node, ready(entries), initialPaxosHardState, disk(0, entries))?.invariant ?? null;
}

test("a second value reaching a quorum in one slot is caught", () => {
  const c = new PaxosChecker(three);
  assert.equal(accept(c, 1, [value(1, 10, "a")]), null);
  assert.equal(accept(c, 2, [value(1, 10, "a")]), null, "chosen: a under ballot 10");
  assert.equal(accept(c, 3, [value(1, 20, "b")]), "chosen value changed", "a higher ballot accepted another value");
});

test("a value chosen, then learned by every node, agrees with what is applied", () => {
  const c = new PaxosChecker(three);
  accept(c, 1, [value(1, 10, "a")]);
  accept(c, 2, [value(1, 10, "a")]);
  assert.equal(c.noteApplied(value(1, 30, "a")), null, "the same value re-proposed under a newer ballot");
  assert.equal(c.noteApplied(value(1, 10, "x"))?.invariant, "chosen value changed");
});

test("a quorum only under a configuration its ballot did not use chooses nothing", () => {
  // Voters {3,4,5}. Ballot 10 put p at slot 1 and v at slot 2 on nodes 1 and 2 (not voters): nothing
  // chosen. Slot 1 is then chosen under ballot 20, and the configuration after it is {1,2,3}
  // (learned here from a snapshot's metadata). Under {1,2,3}, nodes 1 and 2 hold a quorum for v at
  // slot 2, but ballot 10 used {3,4,5} there: v is not chosen, and ballot 20 may choose w.
  const five: Membership = { voters: [nodeId(3), nodeId(4), nodeId(5)], votersOutgoing: [], learners: [nodeId(1), nodeId(2)] };
  const c = new PaxosChecker(five);
  for (const n of [1, 2]) assert.equal(accept(c, n, [value(1, 10, "p"), value(2, 10, "v")]), null);
  for (const n of [3, 4]) assert.equal(accept(c, n, [value(1, 20, "q")]), null);
  const after: Membership = { voters: [nodeId(1), nodeId(2), nodeId(3)], votersOutgoing: [], learners: [] };
  assert.equal(c.noteSnapshot({ index: logIndex(1), term: term(20), membership: after }), null);
  for (const n of [3, 4]) assert.equal(accept(c, n, [value(2, 20, "w")]), null);
  // Ballot 30 re-proposes w at slot 2 on nodes 1 and 3: w is chosen there (twice over).
  for (const n of [1, 3]) assert.equal(accept(c, n, [value(2, 30, "w")]), null);
  assert.equal(accept(c, 2, [value(2, 40, "v")]), "chosen value changed");
});

test("acceptors keep their promises, and acknowledge only what is durable", () => {
  const c = new PaxosChecker(three);
  const base = { groupId: groupId(1), from: nodeId(2), to: nodeId(1) };
  const promise: PaxosMessage = { ...base, type: "promise", ballot: term(30), fromSlot: logIndex(1), entries: [], commit: logIndex(0), complete: true };
  const accepted: PaxosMessage = { ...base, type: "accepted", ballot: term(20), reject: false, batchFirst: logIndex(1), prefix: logIndex(1), needSnapshot: false };
  const check = (messages: PaxosMessage[], durablePromise: number, entries: Entry[]): string | null =>
    c.afterPersist(2, ready(entries, messages, durablePromise), initialPaxosHardState, disk(durablePromise, entries))?.invariant ?? null;
  assert.equal(check([promise], 30, []), null);
  assert.equal(check([promise], 20, []), "persist before acknowledge");
  assert.equal(check([accepted, promise], 30, [value(1, 20, "a")]), null, "accepted, then promised higher, in one Ready");
  assert.equal(check([promise, accepted], 30, [value(1, 20, "a")]), "acceptor promise", "accepted below a promise just made");
  assert.equal(check([accepted], 20, []), "persist before acknowledge", "acknowledged a slot not on disk");
});
