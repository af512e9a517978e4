import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { binaryString, compareBytes } from "../../src/kv/bytes.js";
import { MemoryStore } from "../../src/kv/memory-store.js";
import { MvccStore } from "../../src/kv/mvcc-store.js";
import { CompareResult, CompareTarget, EventType, SortOrder, SortTarget } from "../../src/kv/types.js";
import type { KeyValue, KvEvent, RangeRequest, RequestOp } from "../../src/kv/types.js";

/**
 * A naive reference for the MVCC store: a flat array of every version ever
 * written, searched linearly. Random command sequences run against both; at
 * random revisions and key spans they must answer alike.
 */

type Span =
  | { readonly kind: "single"; readonly key: Uint8Array }
  | { readonly kind: "range"; readonly key: Uint8Array; readonly end: Uint8Array }
  | { readonly kind: "fromKey"; readonly key: Uint8Array };

type Command =
  | { readonly kind: "put"; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease: number }
  | { readonly kind: "delete"; readonly span: Span }
  | {
      readonly kind: "txn";
      readonly guardKey: Uint8Array;
      readonly guardVersion: number;
      readonly puts: readonly (readonly [Uint8Array, Uint8Array])[];
      readonly deleteKey: Uint8Array | null;
      readonly elseKey: Uint8Array;
    }
  | { readonly kind: "compact"; readonly back: number };

interface Version {
  readonly key: Uint8Array;
  readonly main: number;
  readonly kv: { readonly value: Uint8Array; readonly create: number; readonly version: number; readonly lease: number } | null;
}

class Model {
  readonly versions: Version[] = [];
  current = 1;
  compacted = -1;

  latest(key: Uint8Array, at: number): Version | undefined {
    let found: Version | undefined;
    for (const v of this.versions) if (v.main <= at && compareBytes(v.key, key) === 0) found = v;
    return found;
  }

  keys(): Uint8Array[] {
    const seen = new Map<string, Uint8Array>();
    for (const v of this.versions) seen.set(binaryString(v.key), v.key);
    return [...seen.values()].sort(compareBytes);
  }

  /** rangeAt lists live keys of a span at revision `at`, as "key=value@create/mod/version". */
  rangeAt(span: Span, at: number): string[] {
    const out: string[] = [];
    for (const key of this.keys()) {
      if (!inSpan(span, key)) continue;
      const v = this.latest(key, at);
      if (v?.kv) out.push(`${binaryString(key)}=${binaryString(v.kv.value)}@${v.kv.create}/${v.main}/${v.kv.version}`);
    }
    return out;
  }

  /** write applies a batch of changes at the next revision; returns the events as [type, key]. */
  write(changes: readonly ({ readonly put: readonly [Uint8Array, Uint8Array, number] } | { readonly del: Uint8Array })[]): string[] {
    const main = this.current + 1;
    const events: string[] = [];
    for (const change of changes) {
      if ("put" in change) {
        const [key, value, lease] = change.put;
        const prev = this.latest(key, main)?.kv;
        this.versions.push({ key, main, kv: { value, lease, create: prev ? prev.create : main, version: prev ? prev.version + 1 : 1 } });
        events.push(`PUT ${binaryString(key)}`);
      } else if (this.latest(change.del, main)?.kv) {
        this.versions.push({ key: change.del, main, kv: null });
        events.push(`DELETE ${binaryString(change.del)}`);
      }
    }
    if (events.length > 0) this.current = main;
    return events;
  }
}

function inSpan(span: Span, key: Uint8Array): boolean {
  switch (span.kind) {
    case "single":
      return compareBytes(key, span.key) === 0;
    case "range":
      // A range end of one zero byte means "from key", whatever else it looks like.
      if (span.end.length === 1 && span.end[0] === 0) return compareBytes(key, span.key) >= 0;
      return compareBytes(key, span.key) >= 0 && compareBytes(key, span.end) < 0;
    case "fromKey":
      return compareBytes(key, span.key) >= 0;
  }
}

function rangeEndOf(span: Span): Uint8Array | undefined {
  return span.kind === "single" ? undefined : span.kind === "range" ? span.end : new Uint8Array([0]);
}

