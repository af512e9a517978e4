/**
 * The etcd KV, Maintenance and Cluster services over real gRPC, called by a
 * raw client built from the same .proto files, against the MVCC test backend.
 * Error codes and messages are checked to the letter against etcd's.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { status as GrpcCode } from "@grpc/grpc-js";
import { ApiError, internalErrorMessage } from "../../src/api/etcd/index.js";
import { RawClient, b, isGrpcError, kvText, startApi } from "./harness.js";
import type {
  ApiFixture,
  DecodedDeleteRangeResponse,
  DecodedHeader,
  DecodedPutResponse,
  DecodedRangeResponse,
  DecodedTxnResponse,
} from "./harness.js";
import { testClusterId, testMemberId } from "./test-backend.js";

/** expectStatus asserts that a call fails with exactly this gRPC code and message. */
async function expectStatus(call: Promise<unknown>, code: GrpcCode, details: string | RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(isGrpcError(error), `expected a gRPC error, got ${String(error)}`);
    assert.equal(error.code, code, `code ${error.code} (${error.details})`);
    if (typeof details === "string") assert.equal(error.details, details);
    else assert.match(error.details, details);
    return true;
  });
}

function assertHeader(header: DecodedHeader, revision: number): void {
  assert.deepEqual(
    { ...header },
    { cluster_id: testClusterId.toString(), member_id: testMemberId.toString(), revision: String(revision), raft_term: "2" },
  );
}

const compacted = "etcdserver: mvcc: required revision has been compacted";
const futureRevision = "etcdserver: mvcc: required revision is a future revision";

