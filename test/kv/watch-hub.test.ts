import assert from "node:assert/strict";
import { test } from "node:test";
import { cancelReasons, fragmentResponse, watchIdNone } from "../../src/kv/watch-hub.js";
import { eventFieldSizeBytes, watchResponseBaseSizeBytes } from "../../src/kv/response-size.js";
import { b, expectError, str, unwrap } from "./helpers.js";
import { Member, Recorder, eventString } from "./watch-helpers.js";

function open(member: Member): { recorder: Recorder; stream: ReturnType<Member["hub"]["openStream"]> } {
  const recorder = new Recorder();
  return { recorder, stream: member.hub.openStream(recorder) };
}

test("a watch from now gets each later write once, in order, after its created response", () => {
  const m = new Member();
  m.put("a", "0"); // 2
  const { recorder, stream } = open(m);
  const created = stream.createWatch({ key: b("a") });
  assert.deepEqual(created, { ok: true, watchId: 0 });
  m.put("a", "1"); // 3
  m.put("b", "x"); // 4, not watched
  m.del("a"); // 5
  assert.deepEqual(recorder.responses[0], { header: { revision: 2 }, watchId: 0, created: true, events: [] });
  assert.deepEqual(
    recorder.responses.slice(1).map((r) => [r.header.revision, r.events.map(eventString)]),
    [
      [3, ["PUT a=1@2/3/2/l0"]],
      [5, ["DELETE a=@0/5/0/l0"]],
    ],
  );
  assert.equal(m.hub.unsyncedCount, 0);
});

test("a watch from a past revision catches up from history, then follows live writes without a gap or a repeat", () => {
  const m = new Member({ catchUpRecordsMax: 1, pumpRecordsMax: 1 });
  for (let i = 0; i < 5; i++) m.put(`k${i % 2}`, `v${i}`); // 2..6
  const { recorder, stream } = open(m);
  const created = stream.createWatch({ key: b("k"), rangeEnd: b("l"), startRevision: 3 });
  assert.ok(created.ok);
  const { watchId } = created;
  assert.equal(m.hub.unsyncedCount, 1);
  m.put("k0", "live"); // 7: the watcher is unsynced, so this reaches it from history
  const reports = [];
  while (m.hub.unsyncedCount > 0) reports.push(m.hub.pump());
  assert.ok(reports.length >= 5, "one record per pump means one pump per revision");
  for (const report of reports) assert.ok(report.recordsRead <= 1);
  m.put("k1", "after"); // 8: synced now
  assert.deepEqual(
    recorder.eventsOf(watchId).map((e) => e.split(" ")[1]),
    ["k1=v1@3/3/1/l0", "k0=v2@2/4/2/l0", "k1=v3@3/5/2/l0", "k0=v4@2/6/3/l0", "k0=live@2/7/4/l0", "k1=after@3/8/3/l0"],
  );
  // Catch-up responses carry the revision they are complete through.
  for (const r of recorder.of(watchId).slice(1)) assert.equal(r.header.revision, r.events.at(-1)?.kv.modRevision);
});

test("prev_kv: asked for, every non-create event carries the previous value, from history and live alike", () => {
  const m = new Member();
  m.put("a", "1"); // 2
  m.put("a", "2"); // 3
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), startRevision: 2, prevKv: true });
  stream.createWatch({ key: b("a"), startRevision: 2 });
  m.hub.pump();
  m.del("a"); // 4
  m.put("a", "3"); // 5
  assert.deepEqual(recorder.eventsOf(0), [
    "PUT a=1@2/2/1/l0",
    "PUT a=2@2/3/2/l0 prev 1@2",
    "DELETE a=@0/4/0/l0 prev 2@3",
    "PUT a=3@5/5/1/l0",
  ]);
  assert.deepEqual(recorder.eventsOf(1), ["PUT a=1@2/2/1/l0", "PUT a=2@2/3/2/l0", "DELETE a=@0/4/0/l0", "PUT a=3@5/5/1/l0"]);
});

test("filters drop puts or deletes", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), filters: { noPut: true } });
  stream.createWatch({ key: b("a"), filters: { noDelete: true } });
  m.put("a", "1");
  m.del("a");
  assert.deepEqual(recorder.eventsOf(0), ["DELETE a=@0/3/0/l0"]);
  assert.deepEqual(recorder.eventsOf(1), ["PUT a=1@2/2/1/l0"]);
});

