/**
 * EtcdBackend is the port between the etcd API layer and the server that
 * implements it. The API layer knows nothing of consensus: it decodes and
 * checks a request, calls the backend, and encodes the answer (adding the
 * cluster, member and term to every response header).
 *
 * Contract:
 * - Requests and responses are the KV state machine's own types
 *   (`src/kv/types.ts`). Requests reaching the backend have passed etcd's
 *   gRPC-boundary checks (shape, txn size and duplicate keys, request size),
 *   so a backend need not repeat them, although the store does when applying.
 * - `header.revision` of a response is the store revision the answer reflects
 *   (a nested txn's is 0, as etcd leaves it).
 * - A failure is a rejected promise: a `KvError` (from `src/kv`) for a request
 *   the store refused, an {@link ApiError} for a server-level failure (no
 *   leader, timeout, stopping, …). Anything else is reported to the client as
 *   INTERNAL with a generic message, and logged.
 * - IDs (cluster, member, leader) are uint64 and may exceed 2^53: they are
 *   bigints. Indexes, terms and revisions stay below 2^53: numbers.
 */
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../../kv/index.js";
import type { WatchSink, WatchStream } from "../../kv/watch-hub.js";

/** HeaderInfo is what the API adds to every response header: who answered, in which term. */
export interface HeaderInfo {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raftTerm: number;
}

/** StatusInfo is one member's status (Maintenance.Status), as etcd reports it. */
export interface StatusInfo {
  /** version is the server version reported to clients (etcd's, for compatibility), e.g. "3.4.0". */
  readonly version: string;
  /** dbSizeBytes is the size of the database on disk. */
  readonly dbSizeBytes: number;
  /** dbSizeInUseBytes is the part of the database that holds live data. */
  readonly dbSizeInUseBytes: number;
  /** leader is the member this member believes leads; 0n if none. */
  readonly leader: bigint;
  /** raftIndex is the last log index this member has. */
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  /** errors are the member's active alarms and errors, as text. */
  readonly errors: readonly string[];
  readonly isLearner: boolean;
  /** revision is the current store revision, reported in the response header. */
  readonly revision: number;
}

