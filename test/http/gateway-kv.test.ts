/**
 * The JSON gateway's unary calls over a real HTTP port, against the test
 * twin. Expected bodies are etcd 3.4.23's, byte for byte, as recorded from
 * the same requests (cluster and member IDs are the twin's).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiError } from "../../src/api/etcd/index.js";
import { testClusterId, testMemberId, testRaftTerm } from "../api/test-backend.js";
import { b64, call, post, startGateway } from "./harness.js";
import type { GatewayFixture } from "./harness.js";

let gw: GatewayFixture;
const logged: unknown[] = [];
before(async () => {
  gw = await startGateway({ gateway: { logger: { error: (_message, error) => logged.push(error) } } });
});
after(() => gw.close());

/** header is etcd's JSON response header at a revision. */
function header(revision: number): string {
  return `{"cluster_id":"${testClusterId}","member_id":"${testMemberId}","revision":"${revision}","raft_term":"${testRaftTerm}"}`;
}

function errorText(message: string, code: number): string {
  return JSON.stringify({ error: message, message, code });
}

async function expectBody(path: string, body: string, status: number, text: string): Promise<void> {
  const answer = await call(gw.url, path, body);
  assert.equal(answer.text, text, `${path} ${body}`);
  assert.equal(answer.status, status, `${path} ${body}`);
  assert.equal(answer.headers["content-type"], "application/json");
}

test("/version answers GET with the server and cluster versions; other methods get 405", async () => {
  const answer = await call(gw.url, "/version", undefined, "GET");
  assert.equal(answer.status, 200);
  assert.equal(answer.text, '{"etcdserver":"3.4.0","etcdcluster":"3.4.0"}');
  assert.equal((await call(gw.url, "/version", "{}")).status, 405);
});

test("KV calls answer etcd's JSON: base64 bytes, int64 strings, zero values left out, enum names", async () => {
  await expectBody("/v3/kv/put", '{"key":"YQ==","value":"MQ==","prev_kv":true}', 200, `{"header":${header(2)}}`);
  await expectBody(
    "/v3/kv/put",
    '{"key":"YQ==","value":"Mg==","prev_kv":true}',
    200,
    `{"header":${header(3)},"prev_kv":{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"MQ=="}}`,
  );
  // A binary key and an empty value: the value is left out, as etcd does.
  await expectBody("/v3/kv/put", '{"key":"/wCA","value":""}', 200, `{"header":${header(4)}}`);
  const kvA = '{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2","value":"Mg=="}';
  const kvBinary = '{"key":"/wCA","create_revision":"4","mod_revision":"4","version":"1"}';
  await expectBody("/v3/kv/range", '{"key":"YQ==","range_end":"AA==","limit":1}', 200, `{"header":${header(4)},"kvs":[${kvA}],"more":true,"count":"2"}`);
  await expectBody("/v3/kv/range", '{"key":"AA==","range_end":"AA=="}', 200, `{"header":${header(4)},"kvs":[${kvA},${kvBinary}],"count":"2"}`);
  await expectBody("/v3/kv/range", '{"key":"YQ==","range_end":"AA==","count_only":true}', 200, `{"header":${header(4)},"count":"2"}`);
  await expectBody(
    "/v3/kv/range",
    '{"key":"YQ==","range_end":"AA==","keys_only":true}',
    200,
    `{"header":${header(4)},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2"},${kvBinary}],"count":"2"}`,
  );
  // lowerCamel field names and enums by name or number are read as jsonpb reads them.
  const descending = `{"header":${header(4)},"kvs":[${kvBinary},${kvA}],"count":"2"}`;
  await expectBody("/v3/kv/range", '{"key":"YQ==","rangeEnd":"AA==","sort_order":"DESCEND","sort_target":"KEY"}', 200, descending);
  await expectBody("/v3/kv/range", '{"key":"YQ==","range_end":"AA==","sort_order":2,"sort_target":0}', 200, descending);
  await expectBody(
    "/v3/kv/deleterange",
    '{"key":"YQ==","prev_kv":true}',
    200,
    `{"header":${header(5)},"deleted":"1","prev_kvs":[${kvA}]}`,
  );
  await expectBody("/v3/kv/deleterange", '{"key":"YQ=="}', 200, `{"header":${header(5)}}`);
  await expectBody("/v3beta/kv/range", '{"key":"/wCA"}', 200, `{"header":${header(5)},"kvs":[${kvBinary}],"count":"1"}`);
});

