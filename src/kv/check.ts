/**
 * Request validation, as etcd's gRPC layer does it before proposing (and as
 * this store repeats when applying, minus the configured limits, so bad input
 * never changes anything). Every function returns the failing error's code,
 * or undefined when the request is well formed. Pure.
 */
import { binaryString } from "./bytes.js";
import type { KvErrorCode } from "./errors.js";
import { SortOrder, SortTarget } from "./types.js";
import type {
  DeleteRangeRequest,
  KvRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./types.js";

/** OpView is a RequestOp with its oneof case made explicit. */
export type OpView =
  | { readonly kind: "range"; readonly request: RangeRequest }
  | { readonly kind: "put"; readonly request: PutRequest }
  | { readonly kind: "deleteRange"; readonly request: DeleteRangeRequest }
  | { readonly kind: "txn"; readonly request: TxnRequest };

interface LooseOp {
  readonly requestRange?: RangeRequest;
  readonly requestPut?: PutRequest;
  readonly requestDeleteRange?: DeleteRangeRequest;
  readonly requestTxn?: TxnRequest;
}

/**
 * viewOp names the case of a RequestOp, or returns undefined for an empty op
 * (possible on the wire, which etcd answers with "key not found"). If a
 * decoder ever sets several cases, the lowest field number wins.
 */
export function viewOp(op: RequestOp): OpView | undefined {
  const loose = op as LooseOp;
  if (loose.requestRange !== undefined) return { kind: "range", request: loose.requestRange };
  if (loose.requestPut !== undefined) return { kind: "put", request: loose.requestPut };
  if (loose.requestDeleteRange !== undefined) return { kind: "deleteRange", request: loose.requestDeleteRange };
  if (loose.requestTxn !== undefined) return { kind: "txn", request: loose.requestTxn };
  return undefined;
}

const sortOrders: ReadonlySet<number> = new Set(Object.values(SortOrder));
const sortTargets: ReadonlySet<number> = new Set(Object.values(SortTarget));

/** checkRangeRequest: a key is required and the sort options must be known. */
export function checkRangeRequest(r: RangeRequest): KvErrorCode | undefined {
  if (r.key.length === 0) return "emptyKey";
  if (!sortOrders.has(r.sortOrder ?? 0) || !sortTargets.has(r.sortTarget ?? 0)) return "invalidSortOption";
  return undefined;
}

/** checkPutRequest: a key is required; `ignoreValue` forbids a value and `ignoreLease` a lease. */
export function checkPutRequest(r: PutRequest): KvErrorCode | undefined {
  if (r.key.length === 0) return "emptyKey";
  if (r.ignoreValue === true && (r.value?.length ?? 0) !== 0) return "valueProvided";
  if (r.ignoreLease === true && (r.lease ?? 0) !== 0) return "leaseProvided";
  return undefined;
}

/** checkDeleteRangeRequest: a key is required. */
export function checkDeleteRangeRequest(r: DeleteRangeRequest): KvErrorCode | undefined {
  return r.key.length === 0 ? "emptyKey" : undefined;
}

/**
 * checkTxnShape checks a txn's size and contents as etcd does: the largest of
 * (compares, success ops, failure ops) must not exceed `txnOpsMax`, and a
 * nested txn gets what its parent left (`txnOpsMax` minus the parent's count);
 * every compare needs a key; every op is checked; an empty op is "key not
 * found". `txnOpsMax` undefined skips the size limit (used when applying, so
 * the outcome does not depend on one node's configuration).
 */
export function checkTxnShape(r: TxnRequest, txnOpsMax: number | undefined): KvErrorCode | undefined {
  const compares = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opCount = Math.max(compares.length, success.length, failure.length);
  if (txnOpsMax !== undefined && opCount > txnOpsMax) return "tooManyOps";
  for (const c of compares) if (c.key.length === 0) return "emptyKey";
  const nestedOpsMax = txnOpsMax === undefined ? undefined : txnOpsMax - opCount;
  for (const op of [...success, ...failure]) {
    const code = checkRequestOp(op, nestedOpsMax);
    if (code !== undefined) return code;
  }
  return undefined;
}

function checkRequestOp(op: RequestOp, txnOpsMax: number | undefined): KvErrorCode | undefined {
  const view = viewOp(op);
  if (view === undefined) return "keyNotFound";
  switch (view.kind) {
    case "range":
      return checkRangeRequest(view.request);
    case "put":
      return checkPutRequest(view.request);
    case "deleteRange":
      return checkDeleteRangeRequest(view.request);
    case "txn":
      return checkTxnShape(view.request, txnOpsMax);
  }
}

/**
 * KeyInterval is a half-open interval [begin, end) of keys as binary strings
 * (see {@link binaryString}); `end` null means unbounded.
 */
interface KeyInterval {
  readonly begin: string;
  readonly end: string | null;
}

interface WriteSet {
  readonly puts: Set<string>;
  readonly deletes: KeyInterval[];
}

function deleteInterval(r: DeleteRangeRequest): KeyInterval {
  const begin = binaryString(r.key);
  const end = r.rangeEnd;
  if (end === undefined || end.length === 0) return { begin, end: begin + "\0" };
  // A single zero byte means "every key >= key". etcd's check compares it as
  // the literal string "\0" (so it never overlaps anything); here it covers
  // what the delete really deletes.
  if (end.length === 1 && end[0] === 0) return { begin, end: null };
  return { begin, end: binaryString(end) };
}

function deletesCover(deletes: readonly KeyInterval[], key: string): boolean {
  for (const d of deletes) if (d.begin <= key && (d.end === null || key < d.end)) return true;
  return false;
}

/**
 * collectWrites mirrors etcd's duplicate-key check for one branch: a put may
 * not target a key that another put of the branch targets, nor one that a
 * delete of the branch covers, looking into nested txns (whose success and
 * failure branches may both put the same key, since only one runs). Deletes
 * may overlap each other. Returns "duplicateKey" or the branch's write set.
 */
function collectWrites(ops: readonly RequestOp[]): WriteSet | "duplicateKey" {
  const deletes: KeyInterval[] = [];
  for (const op of ops) {
    const view = viewOp(op);
    if (view?.kind === "deleteRange") deletes.push(deleteInterval(view.request));
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const view = viewOp(op);
    if (view?.kind !== "txn") continue;
    const then = collectWrites(view.request.success ?? []);
    if (then === "duplicateKey") return then;
    const otherwise = collectWrites(view.request.failure ?? []);
    if (otherwise === "duplicateKey") return otherwise;
    for (const key of then.puts) {
      if (puts.has(key) || deletesCover(deletes, key)) return "duplicateKey";
      puts.add(key);
    }
    for (const key of otherwise.puts) {
      if ((puts.has(key) && !then.puts.has(key)) || deletesCover(deletes, key)) return "duplicateKey";
      puts.add(key);
    }
    deletes.push(...then.deletes, ...otherwise.deletes);
  }
  for (const op of ops) {
    const view = viewOp(op);
    if (view?.kind !== "put") continue;
    const key = binaryString(view.request.key);
    if (puts.has(key) || deletesCover(deletes, key)) return "duplicateKey";
    puts.add(key);
  }
  return { puts, deletes };
}

/** checkTxnDuplicates runs the duplicate-key check on both branches of a txn. */
export function checkTxnDuplicates(r: TxnRequest): KvErrorCode | undefined {
  if (collectWrites(r.success ?? []) === "duplicateKey") return "duplicateKey";
  if (collectWrites(r.failure ?? []) === "duplicateKey") return "duplicateKey";
  return undefined;
}

/** checkTxnRequest is etcd's full txn validation: shape first, then duplicate keys. */
export function checkTxnRequest(r: TxnRequest, txnOpsMax: number | undefined): KvErrorCode | undefined {
  return checkTxnShape(r, txnOpsMax) ?? checkTxnDuplicates(r);
}

/**
 * checkKvRequest validates one replicated command. `txnOpsMax` undefined
 * skips the per-node txn size limit. Compaction has no request-level checks;
 * its revision is checked against the store when applied.
 */
export function checkKvRequest(request: KvRequest, txnOpsMax: number | undefined): KvErrorCode | undefined {
  if ("range" in request) return checkRangeRequest(request.range);
  if ("put" in request) return checkPutRequest(request.put);
  if ("deleteRange" in request) return checkDeleteRangeRequest(request.deleteRange);
  if ("txn" in request) return checkTxnRequest(request.txn, txnOpsMax);
  return undefined;
}
