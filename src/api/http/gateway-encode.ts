/**
 * Encoding of the gateway's JSON responses as etcd 3.4's grpc-gateway
 * writes them (jsonpb with `OrigName`, no `EmitDefaults`):
 * - fields in .proto order under their .proto names (`create_revision`,
 *   `dbSize`, `clientURLs`);
 * - 64-bit integers as decimal strings, 32-bit ones as numbers, bytes as
 *   standard base64, enums by name;
 * - zero values left out: 0, "", false, empty bytes and lists, the first
 *   enum value, absent messages. A present message is written even when all
 *   its fields are zero (`"header":{}`).
 *
 * Responses are encoded from the `Pb*` shapes that `../etcd/convert.ts` and
 * `convert-events.ts` build for the gRPC layer, so both APIs answer from one
 * conversion.
 */
import type {
  PbDeleteRangeResponse,
  PbEvent,
  PbKeyValue,
  PbLeaseGrantResponse,
  PbLeaseKeepAliveResponse,
  PbLeaseLeasesResponse,
  PbLeaseTimeToLiveResponse,
  PbMember,
  PbMemberAddResponse,
  PbMemberListResponse,
  PbPutResponse,
  PbRangeResponse,
  PbResponseHeader,
  PbResponseOp,
  PbStatusResponse,
  PbTxnResponse,
  PbWatchResponse,
} from "../etcd/wire.js";

/** Json is a JSON value as the gateway writes it. */
export type Json = string | number | boolean | readonly Json[] | JsonObject;
export type JsonObject = { readonly [key: string]: Json };

const eventTypeNames = ["PUT", "DELETE"] as const;

/** base64Of is standard base64 with padding, as Go's encoding/json writes []byte. */
function base64Of(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
}

/** MessageOut builds one message's JSON object field by field, leaving zero values out. Insertion order is output order. */
class MessageOut {
  private readonly out: Record<string, Json> = {};

  /** int64 writes a 64-bit integer (number, or decimal string for uint64 IDs) as a string. */
  int64(name: string, value: number | string | undefined): this {
    if (value !== undefined && value !== 0 && value !== "0" && value !== "") this.out[name] = String(value);
    return this;
  }

  /** int32 writes a 32-bit integer as a JSON number. */
  int32(name: string, value: number): this {
    if (value !== 0) this.out[name] = value;
    return this;
  }

  bool(name: string, value: boolean | undefined): this {
    if (value === true) this.out[name] = true;
    return this;
  }

  string(name: string, value: string | undefined): this {
    if (value !== undefined && value !== "") this.out[name] = value;
    return this;
  }

  bytes(name: string, value: Uint8Array): this {
    if (value.length > 0) this.out[name] = base64Of(value);
    return this;
  }

  enumName(name: string, value: number, names: readonly string[]): this {
    if (value !== 0) this.out[name] = names[value] ?? value;
    return this;
  }

  message(name: string, value: JsonObject | undefined): this {
    if (value !== undefined) this.out[name] = value;
    return this;
  }

  list(name: string, values: readonly Json[]): this {
    if (values.length > 0) this.out[name] = values;
    return this;
  }

  done(): JsonObject {
    return this.out;
  }
}

export function headerJson(h: PbResponseHeader): JsonObject {
  return new MessageOut()
    .int64("cluster_id", h.cluster_id)
    .int64("member_id", h.member_id)
    .int64("revision", h.revision)
    .int64("raft_term", h.raft_term)
    .done();
}

export function keyValueJson(kv: PbKeyValue): JsonObject {
  return new MessageOut()
    .bytes("key", kv.key)
    .int64("create_revision", kv.create_revision)
    .int64("mod_revision", kv.mod_revision)
    .int64("version", kv.version)
    .bytes("value", kv.value)
    .int64("lease", kv.lease)
    .done();
}

export function rangeResponseJson(r: PbRangeResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .list("kvs", r.kvs.map(keyValueJson))
    .bool("more", r.more)
    .int64("count", r.count)
    .done();
}

export function putResponseJson(r: PbPutResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .message("prev_kv", r.prev_kv === undefined ? undefined : keyValueJson(r.prev_kv))
    .done();
}

