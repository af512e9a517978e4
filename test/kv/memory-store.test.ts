import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compareBytes } from "../../src/kv/bytes.js";
import { MemoryStore } from "../../src/kv/memory-store.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const key = fc.uint8Array({ minLength: 0, maxLength: 4, max: 3 }).map((k) => k.map((x) => [0, 1, 0x7f, 0xff][x] ?? 0));

type Op = { readonly kind: "put"; readonly key: Uint8Array; readonly value: number } | { readonly kind: "delete"; readonly key: Uint8Array };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("put" as const), key, value: fc.nat(1000) }),
  fc.record({ kind: fc.constant("delete" as const), key }),
);

/** reference is a naive model: a map from hex key to [key, value], sorted on demand. */
function sortedReference(model: Map<string, [Uint8Array, number]>): [Uint8Array, number][] {
  return [...model.values()].sort((a, b) => compareBytes(a[0], b[0]));
}

test("get, put, delete and scans agree with a naive sorted model", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), key, fc.option(key), fc.boolean(), fc.option(fc.nat(10)), (ops, start, end, reverse, limit) => {
      const store = new MemoryStore();
      const model = new Map<string, [Uint8Array, number]>();
      for (const o of ops) {
        if (o.kind === "put") {
          store.put(o.key, new Uint8Array([o.value & 0xff, o.value >> 8]));
          model.set(hex(o.key), [o.key, o.value]);
        } else {
          store.delete(o.key);
          model.delete(hex(o.key));
        }
      }
      assert.equal(store.size, model.size);
      for (const [k, v] of model.values()) assert.deepEqual(store.get(k), new Uint8Array([v & 0xff, v >> 8]));
      const endKey = end ?? undefined;
      let expected = sortedReference(model).filter(([k]) => compareBytes(k, start) >= 0 && (endKey === undefined || compareBytes(k, endKey) < 0));
      if (reverse) expected = expected.reverse();
      if (limit !== null) expected = expected.slice(0, limit);
      const options = limit === null ? { reverse } : { reverse, limit };
      const actual = [...store.scan(start, endKey, options)].map(([k]) => hex(k));
      assert.deepEqual(actual, expected.map(([k]) => hex(k)));
    }),
    { numRuns: 300 },
  );
});

test("chunks split and merge correctly with many keys, forward and reverse", () => {
  const store = new MemoryStore();
  const n = 100_000;
  const keyOf = (i: number): Uint8Array => new Uint8Array([(i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff]);
  // Insert in a scrambled order so chunks split in the middle.
  for (let j = 0; j < n; j++) {
    const i = (j * 7919) % n;
    store.put(keyOf(i), new Uint8Array([i & 0xff]));
  }
  assert.equal(store.size, n);
  let expected = 0;
  for (const [k] of store.scan(new Uint8Array(0), undefined, { reverse: false })) {
    assert.deepEqual(k, keyOf(expected));
    expected++;
  }
  assert.equal(expected, n);
  const tail = [...store.scan(keyOf(10), keyOf(20), { reverse: true, limit: 3 })].map(([k]) => k);
  assert.deepEqual(tail, [keyOf(19), keyOf(18), keyOf(17)]);
  for (let i = 0; i < n; i += 2) store.delete(keyOf(i));
  assert.equal(store.size, n / 2);
  assert.equal(store.get(keyOf(4)), undefined);
  assert.deepEqual(store.get(keyOf(5)), new Uint8Array([5]));
  const odd = [...store.scan(keyOf(0), keyOf(8), { reverse: false })].map(([k]) => k[2]);
  assert.deepEqual(odd, [1, 3, 5, 7]);
});

test("stored bytes are copies; writing during a scan is refused", () => {
  const store = new MemoryStore();
  const k = new Uint8Array([1]);
  const v = new Uint8Array([9]);
  store.put(k, v);
  v[0] = 0;
  k[0] = 2;
  assert.deepEqual(store.get(new Uint8Array([1])), new Uint8Array([9]));
  store.put(new Uint8Array([3]), new Uint8Array([3]));
  assert.throws(() => {
    for (const [key] of store.scan(new Uint8Array(0), undefined, { reverse: false })) store.delete(key);
  }, /written while a scan/);
});

test("clone is independent of the original", () => {
  const store = new MemoryStore();
  store.put(new Uint8Array([1]), new Uint8Array([1]));
  const copy = store.clone();
  store.put(new Uint8Array([2]), new Uint8Array([2]));
  copy.delete(new Uint8Array([1]));
  assert.equal(store.size, 2);
  assert.equal(copy.size, 0);
});