const keyArb = fc.constantFrom("a", "ab", "b", "ba", "c", "\u00ff", "\u0000").map((s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0)));
const valueArb = fc.uint8Array({ maxLength: 3 });
const spanArb: fc.Arbitrary<Span> = fc.oneof(
  fc.record({ kind: fc.constant("single" as const), key: keyArb }),
  fc.record({ kind: fc.constant("range" as const), key: keyArb, end: keyArb }),
  fc.record({ kind: fc.constant("fromKey" as const), key: keyArb }),
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("put" as const), key: keyArb, value: valueArb, lease: fc.constantFrom(0, 0, 5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), span: spanArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("txn" as const),
      guardKey: keyArb,
      guardVersion: fc.nat(2),
      puts: fc.uniqueArray(fc.tuple(keyArb, valueArb), { maxLength: 3, selector: ([k]) => binaryString(k) }),
      deleteKey: fc.option(keyArb),
      elseKey: keyArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), back: fc.integer({ min: -1, max: 4 }) }) },
);

function eventsOf(events: readonly KvEvent[]): string[] {
  return events.map((e) => `${e.type === EventType.PUT ? "PUT" : "DELETE"} ${binaryString(e.kv.key)}`);
}

/** run applies one command to the store and the model and checks they agree on the outcome. */
function run(mvcc: MvccStore, model: Model, command: Command): void {
  switch (command.kind) {
    case "put": {
      const r = mvcc.put({ key: command.key, value: command.value, lease: command.lease });
      assert.ok(r.ok);
      assert.deepEqual(eventsOf(r.value.events), model.write([{ put: [command.key, command.value, command.lease] }]));
      return;
    }
    case "delete": {
      const doomed = model.rangeAt(command.span, model.current).length;
      const rangeEnd = rangeEndOf(command.span);
      const r = mvcc.deleteRange(rangeEnd === undefined ? { key: command.span.key } : { key: command.span.key, rangeEnd });
      assert.ok(r.ok);
      const keys = model.keys().filter((k) => inSpan(command.span, k));
      assert.deepEqual(eventsOf(r.value.events), model.write(keys.map((del) => ({ del }))));
      assert.equal(r.value.response.deleted, doomed);
      return;
    }
    case "txn":
      return runTxn(mvcc, model, command);
    case "compact": {
      const revision = model.current - command.back;
      const r = mvcc.compact({ revision });
      if (revision <= model.compacted || revision > model.current) {
        assert.ok(!r.ok);
        assert.equal(r.error.code, revision > model.current ? "futureRevision" : "compacted");
      } else {
        assert.ok(r.ok);
        model.compacted = revision;
      }
      return;
    }
  }
}

function runTxn(mvcc: MvccStore, model: Model, command: Extract<Command, { kind: "txn" }>): void {
  const deleteKey = command.deleteKey !== null && !command.puts.some(([k]) => compareBytes(k, command.deleteKey ?? k) === 0) ? command.deleteKey : null;
  const success: RequestOp[] = command.puts.map(([key, value]) => ({ requestPut: { key, value } }));
  if (deleteKey !== null) success.push({ requestDeleteRange: { key: deleteKey } });
  const r = mvcc.txn({
    compare: [{ key: command.guardKey, target: CompareTarget.VERSION, result: CompareResult.EQUAL, version: command.guardVersion }],
    success,
    failure: [{ requestPut: { key: command.elseKey, value: new Uint8Array([1]) } }],
  });
  assert.ok(r.ok);
  const guard = model.latest(command.guardKey, model.current)?.kv?.version ?? 0;
  const succeeded = guard === command.guardVersion;
  assert.equal(r.value.response.succeeded, succeeded);
  const changes = succeeded
    ? [...command.puts.map(([k, v]) => ({ put: [k, v, 0] as const })), ...(deleteKey === null ? [] : [{ del: deleteKey }])]
    : [{ put: [command.elseKey, new Uint8Array([1]), 0] as const }];
  assert.deepEqual(eventsOf(r.value.events), model.write(changes));
  assert.equal(r.value.response.header.revision, model.current);
}

