/**
 * requestSizeBytes computes the protobuf-encoded size of a KV command as etcd
 * would marshal it inside an InternalRaftRequest (the field that carries the
 * request plus the request itself; the small request header etcd adds — an
 * id and auth fields, a few bytes — is not counted). etcd rejects a proposal
 * whose marshalled size exceeds `--max-request-bytes` (1.5 MiB by default)
 * with "etcdserver: request is too large". Pure.
 */
import { viewOp } from "./check.js";
import type {
  CompactionRequest,
  Compare,
  DeleteRangeRequest,
  KvRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "./types.js";

/** varintBytes is the length of an int64 varint (negative numbers take 10 bytes). */
export function varintBytes(n: number): number {
  if (n < 0) return 10;
  let bytes = 1;
  let rest = Math.floor(n / 128);
  while (rest > 0) {
    bytes++;
    rest = Math.floor(rest / 128);
  }
  return bytes;
}

function tagBytes(field: number): number {
  return varintBytes(field * 8);
}

function bytesField(field: number, b: Uint8Array | undefined, always = false): number {
  if (b === undefined || (b.length === 0 && !always)) return 0;
  return tagBytes(field) + varintBytes(b.length) + b.length;
}

function intField(field: number, n: number | undefined, always = false): number {
  if (n === undefined || (n === 0 && !always)) return 0;
  return tagBytes(field) + varintBytes(n);
}

function boolField(field: number, b: boolean | undefined): number {
  return b === true ? tagBytes(field) + 1 : 0;
}

function messageField(field: number, size: number): number {
  return tagBytes(field) + varintBytes(size) + size;
}

function rangeBytes(r: RangeRequest): number {
  return (
    bytesField(1, r.key) +
    bytesField(2, r.rangeEnd) +
    intField(3, r.limit) +
    intField(4, r.revision) +
    intField(5, r.sortOrder) +
    intField(6, r.sortTarget) +
    boolField(7, r.serializable) +
    boolField(8, r.keysOnly) +
    boolField(9, r.countOnly) +
    intField(10, r.minModRevision) +
    intField(11, r.maxModRevision) +
    intField(12, r.minCreateRevision) +
    intField(13, r.maxCreateRevision)
  );
}

function putBytes(r: PutRequest): number {
  return (
    bytesField(1, r.key) +
    bytesField(2, r.value) +
    intField(3, r.lease) +
    boolField(4, r.prevKv) +
    boolField(5, r.ignoreValue) +
    boolField(6, r.ignoreLease)
  );
}

function deleteRangeBytes(r: DeleteRangeRequest): number {
  return bytesField(1, r.key) + bytesField(2, r.rangeEnd) + boolField(3, r.prevKv);
}

function compareBytes(c: Compare): number {
  // The target_union oneof is written whenever it is set, even to zero.
  return (
    intField(1, c.result) +
    intField(2, c.target) +
    bytesField(3, c.key) +
    intField(4, c.version, true) +
    intField(5, c.createRevision, true) +
    intField(6, c.modRevision, true) +
    bytesField(7, c.value, true) +
    intField(8, c.lease, true) +
    bytesField(64, c.rangeEnd)
  );
}

function requestOpBytes(op: RequestOp): number {
  const view = viewOp(op);
  if (view === undefined) return 0;
  switch (view.kind) {
    case "range":
      return messageField(1, rangeBytes(view.request));
    case "put":
      return messageField(2, putBytes(view.request));
    case "deleteRange":
      return messageField(3, deleteRangeBytes(view.request));
    case "txn":
      return messageField(4, txnBytes(view.request));
  }
}

function txnBytes(r: TxnRequest): number {
  let size = 0;
  for (const c of r.compare ?? []) size += messageField(1, compareBytes(c));
  for (const op of r.success ?? []) size += messageField(2, requestOpBytes(op));
  for (const op of r.failure ?? []) size += messageField(3, requestOpBytes(op));
  return size;
}

function compactionBytes(r: CompactionRequest): number {
  return intField(1, r.revision) + boolField(2, r.physical);
}

/** requestSizeBytes is the marshalled size of `request` as an InternalRaftRequest field. */
export function requestSizeBytes(request: KvRequest): number {
  // InternalRaftRequest field numbers: range 3, put 4, delete_range 5, txn 6, compaction 7.
  if ("range" in request) return messageField(3, rangeBytes(request.range));
  if ("put" in request) return messageField(4, putBytes(request.put));
  if ("deleteRange" in request) return messageField(5, deleteRangeBytes(request.deleteRange));
  if ("txn" in request) return messageField(6, txnBytes(request.txn));
  return messageField(7, compactionBytes(request.compaction));
}
