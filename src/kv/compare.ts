/** Txn compare evaluation, as etcd defines it. Pure. */
import { compareBytes } from "./bytes.js";
import type { Compare, KeyValue } from "./types.js";
import { CompareResult, CompareTarget } from "./types.js";

const empty = new Uint8Array(0);

/** absentKv stands for a missing key: every number zero, value empty. */
export const absentKv: KeyValue = { key: empty, createRevision: 0, modRevision: 0, version: 0, value: empty, lease: 0 };

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/** compareKv tests one key's current state against a compare; an unknown result counts as true, as in etcd. */
export function compareKv(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = sign(compareBytes(kv.value, c.value ?? empty));
      break;
    case CompareTarget.CREATE:
      result = sign(kv.createRevision - (c.createRevision ?? 0));
      break;
    case CompareTarget.MOD:
      result = sign(kv.modRevision - (c.modRevision ?? 0));
      break;
    case CompareTarget.VERSION:
      result = sign(kv.version - (c.version ?? 0));
      break;
    case CompareTarget.LEASE:
      result = sign(kv.lease - (c.lease ?? 0));
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

/**
 * compareHolds evaluates a compare over the live keys of its range (one key
 * without `rangeEnd`): all of them must satisfy it. With no key, a VALUE
 * compare fails (a missing value cannot be told from an empty one) and any
 * other compares against zero.
 */
export function compareHolds(c: Compare, kvs: readonly KeyValue[]): boolean {
  if (kvs.length === 0) return c.target === CompareTarget.VALUE ? false : compareKv(c, absentKv);
  return kvs.every((kv) => compareKv(c, kv));
}
