/**
 * The etcd v3 KV messages, field by field (rpc.proto / kv.proto), in
 * camelCase with `Uint8Array` for `bytes` and `number` for `int64` (revisions
 * and versions stay below 2^53). An absent optional field means the protobuf
 * zero value. Enums keep their protobuf numbers so the gRPC layer maps them
 * one to one.
 */

/** SortOrder is RangeRequest.SortOrder. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

/** SortTarget is RangeRequest.SortTarget. */
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

/** CompareResult is Compare.CompareResult. */
export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

/** CompareTarget is Compare.CompareTarget. */
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

/** EventType is mvccpb.Event.EventType. */
export const EventType = { PUT: 0, DELETE: 1 } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** KeyValue is mvccpb.KeyValue. `lease` 0 means no lease. */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: number;
}

/**
 * KvEvent is one change made by an applied write (mvccpb.Event), with the
 * key's previous live value when it had one. A DELETE event's `kv` carries
 * only the key and the deletion's `modRevision` (other fields zero), as etcd's
 * watch reports it.
 */
export interface KvEvent {
  readonly type: EventType;
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

/** ResponseHeader carries the store revision; cluster, member and term are filled by the server. */
export interface ResponseHeader {
  readonly revision: number;
}

/**
 * RangeRequest reads the keys in a range. `rangeEnd` absent or empty: the
 * single key `key`; a single zero byte: every key >= `key`; otherwise the
 * half-open range [key, rangeEnd). `revision` <= 0 reads the current revision.
 */
export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly limit?: number;
  readonly revision?: number;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  /** serializable selects the read path in the server; the core ignores it. */
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

/** RangeResponse: `count` is the number of keys in the range at the read revision, before filters and limit. */
export interface RangeResponse {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
  readonly count: number;
}

/** PutRequest writes one key. */
export interface PutRequest {
  readonly key: Uint8Array;
  readonly value?: Uint8Array;
  readonly lease?: number;
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface PutResponse {
  readonly header: ResponseHeader;
  readonly prevKv?: KeyValue;
}

/** DeleteRangeRequest deletes the keys of a range (same `rangeEnd` rules as {@link RangeRequest}). */
export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly prevKv?: boolean;
}

export interface DeleteRangeResponse {
  readonly header: ResponseHeader;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

/**
 * Compare is one guard of a Txn. The protobuf `target_union` oneof is flattened:
 * the field named by `target` is read, an absent one counts as zero / empty.
 * With `rangeEnd`, every key of the range must satisfy the comparison.
 */
export interface Compare {
  readonly result: CompareResult;
  readonly target: CompareTarget;
  readonly key: Uint8Array;
  readonly version?: number;
  readonly createRevision?: number;
  readonly modRevision?: number;
  readonly value?: Uint8Array;
  readonly lease?: number;
  readonly rangeEnd?: Uint8Array;
}

/** RequestOp is one operation of a Txn branch (the protobuf `request` oneof). */
export type RequestOp =
  | { readonly requestRange: RangeRequest }
  | { readonly requestPut: PutRequest }
  | { readonly requestDeleteRange: DeleteRangeRequest }
  | { readonly requestTxn: TxnRequest };

/** ResponseOp is the response to one RequestOp (the protobuf `response` oneof). */
export type ResponseOp =
  | { readonly responseRange: RangeResponse }
  | { readonly responsePut: PutResponse }
  | { readonly responseDeleteRange: DeleteRangeResponse }
  | { readonly responseTxn: TxnResponse };

/** TxnRequest: if every compare holds, run `success`, else `failure`. */
export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly RequestOp[];
  readonly failure?: readonly RequestOp[];
}

/** TxnResponse: a nested txn's header revision is 0, as etcd leaves it. */
export interface TxnResponse {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly ResponseOp[];
}

/**
 * CompactionRequest discards history below `revision`. `physical` asks etcd's
 * server to reply only once the compaction is physically done; this store
 * compacts synchronously inside apply, so it is always physical and the flag
 * changes nothing here.
 */
export interface CompactionRequest {
  readonly revision: number;
  readonly physical?: boolean;
}

export interface CompactionResponse {
  readonly header: ResponseHeader;
}

/** HashKvResponse is Maintenance.HashKV's answer: the hash of the history up to `hashRevision`. */
export interface HashKvResponse {
  readonly header: ResponseHeader;
  readonly hash: number;
  readonly compactRevision: number;
  readonly hashRevision: number;
}

/**
 * KvRequest is one replicated command, as carried in a log entry (the KV part
 * of etcd's InternalRaftRequest).
 */
export type KvRequest =
  | { readonly range: RangeRequest }
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest }
  | { readonly txn: TxnRequest }
  | { readonly compaction: CompactionRequest };

/** KvResponse is the response to a {@link KvRequest}, under the same field name. */
export type KvResponse =
  | { readonly range: RangeResponse }
  | { readonly put: PutResponse }
  | { readonly deleteRange: DeleteRangeResponse }
  | { readonly txn: TxnResponse }
  | { readonly compaction: CompactionResponse };
