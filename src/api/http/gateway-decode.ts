/**
 * Decoding of the gateway's JSON request messages, as etcd 3.4's
 * grpc-gateway (golang/protobuf jsonpb) reads them:
 * - field names as in the .proto (`range_end`, `TTL`) or their lowerCamel
 *   JSON names (`rangeEnd`); unknown fields are ignored; `null` is "unset";
 * - int64 as a JSON number or a decimal string; bytes as standard base64
 *   with padding; enums by name (`"CREATE"`) or number; bools as JSON bools.
 *
 * Requests decode to the `Pb*` shapes of `../etcd/wire.ts` (what the gRPC
 * decoder produces), so the conversions and checks of the gRPC layer apply
 * to them unchanged. A malformed message throws a {@link GatewayDecodeError}
 * with Go's wording where it is known.
 */
import type {
  Int64,
  PbCompactionRequest,
  PbCompare,
  PbDeleteRangeRequest,
  PbLeaseGrantRequest,
  PbLeaseIdRequest,
  PbMemberAddRequest,
  PbMemberIdRequest,
  PbMemberUpdateRequest,
  PbLeaseTimeToLiveRequest,
  PbPutRequest,
  PbRangeRequest,
  PbRequestOp,
  PbTxnRequest,
  PbWatchCreateRequest,
  PbWatchRequest,
} from "../etcd/wire.js";
import { GatewayDecodeError } from "./gateway-errors.js";

type JsonObject = { readonly [key: string]: unknown };

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const decimalPattern = /^-?\d+$/;

/** The enums of the requests, by value name, and their Go type names for error messages. */
const sortOrders = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
const sortTargets = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
const compareResults = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
const compareTargets = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
const filterTypes = { NOPUT: 0, NODELETE: 1 } as const;

/** jsonName is protoc's lowerCamel JSON name of a proto field name. */
function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_match, c: string) => c.toUpperCase());
}

/** jsonKind names a JSON value's kind as Go's decoder does in its messages. */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "object" && value !== null) return "object";
  return typeof value;
}

function mismatch(value: unknown, goType: string): GatewayDecodeError {
  return new GatewayDecodeError(`json: cannot unmarshal ${jsonKind(value)} into Go value of type ${goType}`);
}

