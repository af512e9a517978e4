import assert from "node:assert/strict";
import { test } from "node:test";
import { SeededRandom } from "../../src/consensus/random.js";
import { isMember } from "../../src/consensus/membership.js";
import { logIndex, nodeId } from "../../src/consensus/types.js";
import type { ConfChangeOp } from "../../src/consensus/types.js";
import { bytes, Cluster } from "./harness.js";

/**
 * A seeded random run: message loss, partitions, crashes with restarts from
 * disk, compaction and proposals at whoever leads. Safety (no two nodes apply
 * different values at a slot) is checked throughout; liveness once healed.
 */
function run(seed: number): void {
  const rnd = new SeededRandom(seed);
  const ids = [1, 2, 3, 4, 5];
  const c = new Cluster(ids, { seed, config: { appendEntriesMax: 3, inflightMessagesMax: 4, electionTimeoutTicks: 6 } });
  const down = new Set<number>();
  let next = 0;
  c.filter = () => !rnd.chance(0.1);
  for (let step = 0; step < 300; step++) {
    const r = rnd.nextInt(100);
    if (r < 40) {
      for (const l of c.leaders()) c.engine(l).propose(bytes(`s${seed}v${next++}`));
    } else if (r < 43 && down.size < 2) {
      const id = ids[rnd.nextInt(ids.length)] ?? 1;
      if (!down.has(id)) {
        c.crash(id);
        down.add(id);
      }
    } else if (r < 48 && down.size > 0) {
      const id = [...down][0] ?? 1;
      c.start(id);
      down.delete(id);
    } else if (r < 50) {
      c.cut.clear();
      c.isolate(ids[rnd.nextInt(ids.length)] ?? 1);
    } else if (r < 54) {
      c.cut.clear();
    } else if (r < 56) {
      for (const [, e] of c.engines) {
        const s = e.status();
        if (s.appliedIndex > s.firstIndex + 3) e.compact(logIndex(s.appliedIndex - 2), bytes(`snap@${s.appliedIndex - 2}`));
      }
    }
    for (const e of c.engines.values()) e.tick();
    for (let i = 0; i < rnd.nextInt(3) + 1; i++) c.deliverOnce();
    c.checkAgreement();
  }
  for (const id of down) c.start(id);
  c.heal();
  c.tick(60);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `seed ${seed}: one leader after healing, got [${leaders.join(",")}]`);
  const leader = leaders[0] ?? 1;
  assert.ok(c.engine(leader).propose(bytes("final")).ok);
  c.tick(20);
  c.checkAgreement();
  const commit = c.engine(leader).status().commitIndex;
  for (const id of ids) assert.equal(c.engine(id).status().commitIndex, commit, `seed ${seed}: node ${id} caught up`);
}

test("seeded random runs with loss, partitions, restarts and compaction stay safe and live", () => {
  for (let seed = 1; seed <= 40; seed++) run(seed);
});

/** runWithChanges adds random membership changes (learners, promotions, removals) to the mix. */
function runWithChanges(seed: number): void {
  const rnd = new SeededRandom(seed);
  const ids = [1, 2, 3, 4, 5];
  const c = new Cluster([1, 2, 3], { seed, config: { appendEntriesMax: 3, inflightMessagesMax: 4, electionTimeoutTicks: 6 } });
  c.addNode(4);
  c.addNode(5);
  const down = new Set<number>();
  let next = 0;
  c.filter = () => !rnd.chance(0.15);
  for (let step = 0; step < 500; step++) {
    const r = rnd.nextInt(100);
    if (r < 35) {
      for (const l of c.leaders()) c.engine(l).propose(bytes(`s${seed}v${next++}`));
    } else if (r < 45) {
      for (const l of c.leaders()) {
        const node = nodeId(ids[rnd.nextInt(ids.length)] ?? 1);
        const kinds: ConfChangeOp["type"][] = ["addVoter", "addLearner", "removeNode"];
        const type = kinds[rnd.nextInt(3)] ?? "addVoter";
        c.engine(l).proposeConfChange({ ops: [{ type, node }] });
      }
    } else if (r < 47 && down.size < 1) {
      const id = ids[rnd.nextInt(ids.length)] ?? 1;
      c.crash(id);
      down.add(id);
    } else if (r < 52 && down.size > 0) {
      const id = [...down][0] ?? 1;
      c.start(id);
      down.delete(id);
    } else if (r < 54) {
      for (const [, e] of c.engines) {
        const s = e.status();
        if (s.appliedIndex > s.firstIndex + 3) e.compact(logIndex(s.appliedIndex - 2), bytes("snap"));
      }
    }
    for (const e of c.engines.values()) e.tick();
    for (let i = 0; i < rnd.nextInt(3) + 1; i++) c.deliverOnce();
    c.checkAgreement();
  }
  for (const id of down) c.start(id);
  c.heal();
  c.tick(80);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `seed ${seed}: one leader after healing, got [${leaders.join(",")}]`);
  const leader = leaders[0] ?? 1;
  assert.ok(c.engine(leader).propose(bytes("final")).ok);
  c.tick(30);
  c.checkAgreement();
  const m = c.engine(leader).status().membership;
  const commit = c.engine(leader).status().commitIndex;
  for (const id of ids) if (isMember(m, nodeId(id))) assert.equal(c.engine(id).status().commitIndex, commit, `seed ${seed}: node ${id} caught up ${JSON.stringify(m)}`);
}

test("seeded random runs with membership changes stay safe and live", () => {
  for (let seed = 1; seed <= 30; seed++) runWithChanges(seed);
});
