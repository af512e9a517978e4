import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compareBytes } from "../../src/kv/bytes.js";
import { EventType } from "../../src/kv/types.js";
import type { KvEvent, RequestOp } from "../../src/kv/types.js";
import type { WatchCreateRequest, WatchResponse, WatchStream } from "../../src/kv/watch-hub.js";
import { b } from "./helpers.js";
import { Member, Recorder, eventString } from "./watch-helpers.js";

/**
 * Random writes interleaved with watch creations at random start revisions
 * (past, now, future, compacted), cancels, slow consumers, pumps, progress
 * requests and compactions, on several streams. Afterwards every watch must
 * have been sent exactly the applied history filtered by its range and
 * filters from its start revision (a prefix of it if it was canceled), with
 * no revision split across responses except by fragments, and every
 * progress response must come after all the events it vouches for.
 */

const keys = ["a", "b", "c", "d", "e"] as const;
const key = fc.constantFrom(...keys);
const streamIndex = fc.integer({ min: 0, max: 2 });

type Command =
  | { readonly kind: "put"; readonly key: string; readonly size: number }
  | { readonly kind: "del"; readonly key: string; readonly end: string | null }
  | { readonly kind: "txn"; readonly puts: readonly string[]; readonly del: string | null }
  | { readonly kind: "compact"; readonly back: number }
  | {
      readonly kind: "watch";
      readonly stream: number;
      readonly key: string;
      readonly shape: "single" | "range" | "from";
      readonly end: string;
      readonly start: { readonly kind: "now" } | { readonly kind: "back"; readonly n: number } | { readonly kind: "ahead"; readonly n: number };
      readonly prevKv: boolean;
      readonly noPut: boolean;
      readonly noDelete: boolean;
      readonly fragment: boolean;
    }
  | { readonly kind: "cancel"; readonly stream: number; readonly pick: number }
  | { readonly kind: "full"; readonly stream: number; readonly full: boolean }
  | { readonly kind: "resume"; readonly stream: number }
  | { readonly kind: "progress"; readonly stream: number }
  | { readonly kind: "pump" };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("put" as const), key, size: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("del" as const), key, end: fc.option(key, { nil: null }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("txn" as const),
      puts: fc.uniqueArray(key, { minLength: 1, maxLength: 3 }),
      del: fc.option(key, { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), back: fc.integer({ min: 0, max: 6 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("watch" as const),
      stream: streamIndex,
      key,
      shape: fc.constantFrom("single" as const, "range" as const, "from" as const),
      end: key,
      start: fc.oneof(
        fc.constant({ kind: "now" as const }),
        fc.record({ kind: fc.constant("back" as const), n: fc.integer({ min: 0, max: 12 }) }),
        fc.record({ kind: fc.constant("ahead" as const), n: fc.integer({ min: 1, max: 3 }) }),
      ),
      prevKv: fc.boolean(),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
      fragment: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), stream: streamIndex, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("full" as const), stream: streamIndex, full: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("resume" as const), stream: streamIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("progress" as const), stream: streamIndex }) },
  { weight: 3, arbitrary: fc.constant({ kind: "pump" as const }) },
);

interface Watch {
  readonly stream: number;
  readonly id: number;
  readonly request: WatchCreateRequest;
  /** start is the first revision the watch wants. */
  readonly start: number;
}

function inWatch(w: WatchCreateRequest, k: Uint8Array): boolean {
  if (w.rangeEnd === undefined) return compareBytes(k, w.key) === 0;
  if (w.rangeEnd.length === 1 && w.rangeEnd[0] === 0) return compareBytes(k, w.key) >= 0;
  return compareBytes(k, w.key) >= 0 && compareBytes(k, w.rangeEnd) < 0;
}

/** expected is the reference: the applied history, filtered for one watch. */
function expected(log: readonly KvEvent[], w: Watch): KvEvent[] {
  return log
    .filter((e) => e.kv.modRevision >= w.start && inWatch(w.request, e.kv.key))
    .filter((e) => !(w.request.filters?.noPut === true && e.type === EventType.PUT))
    .filter((e) => !(w.request.filters?.noDelete === true && e.type === EventType.DELETE))
    .map((e) => (w.request.prevKv === true || e.prevKv === undefined ? e : { type: e.type, kv: e.kv }));
}

