import assert from "node:assert/strict";
import { test } from "node:test";
import { runSeedRange } from "./sim/seed-range.js";

// Seeds 1..100 of the Multi-Paxos simulator, in blocks the test runner can report separately.
const first = 1;
const blocks = 2;
const perBlock = 50;

for (let block = 0; block < blocks; block++) {
  const from = first + block * perBlock;
  test(`paxos simulator seeds ${from}..${from + perBlock - 1}: no violation, no unknown`, (t) => {
    const summary = runSeedRange("paxos", from, perBlock);
    t.diagnostic(`${summary.seeds} seeds, ${summary.opsChecked} ops checked`);
    assert.deepEqual(summary.failures, []);
  });
}
