/**
 * The JSON gateway's streaming calls and leases over a real HTTP port,
 * against the test twin: watch responses arrive as the writes happen, a
 * client that leaves closes its hub stream, keep-alives are answered in
 * order and the stream ends with the body. Expected lines are etcd 3.4.23's.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ApiError } from "../../src/api/etcd/index.js";
import { ManualClock } from "../api/events-test-backend.js";
import { testClusterId, testMemberId, testRaftTerm } from "../api/test-backend.js";
import { HttpTestBackend, LineStream, b64, call, post, startGateway, waitUntil } from "./harness.js";
import type { GatewayFixture } from "./harness.js";

let gw: GatewayFixture;
let clock: ManualClock;
before(async () => {
  clock = new ManualClock();
  gw = await startGateway({ gateway: { logger: { error: () => undefined } } }, new HttpTestBackend({ clock }));
});
after(() => gw.close());

function header(revision: number): string {
  return `{"cluster_id":"${testClusterId}","member_id":"${testMemberId}","revision":"${revision}","raft_term":"${testRaftTerm}"}`;
}

function result(body: string): string {
  return `{"result":${body}}`;
}

async function revisionNow(): Promise<number> {
  return (await gw.backend.status()).revision;
}

test("watch: created, then each event as it happens, with prev_kv and DELETE; the stream stays open", async () => {
  const base = await revisionNow();
  const stream = new LineStream(gw.url, "/v3/watch", { create_request: { key: b64("w"), range_end: b64("x"), prev_kv: true } });
  try {
    assert.deepEqual(await stream.waitLines(1), [result(`{"header":${header(base)},"created":true}`)]);
    assert.equal(stream.status, 200);
    await post(gw.url, "/v3/kv/put", { key: b64("w"), value: b64("1") });
    // The event is written before the next write is made: it arrives as it happens.
    assert.equal(
      (await stream.waitLines(2))[1],
      result(`{"header":${header(base + 1)},"events":[{"kv":{"key":"dw==","create_revision":"${base + 1}","mod_revision":"${base + 1}","version":"1","value":"MQ=="}}]}`),
    );
    await post(gw.url, "/v3/kv/put", { key: b64("w"), value: b64("2") });
    await post(gw.url, "/v3/kv/deleterange", { key: b64("w") });
    const lines = await stream.waitLines(4);
    assert.equal(
      lines[2],
      result(
        `{"header":${header(base + 2)},"events":[{"kv":{"key":"dw==","create_revision":"${base + 1}","mod_revision":"${base + 2}","version":"2","value":"Mg=="},"prev_kv":{"key":"dw==","create_revision":"${base + 1}","mod_revision":"${base + 1}","version":"1","value":"MQ=="}}]}`,
      ),
    );
    assert.equal(
      lines[3],
      result(
        `{"header":${header(base + 3)},"events":[{"type":"DELETE","kv":{"key":"dw==","mod_revision":"${base + 3}"},"prev_kv":{"key":"dw==","create_revision":"${base + 1}","mod_revision":"${base + 2}","version":"2","value":"Mg=="}}]}`,
      ),
    );
    assert.equal(stream.ended, false);
  } finally {
    stream.destroy();
  }
});

test("watch: more requests on the same body: ids, duplicates, progress, cancel, empty range, history, compaction", async () => {
  const base = await revisionNow();
  await post(gw.url, "/v3/kv/put", { key: b64("h"), value: b64("1") });
  await post(gw.url, "/v3/kv/deleterange", { key: b64("h") });
  const now = base + 2;
  const stream = new LineStream(gw.url, "/v3/watch", { create_request: { key: b64("h"), watch_id: "5" } });
  try {
    await stream.waitLines(1);
    stream.send({ create_request: { key: b64("h"), watch_id: "5" } });
    stream.send({ progress_request: {} });
    stream.send({ cancel_request: { watch_id: "5" } });
    stream.send({ create_request: { key: b64("h"), range_end: b64("h") } });
    stream.send({ create_request: { key: b64("h"), start_revision: String(base + 1), filters: ["NOPUT"] } });
    const lines = await stream.waitLines(7);
    assert.deepEqual(lines, [
      result(`{"header":${header(now)},"watch_id":"5","created":true}`),
      result(`{"header":${header(now)},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"mvcc: duplicate watch ID provided on the WatchStream"}`),
      result(`{"header":${header(now)},"watch_id":"-1"}`),
      result(`{"header":${header(now)},"watch_id":"5","canceled":true}`),
      result(`{"header":${header(now)},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"mvcc: watcher range is empty"}`),
      // The stream picks id 0 (left out, as a zero value) for the first watch without one.
      result(`{"header":${header(now)},"created":true}`),
      result(`{"header":${header(now)},"events":[{"type":"DELETE","kv":{"key":"aA==","mod_revision":"${now}"}}]}`),
    ]);
    await post(gw.url, "/v3/kv/compaction", { revision: String(now) });
    stream.send({ create_request: { key: b64("h"), start_revision: String(base + 1) } });
    const compacted = await stream.waitLines(9);
    // A compaction cancel has no header revision, as etcd's.
    assert.deepEqual(compacted.slice(7), [
      result(`{"header":${header(now)},"watch_id":"1","created":true}`),
      result(`{"header":{"cluster_id":"${testClusterId}","member_id":"${testMemberId}","raft_term":"${testRaftTerm}"},"watch_id":"1","canceled":true,"compact_revision":"${now}"}`),
    ]);
  } finally {
    stream.destroy();
  }
});

test("watch: a client that disconnects closes its hub stream; one whose body ends keeps watching", async () => {
  // Streams of earlier tests close once the server sees their clients gone.
  await waitUntil(() => gw.backend.hub.watcherCount === 0, "earlier watches to close");
  const watchersBefore = gw.backend.hub.watcherCount;
  const leaving = new LineStream(gw.url, "/v3/watch", { create_request: { key: b64("gone") } });
  await leaving.waitLines(1);
  assert.equal(gw.backend.hub.watcherCount, watchersBefore + 1);
  leaving.destroy();
  await waitUntil(() => gw.backend.hub.watcherCount === watchersBefore, "the hub stream to close");

  const halfClosed = new LineStream(gw.url, "/v3/watch", { create_request: { key: b64("stay") } });
  halfClosed.endBody();
  try {
    await halfClosed.waitLines(1);
    await post(gw.url, "/v3/kv/put", { key: b64("stay"), value: b64("1") });
    assert.match((await halfClosed.waitLines(2))[1] ?? "", /"events":\[\{"kv":\{"key":"c3RheQ=="/);
    assert.equal(halfClosed.ended, false);
  } finally {
    halfClosed.destroy();
  }
});

test("watch: a first message that does not decode fails the call as etcd's gateway does", async () => {
  const bad = new LineStream(gw.url, "/v3/watch", "xx");
  await bad.waitEnd();
  assert.equal(bad.status, 500);
  assert.deepEqual(bad.lines, [
    '{"error":"invalid character \'x\' looking for beginning of value","message":"invalid character \'x\' looking for beginning of value","code":2}',
  ]);
  const badKey = new LineStream(gw.url, "/v3/watch", { create_request: { key: "!!" } });
  await badKey.waitEnd();
  assert.equal(badKey.status, 500);
  assert.match(badKey.lines[0] ?? "", /illegal base64 data at input byte 0.*"code":2/);
});

test("watch: closing the gateway ends open streams with etcd's stream error, so the server can stop", async () => {
  const other = await startGateway({ gateway: { logger: { error: () => undefined } } });
  const stream = new LineStream(other.url, "/v3/watch", { create_request: { key: b64("k") } });
  await stream.waitLines(1);
  const closing = other.close();
  await stream.waitEnd();
  assert.equal(
    stream.lines[1],
    '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: server stopped","http_status":"Service Unavailable"}}',
  );
  await closing;
});

test("leases: grant, keep-alive stream, time-to-live with keys, leases, revoke (both 3.4 paths)", async () => {
  const revision = await revisionNow();
  const granted = await call(gw.url, "/v3/lease/grant", '{"TTL":30,"ID":1234}');
  assert.equal(granted.text, `{"header":${header(revision)},"ID":"1234","TTL":"30"}`);
  const auto = await post<{ ID: string; TTL: string }>(gw.url, "/v3/lease/grant", { TTL: 1 });
  assert.ok(Number(auto.ID) > 0);
  assert.equal(auto.TTL, "2", "TTLs below the minimum are raised, as etcd");
  await post(gw.url, "/v3/kv/put", { key: b64("l"), value: b64("1"), lease: "1234" });

  clock.nowMs += 10_000;
  const keepAlive = await call(gw.url, "/v3/lease/keepalive", '{"ID":"1234"}{"ID":"999"}');
  assert.equal(keepAlive.status, 200);
  assert.equal(keepAlive.headers["transfer-encoding"], "chunked");
  assert.equal(
    keepAlive.text,
    `${result(`{"header":${header(revision + 1)},"ID":"1234","TTL":"30"}`)}\n${result(`{"header":${header(revision + 1)},"ID":"999"}`)}\n`,
  );
  const empty = await call(gw.url, "/v3/lease/keepalive", "");
  assert.deepEqual([empty.status, empty.text], [200, ""]);
  const badFirst = await call(gw.url, "/v3/lease/keepalive", '{"ID":"x"}');
  assert.deepEqual([badFirst.status, badFirst.text], [500, JSON.stringify({ error: "invalid character 'x' looking for beginning of value", message: "invalid character 'x' looking for beginning of value", code: 2 })]);

  clock.nowMs += 5_000;
  const ttl = await call(gw.url, "/v3/lease/timetolive", '{"ID":"1234","keys":true}');
  assert.equal(ttl.text, `{"header":${header(revision + 1)},"ID":"1234","TTL":"25","grantedTTL":"30","keys":["bA=="]}`);
  const missing = await call(gw.url, "/v3/kv/lease/timetolive", '{"ID":"999"}');
  assert.equal(missing.text, `{"header":${header(revision + 1)},"ID":"999","TTL":"-1"}`);
  const leases = await call(gw.url, "/v3/lease/leases", "{}");
  const ids = [Number(auto.ID), 1234].sort((x, y) => x - y);
  assert.equal(leases.text, `{"header":${header(revision + 1)},"leases":[${ids.map((id) => `{"ID":"${id}"}`).join(",")}]}`);

  const revoked = await call(gw.url, "/v3/kv/lease/revoke", '{"ID":"1234"}');
  assert.equal(revoked.text, `{"header":${header(revision + 2)}}`);
  const again = await call(gw.url, "/v3/lease/revoke", '{"ID":"1234"}');
  assert.deepEqual([again.status, again.text], [404, JSON.stringify({ error: "etcdserver: requested lease not found", message: "etcdserver: requested lease not found", code: 5 })]);
  const gone = await post<{ kvs?: unknown[] }>(gw.url, "/v3/kv/range", { key: b64("l") });
  assert.equal(gone.kvs, undefined, "the revoke deleted the lease's key");
});

test("keep-alive: requests sent over time are answered as they come; a backend failure ends the stream with etcd's error object", async () => {
  const { ID } = await post<{ ID: string }>(gw.url, "/v3/lease/grant", { TTL: 60 });
  const stream = new LineStream(gw.url, "/v3/lease/keepalive", { ID });
  try {
    assert.match((await stream.waitLines(1))[0] ?? "", new RegExp(`"ID":"${ID}","TTL":"60"`));
    stream.send({ ID });
    await stream.waitLines(2);
    gw.backend.failNext(new ApiError("noLeader"));
    stream.send({ ID });
    await stream.waitEnd();
    assert.equal(stream.lines[2], '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}');
  } finally {
    stream.destroy();
  }
});