/** MemberInfo is one member of the cluster (etcdserverpb.Member). An empty name means not started yet. */
export interface MemberInfo {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** See the file comment. */
export interface EtcdBackend {
  /** range reads; linearizable unless `r.serializable`, which may answer from local, possibly stale state. */
  range(r: RangeRequest): Promise<RangeResponse>;
  put(r: PutRequest): Promise<PutResponse>;
  deleteRange(r: DeleteRangeRequest): Promise<DeleteRangeResponse>;
  /** txn: a txn with only ranges may be served as a read, as etcd does. */
  txn(r: TxnRequest): Promise<TxnResponse>;
  compact(r: CompactionRequest): Promise<CompactionResponse>;
  /** hashKv hashes the store history up to `revision` (<= 0: the current revision), on this member. */
  hashKv(revision: number): Promise<HashKvResponse>;
  status(): Promise<StatusInfo>;
  memberList(): Promise<readonly MemberInfo[]>;
  /** header is read once per response, synchronously, after the backend answered. */
  header(): HeaderInfo;
}

/** LeaseGrantResult answers Lease.LeaseGrant. */
export interface LeaseGrantResult {
  readonly id: number;
  readonly ttl: number;
  readonly revision: number;
}

/** LeaseKeepAliveResult answers one LeaseKeepAlive request: ttl 0 when the lease does not exist (etcd's answer). */
export interface LeaseKeepAliveResult {
  readonly id: number;
  readonly ttl: number;
}

/** LeaseTimeToLiveResult answers Lease.LeaseTimeToLive: ttl -1 when the lease does not exist (etcd's answer). */
export interface LeaseTimeToLiveResult {
  readonly id: number;
  readonly ttl: number;
  readonly grantedTtl: number;
  readonly keys: readonly Uint8Array[];
}

/**
 * EventsBackend extends the KV backend with what watches, leases, locks and
 * elections need. A member serves watches from its own applied state; lease
 * keep-alives reach the leader (the member forwards them); grants and revokes
 * are replicated commands.
 */
export interface EventsBackend extends EtcdBackend {
  /** openWatchStream opens one client's watch stream over this member's applied state (see src/kv/watch-hub.ts). */
  openWatchStream(sink: WatchSink): WatchStream;
  leaseGrant(request: { readonly id: number; readonly ttl: number }): Promise<LeaseGrantResult>;
  /** leaseRevoke deletes the lease and every key attached to it; rejects with KvError leaseNotFound if unknown. */
  leaseRevoke(id: number): Promise<{ readonly revision: number }>;
  leaseKeepAlive(id: number): Promise<LeaseKeepAliveResult>;
  leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLiveResult>;
  leaseLeases(): Promise<readonly number[]>;
  /**
   * revision, when present, is the member's applied revision, put in the
   * header of responses that carry no revision of their own (lease
   * keep-alive, time-to-live, leases), as etcd does; absent: 0.
   */
  revision?(): number;
}

/** eventsMethods are the methods whose presence makes a backend an {@link EventsBackend}. */
const eventsMethods = ["openWatchStream", "leaseGrant", "leaseRevoke", "leaseKeepAlive", "leaseTimeToLive", "leaseLeases"] as const;

/** hasEvents tells whether a backend implements {@link EventsBackend}. */
export function hasEvents(backend: EtcdBackend): backend is EventsBackend {
  const methods = backend as unknown as Record<string, unknown>;
  return eventsMethods.every((name) => typeof methods[name] === "function");
}

/**
 * ClusterOpsBackend extends the KV backend with the operator's maintenance
 * calls. A failure is an {@link ApiError} with etcd's message.
 */
export interface ClusterOpsBackend extends EtcdBackend {
  /**
   * moveLeader makes member `targetId` the leader and resolves once it leads;
   * only the leader accepts it ("etcdserver: not leader"), the target must be
   * a voting member ("etcdserver: bad leader transferee").
   */
  moveLeader(targetId: bigint): Promise<void>;
  /** alarm gets, raises or clears alarms (etcd's Maintenance.Alarm) and answers the alarms concerned. */
  alarm(request: AlarmRequestInfo): Promise<readonly AlarmMemberInfo[]>;
  /** defragment compacts this member's data file if the storage can; it may do nothing. */
  defragment(): Promise<void>;
}

/**
 * MembershipBackend extends the KV backend with the Cluster service's
 * changes. Each resolves with the member list after the change (and, for
 * add, the new member); a refusal is an {@link ApiError} with etcd's message.
 */
export interface MembershipBackend extends EtcdBackend {
  memberAdd(request: { readonly peerUrls: readonly string[]; readonly isLearner: boolean }): Promise<{ readonly member: MemberInfo; readonly members: readonly MemberInfo[] }>;
  memberRemove(id: bigint): Promise<readonly MemberInfo[]>;
  memberUpdate(id: bigint, peerUrls: readonly string[]): Promise<readonly MemberInfo[]>;
  memberPromote(id: bigint): Promise<readonly MemberInfo[]>;
}

const membershipMethods = ["memberAdd", "memberRemove", "memberUpdate", "memberPromote"] as const;

/** hasMembership tells whether a backend implements {@link MembershipBackend}. */
export function hasMembership(backend: EtcdBackend): backend is MembershipBackend {
  const methods = backend as unknown as Record<string, unknown>;
  return membershipMethods.every((name) => typeof methods[name] === "function");
}

/** AlarmKind is etcd's AlarmType. */
export type AlarmKind = "NONE" | "NOSPACE" | "CORRUPT";

/** AlarmRequestInfo is an etcd AlarmRequest: memberId 0n and alarm NONE match every member and alarm for `get`. */
export interface AlarmRequestInfo {
  readonly action: "get" | "activate" | "deactivate";
  readonly memberId: bigint;
  readonly alarm: AlarmKind;
}

/** AlarmMemberInfo is one raised alarm (etcd's AlarmMember). */
export interface AlarmMemberInfo {
  readonly memberId: bigint;
  readonly alarm: AlarmKind;
}

/** clusterOpsMethods are the methods whose presence makes a backend a {@link ClusterOpsBackend}. */
const clusterOpsMethods = ["moveLeader", "alarm", "defragment"] as const;

/** hasClusterOps tells whether a backend implements {@link ClusterOpsBackend}. */
export function hasClusterOps(backend: EtcdBackend): backend is ClusterOpsBackend {
  const methods = backend as unknown as Record<string, unknown>;
  return clusterOpsMethods.every((name) => typeof methods[name] === "function");
}

/**
 * BackupSource is one consistent backup being streamed (Maintenance.Snapshot):
 * the file comes out in chunks whose total is known up front.
 */
export interface BackupSource {
  /** revision is the store revision the backup holds, for the response headers. */
  readonly revision: number;
  /** remainingBytes is what is left after the chunks taken so far. */
  readonly remainingBytes: number;
  /** nextChunk returns the next bytes of the file, or null once it is complete. */
  nextChunk(): Buffer | null;
  /** close releases what the backup pins; safe to call twice. */
  close(): void;
}

/** BackupBackend extends the KV backend with Maintenance.Snapshot. */
export interface BackupBackend extends EtcdBackend {
  /** openBackup pins the member's committed state and starts a backup of it; a member refuses past its limit of backups in flight. */
  openBackup(): Promise<BackupSource>;
}

/** hasBackup tells whether a backend implements {@link BackupBackend}. */
export function hasBackup(backend: EtcdBackend): backend is BackupBackend {
  return typeof (backend as unknown as Record<string, unknown>)["openBackup"] === "function";
}
