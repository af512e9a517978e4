import assert from "node:assert/strict";
import { test } from "node:test";
import { logIndex, nodeId, term } from "../src/consensus/types.js";
import type { Entry, Snapshot } from "../src/consensus/types.js";
import { durableLastIndex, durableTermAt, persistEntries, persistSnapshot } from "./sim/disk.js";
import type { SimDisk } from "./sim/disk.js";
import { decodeCommand, encodeCommand, KvStateMachine } from "./sim/kv.js";
import { EventQueue } from "./sim/queue.js";
import { runSeed } from "./sim/run.js";
import { firstSeedCatching } from "./sim/seed-range.js";

function entry(index: number, t: number): Entry {
  return { index: logIndex(index), term: term(t), type: "normal", data: new Uint8Array([index, t]) };
}

function disk(entries: Entry[]): SimDisk<null> {
  return { hardState: null, snapshot: null, entries, bootstrap: { voters: [nodeId(1)], votersOutgoing: [], learners: [] } };
}

function snapshotAt(index: number, t: number): Snapshot {
  return { meta: { index: logIndex(index), term: term(t), membership: { voters: [nodeId(1)], votersOutgoing: [], learners: [] } }, data: new Uint8Array() };
}

test("the event queue orders by time, then by scheduling order", () => {
  const q = new EventQueue<string>();
  const pushed: [number, string][] = [[5, "a"], [1, "b"], [5, "c"], [0, "d"], [1, "e"], [5, "f"], [3, "g"]];
  for (const [time, item] of pushed) q.push(time, item);
  const out: string[] = [];
  while (q.size > 0) out.push(q.pop());
  assert.deepEqual(out, ["d", "b", "e", "g", "a", "c", "f"]);
});

test("persisted entries replace the suffix from their first index; gaps are refused", () => {
  const d = disk([entry(1, 1), entry(2, 1), entry(3, 1)]);
  assert.equal(persistEntries(d, [entry(2, 2), entry(3, 2), entry(4, 2)]), null);
  assert.deepEqual(d.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 2], [3, 2], [4, 2]]);
  assert.equal(persistEntries(d, [entry(3, 3)]), null);
  assert.equal(durableLastIndex(d), 3);
  assert.match(persistEntries(d, [entry(5, 3)]) ?? "", /gap/);
});

test("a snapshot keeps the log after it only when the log continues it", () => {
  const kept = disk([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
  persistSnapshot(kept, snapshotAt(2, 1));
  assert.deepEqual(kept.entries.map((e) => e.index), [3, 4]);
  assert.equal(durableTermAt(kept, 2), 1);
  const dropped = disk([entry(1, 1), entry(2, 1), entry(3, 2)]);
  persistSnapshot(dropped, snapshotAt(3, 3));
  assert.deepEqual(dropped.entries, []);
  assert.equal(durableLastIndex(dropped), 3);
});

test("the KV state machine applies a retried command once and survives a snapshot", () => {
  const kv = new KvStateMachine();
  const put = decodeCommand(encodeCommand({ client: 1, seq: 1, op: { kind: "put", key: "k", value: "a" } }));
  assert.deepEqual(kv.apply(put), { stale: false, output: null });
  const cas = { client: 2, seq: 1, op: { kind: "cas", key: "k", expected: "a", value: "b" } } as const;
  assert.deepEqual(kv.apply(cas), { stale: false, output: true });
  assert.deepEqual(kv.apply(cas), { stale: false, output: true }, "a duplicate returns the first output");
  assert.equal(kv.get("k"), "b");
  assert.deepEqual(kv.apply({ client: 1, seq: 0, op: { kind: "delete", key: "k" } }), { stale: true });
  const copy = new KvStateMachine();
  copy.restore(kv.snapshot());
  assert.deepEqual(copy.snapshot(), kv.snapshot());
  assert.deepEqual(copy.apply({ client: 2, seq: 1, op: { kind: "put", key: "k", value: "z" } }), { stale: false, output: true });
  assert.equal(copy.get("k"), "b");
});

for (const engine of ["raft", "paxos"]) {
  test(`${engine}: the same seed gives the same digest`, () => {
    for (const seed of [3, 17]) {
      const a = runSeed({ engine, seed });
      const b = runSeed({ engine, seed });
      assert.equal(a.digest, b.digest);
      assert.equal(a.ticks, b.ticks);
      assert.equal(a.opsChecked, b.opsChecked);
      assert.deepEqual(a.stats, b.stats);
    }
  });

  test(`${engine}: different seeds take different paths`, () => {
    assert.notEqual(runSeed({ engine, seed: 1 }).digest, runSeed({ engine, seed: 2 }).digest);
  });
}

test("both engines run the same fault mix and workload for a seed", () => {
  const raft = runSeed({ engine: "raft", seed: 7 });
  const paxos = runSeed({ engine: "paxos", seed: 7 });
  assert.equal(raft.mix, paxos.mix);
  assert.notEqual(raft.digest, paxos.digest);
});

test("unknown engines and fault names are refused", () => {
  assert.throws(() => runSeed({ engine: "nope", seed: 1 }), /unknown engine/);
  assert.throws(() => runSeed({ engine: "raft", seed: 1, faults: { noSuchFault: true } }), /no planted fault/);
  assert.throws(() => runSeed({ engine: "paxos", seed: 1, faults: { commitOldTermByCounting: true } }), /no planted fault/);
});

/**
 * Each planted fault of each engine must be caught (a safety or
 * linearizability violation, not merely liveness) by some seed within
 * `seedsMax`.
 */
const plantedFaults = [
  ["raft", "forgetVotePersist"],
  ["raft", "acceptMismatchedAppend"],
  ["raft", "readWithoutQuorumCheck"],
  ["raft", "applyBeforeCommit"],
  ["raft", "ignoreJointQuorum"],
  ["raft", "commitOldTermByCounting"],
  ["paxos", "skipRecoveryOfAcceptedValues"],
  ["paxos", "acceptBelowPromise"],
  ["paxos", "forgetPromisePersist"],
  ["paxos", "minorityQuorum"],
  ["paxos", "readWithoutBallotCheck"],
] as const;
const seedsMax = 400;

for (const [engine, fault] of plantedFaults) {
  test(`planted ${engine} fault ${fault} is caught within ${seedsMax} seeds`, (t) => {
    const caught = firstSeedCatching(engine, fault, seedsMax);
    assert.ok(caught !== null, `${fault} was not caught by seeds 1..${seedsMax}`);
    t.diagnostic(`${fault}: caught at seed ${caught.seed} by ${caught.invariant}: ${caught.detail.split("\n")[0] ?? ""}`);
  });
}