test("one revision's events arrive in one response; a txn's several keys stay together", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("\0"), rangeEnd: b("\0") });
  m.applied(
    m.mvcc.txn({
      success: [{ requestPut: { key: b("x"), value: b("1") } }, { requestPut: { key: b("y"), value: b("2") } }, { requestPut: { key: b("z"), value: b("3") } }],
    }),
  );
  const events = recorder.of(0).filter((r) => r.events.length > 0);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]?.events.map((e) => str(e.kv.key)), ["x", "y", "z"]);
});

test("key ranges: single key, [key, end), every key from key, and the empty key as \\0", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("b") }); // 0
  stream.createWatch({ key: b("b"), rangeEnd: b("d") }); // 1
  stream.createWatch({ key: b("c"), rangeEnd: new Uint8Array([0]) }); // 2
  stream.createWatch({ key: new Uint8Array(0), rangeEnd: new Uint8Array([0]) }); // 3: everything
  for (const k of ["a", "b", "bb", "c", "d", "z"]) m.put(k, k);
  const keys = (id: number): string[] => recorder.eventsOf(id).map((e) => e.split(" ")[1]?.split("=")[0] ?? "");
  assert.deepEqual(keys(0), ["b"]);
  assert.deepEqual(keys(1), ["b", "bb", "c"]);
  assert.deepEqual(keys(2), ["c", "d", "z"]);
  assert.deepEqual(keys(3), ["a", "b", "bb", "c", "d", "z"]);
});

test("watch ids: automatic ids count up per stream, client ids are honoured, a duplicate is refused as etcd refuses it", () => {
  const m = new Member();
  const one = open(m);
  const two = open(m);
  assert.deepEqual(one.stream.createWatch({ key: b("a"), watchId: 42 }), { ok: true, watchId: 42 });
  assert.deepEqual(one.stream.createWatch({ key: b("a"), watchId: 42 }), { ok: false, cancelReason: cancelReasons.duplicateId });
  assert.deepEqual(one.recorder.responses[1], {
    header: { revision: 1 },
    watchId: watchIdNone,
    created: true,
    canceled: true,
    cancelReason: "mvcc: duplicate watch ID provided on the WatchStream",
    events: [],
  });
  assert.deepEqual(one.stream.createWatch({ key: b("a") }), { ok: true, watchId: 0 });
  assert.equal(one.stream.cancel(0), true);
  assert.deepEqual(one.recorder.responses.at(-1), { header: { revision: 1 }, watchId: 0, canceled: true, events: [] });
  assert.deepEqual(one.stream.createWatch({ key: b("a") }), { ok: true, watchId: 1 }, "a canceled automatic id is not reused");
  assert.deepEqual(two.stream.createWatch({ key: b("a") }), { ok: true, watchId: 0 }, "each stream has its own ids");
  assert.equal(one.stream.cancel(999), false);
  assert.deepEqual(one.stream.watchIds(), [42, 1]);
  m.put("a", "x");
  assert.equal(one.recorder.eventsOf(0).length, 0, "the canceled watch got nothing");
  assert.equal(one.recorder.eventsOf(42).length, 1);
  assert.equal(two.recorder.eventsOf(0).length, 1);
});

test("bad creates are answered created-and-canceled with etcd's reasons", () => {
  const m = new Member({ streamWatchersMax: 1 });
  const { recorder, stream } = open(m);
  assert.deepEqual(stream.createWatch({ key: b("b"), rangeEnd: b("a") }), { ok: false, cancelReason: "mvcc: watcher range is empty" });
  assert.deepEqual(stream.createWatch({ key: b("b"), rangeEnd: b("b") }), { ok: false, cancelReason: "mvcc: watcher range is empty" });
  assert.deepEqual(stream.createWatch({ key: b("b"), startRevision: -1 }), {
    ok: false,
    cancelReason: "etcdserver: mvcc: required revision has been compacted",
  });
  assert.equal(stream.createWatch({ key: b("b") }).ok, true);
  assert.deepEqual(stream.createWatch({ key: b("c") }), { ok: false, cancelReason: cancelReasons.tooManyWatchers });
  assert.ok(recorder.responses.every((r) => r.created === true));
  assert.deepEqual(
    recorder.responses.map((r) => r.watchId),
    [-1, -1, -1, 0, -1],
  );
});

