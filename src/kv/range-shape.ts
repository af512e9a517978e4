/**
 * What etcd's server does to a range result after reading it from the MVCC
 * index: choose how many keys to fetch, drop keys outside the mod/create
 * revision filters, sort, cut to the limit (setting `more`), blank values for
 * `keysOnly`. `count` is left as read: the number of keys in the range at the
 * read revision, before filters and limit. Pure.
 */
import { compareBytes } from "./bytes.js";
import type { KeyValue, RangeRequest, RangeResponse } from "./types.js";
import { SortOrder, SortTarget } from "./types.js";

const empty = new Uint8Array(0);

function hasRevisionFilters(r: RangeRequest): boolean {
  return (
    (r.minModRevision ?? 0) !== 0 ||
    (r.maxModRevision ?? 0) !== 0 ||
    (r.minCreateRevision ?? 0) !== 0 ||
    (r.maxCreateRevision ?? 0) !== 0
  );
}

/** effectiveSortOrder: a non-KEY target with no order sorts ascending; KEY ascending is the read order already. */
function effectiveSortOrder(r: RangeRequest): SortOrder {
  const target = r.sortTarget ?? SortTarget.KEY;
  const order = r.sortOrder ?? SortOrder.NONE;
  if (target !== SortTarget.KEY && order === SortOrder.NONE) return SortOrder.ASCEND;
  if (target === SortTarget.KEY && order === SortOrder.ASCEND) return SortOrder.NONE;
  return order;
}

/**
 * rangeFetchLimit is how many keys to read: everything (0) when the result
 * will be sorted or filtered, since the limit applies afterwards; otherwise
 * one more than the limit, so `more` can be told without counting twice.
 */
export function rangeFetchLimit(r: RangeRequest): number {
  const limit = r.limit ?? 0;
  if (effectiveSortOrder(r) !== SortOrder.NONE || hasRevisionFilters(r)) return 0;
  return limit > 0 ? limit + 1 : 0;
}

function passesFilters(kv: KeyValue, r: RangeRequest): boolean {
  const maxMod = r.maxModRevision ?? 0;
  const minMod = r.minModRevision ?? 0;
  const maxCreate = r.maxCreateRevision ?? 0;
  const minCreate = r.minCreateRevision ?? 0;
  if (maxMod !== 0 && kv.modRevision > maxMod) return false;
  if (minMod !== 0 && kv.modRevision < minMod) return false;
  if (maxCreate !== 0 && kv.createRevision > maxCreate) return false;
  if (minCreate !== 0 && kv.createRevision < minCreate) return false;
  return true;
}

function ascendingBy(target: SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.KEY:
      return (a, b) => compareBytes(a.key, b.key);
    case SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.VALUE:
      return (a, b) => compareBytes(a.value, b.value);
  }
}

/**
 * sortKvs orders key-ascending input by the request's sort options. The sort
 * is stable, so ties stay in ascending key order in both directions (etcd's
 * unstable sort gives the same order for up to 12 results).
 */
function sortKvs(kvs: KeyValue[], r: RangeRequest): KeyValue[] {
  const order = effectiveSortOrder(r);
  if (order === SortOrder.NONE) return kvs;
  const target = r.sortTarget ?? SortTarget.KEY;
  if (target === SortTarget.KEY && order === SortOrder.DESCEND) return kvs.reverse();
  const ascending = ascendingBy(target);
  return order === SortOrder.DESCEND ? kvs.sort((a, b) => ascending(b, a)) : kvs.sort(ascending);
}

/** shapeRangeResponse turns the key-ascending keys read at a revision into etcd's RangeResponse. */
export function shapeRangeResponse(
  read: { readonly kvs: readonly KeyValue[]; readonly count: number },
  r: RangeRequest,
  headerRevision: number,
): RangeResponse {
  let kvs = sortKvs(read.kvs.filter((kv) => passesFilters(kv, r)), r);
  const limit = r.limit ?? 0;
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  if (r.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: empty }));
  return { header: { revision: headerRevision }, kvs, more, count: read.count };
}
