/**
 * The etcd v3 messages as they cross the gRPC boundary: requests as
 * @grpc/proto-loader decodes them (with the options of `protos.ts`: int64 as
 * decimal strings, bytes as Buffer, enums as numbers, zero values filled in,
 * a oneof's name holding its present field's name), and responses as the
 * server hands them to the encoder (int64 as numbers, or decimal strings for
 * uint64 IDs that may exceed 2^53). Field names are the .proto names.
 * Only the messages the API serves are typed here.
 */

/** Int64 is a decoded int64 or uint64: a decimal string. */
export type Int64 = string;

export interface PbRangeRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly limit: Int64;
  readonly revision: Int64;
  readonly sort_order: number;
  readonly sort_target: number;
  readonly serializable: boolean;
  readonly keys_only: boolean;
  readonly count_only: boolean;
  readonly min_mod_revision: Int64;
  readonly max_mod_revision: Int64;
  readonly min_create_revision: Int64;
  readonly max_create_revision: Int64;
}

export interface PbPutRequest {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly lease: Int64;
  readonly prev_kv: boolean;
  readonly ignore_value: boolean;
  readonly ignore_lease: boolean;
}

export interface PbDeleteRangeRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly prev_kv: boolean;
}

/** PbRequestOp: `request` names the present field; an op with none is possible on the wire. */
export interface PbRequestOp {
  readonly request?: "request_range" | "request_put" | "request_delete_range" | "request_txn";
  readonly request_range?: PbRangeRequest | null;
  readonly request_put?: PbPutRequest | null;
  readonly request_delete_range?: PbDeleteRangeRequest | null;
  readonly request_txn?: PbTxnRequest | null;
}

/** PbCompare: `target_union` names the present operand field. */
export interface PbCompare {
  readonly result: number;
  readonly target: number;
  readonly key: Buffer;
  readonly target_union?: "version" | "create_revision" | "mod_revision" | "value" | "lease";
  readonly version?: Int64;
  readonly create_revision?: Int64;
  readonly mod_revision?: Int64;
  readonly value?: Buffer;
  readonly lease?: Int64;
  readonly range_end: Buffer;
}

export interface PbTxnRequest {
  readonly compare: readonly PbCompare[];
  readonly success: readonly PbRequestOp[];
  readonly failure: readonly PbRequestOp[];
}

export interface PbCompactionRequest {
  readonly revision: Int64;
  readonly physical: boolean;
}

export interface PbHashKvRequest {
  readonly revision: Int64;
}

export interface PbMemberListRequest {
  readonly linearizable: boolean;
}

/** PbWatchCreateRequest: `filters` holds FilterType numbers (0 NOPUT, 1 NODELETE). */
export interface PbWatchCreateRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly start_revision: Int64;
  readonly progress_notify: boolean;
  readonly filters: readonly number[];
  readonly prev_kv: boolean;
  readonly watch_id: Int64;
  readonly fragment: boolean;
}

/** PbWatchRequest: `request_union` names the present field; a request with none is ignored, as etcd does. */
export interface PbWatchRequest {
  readonly request_union?: "create_request" | "cancel_request" | "progress_request";
  readonly create_request?: PbWatchCreateRequest | null;
  readonly cancel_request?: { readonly watch_id: Int64 } | null;
  readonly progress_request?: object | null;
}

export interface PbLeaseGrantRequest {
  readonly TTL: Int64;
  readonly ID: Int64;
}

/** PbLeaseIdRequest is LeaseRevokeRequest and LeaseKeepAliveRequest. */
export interface PbLeaseIdRequest {
  readonly ID: Int64;
}

export interface PbLeaseTimeToLiveRequest {
  readonly ID: Int64;
  readonly keys: boolean;
}

export interface PbLockRequest {
  readonly name: Buffer;
  readonly lease: Int64;
}

export interface PbUnlockRequest {
  readonly key: Buffer;
}

/** PbLeaderKeyIn is a decoded v3electionpb.LeaderKey. */
export interface PbLeaderKeyIn {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: Int64;
  readonly lease: Int64;
}

export interface PbCampaignRequest {
  readonly name: Buffer;
  readonly lease: Int64;
  readonly value: Buffer;
}

/** PbLeaderRequest is LeaderRequest (Leader and Observe). */
export interface PbLeaderRequest {
  readonly name: Buffer;
}

/** PbProclaimRequest: an absent `leader` decodes as null. */
export interface PbProclaimRequest {
  readonly leader: PbLeaderKeyIn | null;
  readonly value: Buffer;
}

export interface PbResignRequest {
  readonly leader: PbLeaderKeyIn | null;
}

export interface PbAlarmRequest {
  readonly action: number;
  readonly memberID: Int64;
  readonly alarm: number;
}

export interface PbMemberAddRequest {
  readonly peerURLs: readonly string[];
  readonly isLearner: boolean;
}

