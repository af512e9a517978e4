import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nodeId } from "../../src/consensus/types.js";
import type { NodeId } from "../../src/consensus/types.js";
import { addedNodeIdEnd, addedNodeIdMin, checkPromote, checkRemove, checkUpdate, learnerInSync, listMembers, MemberError, nodeIdOfMember, planAdd, quorumActive } from "../../src/server/membership-table.js";
import type { MemberView } from "../../src/server/membership-table.js";

const records = [1, 2, 3].map((n) => ({ nodeId: n, memberId: String(1000 + n), peerUrls: [`http://127.0.0.1:${2380 + n}`] }));

function view(overrides: Partial<MemberView> = {}): MemberView {
  return {
    membership: { voters: [1, 2, 3].map(nodeId), votersOutgoing: [], learners: [] },
    records: { records: new Map(records.map((r) => [r.nodeId, r])), removed: new Map(), clusterId: "7" },
    initial: [],
    published: new Map([[1, { nodeId: 1, name: "a", clientUrls: ["http://127.0.0.1:2379"] }]]),
    ...overrides,
  };
}

const all = new Set([1, 2, 3].map(nodeId));

describe("member table", () => {
  it("maps member ids into the added node id range, deterministically", () => {
    for (const id of [1n, 2n ** 64n - 1n, 0xdeadbeefn]) {
      const n = nodeIdOfMember(id);
      assert.ok(n >= addedNodeIdMin && n < addedNodeIdEnd);
      assert.equal(nodeIdOfMember(id), n);
    }
  });

  it("lists the latest membership joined with records; unstarted members have no name", () => {
    const members = listMembers(view());
    assert.deepEqual(members.map((m) => [m.id, m.name, m.isLearner]), [[1001n, "a", false], [1002n, "", false], [1003n, "", false]]);
  });

  it("refuses a taken peer URL, a removed id and a second learner", () => {
    const taken = planAdd(view(), { memberId: 5n, peerUrls: ["http://127.0.0.1:2381"], isLearner: false }, all);
    assert.ok(taken instanceof MemberError && taken.code === "peerUrlExists");
    const removed = view({ records: { records: new Map(), removed: new Map([["5", { nodeId: 9, memberId: "5", peerUrls: ["x"] }]]), clusterId: undefined } });
    const again = planAdd(removed, { memberId: 5n, peerUrls: ["http://h:1"], isLearner: true }, all);
    assert.ok(again instanceof MemberError && again.code === "idRemoved");
    const learner = nodeIdOfMember(5n);
    const withLearner = view({ membership: { voters: [1, 2, 3].map(nodeId), votersOutgoing: [], learners: [learner] } });
    const second = planAdd(withLearner, { memberId: 6n, peerUrls: ["http://h:2"], isLearner: true }, all);
    assert.ok(second instanceof MemberError && second.code === "tooManyLearners");
  });

  it("refuses a voter change that would leave too few active voters", () => {
    const two = new Set<NodeId>([nodeId(1), nodeId(2)]);
    const add = planAdd(view(), { memberId: 5n, peerUrls: ["http://h:1"], isLearner: false }, new Set([nodeId(1)]));
    assert.ok(add instanceof MemberError && add.code === "unhealthy");
    assert.ok(!(planAdd(view(), { memberId: 5n, peerUrls: ["http://h:1"], isLearner: false }, all) instanceof MemberError));
    const remove = checkRemove(view(), 1001n, new Set([nodeId(1), nodeId(3)]));
    assert.ok(remove instanceof MemberError && remove.code === "unhealthy");
    assert.ok(!(checkRemove(view(), 1003n, two) instanceof MemberError));
    assert.ok(checkRemove(view(), 42n, all) instanceof MemberError);
  });

  it("promotes only an in-sync learner (etcd's 90% rule)", () => {
    assert.equal(learnerInSync(90, 100), true);
    assert.equal(learnerInSync(89, 100), false);
    const v = view({ membership: { voters: [1, 2].map(nodeId), votersOutgoing: [], learners: [nodeId(3)] } });
    const behind = checkPromote(v, 1003n, { match: 10, leaderCommit: 100 }, all);
    assert.ok(behind instanceof MemberError && behind.code === "learnerNotReady");
    const voter = checkPromote(v, 1001n, { match: 100, leaderCommit: 100 }, all);
    assert.ok(voter instanceof MemberError && voter.code === "notLearner");
    assert.ok(!(checkPromote(v, 1003n, { match: 95, leaderCommit: 100 }, all) instanceof MemberError));
  });

  it("updates peer URLs unless another member uses them", () => {
    const clash = checkUpdate(view(), 1001n, ["http://127.0.0.1:2382"]);
    assert.ok(clash instanceof MemberError && clash.code === "peerUrlExists");
    const ok = checkUpdate(view(), 1001n, ["http://10.0.0.1:2380"]);
    assert.ok(!(ok instanceof MemberError) && ok.nodeId === 1 && ok.memberId === "1001");
  });

  it("counts a quorum of active voters", () => {
    assert.equal(quorumActive([1, 2, 3].map(nodeId), new Set([nodeId(1), nodeId(2)])), true);
    assert.equal(quorumActive([1, 2, 3, 4].map(nodeId), new Set([nodeId(1), nodeId(2)])), false);
  });
});
