/**
 * The checks etcd's gRPC layer makes before a request reaches the server:
 * request shape (keys present, sort options known), txn size against
 * `--max-txn-ops` and duplicate keys, then — for requests that are proposed
 * to the log — the marshalled size against `--max-request-bytes`. Pure.
 */
import { KvError, requestSizeBytes } from "../../kv/index.js";
import type { KvRequest, RequestOp, TxnRequest } from "../../kv/index.js";
import { checkKvRequest, viewOp } from "../../kv/check.js";

/** RequestLimits are the per-server limits on one request. */
export interface RequestLimits {
  /** txnOpsMax bounds the compares, and the ops of each branch, of one txn (etcd `--max-txn-ops`). */
  readonly txnOpsMax: number;
  /** requestBytesMax bounds the marshalled size of one proposed request (etcd `--max-request-bytes`). */
  readonly requestBytesMax: number;
}

/** checkRequest returns the KvError etcd would answer a request with, or undefined if it may go on. */
export function checkRequest(request: KvRequest, limits: RequestLimits): KvError | undefined {
  const code = checkKvRequest(request, limits.txnOpsMax);
  if (code !== undefined) return new KvError(code);
  if (isProposed(request) && requestSizeBytes(request) > limits.requestBytesMax) return new KvError("requestTooLarge");
  return undefined;
}

/**
 * isProposed tells whether etcd proposes a request to the log (and so checks
 * its size): every write, but not a range nor a txn made of ranges only,
 * which are served as reads.
 */
export function isProposed(request: KvRequest): boolean {
  if ("range" in request) return false;
  if ("txn" in request) return !isReadOnlyTxn(request.txn);
  return true;
}

/** isReadOnlyTxn: every op of both branches, nested txns included, is a range. */
export function isReadOnlyTxn(txn: TxnRequest): boolean {
  const readOnly = (op: RequestOp): boolean => {
    const view = viewOp(op);
    if (view === undefined) return true;
    if (view.kind === "range") return true;
    if (view.kind === "txn") return isReadOnlyTxn(view.request);
    return false;
  };
  return (txn.success ?? []).every(readOnly) && (txn.failure ?? []).every(readOnly);
}