/** PbMemberIdRequest is MemberRemoveRequest and MemberPromoteRequest. */
export interface PbMemberIdRequest {
  readonly ID: Int64;
}

export interface PbMemberUpdateRequest {
  readonly ID: Int64;
  readonly peerURLs: readonly string[];
}

export interface PbMemberAddResponse {
  readonly header: PbResponseHeader;
  readonly member: PbMember;
  readonly members: readonly PbMember[];
}

export interface PbMoveLeaderRequest {
  readonly targetID: Int64;
}

// ---- responses, as handed to the encoder ------------------------------------

/** PbResponseHeader: IDs as decimal strings (uint64); fields left out encode as zero. */
export interface PbResponseHeader {
  readonly cluster_id?: string;
  readonly member_id?: string;
  readonly revision?: number;
  readonly raft_term?: number;
}

export interface PbKeyValue {
  readonly key: Buffer;
  readonly create_revision: number;
  readonly mod_revision: number;
  readonly version: number;
  readonly value: Buffer;
  readonly lease: number;
}

export interface PbRangeResponse {
  readonly header: PbResponseHeader;
  readonly kvs: readonly PbKeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface PbPutResponse {
  readonly header: PbResponseHeader;
  readonly prev_kv?: PbKeyValue;
}

export interface PbDeleteRangeResponse {
  readonly header: PbResponseHeader;
  readonly deleted: number;
  readonly prev_kvs: readonly PbKeyValue[];
}

export type PbResponseOp =
  | { readonly response_range: PbRangeResponse }
  | { readonly response_put: PbPutResponse }
  | { readonly response_delete_range: PbDeleteRangeResponse }
  | { readonly response_txn: PbTxnResponse };

export interface PbTxnResponse {
  readonly header: PbResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly PbResponseOp[];
}

export interface PbCompactionResponse {
  readonly header: PbResponseHeader;
}

export interface PbHashKvResponse {
  readonly header: PbResponseHeader;
  readonly hash: number;
  readonly compact_revision: number;
  readonly hash_revision: number;
}

export interface PbStatusResponse {
  readonly header: PbResponseHeader;
  readonly version: string;
  readonly dbSize: number;
  readonly leader: string;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly dbSizeInUse: number;
  readonly isLearner: boolean;
}

export interface PbAlarmResponse {
  readonly header: PbResponseHeader;
  readonly alarms: readonly { readonly memberID: string; readonly alarm: number }[];
}

/** PbSnapshotResponse is one piece of a backup stream (etcd's SnapshotResponse). */
export interface PbSnapshotResponse {
  readonly header: PbResponseHeader;
  /** remaining_bytes: uint64 as a decimal string, the bytes still to come after this blob. */
  readonly remaining_bytes: string;
  readonly blob: Buffer;
}

export interface PbDefragmentResponse {
  readonly header: PbResponseHeader;
}

export interface PbMoveLeaderResponse {
  readonly header: PbResponseHeader;
}

export interface PbMember {
  readonly ID: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

export interface PbMemberListResponse {
  readonly header: PbResponseHeader;
  readonly members: readonly PbMember[];
}

export interface PbEvent {
  readonly type: number;
  readonly kv: PbKeyValue;
  readonly prev_kv?: PbKeyValue;
}

export interface PbWatchResponse {
  readonly header: PbResponseHeader;
  readonly watch_id: number;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compact_revision: number;
  readonly cancel_reason: string;
  readonly fragment: boolean;
  readonly events: readonly PbEvent[];
}

export interface PbLeaseGrantResponse {
  readonly header: PbResponseHeader;
  readonly ID: number;
  readonly TTL: number;
  readonly error: string;
}

/** PbHeaderResponse is every response made of a header alone (LeaseRevoke, Unlock, Proclaim, Resign). */
export interface PbHeaderResponse {
  readonly header: PbResponseHeader;
}

export interface PbLeaseKeepAliveResponse {
  readonly header: PbResponseHeader;
  readonly ID: number;
  readonly TTL: number;
}

export interface PbLeaseTimeToLiveResponse {
  readonly header: PbResponseHeader;
  readonly ID: number;
  readonly TTL: number;
  readonly grantedTTL: number;
  readonly keys: readonly Buffer[];
}

export interface PbLeaseLeasesResponse {
  readonly header: PbResponseHeader;
  readonly leases: readonly { readonly ID: number }[];
}

export interface PbLockResponse {
  readonly header: PbResponseHeader;
  readonly key: Buffer;
}

export interface PbLeaderKeyOut {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: number;
  readonly lease: number;
}

export interface PbCampaignResponse {
  readonly header: PbResponseHeader;
  readonly leader: PbLeaderKeyOut;
}

export interface PbLeaderResponse {
  readonly header: PbResponseHeader;
  readonly kv: PbKeyValue;
}
