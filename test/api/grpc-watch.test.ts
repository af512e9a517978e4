/**
 * The etcd Watch service over real gRPC, against the events test backend
 * (WatchHub over the MVCC store): create, cancel, progress, prev_kv,
 * filters, historical starts, compaction, watch ids chosen by the client or
 * the server, backpressure, and the end of the stream.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { EventsTestBackend } from "./events-test-backend.js";
import { RawClient, b, eventText, openStream, startApiWith } from "./harness.js";
import type { ApiFixture, DecodedWatchResponse, RawStream } from "./harness.js";
import { testClusterId, testMemberId } from "./test-backend.js";

const prefix = (p: string): { key: Buffer; range_end: Buffer } => {
  const end = Buffer.from(p);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return { key: b(p), range_end: end };
};

describe("etcd Watch over gRPC", () => {
  let api: ApiFixture<EventsTestBackend>;
  let client: RawClient;
  const closers: (() => void)[] = [];

  before(async () => {
    api = await startApiWith(new EventsTestBackend());
    client = new RawClient(api.endpoint);
  });
  after(async () => {
    for (const close of closers) close();
    client.close();
    await api.close();
  });

  const watchStream = (): RawStream<DecodedWatchResponse> => {
    const opened = openStream<DecodedWatchResponse>(api.endpoint, "etcdserverpb.Watch", "Watch");
    closers.push(() => opened.close());
    return opened.stream;
  };
  const put = (key: string, value: string): Promise<unknown> => client.kv("Put", { key: b(key), value: b(value) });
  const del = (key: string): Promise<unknown> => client.kv("DeleteRange", { key: b(key) });
  const revision = (): number => api.backend.mvcc.revision;

  test("create: created response with the full header, then live events; server-chosen ids count from 0", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("w1") } });
    const created = await stream.next();
    assert.equal(created.created, true);
    assert.equal(created.canceled, false);
    assert.equal(created.watch_id, "0");
    assert.deepEqual(
      { ...created.header },
      { cluster_id: testClusterId.toString(), member_id: testMemberId.toString(), revision: String(revision()), raft_term: "2" },
    );
    await put("w1", "a");
    await put("other", "x");
    await del("w1");
    const first = await stream.next();
    assert.equal(first.watch_id, "0");
    assert.deepEqual(first.events.map(eventText), [`PUT w1=a@${revision() - 2}/${revision() - 2}/1`]);
    assert.equal(first.header.revision, String(revision() - 2));
    const second = await stream.next();
    assert.deepEqual(second.events.map(eventText), [`DELETE w1@${revision()}`]);
    stream.write({ create_request: { key: b("w2") } });
    assert.equal((await stream.next()).watch_id, "1");
  });

  test("ids: a client-chosen id is kept, a duplicate is refused with etcd's reason, auto ids skip taken ones", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("i"), watch_id: 1 } });
    assert.equal((await stream.next()).watch_id, "1");
    stream.write({ create_request: { key: b("i"), watch_id: 1 } });
    const duplicate = await stream.next();
    assert.deepEqual([duplicate.watch_id, duplicate.created, duplicate.canceled, duplicate.cancel_reason], [
      "-1",
      true,
      true,
      "mvcc: duplicate watch ID provided on the WatchStream",
    ]);
    stream.write({ create_request: { key: b("i") } });
    assert.equal((await stream.next()).watch_id, "0");
    stream.write({ create_request: { key: b("i") } });
    assert.equal((await stream.next()).watch_id, "2", "1 is taken by the client's watch");
    // Another stream has its own ids.
    const other = watchStream();
    other.write({ create_request: { key: b("i") } });
    assert.equal((await other.next()).watch_id, "0");
  });

  test("cancel: canceled response, no more events; an unknown id gets no answer", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("c") } });
    const { watch_id } = await stream.next();
    stream.write({ cancel_request: { watch_id } });
    const canceled = await stream.next();
    assert.deepEqual([canceled.watch_id, canceled.canceled, canceled.created], [watch_id, true, false]);
    await put("c", "1");
    stream.write({ cancel_request: { watch_id: 42 } });
    await stream.quiet();
  });

  test("progress request: watch id -1 at the current revision", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("p") } });
    await stream.next();
    await put("unrelated", "1");
    stream.write({ progress_request: {} });
    const progress = await stream.next();
    assert.equal(progress.watch_id, "-1");
    assert.equal(progress.events.length, 0);
    assert.equal(progress.header.revision, String(revision()));
  });

  test("prefix with prev_kv and filters; empty range refused", async () => {
    const stream = watchStream();
    stream.write({ create_request: { ...prefix("f/"), prev_kv: true } });
    stream.write({ create_request: { ...prefix("f/"), filters: [0] } }); // NOPUT
    stream.write({ create_request: { ...prefix("f/"), filters: [1] } }); // NODELETE
    stream.write({ create_request: { key: b("z"), range_end: b("a") } });
    const ids = [await stream.next(), await stream.next(), await stream.next()].map((r) => r.watch_id);
    const empty = await stream.next();
    assert.equal(empty.cancel_reason, "mvcc: watcher range is empty");
    await put("f/a", "1");
    await put("f/a", "2");
    await del("f/a");
    const byWatch = new Map<string, string[]>();
    for (let i = 0; i < 6; i++) {
      const response = await stream.next();
      byWatch.set(response.watch_id, [...(byWatch.get(response.watch_id) ?? []), ...response.events.map(eventText)]);
    }
    const r = revision();
    assert.deepEqual(byWatch.get(ids[0] ?? ""), [
      `PUT f/a=1@${r - 2}/${r - 2}/1`,
      `PUT f/a=2@${r - 2}/${r - 1}/2 prev=f/a=1@${r - 2}/${r - 2}/1`,
      `DELETE f/a@${r} prev=f/a=2@${r - 2}/${r - 1}/2`,
    ]);
    assert.deepEqual(byWatch.get(ids[1] ?? ""), [`DELETE f/a@${r}`]);
    assert.deepEqual(byWatch.get(ids[2] ?? ""), [`PUT f/a=1@${r - 2}/${r - 2}/1`, `PUT f/a=2@${r - 2}/${r - 1}/2`]);
  });

  test("historical start: replays from start_revision, then goes live", async () => {
    await put("h", "1");
    const from = revision();
    await put("h", "2");
    const stream = watchStream();
    stream.write({ create_request: { key: b("h"), start_revision: from } });
    assert.equal((await stream.next()).created, true);
    const replay = await stream.next();
    assert.deepEqual(replay.events.map((e) => e.kv.value.toString()), ["1", "2"]);
    await put("h", "3");
    assert.deepEqual((await stream.next()).events.map((e) => e.kv.value.toString()), ["3"]);
  });

  test("compacted start: canceled with the compact revision", async () => {
    await put("old", "1");
    const compactAt = revision();
    await put("old", "2");
    await client.kv("Compact", { revision: compactAt });
    const stream = watchStream();
    stream.write({ create_request: { key: b("old"), start_revision: compactAt - 1 } });
    const created = await stream.next();
    assert.equal(created.created, true);
    const canceled = await stream.next();
    assert.equal(canceled.canceled, true);
    assert.equal(canceled.compact_revision, String(compactAt));
  });

  test("backpressure: a reader that does not read pauses the hub; nothing is lost once it reads", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("bp") } });
    await stream.next();
    stream.pause();
    const fullBefore = api.backend.sinkFullCount;
    const count = 1_500;
    const value = "v".repeat(4_000);
    for (let i = 0; i < count; i++) await put("bp", `${i}:${value}`);
    assert.ok(api.backend.sinkFullCount > fullBefore, "the gRPC stream filled up and the hub was told");
    stream.resume();
    const seen: number[] = [];
    while (seen.length < count) {
      const response = await stream.next(5_000);
      for (const event of response.events) seen.push(Number(event.kv.value.toString().split(":")[0]));
    }
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => i));
  });

  test("the stream ends when the client cancels, and its watches are dropped", async () => {
    const stream = watchStream();
    stream.write({ create_request: { key: b("gone") } });
    await stream.next();
    const before = api.backend.hub.watcherCount;
    stream.cancel();
    const status = await stream.status;
    assert.equal(status.code, grpc.status.CANCELLED);
    for (let i = 0; i < 50 && api.backend.hub.watcherCount >= before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(api.backend.hub.watcherCount, before - 1);
  });
});

test("server stop ends open watch streams with etcd's 'server stopped'", async () => {
  const api = await startApiWith(new EventsTestBackend(), { shutdownGraceMs: 2_000 });
  const opened = openStream<DecodedWatchResponse>(api.endpoint, "etcdserverpb.Watch", "Watch");
  try {
    opened.stream.write({ create_request: { key: b("k") } });
    await opened.stream.next();
    const startedMs = Date.now();
    await api.close();
    assert.ok(Date.now() - startedMs < 1_500, "stop did not wait for the grace period");
    const status = await opened.stream.status;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.details, "etcdserver: server stopped");
  } finally {
    opened.close();
  }
});