test("base64 round trip: every byte value in keys and values", async () => {
  const key = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
  const value = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
  await post(gw.url, "/v3/kv/put", { key: b64(key), value: b64(value) });
  const got = await post<{ kvs: { key: string; value: string }[] }>(gw.url, "/v3/kv/range", { key: b64(key) });
  assert.deepEqual(Buffer.from(got.kvs[0]?.key ?? "", "base64"), Buffer.from(key));
  assert.deepEqual(Buffer.from(got.kvs[0]?.value ?? "", "base64"), Buffer.from(value));
});

test("txn: Patroni's create-revision guard, both branches, nested txn, etcd's request checks", async () => {
  const guard = '{"compare":[{"target":"CREATE","create_revision":0,"key":"dA=="}],"success":[{"request_put":{"key":"dA==","value":"Mw=="}}],"failure":[{"request_range":{"key":"dA=="}}]}';
  const first = await call(gw.url, "/v3/kv/txn", guard);
  const revision = Number((JSON.parse(first.text) as { header: { revision: string } }).header.revision);
  assert.equal(first.text, `{"header":${header(revision)},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"${revision}"}}}]}`);
  const kv = `{"key":"dA==","create_revision":"${revision}","mod_revision":"${revision}","version":"1","value":"Mw=="}`;
  await expectBody("/v3/kv/txn", guard, 200, `{"header":${header(revision)},"responses":[{"response_range":{"header":{"revision":"${revision}"},"kvs":[${kv}],"count":"1"}}]}`);
  await expectBody(
    "/v3/kv/txn",
    '{"compare":[{"target":"MOD","result":"LESS","mod_revision":"100000","key":"dA=="}],"success":[{"request_txn":{"success":[{"request_range":{"key":"dA=="}}]}},{"request_delete_range":{"key":"eg=="}}]}',
    200,
    `{"header":${header(revision)},"succeeded":true,"responses":[{"response_txn":{"header":{},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"${revision}"},"kvs":[${kv}],"count":"1"}}]}},{"response_delete_range":{"header":{"revision":"${revision}"}}}]}`,
  );
  await expectBody("/v3/kv/txn", '{"success":[{"request_put":{"key":"YQ=="}},{"request_put":{"key":"YQ=="}}]}', 400, errorText("etcdserver: duplicate key given in txn request", 3));
  await expectBody("/v3/kv/txn", '{"success":[{}]}', 400, errorText("etcdserver: key not found", 3));
});

test("compaction: done once, then etcd's compacted and future-revision errors; reads below it fail", async () => {
  const { header: h } = await post<{ header: { revision: string } }>(gw.url, "/v3/kv/put", { key: b64("c"), value: b64("1") });
  const revision = Number(h.revision);
  await post(gw.url, "/v3/kv/put", { key: b64("c"), value: b64("2") });
  await expectBody("/v3/kv/compaction", JSON.stringify({ revision: String(revision + 1) }), 200, `{"header":${header(revision + 1)}}`);
  const compacted = errorText("etcdserver: mvcc: required revision has been compacted", 11);
  const answer = await call(gw.url, "/v3/kv/compaction", JSON.stringify({ revision: String(revision) }));
  assert.equal(answer.status, 400);
  assert.equal(answer.text, compacted);
  // Server errors carry grpc-gateway's trailer, as etcd's do.
  assert.equal(answer.headers["trailer"], "Grpc-Trailer-Content-Type");
  assert.equal(answer.trailers["grpc-trailer-content-type"], "application/grpc");
  await expectBody("/v3/kv/compaction", '{"revision":100000}', 400, errorText("etcdserver: mvcc: required revision is a future revision", 11));
  await expectBody("/v3/kv/range", JSON.stringify({ key: b64("c"), revision }), 400, compacted);
});