function rangeStrings(mvcc: MvccStore, span: Span, revision: number): string[] | string {
  const rangeEnd = rangeEndOf(span);
  const r = mvcc.range(rangeEnd === undefined ? { key: span.key, revision } : { key: span.key, rangeEnd, revision });
  if (!r.ok) return r.error.code;
  assert.equal(r.value.count, r.value.kvs.length);
  return r.value.kvs.map((kv) => `${binaryString(kv.key)}=${binaryString(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`);
}

test("random histories: every range at every revision matches the reference model", () => {
  fc.assert(
    fc.property(fc.array(commandArb, { minLength: 1, maxLength: 40 }), fc.array(spanArb, { minLength: 1, maxLength: 4 }), (commands, spans) => {
      const mvcc = new MvccStore(new MemoryStore());
      const model = new Model();
      for (const command of commands) {
        run(mvcc, model, command);
        assert.equal(mvcc.revision, model.current);
        assert.equal(mvcc.compactRevision, model.compacted);
      }
      for (const span of spans) {
        for (let revision = 0; revision <= model.current + 1; revision++) {
          const expected =
            revision > model.current ? "futureRevision" : revision !== 0 && revision < model.compacted ? "compacted" : model.rangeAt(span, revision === 0 ? model.current : revision);
          assert.deepEqual(rangeStrings(mvcc, span, revision), expected, `span ${JSON.stringify(span)} at ${revision}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("random histories: two stores fed the same commands hash alike, and a reopened store matches", () => {
  fc.assert(
    fc.property(fc.array(commandArb, { minLength: 1, maxLength: 40 }), fc.nat(), (commands, pick) => {
      const stores = [new MemoryStore(), new MemoryStore()];
      const [one, two] = stores.map((s) => new MvccStore(s));
      assert.ok(one !== undefined && two !== undefined);
      const model = new Model();
      const twin = new Model();
      for (const command of commands) {
        run(one, model, command);
        run(two, twin, command);
      }
      const lowest = Math.max(model.compacted, 1);
      const revision = lowest + (pick % (model.current - lowest + 1));
      const h1 = one.hashKv(revision);
      const h2 = two.hashKv(revision);
      assert.ok(h1.ok && h2.ok);
      assert.deepEqual(h1.value, h2.value);
      const reopened = new MvccStore(stores[0] ?? new MemoryStore());
      const h3 = reopened.hashKv(revision);
      assert.ok(h3.ok);
      assert.deepEqual(h3.value, h1.value);
      // One more write on one side only makes the current hashes differ.
      assert.ok(one.put({ key: new Uint8Array([9]), value: new Uint8Array([9]) }).ok);
      const after1 = one.hashKv(0);
      const after2 = two.hashKv(0);
      assert.ok(after1.ok && after2.ok);
      assert.notEqual(after1.value.hash, after2.value.hash);
    }),
    { numRuns: 200 },
  );
});

interface RangeOptions {
  readonly limit: number;
  readonly sortOrder: SortOrder;
  readonly sortTarget: SortTarget;
  readonly minModRevision: number;
  readonly maxCreateRevision: number;
  readonly countOnly: boolean;
}

const rangeOptionsArb: fc.Arbitrary<RangeOptions> = fc.record({
  limit: fc.integer({ min: -1, max: 4 }),
  sortOrder: fc.constantFrom(SortOrder.NONE, SortOrder.ASCEND, SortOrder.DESCEND),
  sortTarget: fc.constantFrom(SortTarget.KEY, SortTarget.VERSION, SortTarget.CREATE, SortTarget.MOD, SortTarget.VALUE),
  // Mostly unfiltered, so the fetch-one-more path for `more` gets exercised too.
  minModRevision: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 }) }),
  maxCreateRevision: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) }),
  countOnly: fc.boolean(),
});

/** naiveShape applies etcd's documented range rules to the model's live keys, the slow and obvious way. */
function naiveShape(live: readonly KeyValue[], o: RangeOptions): { keys: string[]; more: boolean; count: number } {
  if (o.countOnly) return { keys: [], more: false, count: live.length };
  let kvs = live.filter(
    (kv) => (o.minModRevision === 0 || kv.modRevision >= o.minModRevision) && (o.maxCreateRevision === 0 || kv.createRevision <= o.maxCreateRevision),
  );
  const order = o.sortOrder === SortOrder.NONE && o.sortTarget !== SortTarget.KEY ? SortOrder.ASCEND : o.sortOrder;
  const field = (kv: KeyValue): number | string =>
    o.sortTarget === SortTarget.VERSION ? kv.version : o.sortTarget === SortTarget.CREATE ? kv.createRevision : o.sortTarget === SortTarget.MOD ? kv.modRevision : o.sortTarget === SortTarget.VALUE ? binaryString(kv.value) : binaryString(kv.key);
  if (order !== SortOrder.NONE) {
    const sign = order === SortOrder.DESCEND ? -1 : 1;
    // Insertion sort: stable, like etcd's sort on small inputs; key descend is a plain reversal.
    if (o.sortTarget === SortTarget.KEY) kvs = order === SortOrder.DESCEND ? [...kvs].reverse() : kvs;
    else {
      const sorted: KeyValue[] = [];
      for (const kv of kvs) {
        let i = sorted.length;
        while (i > 0) {
          const prev = sorted[i - 1];
          if (prev === undefined || !(sign * (field(prev) < field(kv) ? -1 : field(prev) > field(kv) ? 1 : 0) > 0)) break;
          i--;
        }
        sorted.splice(i, 0, kv);
      }
      kvs = sorted;
    }
  }
  const more = o.limit > 0 && kvs.length > o.limit;
  if (more) kvs = kvs.slice(0, o.limit);
  return { keys: kvs.map((kv) => binaryString(kv.key)), more, count: live.length };
}

function modelKvs(model: Model, span: Span, at: number): KeyValue[] {
  const out: KeyValue[] = [];
  for (const key of model.keys()) {
    const v = inSpan(span, key) ? model.latest(key, at) : undefined;
    if (v?.kv) out.push({ key, value: v.kv.value, createRevision: v.kv.create, modRevision: v.main, version: v.kv.version, lease: v.kv.lease });
  }
  return out;
}

test("random histories: limit, more, count, sort and filters match etcd's rules at every revision", () => {
  fc.assert(
    fc.property(fc.array(commandArb, { minLength: 1, maxLength: 30 }), spanArb, rangeOptionsArb, (commands, span, options) => {
      const mvcc = new MvccStore(new MemoryStore());
      const model = new Model();
      for (const command of commands) run(mvcc, model, command);
      for (let revision = Math.max(model.compacted, 1); revision <= model.current; revision++) {
        const rangeEnd = rangeEndOf(span);
        const request: RangeRequest = { key: span.key, revision, ...options, ...(rangeEnd === undefined ? {} : { rangeEnd }) };
        const r = mvcc.range(request);
        assert.ok(r.ok);
        const actual = { keys: r.value.kvs.map((kv) => binaryString(kv.key)), more: r.value.more, count: r.value.count };
        assert.deepEqual(actual, naiveShape(modelKvs(model, span, revision), options), `at ${revision}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("a non-KEY sort target with no order sorts ascending before the limit is applied", () => {
  const mvcc = new MvccStore(new MemoryStore());
  const b = (s: string): Uint8Array => new TextEncoder().encode(s);
  mvcc.put({ key: b("z"), value: b("") });
  mvcc.put({ key: b("a"), value: b("") });
  mvcc.put({ key: b("b"), value: b("") });
  // By create revision, ascending: "z" first, although it comes last by key.
  const r = mvcc.range({ key: b("a"), rangeEnd: new Uint8Array([0]), limit: 1, sortOrder: SortOrder.NONE, sortTarget: SortTarget.CREATE });
  assert.ok(r.ok);
  assert.deepEqual(r.value.kvs.map((kv) => binaryString(kv.key)), ["z"]);
  assert.equal(r.value.more, true);
});