function run(commands: readonly Command[]): void {
  const m = new Member({ pendingEventsMax: 3, catchUpRecordsMax: 2, pumpRecordsMax: 5, fragmentBytesMax: 160 });
  const recorders = [new Recorder(), new Recorder(), new Recorder()];
  const streams: WatchStream[] = recorders.map((r) => m.hub.openStream(r));
  const stream = (i: number): { recorder: Recorder; stream: WatchStream } => {
    const recorder = recorders[i];
    const s = streams[i];
    if (recorder === undefined || s === undefined) throw new Error(`no stream ${i}`);
    return { recorder, stream: s };
  };
  const watches: Watch[] = [];
  let serial = 0;
  for (const c of commands) {
    switch (c.kind) {
      case "put":
        m.put(c.key, `${serial++}:${"x".repeat(c.size)}`);
        break;
      case "del":
        if (c.end === null || c.end <= c.key) m.del(c.key);
        else m.del(c.key, c.end);
        break;
      case "txn": {
        const ops: RequestOp[] = c.puts.map((k) => ({ requestPut: { key: b(k), value: b(`${serial++}`) } }));
        if (c.del !== null && !c.puts.includes(c.del)) ops.push({ requestDeleteRange: { key: b(c.del) } });
        m.applied(m.mvcc.txn({ success: ops }));
        break;
      }
      case "compact": {
        const at = m.mvcc.revision - c.back;
        if (at > m.mvcc.compactRevision && at >= 1) m.applied(m.mvcc.compact({ revision: at }));
        break;
      }
      case "watch": {
        const { stream: s } = stream(c.stream);
        const rangeEnd = c.shape === "single" ? undefined : c.shape === "from" ? new Uint8Array([0]) : c.end > c.key ? b(c.end) : undefined;
        const startRevision =
          c.start.kind === "now" ? 0 : c.start.kind === "back" ? Math.max(1, m.mvcc.revision - c.start.n) : m.mvcc.revision + c.start.n;
        const request: WatchCreateRequest = {
          key: b(c.key),
          ...(rangeEnd === undefined ? {} : { rangeEnd }),
          startRevision,
          prevKv: c.prevKv,
          filters: { noPut: c.noPut, noDelete: c.noDelete },
          fragment: c.fragment,
        };
        const created = s.createWatch(request);
        assert.ok(created.ok);
        watches.push({ stream: c.stream, id: created.watchId, request, start: startRevision === 0 ? m.hub.progress() + 1 : startRevision });
        break;
      }
      case "cancel": {
        const ids = stream(c.stream).stream.watchIds();
        const id = ids[c.pick % Math.max(ids.length, 1)];
        if (id !== undefined) stream(c.stream).stream.cancel(id);
        break;
      }
      case "full":
        stream(c.stream).recorder.full = c.full;
        break;
      case "resume":
        stream(c.stream).stream.resume();
        break;
      case "progress":
        stream(c.stream).stream.requestProgress();
        break;
      case "pump":
        m.hub.pump();
        break;
    }
  }
  m.settle(recorders.map((recorder, i) => ({ recorder, resume: () => stream(i).stream.resume() })));
  for (const w of watches) checkWatch(m.log, w, stream(w.stream).recorder.responses);
}

/** checkWatch holds one watch's responses, in stream order, against the reference history. */
function checkWatch(log: readonly KvEvent[], w: Watch, streamResponses: readonly WatchResponse[]): void {
  const want = expected(log, w).map(eventString);
  const mine = streamResponses.map((r, index) => ({ r, index })).filter(({ r }) => r.watchId === w.id);
  assert.equal(mine[0]?.r.created, true, "the created response comes first");
  const delivered: { index: number; event: KvEvent }[] = [];
  let ended: WatchResponse | undefined;
  // Fragments are reassembled first: the rules below hold for whole responses.
  let assembling: { index: number; event: KvEvent }[] = [];
  let lastRevision = 0;
  for (const { r, index } of mine.slice(1)) {
    if (ended !== undefined) {
      // Only the answer to the client's cancel of a watch already canceled by compaction.
      assert.ok(ended.compactRevision !== undefined && r.canceled === true && r.events.length === 0, "nothing after the cancel");
      continue;
    }
    if (r.canceled === true) {
      ended = r;
      continue;
    }
    if (r.events.length === 0) {
      assert.equal(assembling.length, 0, "no progress response inside a fragmented one");
      continue;
    }
    assert.ok(r.header.revision >= (r.events.at(-1)?.kv.modRevision ?? 0), "the header covers the events");
    if (r.fragment === true) assert.equal(w.request.fragment, true);
    assembling.push(...r.events.map((event) => ({ index, event })));
    if (r.fragment === true) continue;
    const first = assembling[0]?.event.kv.modRevision ?? 0;
    assert.ok(first > lastRevision, `revision ${first} split across responses or repeated`);
    lastRevision = assembling.at(-1)?.event.kv.modRevision ?? 0;
    delivered.push(...assembling);
    assembling = [];
  }
  assert.equal(assembling.length, 0, "fragments end with an unflagged piece");
  const got = delivered.map((d) => eventString(d.event));
  if (ended === undefined) {
    assert.deepEqual(got, want, `watch ${w.stream}/${w.id} from ${w.start}`);
  } else {
    assert.deepEqual(got, want.slice(0, got.length), `watch ${w.stream}/${w.id}: a prefix before its cancel`);
    if (ended.compactRevision !== undefined) assert.ok(ended.compactRevision > lastRevision);
  }
  // Progress: a response with an empty event list and header R (for this watch
  // or the whole stream) comes after every wanted event at or below R.
  const wantRevisions = expected(log, w).map((e) => e.kv.modRevision);
  const cancelIndex = mine.find(({ r }) => r.canceled === true)?.index ?? Infinity;
  const createdIndex = mine[0]?.index ?? 0;
  streamResponses.forEach((r, index) => {
    const isProgress = r.events.length === 0 && r.created !== true && r.canceled !== true;
    if (!isProgress || index <= createdIndex || index >= cancelIndex) return;
    if (r.watchId !== w.id && r.watchId !== -1) return;
    const before = delivered.filter((d) => d.index < index).length;
    const owed = wantRevisions.filter((rev) => rev <= r.header.revision).length;
    assert.ok(before >= owed, `progress at ${r.header.revision} came before ${owed - before} of its events`);
  });
}

test("watch property: delivered events are the filtered history, in order, once, whole revisions", () => {
  fc.assert(
    fc.property(fc.array(command, { minLength: 1, maxLength: 150, size: "max" }), (commands) => {
      run(commands);
    }),
    { numRuns: 200 },
  );
});
