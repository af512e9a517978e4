import assert from "node:assert/strict";
import { MemoryStore } from "../../src/kv/memory-store.js";
import { MvccStore } from "../../src/kv/mvcc-store.js";
import type { MvccOptions } from "../../src/kv/mvcc-store.js";
import type { KvResult } from "../../src/kv/errors.js";
import type { KvErrorCode } from "../../src/kv/errors.js";
import type { KeyValue, RangeRequest } from "../../src/kv/types.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** b encodes a string as UTF-8 bytes. */
export function b(s: string): Uint8Array {
  return encoder.encode(s);
}

/** str decodes bytes as UTF-8. */
export function str(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** fresh returns an MVCC store on a new in-memory store. */
export function fresh(options: MvccOptions = {}): { mvcc: MvccStore; store: MemoryStore } {
  const store = new MemoryStore();
  return { mvcc: new MvccStore(store, options), store };
}

/** unwrap returns a successful result's value or fails the test. */
export function unwrap<T>(result: KvResult<T>): T {
  if (!result.ok) assert.fail(`unexpected ${result.error.code}: ${result.error.message}`);
  return result.value;
}

/** expectError asserts that a result failed with `code`. */
export function expectError<T>(result: KvResult<T>, code: KvErrorCode): void {
  assert.equal(result.ok, false, `expected ${code}, got success`);
  if (!result.ok) assert.equal(result.error.code, code);
}

/** put writes a string key and value and returns the new revision. */
export function put(mvcc: MvccStore, key: string, value: string, lease = 0): number {
  return unwrap(mvcc.put({ key: b(key), value: b(value), lease })).response.header.revision;
}

/** del deletes a single key and returns how many were deleted. */
export function del(mvcc: MvccStore, key: string, rangeEnd?: string): number {
  const request = rangeEnd === undefined ? { key: b(key) } : { key: b(key), rangeEnd: b(rangeEnd) };
  return unwrap(mvcc.deleteRange(request)).response.deleted;
}

/** Simple is a KeyValue with strings, for readable assertions. */
export interface Simple {
  readonly key: string;
  readonly value: string;
  readonly create: number;
  readonly mod: number;
  readonly version: number;
  readonly lease: number;
}

/** simple turns a KeyValue into a {@link Simple}. */
export function simple(kv: KeyValue): Simple {
  return {
    key: str(kv.key),
    value: str(kv.value),
    create: kv.createRevision,
    mod: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

/** get reads a range and returns its keys and values as "k=v" strings. */
export function get(mvcc: MvccStore, request: RangeRequest): string[] {
  return unwrap(mvcc.range(request)).kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}`);
}

/** snapshotOf returns every entry of a memory store, to prove that nothing changed. */
export function snapshotOf(store: MemoryStore): string[] {
  return [...store.entries()].map(([k, v]) => `${Buffer.from(k).toString("hex")}:${Buffer.from(v).toString("hex")}`);
}
