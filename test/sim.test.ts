import assert from "node:assert/strict";
import { test } from "node:test";
import { runSeed } from "./sim/run.js";
import { firstSeedCatching } from "./sim/seed-range.js";

test("the same seed gives the same digest", () => {
  for (const seed of [3, 17]) {
    const a = runSeed({ engine: "raft", seed });
    const b = runSeed({ engine: "raft", seed });
    assert.equal(a.digest, b.digest);
    assert.equal(a.ticks, b.ticks);
    assert.equal(a.opsChecked, b.opsChecked);
    assert.deepEqual(a.stats, b.stats);
  }
});

test("different seeds take different paths", () => {
  assert.notEqual(runSeed({ engine: "raft", seed: 1 }).digest, runSeed({ engine: "raft", seed: 2 }).digest);
});

test("unknown engines and fault names are refused", () => {
  assert.throws(() => runSeed({ engine: "nope", seed: 1 }), /unknown engine/);
  assert.throws(() => runSeed({ engine: "raft", seed: 1, faults: { noSuchFault: true } }), /no planted fault/);
});

/**
 * Each planted Raft fault must be caught (a safety or linearizability
 * violation, not merely liveness) by some seed within `seedsMax`.
 */
const plantedFaults = [
  "forgetVotePersist",
  "acceptMismatchedAppend",
  "readWithoutQuorumCheck",
  "applyBeforeCommit",
  "ignoreJointQuorum",
  "commitOldTermByCounting",
] as const;
const seedsMax = 400;

for (const fault of plantedFaults) {
  test(`planted fault ${fault} is caught within ${seedsMax} seeds`, (t) => {
    const caught = firstSeedCatching("raft", fault, seedsMax);
    assert.ok(caught !== null, `${fault} was not caught by seeds 1..${seedsMax}`);
    t.diagnostic(`${fault}: caught at seed ${caught.seed} by ${caught.invariant}: ${caught.detail.split("\n")[0] ?? ""}`);
  });
}