describe("etcd KV over gRPC", () => {
  let api: ApiFixture;
  let client: RawClient;

  before(async () => {
    api = await startApi();
    client = new RawClient(api.endpoint);
  });
  after(async () => {
    client.close();
    await api.close();
  });

  const put = (key: string, value: string, extra: object = {}): Promise<DecodedPutResponse> =>
    client.kv<DecodedPutResponse>("Put", { key: b(key), value: b(value), ...extra });
  const range = (request: object): Promise<DecodedRangeResponse> => client.kv<DecodedRangeResponse>("Range", request);

  test("put then get: full header with uint64 IDs above 2^63, key-value fields", async () => {
    const first = await put("foo", "bar");
    assertHeader(first.header, 2);
    assert.equal(first.prev_kv, null);
    const second = await put("foo", "baz", { prev_kv: true });
    assertHeader(second.header, 3);
    assert.ok(second.prev_kv !== null);
    assert.equal(kvText(second.prev_kv), "foo=bar@2/2/1");
    const got = await range({ key: b("foo") });
    assertHeader(got.header, 3);
    assert.deepEqual(got.kvs.map(kvText), ["foo=baz@2/3/2"]);
    assert.equal(got.count, "1");
    assert.equal(got.more, false);
    assert.equal(got.kvs[0]?.lease, "0");
  });

  test("range: prefix, limit with more and count, sort, keys_only, count_only, history", async () => {
    await put("p/a", "1");
    await put("p/b", "2");
    await put("p/c", "3");
    const prefix = { key: b("p/"), range_end: b("p0") };
    assert.deepEqual((await range(prefix)).kvs.map((kv) => kv.key.toString()), ["p/a", "p/b", "p/c"]);

    const limited = await range({ ...prefix, limit: 2 });
    assert.deepEqual(limited.kvs.map((kv) => kv.key.toString()), ["p/a", "p/b"]);
    assert.equal(limited.more, true);
    assert.equal(limited.count, "3");

    const descending = await range({ ...prefix, sort_order: 2, sort_target: 0 });
    assert.deepEqual(descending.kvs.map((kv) => kv.key.toString()), ["p/c", "p/b", "p/a"]);
    const byValueDesc = await range({ ...prefix, sort_order: 2, sort_target: 4, limit: 1 });
    assert.deepEqual(byValueDesc.kvs.map((kv) => kv.value.toString()), ["3"]);

    const keysOnly = await range({ ...prefix, keys_only: true });
    assert.deepEqual(keysOnly.kvs.map((kv) => `${kv.key.toString()}:${kv.value.length}`), ["p/a:0", "p/b:0", "p/c:0"]);

    const countOnly = await range({ ...prefix, count_only: true });
    assert.equal(countOnly.kvs.length, 0);
    assert.equal(countOnly.count, "3");

    const fromAll = await range({ key: Buffer.from([0]), range_end: Buffer.from([0]) });
    assert.deepEqual(fromAll.kvs.map((kv) => kv.key.toString()), ["foo", "p/a", "p/b", "p/c"]);

    const old = await range({ key: b("foo"), revision: 2 });
    assert.deepEqual(old.kvs.map(kvText), ["foo=bar@2/2/1"]);
    assertHeader(old.header, api.backend.mvcc.revision);

    const filtered = await range({ ...prefix, min_mod_revision: String(api.backend.mvcc.revision) });
    assert.deepEqual(filtered.kvs.map((kv) => kv.key.toString()), ["p/c"]);
  });

  test("txn: compares choose the branch; op responses carry a revision-only header", async () => {
    await put("t/a", "1");
    const revision = api.backend.mvcc.revision;
    const success = await client.kv<DecodedTxnResponse>("Txn", {
      compare: [{ result: 0, target: 3, key: b("t/a"), value: b("1") }],
      success: [{ request_put: { key: b("t/x"), value: b("y") } }, { request_range: { key: b("t/a") } }],
      failure: [{ request_put: { key: b("t/z"), value: b("w") } }],
    });
    assert.equal(success.succeeded, true);
    assertHeader(success.header, revision + 1);
    assert.deepEqual(
      success.responses.map((op) => op.response),
      ["response_put", "response_range"],
    );
    assert.deepEqual({ ...success.responses[0]?.response_put?.header }, { cluster_id: "0", member_id: "0", revision: String(revision + 1), raft_term: "0" });
    assert.deepEqual(success.responses[1]?.response_range?.kvs.map(kvText), [`t/a=1@${revision}/${revision}/1`]);

    const failure = await client.kv<DecodedTxnResponse>("Txn", {
      compare: [{ result: 1, target: 2, key: b("t/a"), mod_revision: String(revision + 5) }],
      success: [{ request_put: { key: b("t/x"), value: b("never") } }],
      failure: [{ request_delete_range: { key: b("t/x"), prev_kv: true } }, { request_txn: { success: [{ request_range: { key: b("t/a") } }] } }],
    });
    assert.equal(failure.succeeded, false);
    assertHeader(failure.header, revision + 2);
    const deleted = failure.responses[0]?.response_delete_range;
    assert.equal(deleted?.deleted, "1");
    assert.deepEqual(deleted.prev_kvs.map(kvText), [`t/x=y@${revision + 1}/${revision + 1}/1`]);
    assert.equal(failure.responses[1]?.response_txn?.succeeded, true);
    assert.equal(failure.responses[1]?.response_txn?.responses[0]?.response_range?.count, "1");

    const emptyTxn = await client.kv<DecodedTxnResponse>("Txn", {});
    assert.equal(emptyTxn.succeeded, true);
    assertHeader(emptyTxn.header, revision + 2);
  });

  test("delete: prev_kv returns the deleted pairs; deleting nothing keeps the revision", async () => {
    await put("d/1", "a");
    await put("d/2", "b");
    const revision = api.backend.mvcc.revision;
    const deleted = await client.kv<DecodedDeleteRangeResponse>("DeleteRange", { key: b("d/"), range_end: b("d0"), prev_kv: true });
    assert.equal(deleted.deleted, "2");
    assert.deepEqual(deleted.prev_kvs.map((kv) => kv.key.toString()), ["d/1", "d/2"]);
    assertHeader(deleted.header, revision + 1);
    const none = await client.kv<DecodedDeleteRangeResponse>("DeleteRange", { key: b("d/1") });
    assert.equal(none.deleted, "0");
    assertHeader(none.header, revision + 1);
  });

  test("etcd's request errors, code and message exact", async () => {
    await expectStatus(put("", "v"), GrpcCode.INVALID_ARGUMENT, "etcdserver: key is not provided");
    await expectStatus(range({ key: b("") }), GrpcCode.INVALID_ARGUMENT, "etcdserver: key is not provided");
    await expectStatus(client.kv("DeleteRange", {}), GrpcCode.INVALID_ARGUMENT, "etcdserver: key is not provided");
    await expectStatus(
      range({ key: b("a"), revision: String(api.backend.mvcc.revision + 1) }),
      GrpcCode.OUT_OF_RANGE,
      futureRevision,
    );
    await expectStatus(range({ key: b("a"), revision: "9223372036854775807" }), GrpcCode.OUT_OF_RANGE, futureRevision);
    await expectStatus(put("k", "v", { ignore_value: true }), GrpcCode.INVALID_ARGUMENT, "etcdserver: value is provided");
    await expectStatus(put("k", "v", { ignore_lease: true, lease: "5" }), GrpcCode.INVALID_ARGUMENT, "etcdserver: lease is provided");
    await expectStatus(put("nope", "", { ignore_value: true }), GrpcCode.INVALID_ARGUMENT, "etcdserver: key not found");

    const tooMany = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`many/${i}`), value: b("v") } }));
    await expectStatus(client.kv("Txn", { success: tooMany }), GrpcCode.INVALID_ARGUMENT, "etcdserver: too many operations in txn request");
    const enough = await client.kv<DecodedTxnResponse>("Txn", { success: tooMany.slice(0, 128) });
    assert.equal(enough.responses.length, 128);

    const duplicate = [{ request_put: { key: b("dup"), value: b("1") } }, { request_put: { key: b("dup"), value: b("2") } }];
    await expectStatus(client.kv("Txn", { success: duplicate }), GrpcCode.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request");
    await expectStatus(client.kv("Txn", { success: [{}] }), GrpcCode.INVALID_ARGUMENT, "etcdserver: key not found");
  });

  test("request size: over 1.5 MiB is 'request is too large', over 2 MiB gRPC refuses it", async () => {
    const revision = api.backend.mvcc.revision;
    await expectStatus(put("big", "x".repeat(1_600_000)), GrpcCode.INVALID_ARGUMENT, "etcdserver: request is too large");
    await expectStatus(put("big", "x".repeat(2_200_000)), GrpcCode.RESOURCE_EXHAUSTED, /larger than max/);
    assert.equal(api.backend.mvcc.revision, revision, "nothing was written");
    const fits = await put("big", "x".repeat(1_500_000));
    assertHeader(fits.header, revision + 1);
    // A read is not proposed, so its size is not checked against the request limit.
    const read = await range({ key: b("big"), range_end: Buffer.concat([b("big\0"), b("x".repeat(1_600_000))]) });
    assert.equal(read.count, "1");
  });

  test("compaction, then reads below it: OUT_OF_RANGE and etcd's message", async () => {
    await put("c", "1");
    const before = api.backend.mvcc.revision;
    await put("c", "2");
    const response = await client.kv<{ header: DecodedHeader }>("Compact", { revision: String(before + 1) });
    assertHeader(response.header, before + 1);
    await expectStatus(range({ key: b("c"), revision: String(before) }), GrpcCode.OUT_OF_RANGE, compacted);
    await expectStatus(client.kv("Compact", { revision: String(before + 1) }), GrpcCode.OUT_OF_RANGE, compacted);
    await expectStatus(client.kv("Compact", { revision: String(before + 100) }), GrpcCode.OUT_OF_RANGE, futureRevision);
    const at = await range({ key: b("c"), revision: String(before + 1) });
    assert.deepEqual(at.kvs.map((kv) => kv.value.toString()), ["2"]);
  });

  test("Maintenance.Status, Maintenance.HashKV and Cluster.MemberList", async () => {
    const status = await client.call<Record<string, unknown>>("etcdserverpb.Maintenance", "Status", {});
    const expected = api.backend.statusNow();
    assertHeader(status.header as DecodedHeader, expected.revision);
    assert.equal(status.version, "3.4.0");
    assert.equal(status.dbSize, String(expected.dbSizeBytes));
    assert.equal(status.leader, testMemberId.toString());
    assert.equal(status.raftIndex, String(expected.raftIndex));
    assert.equal(status.raftTerm, "2");
    assert.equal(status.isLearner, false);

    const hash = await client.call<Record<string, unknown>>("etcdserverpb.Maintenance", "HashKV", { revision: "0" });
    const mvccHash = api.backend.mvcc.hashKv(0);
    assert.ok(mvccHash.ok);
    assert.equal(hash.hash, mvccHash.value.hash);
    assert.equal(hash.compact_revision, String(mvccHash.value.compactRevision));
    assert.equal(hash.hash_revision, String(api.backend.mvcc.revision));
    await expectStatus(
      client.call("etcdserverpb.Maintenance", "HashKV", { revision: String(api.backend.mvcc.revision + 1) }),
      GrpcCode.OUT_OF_RANGE,
      futureRevision,
    );

    const members = await client.call<{ header: DecodedHeader; members: Record<string, unknown>[] }>("etcdserverpb.Cluster", "MemberList", {});
    assertHeader(members.header, 0);
    assert.deepEqual(members.members, [
      { ID: testMemberId.toString(), name: "synod-test", peerURLs: ["http://127.0.0.1:2380"], clientURLs: [`http://${api.endpoint}`], isLearner: false },
    ]);
  });

  test("server failures map to etcd's statuses; unexpected ones are INTERNAL and logged", async () => {
    const cases = [
      [new ApiError("noLeader"), GrpcCode.UNAVAILABLE, "etcdserver: no leader"],
      [new ApiError("timeout"), GrpcCode.UNAVAILABLE, "etcdserver: request timed out"],
      [new ApiError("leaderChanged"), GrpcCode.UNAVAILABLE, "etcdserver: leader changed"],
      [new ApiError("stopped"), GrpcCode.UNAVAILABLE, "etcdserver: server stopped"],
      [new ApiError("notCapable"), GrpcCode.UNAVAILABLE, "etcdserver: not capable"],
      [new ApiError("notLeader"), GrpcCode.FAILED_PRECONDITION, "etcdserver: not leader"],
      [new ApiError("tooManyRequests"), GrpcCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests"],
    ] as const;
    for (const [error, code, message] of cases) {
      api.backend.failNext(error);
      await expectStatus(put("f", "v"), code, message);
    }
    const secret = new Error("disk on fire at /var/lib/synod");
    api.backend.failNext(secret);
    await expectStatus(range({ key: b("f") }), GrpcCode.INTERNAL, internalErrorMessage);
    assert.equal(api.logged.at(-1)?.error, secret);
  });

  test("methods not built yet answer UNIMPLEMENTED, unary and streaming", async () => {
    await expectStatus(client.call("etcdserverpb.Maintenance", "Defragment", {}), GrpcCode.UNIMPLEMENTED, /Defragment is not implemented/);
    await expectStatus(client.call("etcdserverpb.Cluster", "MemberAdd", {}), GrpcCode.UNIMPLEMENTED, /MemberAdd is not implemented/);
    await expectStatus(client.call("etcdserverpb.Lease", "LeaseGrant", { TTL: "5" }), GrpcCode.UNIMPLEMENTED, /LeaseGrant is not implemented/);
    await expectStatus(client.call("v3lockpb.Lock", "Lock", { name: b("l") }), GrpcCode.UNIMPLEMENTED, /Lock is not implemented/);
  });

  test("every finished call is counted by method and code", () => {
    const counter = api.counter;
    assert.ok(counter.count("etcdserverpb.KV", "Put", GrpcCode.OK) >= 10);
    assert.equal(counter.count("etcdserverpb.KV", "Compact", GrpcCode.OK), 1);
    assert.equal(counter.count("etcdserverpb.KV", "Compact", GrpcCode.OUT_OF_RANGE), 2);
    assert.equal(counter.count("etcdserverpb.Maintenance", "Defragment", GrpcCode.UNIMPLEMENTED), 1);
    assert.equal(counter.count("etcdserverpb.KV", "Put", GrpcCode.UNAVAILABLE), 5);
    assert.ok(counter.entries().some(([key]) => key === "etcdserverpb.KV/Range INTERNAL"));
  });
});