test("request errors: etcd's statuses, codes and decoder messages", async () => {
  await expectBody("/v3/kv/put", '{"key":""}', 400, errorText("etcdserver: key is not provided", 3));
  await expectBody("/v3/kv/range", "", 400, errorText("etcdserver: key is not provided", 3));
  await expectBody("/v3/kv/range", '{"key":"YQ==","revision":"100000"}', 400, errorText("etcdserver: mvcc: required revision is a future revision", 11));
  await expectBody("/v3/kv/range", '{"key":"YQ==","sort_order":"BAD"}', 400, errorText('unknown value "BAD" for enum etcdserverpb.RangeRequest_SortOrder', 3));
  await expectBody("/v3/kv/range", '{"key":"!!"}', 400, errorText("illegal base64 data at input byte 0", 3));
  await expectBody("/v3/kv/range", '{"key":"YQ==","limit":1.5}', 400, errorText("json: cannot unmarshal number 1.5 into Go value of type int64", 3));
  await expectBody("/v3/kv/range", '{"key":"YQ==","serializable":"true"}', 400, errorText("json: cannot unmarshal string into Go value of type bool", 3));
  await expectBody("/v3/kv/range", "[1]", 400, errorText("json: cannot unmarshal array into Go value of type map[string]json.RawMessage", 3));
  await expectBody("/v3/kv/range", "notjson", 400, errorText("invalid character 'o' in literal null (expecting 'u')", 3));
  await expectBody("/v3/kv/range", '{"key":"YQ==","bogus":1}', 200, `{"header":${header((await gw.backend.status()).revision)}}`);
  const notFound = await call(gw.url, "/v3/kv/rangex", "{}");
  assert.deepEqual([notFound.status, notFound.text], [404, "Not Found\n"]);
  const wrongMethod = await call(gw.url, "/v3/kv/range", undefined, "GET");
  assert.deepEqual([wrongMethod.status, wrongMethod.text], [405, "Method Not Allowed\n"]);
});

test("backend failures map to grpc-gateway's HTTP statuses", async () => {
  gw.backend.failNext(new ApiError("noLeader"));
  await expectBody("/v3/kv/range", '{"key":"YQ=="}', 503, errorText("etcdserver: no leader", 14));
  gw.backend.failNext(new Error("disk on fire"));
  await expectBody("/v3/kv/range", '{"key":"YQ=="}', 500, errorText("synod: internal server error", 13));
  assert.match(String(logged.at(-1)), /disk on fire/);
  await post(gw.url, "/v3/lease/grant", { TTL: 30, ID: 4321 });
  await expectBody("/v3/lease/grant", '{"TTL":30,"ID":4321}', 412, errorText("etcdserver: lease already exists", 9));
  await expectBody("/v3/kv/put", '{"key":"bA==","value":"MQ==","lease":"777"}', 404, errorText("etcdserver: requested lease not found", 5));
});

test("maintenance status and member list: etcd's field names", async () => {
  const status = await call(gw.url, "/v3/maintenance/status", "{}");
  const s = JSON.parse(status.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(s), ["header", "version", "dbSize", "leader", "raftIndex", "raftTerm", "raftAppliedIndex", "dbSizeInUse"]);
  assert.equal(s["leader"], String(testMemberId));
  const members = await call(gw.url, "/v3/cluster/member/list", "{}");
  assert.equal(
    members.text,
    `{"header":{"cluster_id":"${testClusterId}","member_id":"${testMemberId}","raft_term":"${testRaftTerm}"},"members":[{"ID":"${testMemberId}","name":"synod-test","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["${gw.url}"]}]}`,
  );
});

test("the member's HTTP port still serves /health and /metrics beside the gateway", async () => {
  const health = await call(gw.url, "/health", undefined, "GET");
  assert.deepEqual([health.status, health.text], [200, '{"health":"true","reason":""}']);
  const metrics = await call(gw.url, "/metrics", undefined, "GET");
  assert.equal(metrics.status, 200);
  const other = await call(gw.url, "/elsewhere", undefined, "GET");
  assert.equal(other.status, 404);
});