test("a start revision below the compaction revision cancels with etcd's compact revision; at it, with the next one", () => {
  const m = new Member();
  for (let i = 0; i < 5; i++) m.put("a", `${i}`); // 2..6
  m.del("a"); // 7
  m.put("a", "again"); // 8
  unwrap(m.mvcc.compact({ revision: 7 }));
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), startRevision: 3 }); // 0
  stream.createWatch({ key: b("a"), startRevision: 7 }); // 1: the delete at 7 is gone from history
  stream.createWatch({ key: b("a"), startRevision: 8 }); // 2
  m.hub.pump();
  assert.deepEqual(recorder.of(0), [
    { header: { revision: 8 }, watchId: 0, created: true, events: [] },
    { header: { revision: 8 }, watchId: 0, canceled: true, compactRevision: 7, events: [] },
  ]);
  assert.deepEqual(recorder.of(1)[1], { header: { revision: 8 }, watchId: 1, canceled: true, compactRevision: 8, events: [] });
  assert.deepEqual(recorder.eventsOf(2), ["PUT a=again@8/8/1/l0"]);
  // A compacted watch keeps its id until the client cancels it, as in etcd.
  assert.deepEqual(stream.watchIds(), [0, 1, 2]);
  m.put("a", "later");
  assert.equal(recorder.of(0).length, 2, "nothing after the cancel");
  assert.equal(stream.cancel(0), true);
});

test("a slow watcher overtaken by compaction is canceled, after everything it had been sent", () => {
  const m = new Member({ pendingEventsMax: 2 });
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a") });
  recorder.full = true;
  m.put("a", "1"); // 2: sent, and the sink reports full
  m.put("a", "2"); // 3: queued
  m.put("a", "3"); // 4: queued
  m.put("a", "4"); // 5: queue full: back to unsynced at 5
  m.put("a", "5"); // 6
  assert.equal(m.hub.unsyncedCount, 1);
  unwrap(m.mvcc.compact({ revision: 6 }));
  recorder.full = false;
  stream.resume();
  m.hub.pump();
  assert.deepEqual(recorder.eventsOf(0).map((e) => e.split(" ")[1]), ["a=1@2/2/1/l0", "a=2@2/3/2/l0", "a=3@2/4/3/l0"]);
  assert.deepEqual(recorder.responses.at(-1), { header: { revision: 6 }, watchId: 0, canceled: true, compactRevision: 6, events: [] });
});

test("backpressure: a full sink gets nothing more until resume; queued and stored events then arrive in order, once", () => {
  const m = new Member({ pendingEventsMax: 3 });
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("k"), rangeEnd: b("l") });
  recorder.full = true;
  m.put("k1", "1"); // delivered; the sink is now full
  assert.equal(stream.paused, true);
  const sentWhileFull = recorder.responses.length;
  for (let i = 2; i <= 10; i++) m.put(`k${i % 3}`, `${i}`);
  assert.equal(recorder.responses.length, sentWhileFull, "no events while full");
  assert.equal(m.hub.unsyncedCount, 1, "the queue bound moved it to unsynced");
  assert.equal(m.hub.pump().recordsRead, 0, "a paused stream's watcher waits");
  recorder.full = false;
  stream.resume();
  m.hub.pump();
  m.put("k9", "live");
  const values = recorder.eventsOf(0).map((e) => e.split("=")[1]?.split("@")[0]);
  assert.deepEqual(values, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "live"]);
  assert.equal(m.hub.unsyncedCount, 0);
});

test("progress: a stream's request is answered with id -1 once every watch is synced; ticks reach idle synced watchers only", () => {
  const m = new Member();
  m.put("a", "1"); // 2
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), progressNotify: true }); // 0 synced
  stream.createWatch({ key: b("a"), startRevision: 2, progressNotify: true }); // 1 unsynced
  stream.requestProgress();
  assert.equal(recorder.of(watchIdNone).length, 0, "deferred while watch 1 is behind");
  m.hub.progressTick();
  assert.equal(recorder.of(1).length, 1, "an unsynced watcher gets no progress notification");
  assert.deepEqual(recorder.of(0).at(-1), { header: { revision: 2 }, watchId: 0, events: [] });
  m.hub.pump();
  assert.deepEqual(recorder.of(watchIdNone), [{ header: { revision: 2 }, watchId: -1, events: [] }]);
  m.put("a", "2"); // 3: both get it
  m.hub.progressTick(); // elided: events were sent since the last tick
  assert.equal(recorder.of(0).filter((r) => r.events.length === 0).length, 2);
  m.hub.progressTick();
  assert.deepEqual(recorder.of(0).at(-1), { header: { revision: 3 }, watchId: 0, events: [] });
  assert.equal(m.hub.progress(), 3);
  stream.requestProgress();
  assert.deepEqual(recorder.responses.at(-1), { header: { revision: 3 }, watchId: -1, events: [] });
});