export function deleteRangeResponseJson(r: PbDeleteRangeResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .int64("deleted", r.deleted)
    .list("prev_kvs", r.prev_kvs.map(keyValueJson))
    .done();
}

function responseOpJson(op: PbResponseOp): JsonObject {
  if ("response_range" in op) return { response_range: rangeResponseJson(op.response_range) };
  if ("response_put" in op) return { response_put: putResponseJson(op.response_put) };
  if ("response_delete_range" in op) return { response_delete_range: deleteRangeResponseJson(op.response_delete_range) };
  return { response_txn: txnResponseJson(op.response_txn) };
}

export function txnResponseJson(r: PbTxnResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .bool("succeeded", r.succeeded)
    .list("responses", r.responses.map(responseOpJson))
    .done();
}

/** headerOnlyJson is a response made of its header alone (Compaction, LeaseRevoke). */
export function headerOnlyJson(h: PbResponseHeader): JsonObject {
  return { header: headerJson(h) };
}

export function statusResponseJson(s: PbStatusResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(s.header))
    .string("version", s.version)
    .int64("dbSize", s.dbSize)
    .int64("leader", s.leader)
    .int64("raftIndex", s.raftIndex)
    .int64("raftTerm", s.raftTerm)
    .int64("raftAppliedIndex", s.raftAppliedIndex)
    .list("errors", s.errors)
    .int64("dbSizeInUse", s.dbSizeInUse)
    .bool("isLearner", s.isLearner)
    .done();
}

function memberJson(m: PbMember): JsonObject {
  return new MessageOut()
    .int64("ID", m.ID)
    .string("name", m.name)
    .list("peerURLs", m.peerURLs)
    .list("clientURLs", m.clientURLs)
    .bool("isLearner", m.isLearner)
    .done();
}

export function memberListResponseJson(r: PbMemberListResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .list("members", r.members.map(memberJson))
    .done();
}

/** memberAddResponseJson: MemberAddResponse, the new member beside the list. */
export function memberAddResponseJson(r: PbMemberAddResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .message("member", memberJson(r.member))
    .list("members", r.members.map(memberJson))
    .done();
}

// ---- leases and watches ------------------------------------------------------------

export function leaseGrantResponseJson(r: PbLeaseGrantResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .int64("ID", r.ID)
    .int64("TTL", r.TTL)
    .string("error", r.error)
    .done();
}

export function leaseKeepAliveResponseJson(r: PbLeaseKeepAliveResponse): JsonObject {
  return new MessageOut().message("header", headerJson(r.header)).int64("ID", r.ID).int64("TTL", r.TTL).done();
}

export function leaseTimeToLiveResponseJson(r: PbLeaseTimeToLiveResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .int64("ID", r.ID)
    .int64("TTL", r.TTL)
    .int64("grantedTTL", r.grantedTTL)
    .list("keys", r.keys.map(base64Of))
    .done();
}

export function leaseLeasesResponseJson(r: PbLeaseLeasesResponse): JsonObject {
  return new MessageOut()
    .message("header", headerJson(r.header))
    .list(
      "leases",
      r.leases.map((lease) => new MessageOut().int64("ID", lease.ID).done()),
    )
    .done();
}

function eventJson(event: PbEvent): JsonObject {
  return new MessageOut()
    .enumName("type", event.type, eventTypeNames)
    .message("kv", keyValueJson(event.kv))
    .message("prev_kv", event.prev_kv === undefined ? undefined : keyValueJson(event.prev_kv))
    .done();
}

/**
 * watchResponseJson encodes one response of a watch stream. A compaction
 * cancel carries no header revision, as etcd's (its watchable store sends it
 * with revision 0).
 */
export function watchResponseJson(r: PbWatchResponse): JsonObject {
  const header = r.compact_revision > 0 ? { ...r.header, revision: 0 } : r.header;
  return new MessageOut()
    .message("header", headerJson(header))
    .int64("watch_id", r.watch_id)
    .bool("created", r.created)
    .bool("canceled", r.canceled)
    .int64("compact_revision", r.compact_revision)
    .string("cancel_reason", r.cancel_reason)
    .bool("fragment", r.fragment)
    .list("events", r.events.map(eventJson))
    .done();
}
