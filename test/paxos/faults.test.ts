import assert from "node:assert/strict";
import { test } from "node:test";
import type { PaxosFaults } from "../../src/consensus/paxos/config.js";
import { logIndex } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

/**
 * Each planted fault must break a safety property the unit checks look at; the
 * same scenario without the fault must pass them. (The recovery, read and
 * persistence faults are covered next to the behaviour they break.)
 */

function lowBallotAccepted(faults: PaxosFaults | undefined): Cluster {
  const c = new Cluster([1, 2, 3], faults === undefined ? {} : { faults });
  c.campaign(1);
  c.tick();
  // Node 2 wins phase 1 for a higher ballot; node 1 hears nothing of it and still leads.
  c.filter = (m) => m.to !== 1;
  c.campaign(2);
  c.engine(2).propose(bytes("new"));
  c.stabilize();
  // The stale leader's accepts (lower ballot) reach the acceptors that promised the higher one.
  c.filter = (m) => m.from === 1 || (m.to === 1 && m.type === "accepted");
  c.engine(1).propose(bytes("old"));
  c.stabilize();
  c.heal();
  c.tick(5);
  return c;
}

test("an acceptor refuses a ballot below its promise; accepting it (planted fault) chooses two values", () => {
  const honest = lowBallotAccepted(undefined);
  honest.checkAgreement();
  assert.deepEqual(honest.values(3), ["new"]);
  assert.throws(() => lowBallotAccepted({ acceptBelowPromise: true }).checkAgreement(), /slot \d+: node/);
});

function splitBrain(faults: PaxosFaults | undefined): Cluster {
  const c = new Cluster([1, 2, 3], faults === undefined ? {} : { faults });
  c.campaign(1);
  c.tick();
  c.isolate(1);
  c.engine(1).propose(bytes("lonely"));
  c.stabilize();
  c.campaign(2);
  c.engine(2).propose(bytes("majority"));
  c.stabilize();
  c.tick(2);
  return c;
}

test("only a majority decides; a minority quorum (planted fault) decides alone and diverges", () => {
  const honest = splitBrain(undefined);
  honest.checkAgreement();
  assert.deepEqual(honest.values(1), []);
  const faulty = splitBrain({ minorityQuorum: true });
  assert.deepEqual(faulty.values(1), ["lonely"]);
  assert.throws(() => faulty.checkAgreement(), /slot 1: node/);
  assert.equal(faulty.engine(2).entryAt(logIndex(1))?.type, "normal");
});