test("fragment: a response over the byte bound is cut into pieces flagged fragment except the last; without it, one response", () => {
  const m = new Member({ fragmentBytesMax: 300 });
  const big = "v".repeat(100);
  for (const k of ["a", "b", "c", "d", "e"]) m.put(k, big);
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), rangeEnd: b("z"), prevKv: true, fragment: true }); // 0
  stream.createWatch({ key: b("a"), rangeEnd: b("z"), prevKv: true }); // 1
  m.del("a", "z"); // one revision, five deletes, each carrying a 100-byte previous value
  const pieces = recorder.of(0).slice(1);
  assert.ok(pieces.length > 1);
  assert.deepEqual(
    pieces.map((p) => p.fragment === true),
    [...pieces.slice(1).map(() => true), false],
  );
  for (const p of pieces) {
    const size = p.events.reduce((s, e) => s + eventFieldSizeBytes(e), watchResponseBaseSizeBytes(0));
    assert.ok(p.events.length === 1 || size < 300, `piece of ${size} bytes`);
  }
  assert.deepEqual(pieces.flatMap((p) => p.events.map(eventString)), recorder.eventsOf(1));
  assert.equal(recorder.of(1).length, 2, "the watch without fragment gets one response");
  // A single huge event is never split, and a small response is left whole.
  const one = { header: { revision: 1 }, watchId: 0, events: pieces[0]?.events.slice(0, 1) ?? [] };
  assert.deepEqual(fragmentResponse(one, 10), [one]);
  assert.deepEqual(fragmentResponse(one, 10_000), [one]);
});

test("a watch with a future start revision waits for it", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a"), startRevision: 4 });
  m.put("a", "2");
  m.put("a", "3");
  m.put("a", "4");
  m.put("a", "5");
  assert.deepEqual(recorder.eventsOf(0).map((e) => e.split(" ")[1]), ["a=4@2/4/3/l0", "a=5@2/5/4/l0"]);
});

test("close drops a stream's watches silently; onApplied refuses a gap", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a") });
  stream.close();
  m.put("a", "1");
  assert.equal(recorder.responses.length, 1);
  assert.equal(m.hub.watcherCount, 0);
  unwrap(m.mvcc.put({ key: b("x"), value: b("unreported") })); // 3, never reported
  const events = unwrap(m.mvcc.put({ key: b("x"), value: b("y") })).events; // 4
  assert.throws(() => m.hub.onApplied(4, events), /does not follow/);
});

test("after a snapshot is installed, synced watchers catch up from the new history", () => {
  const m = new Member();
  const { recorder, stream } = open(m);
  stream.createWatch({ key: b("a") });
  m.put("a", "1"); // 2
  // Writes the member missed, then "installed" (same store, not reported to the hub).
  unwrap(m.mvcc.put({ key: b("a"), value: b("2") })); // 3
  unwrap(m.mvcc.put({ key: b("a"), value: b("3") })); // 4
  m.hub.onRestored();
  assert.equal(m.hub.unsyncedCount, 1);
  m.hub.pump();
  m.put("a", "4"); // 5
  assert.deepEqual(recorder.eventsOf(0).map((e) => e.split("=")[1]?.split("@")[0]), ["1", "2", "3", "4"]);
});

test("eventsSince: bounded reads never split a revision, and refuse compacted history", () => {
  const m = new Member();
  m.applied(m.mvcc.txn({ success: ["a", "b", "c"].map((k) => ({ requestPut: { key: b(k), value: b("1") } })) })); // 2: three records
  m.put("a", "2"); // 3
  const first = unwrap(m.mvcc.eventsSince({ fromRevision: 1, key: b("\0"), rangeEnd: b("\0"), recordsMax: 1 }));
  assert.deepEqual([first.events.length, first.nextRevision, first.recordsRead], [3, 3, 3]);
  const second = unwrap(m.mvcc.eventsSince({ fromRevision: first.nextRevision, key: b("\0"), rangeEnd: b("\0"), recordsMax: 1 }));
  assert.deepEqual([second.events.length, second.nextRevision], [1, 4]);
  const single = unwrap(m.mvcc.eventsSince({ fromRevision: 2, key: b("a"), recordsMax: 1 }));
  assert.deepEqual([single.events.map(eventString), single.nextRevision], [["PUT a=1@2/2/1/l0"], 3]);
  const future = unwrap(m.mvcc.eventsSince({ fromRevision: 9, key: b("a"), recordsMax: 1 }));
  assert.deepEqual([future.events.length, future.nextRevision], [0, 9]);
  unwrap(m.mvcc.compact({ revision: 2 }));
  expectError(m.mvcc.eventsSince({ fromRevision: 2, key: b("a"), recordsMax: 5 }), "compacted");
  assert.equal(unwrap(m.mvcc.eventsSince({ fromRevision: 3, key: b("a"), recordsMax: 5 })).events.length, 1);
});
