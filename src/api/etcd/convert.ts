/**
 * Conversion between the decoded protobuf messages of `wire.ts` and the KV
 * state machine's types. Pure.
 *
 * Numbers: int64 fields decode as decimal strings. Revisions, versions,
 * limits and Synod's lease IDs stay below 2^53; a value beyond ±2^53
 * saturates at ±2^53, which keeps every comparison with a real revision or
 * lease right (no such revision or lease exists, and order is kept) — so a
 * read at a huge revision is a future revision, and a put with a huge lease
 * ID names a lease that does not exist. uint64 IDs (cluster, member) are
 * bigints inside and decimal strings on the wire.
 *
 * Bytes: incoming keys and values are copied out of the decoder's buffers
 * into plain Uint8Arrays; outgoing ones are wrapped as Buffers without a copy.
 */
import type {
  CompactionRequest,
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from "../../kv/index.js";
import type { HeaderInfo, MemberInfo, StatusInfo } from "./backend.js";
import type {
  Int64,
  PbCompactionRequest,
  PbCompare,
  PbDeleteRangeRequest,
  PbDeleteRangeResponse,
  PbHashKvResponse,
  PbKeyValue,
  PbMember,
  PbMemberListResponse,
  PbPutRequest,
  PbPutResponse,
  PbRangeRequest,
  PbRangeResponse,
  PbRequestOp,
  PbResponseHeader,
  PbResponseOp,
  PbStatusResponse,
  PbTxnRequest,
  PbTxnResponse,
} from "./wire.js";

const saturationBound = 2n ** 53n;

function assertNever(value: never): never {
  throw new Error(`etcd API: unexpected oneof case ${String(value)}`);
}

/** int64ToNumber converts a decoded int64, saturating at ±2^53 (see the file comment). */
export function int64ToNumber(value: Int64): number {
  const n = BigInt(value);
  if (n > saturationBound) return Number(saturationBound);
  if (n < -saturationBound) return -Number(saturationBound);
  return Number(n);
}

/** uint64ToBigInt converts a decoded uint64 exactly. */
export function uint64ToBigInt(value: Int64): bigint {
  return BigInt(value);
}

/** idToWire encodes a uint64 ID as the decimal string the encoder takes. */
export function idToWire(id: bigint): string {
  if (id < 0n || id >= 2n ** 64n) throw new RangeError(`etcd API: ID ${id} is not a uint64`);
  return id.toString(10);
}

/** bytesIn copies decoded bytes into a plain Uint8Array the store may keep. */
export function bytesIn(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/** bytesOut wraps bytes as a Buffer for the encoder, without copying. */
export function bytesOut(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// ---- requests ----------------------------------------------------------------

/** rangeFromPb converts a RangeRequest. Unknown sort enums pass through for the request check to refuse. */
export function rangeFromPb(p: PbRangeRequest): RangeRequest {
  return {
    key: bytesIn(p.key),
    rangeEnd: bytesIn(p.range_end),
    limit: int64ToNumber(p.limit),
    revision: int64ToNumber(p.revision),
    sortOrder: p.sort_order as SortOrder,
    sortTarget: p.sort_target as SortTarget,
    serializable: p.serializable,
    keysOnly: p.keys_only,
    countOnly: p.count_only,
    minModRevision: int64ToNumber(p.min_mod_revision),
    maxModRevision: int64ToNumber(p.max_mod_revision),
    minCreateRevision: int64ToNumber(p.min_create_revision),
    maxCreateRevision: int64ToNumber(p.max_create_revision),
  };
}

export function putFromPb(p: PbPutRequest): PutRequest {
  return {
    key: bytesIn(p.key),
    value: bytesIn(p.value),
    lease: int64ToNumber(p.lease),
    prevKv: p.prev_kv,
    ignoreValue: p.ignore_value,
    ignoreLease: p.ignore_lease,
  };
}

export function deleteRangeFromPb(p: PbDeleteRangeRequest): DeleteRangeRequest {
  return { key: bytesIn(p.key), rangeEnd: bytesIn(p.range_end), prevKv: p.prev_kv };
}

/** compareFromPb converts a Compare; only the operand named by `target_union` is carried (absent: zero). */
export function compareFromPb(p: PbCompare): Compare {
  const base = {
    result: p.result as CompareResult,
    target: p.target as CompareTarget,
    key: bytesIn(p.key),
    rangeEnd: bytesIn(p.range_end),
  };
  switch (p.target_union) {
    case "version":
      return { ...base, version: int64ToNumber(p.version ?? "0") };
    case "create_revision":
      return { ...base, createRevision: int64ToNumber(p.create_revision ?? "0") };
    case "mod_revision":
      return { ...base, modRevision: int64ToNumber(p.mod_revision ?? "0") };
    case "value":
      return { ...base, value: bytesIn(p.value ?? Buffer.alloc(0)) };
    case "lease":
      return { ...base, lease: int64ToNumber(p.lease ?? "0") };
    case undefined:
      return base;
    default:
      return assertNever(p.target_union);
  }
}

/**
 * emptyOp stands for a RequestOp with no operation set, which the wire allows
 * and etcd refuses with "key not found"; the KV request check recognises it.
 */
const emptyOp = {} as RequestOp;

export function requestOpFromPb(p: PbRequestOp): RequestOp {
  switch (p.request) {
    case "request_range":
      return p.request_range ? { requestRange: rangeFromPb(p.request_range) } : emptyOp;
    case "request_put":
      return p.request_put ? { requestPut: putFromPb(p.request_put) } : emptyOp;
    case "request_delete_range":
      return p.request_delete_range ? { requestDeleteRange: deleteRangeFromPb(p.request_delete_range) } : emptyOp;
    case "request_txn":
      return p.request_txn ? { requestTxn: txnFromPb(p.request_txn) } : emptyOp;
    case undefined:
      return emptyOp;
    default:
      return assertNever(p.request);
  }
}

export function txnFromPb(p: PbTxnRequest): TxnRequest {
  return {
    compare: p.compare.map(compareFromPb),
    success: p.success.map(requestOpFromPb),
    failure: p.failure.map(requestOpFromPb),
  };
}

export function compactionFromPb(p: PbCompactionRequest): CompactionRequest {
  return { revision: int64ToNumber(p.revision), physical: p.physical };
}

// ---- responses ---------------------------------------------------------------

/** HeaderOut turns a store header into a wire header: the full one at top level, revision only when nested. */
type HeaderOut = (header: ResponseHeader) => PbResponseHeader;

/** fullHeader fills cluster, member and term from `info` around the store revision. */
export function fullHeader(info: HeaderInfo): HeaderOut {
  return (header) => ({
    cluster_id: idToWire(info.clusterId),
    member_id: idToWire(info.memberId),
    revision: header.revision,
    raft_term: info.raftTerm,
  });
}

/** nestedHeader is a txn op response's header: the revision alone, as etcd sends it. */
const nestedHeader: HeaderOut = (header) => ({ revision: header.revision });

export function keyValueToPb(kv: KeyValue): PbKeyValue {
  return {
    key: bytesOut(kv.key),
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: bytesOut(kv.value),
    lease: kv.lease,
  };
}

export function rangeResponseToPb(r: RangeResponse, header: HeaderOut): PbRangeResponse {
  return { header: header(r.header), kvs: r.kvs.map(keyValueToPb), more: r.more, count: r.count };
}

export function putResponseToPb(r: PutResponse, header: HeaderOut): PbPutResponse {
  return r.prevKv === undefined ? { header: header(r.header) } : { header: header(r.header), prev_kv: keyValueToPb(r.prevKv) };
}

export function deleteRangeResponseToPb(r: DeleteRangeResponse, header: HeaderOut): PbDeleteRangeResponse {
  return { header: header(r.header), deleted: r.deleted, prev_kvs: r.prevKvs.map(keyValueToPb) };
}

function responseOpToPb(op: ResponseOp): PbResponseOp {
  if ("responseRange" in op) return { response_range: rangeResponseToPb(op.responseRange, nestedHeader) };
  if ("responsePut" in op) return { response_put: putResponseToPb(op.responsePut, nestedHeader) };
  if ("responseDeleteRange" in op) {
    return { response_delete_range: deleteRangeResponseToPb(op.responseDeleteRange, nestedHeader) };
  }
  return { response_txn: txnResponseToPb(op.responseTxn, nestedHeader) };
}

export function txnResponseToPb(r: TxnResponse, header: HeaderOut): PbTxnResponse {
  return { header: header(r.header), succeeded: r.succeeded, responses: r.responses.map(responseOpToPb) };
}

export function hashKvResponseToPb(r: HashKvResponse, header: HeaderOut): PbHashKvResponse {
  return {
    header: header(r.header),
    hash: r.hash,
    compact_revision: r.compactRevision,
    hash_revision: r.hashRevision,
  };
}

export function statusToPb(s: StatusInfo, header: HeaderOut): PbStatusResponse {
  return {
    header: header({ revision: s.revision }),
    version: s.version,
    dbSize: s.dbSizeBytes,
    leader: idToWire(s.leader),
    raftIndex: s.raftIndex,
    raftTerm: s.raftTerm,
    raftAppliedIndex: s.raftAppliedIndex,
    errors: [...s.errors],
    dbSizeInUse: s.dbSizeInUseBytes,
    isLearner: s.isLearner,
  };
}

export function memberToPb(m: MemberInfo): PbMember {
  return {
    ID: idToWire(m.id),
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
    isLearner: m.isLearner,
  };
}

/** memberListToPb: the header carries no revision, as etcd's does not. */
export function memberListToPb(members: readonly MemberInfo[], header: HeaderOut): PbMemberListResponse {
  return { header: header({ revision: 0 }), members: members.map(memberToPb) };
}