/**
 * parseJson parses one value's text. A syntax error gets Go's message for a
 * bad first character, which is the common case (a body that is not JSON at
 * all), and JavaScript's description otherwise.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new GatewayDecodeError(goSyntaxMessage(text) ?? `invalid JSON: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

const literals = ["null", "true", "false"] as const;

/** goSyntaxMessage is Go's message for the syntax errors it is easy to name: a bad first character, a misspelt literal. */
function goSyntaxMessage(text: string): string | undefined {
  const value = text.trimStart();
  const first = value[0];
  if (first === undefined) return "unexpected end of JSON input";
  if (!/[{["\-0-9tfn]/.test(first)) return `invalid character '${first}' looking for beginning of value`;
  const literal = literals.find((l) => l[0] === first);
  if (literal === undefined) return undefined;
  for (let i = 1; i < literal.length; i++) {
    const c = value[i];
    if (c === undefined) return "unexpected end of JSON input";
    if (c !== literal[i]) return `invalid character '${c}' in literal ${literal} (expecting '${literal[i]}')`;
  }
  return undefined;
}

/**
 * Fields reads the fields of one JSON object as one protobuf message type.
 * Only own properties count, so `"constructor"` and the like are fields
 * like any other.
 */
export class Fields {
  private constructor(private readonly object: JsonObject) {}

  /** of takes a decoded top-level or nested value that must be a message: an object, or null for the empty one. */
  static of(value: unknown): Fields {
    if (value === null || value === undefined) return new Fields({});
    if (typeof value !== "object" || Array.isArray(value)) throw mismatch(value, "map[string]json.RawMessage");
    return new Fields(value as JsonObject);
  }

  /** get returns a field by proto name, else by JSON name; null counts as absent. */
  private get(name: string): unknown {
    if (Object.hasOwn(this.object, name)) return this.object[name] ?? undefined;
    const alternate = jsonName(name);
    if (alternate !== name && Object.hasOwn(this.object, alternate)) return this.object[alternate] ?? undefined;
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  bytes(name: string): Buffer {
    return decodeBytes(this.get(name));
  }

  int64(name: string): Int64 {
    return decodeInt64(this.get(name));
  }

  bool(name: string): boolean {
    const value = this.get(name);
    if (value === undefined) return false;
    if (typeof value !== "boolean") throw mismatch(value, "bool");
    return value;
  }

  enumValue(name: string, values: Readonly<Record<string, number>>, goEnum: string): number {
    return decodeEnum(this.get(name), values, goEnum);
  }

  message(name: string): Fields | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : Fields.of(value);
  }

  list(name: string, goElement: string): readonly unknown[] {
    const value = this.get(name);
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw mismatch(value, `[]${goElement}`);
    return value as readonly unknown[];
  }
}

function decodeBytes(value: unknown): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value !== "string") throw mismatch(value, "[]uint8");
  const text = value.replace(/[\r\n]/g, "");
  if (!base64Pattern.test(text)) throw new GatewayDecodeError(`illegal base64 data at input byte ${base64ErrorOffset(text)}`);
  return Buffer.from(text, "base64");
}

/** base64ErrorOffset is where Go's decoder reports bad base64: the first bad character, else the last, short quantum. */
function base64ErrorOffset(text: string): number {
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const padding = text.indexOf("=");
  if (padding >= 0 && padding < text.length - 2) return padding;
  return text.length - (text.length % 4 || 4);
}

function decodeInt64(value: unknown): Int64 {
  if (value === undefined) return "0";
  let n: bigint;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new GatewayDecodeError(`json: cannot unmarshal number ${value} into Go value of type int64`);
    n = BigInt(value);
  } else if (typeof value === "string") {
    // jsonpb reads a quoted int64 by parsing the text between the quotes as JSON.
    if (!decimalPattern.test(value)) return decodeInt64(parseJson(value));
    n = BigInt(value);
  } else {
    throw mismatch(value, "int64");
  }
  if (n < int64Min || n > int64Max) throw new GatewayDecodeError(`json: cannot unmarshal number ${n} into Go value of type int64`);
  return n.toString(10);
}

function decodeEnum(value: unknown, values: Readonly<Record<string, number>>, goEnum: string): number {
  if (value === undefined) return 0;
  if (typeof value === "string") {
    const n = Object.hasOwn(values, value) ? values[value] : undefined;
    if (n === undefined) throw new GatewayDecodeError(`unknown value ${JSON.stringify(value)} for enum ${goEnum}`);
    return n;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && Math.abs(value) < 2 ** 31) return value;
  throw mismatch(value, goEnum);
}

// ---- KV ------------------------------------------------------------------------

export function rangeRequestFromJson(f: Fields): PbRangeRequest {
  return {
    key: f.bytes("key"),
    range_end: f.bytes("range_end"),
    limit: f.int64("limit"),
    revision: f.int64("revision"),
    sort_order: f.enumValue("sort_order", sortOrders, "etcdserverpb.RangeRequest_SortOrder"),
    sort_target: f.enumValue("sort_target", sortTargets, "etcdserverpb.RangeRequest_SortTarget"),
    serializable: f.bool("serializable"),
    keys_only: f.bool("keys_only"),
    count_only: f.bool("count_only"),
    min_mod_revision: f.int64("min_mod_revision"),
    max_mod_revision: f.int64("max_mod_revision"),
    min_create_revision: f.int64("min_create_revision"),
    max_create_revision: f.int64("max_create_revision"),
  };
}

export function putRequestFromJson(f: Fields): PbPutRequest {
  return {
    key: f.bytes("key"),
    value: f.bytes("value"),
    lease: f.int64("lease"),
    prev_kv: f.bool("prev_kv"),
    ignore_value: f.bool("ignore_value"),
    ignore_lease: f.bool("ignore_lease"),
  };
}

export function deleteRangeRequestFromJson(f: Fields): PbDeleteRangeRequest {
  return { key: f.bytes("key"), range_end: f.bytes("range_end"), prev_kv: f.bool("prev_kv") };
}

/** compareFromJson: the first operand field present (in .proto order) is the oneof's case, as jsonpb keeps one. */
function compareFromJson(f: Fields): PbCompare {
  const base = {
    result: f.enumValue("result", compareResults, "etcdserverpb.Compare_CompareResult"),
    target: f.enumValue("target", compareTargets, "etcdserverpb.Compare_CompareTarget"),
    key: f.bytes("key"),
    range_end: f.bytes("range_end"),
  };
  if (f.has("version")) return { ...base, target_union: "version", version: f.int64("version") };
  if (f.has("create_revision")) return { ...base, target_union: "create_revision", create_revision: f.int64("create_revision") };
  if (f.has("mod_revision")) return { ...base, target_union: "mod_revision", mod_revision: f.int64("mod_revision") };
  if (f.has("value")) return { ...base, target_union: "value", value: f.bytes("value") };
  if (f.has("lease")) return { ...base, target_union: "lease", lease: f.int64("lease") };
  return base;
}

function requestOpFromJson(f: Fields): PbRequestOp {
  const range = f.message("request_range");
  if (range !== undefined) return { request: "request_range", request_range: rangeRequestFromJson(range) };
  const put = f.message("request_put");
  if (put !== undefined) return { request: "request_put", request_put: putRequestFromJson(put) };
  const deleteRange = f.message("request_delete_range");
  if (deleteRange !== undefined) return { request: "request_delete_range", request_delete_range: deleteRangeRequestFromJson(deleteRange) };
  const txn = f.message("request_txn");
  if (txn !== undefined) return { request: "request_txn", request_txn: txnRequestFromJson(txn) };
  return {};
}

export function txnRequestFromJson(f: Fields): PbTxnRequest {
  return {
    compare: f.list("compare", "*etcdserverpb.Compare").map((c) => compareFromJson(Fields.of(c))),
    success: f.list("success", "*etcdserverpb.RequestOp").map((op) => requestOpFromJson(Fields.of(op))),
    failure: f.list("failure", "*etcdserverpb.RequestOp").map((op) => requestOpFromJson(Fields.of(op))),
  };
}

export function compactionRequestFromJson(f: Fields): PbCompactionRequest {
  return { revision: f.int64("revision"), physical: f.bool("physical") };
}

// ---- cluster ------------------------------------------------------------------------

function stringList(f: Fields, name: string): string[] {
  return f.list(name, "string").map((v) => {
    if (typeof v !== "string") throw mismatch(v, "string");
    return v;
  });
}

export function memberAddRequestFromJson(f: Fields): PbMemberAddRequest {
  return { peerURLs: stringList(f, "peerURLs"), isLearner: f.bool("isLearner") };
}

/** memberIdRequestFromJson reads MemberRemoveRequest and MemberPromoteRequest. */
export function memberIdRequestFromJson(f: Fields): PbMemberIdRequest {
  return { ID: f.int64("ID") };
}

export function memberUpdateRequestFromJson(f: Fields): PbMemberUpdateRequest {
  return { ID: f.int64("ID"), peerURLs: stringList(f, "peerURLs") };
}

// ---- leases and watches ------------------------------------------------------------

export function leaseGrantRequestFromJson(f: Fields): PbLeaseGrantRequest {
  return { TTL: f.int64("TTL"), ID: f.int64("ID") };
}

/** leaseIdRequestFromJson reads LeaseRevokeRequest and LeaseKeepAliveRequest. */
export function leaseIdRequestFromJson(f: Fields): PbLeaseIdRequest {
  return { ID: f.int64("ID") };
}

export function leaseTimeToLiveRequestFromJson(f: Fields): PbLeaseTimeToLiveRequest {
  return { ID: f.int64("ID"), keys: f.bool("keys") };
}

/** watchRequestFromJson reads a WatchRequest; the first case present (in .proto order) is the oneof's. */
export function watchRequestFromJson(f: Fields): PbWatchRequest {
  const create = f.message("create_request");
  if (create !== undefined) return { request_union: "create_request", create_request: watchCreateRequestFromJson(create) };
  const cancel = f.message("cancel_request");
  if (cancel !== undefined) return { request_union: "cancel_request", cancel_request: { watch_id: cancel.int64("watch_id") } };
  if (f.message("progress_request") !== undefined) return { request_union: "progress_request", progress_request: {} };
  return {};
}

function watchCreateRequestFromJson(f: Fields): PbWatchCreateRequest {
  return {
    key: f.bytes("key"),
    range_end: f.bytes("range_end"),
    start_revision: f.int64("start_revision"),
    progress_notify: f.bool("progress_notify"),
    filters: f
      .list("filters", "etcdserverpb.WatchCreateRequest_FilterType")
      .map((value) => decodeEnum(value ?? undefined, filterTypes, "etcdserverpb.WatchCreateRequest_FilterType")),
    prev_kv: f.bool("prev_kv"),
    watch_id: f.int64("watch_id"),
    fragment: f.bool("fragment"),
  };
}
