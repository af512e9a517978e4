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
import { ReplicaError } from "../../replica/errors.js";
import type { ReplicaErrorCode } from "../../replica/errors.js";
import type { MoveLeaderOutcome, SynodServer } from "../../server/synod-server.js";
import { NoSpaceError } from "../../server/kv-state-machine.js";
import { MemberError } from "../../server/membership-table.js";
import type { MemberErrorCode } from "../../server/membership-table.js";
import type { WatchSink, WatchStream } from "../../kv/watch-hub.js";
import type { AlarmMemberInfo, AlarmRequestInfo, BackupBackend, BackupSource, ClusterOpsBackend, EventsBackend, HeaderInfo, LeaseGrantResult, LeaseKeepAliveResult, LeaseTimeToLiveResult, MemberInfo, MembershipBackend, StatusInfo } from "./backend.js";
import * as grpc from "@grpc/grpc-js";
import { StorageError } from "../../storage/errors.js";
import { ApiError, GrpcStatusError } from "./errors.js";
import type { ApiErrorCode } from "./errors.js";

/** apiCodeOf maps a replica failure to the etcd error a client expects for it. */
const apiCodeOf: Record<ReplicaErrorCode, ApiErrorCode> = {
  noLeader: "noLeader",
  notLeader: "noLeader",
  leaderChanged: "leaderChanged",
  timeout: "timeout",
  stopped: "stopped",
  overloaded: "tooManyRequests",
};

/** moveLeaderCodeOf maps why a leader move failed to etcd's error for it. */
const moveLeaderCodeOf: Record<MoveLeaderFailure, ApiErrorCode> = {
  notLeader: "notLeader",
  badTransferee: "badLeaderTransferee",
  timeout: "timeoutLeaderTransfer",
};

type MoveLeaderFailure = Extract<MoveLeaderOutcome, { ok: false }>["reason"];

/**
 * SynodBackend serves the etcd API from one Synod member: it forwards each call
 * to the server and turns the server's failures into etcd's errors.
 */
export class SynodBackend implements EventsBackend, ClusterOpsBackend, MembershipBackend, BackupBackend {
  constructor(private readonly server: SynodServer) {}

  range(r: RangeRequest): Promise<RangeResponse> {
    return mapErrors(this.server.range(r));
  }

  put(r: PutRequest): Promise<PutResponse> {
    return mapErrors(this.server.put(r));
  }

  deleteRange(r: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return mapErrors(this.server.deleteRange(r));
  }

  txn(r: TxnRequest): Promise<TxnResponse> {
    return mapErrors(this.server.txn(r));
  }

  compact(r: CompactionRequest): Promise<CompactionResponse> {
    return mapErrors(this.server.compact(r));
  }

  hashKv(revision: number): Promise<HashKvResponse> {
    return mapErrors(this.server.hashKv(revision));
  }

  status(): Promise<StatusInfo> {
    return Promise.resolve({ ...this.server.status(), revision: this.server.revision() });
  }

  memberList(): Promise<readonly MemberInfo[]> {
    return Promise.resolve(
      this.server.memberList().map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner })),
    );
  }

  /**
   * memberAdd checks the URLs as etcd does (each a valid http:// URL with a
   * port), then adds the member whose id derives from them and the token.
   */
  async memberAdd(request: { readonly peerUrls: readonly string[]; readonly isLearner: boolean }): Promise<{ readonly member: MemberInfo; readonly members: readonly MemberInfo[] }> {
    if (!validPeerUrls(request.peerUrls)) throw new ApiError("memberBadUrls");
    const memberId = this.server.memberIdOfPeerUrls(request.peerUrls);
    const answer = await mapMemberErrors(this.server.memberChange({ op: "add", memberId, peerUrls: request.peerUrls, isLearner: request.isLearner }));
    const member = answer.member ?? { id: memberId, name: "", peerUrls: request.peerUrls, clientUrls: [], isLearner: request.isLearner };
    return { member: memberInfoOf(member), members: answer.members.map(memberInfoOf) };
  }

  async memberRemove(id: bigint): Promise<readonly MemberInfo[]> {
    return (await mapMemberErrors(this.server.memberChange({ op: "remove", memberId: id }))).members.map(memberInfoOf);
  }

  async memberUpdate(id: bigint, peerUrls: readonly string[]): Promise<readonly MemberInfo[]> {
    if (!validPeerUrls(peerUrls)) throw new ApiError("memberBadUrls");
    return (await mapMemberErrors(this.server.memberChange({ op: "update", memberId: id, peerUrls }))).members.map(memberInfoOf);
  }

  async memberPromote(id: bigint): Promise<readonly MemberInfo[]> {
    return (await mapMemberErrors(this.server.memberChange({ op: "promote", memberId: id }))).members.map(memberInfoOf);
  }

  async moveLeader(targetId: bigint): Promise<void> {
    const outcome = await mapErrors(this.server.moveLeader(targetId));
    if (outcome.ok) return;
    throw new ApiError(moveLeaderCodeOf[outcome.reason]);
  }

  async alarm(request: AlarmRequestInfo): Promise<readonly AlarmMemberInfo[]> {
    const { alarm } = request;
    // Synod raises only NOSPACE; a request about another alarm concerns none.
    if (alarm === "CORRUPT") return [];
    return mapErrors(this.server.alarm({ action: request.action, memberId: request.memberId, alarm }));
  }

  /**
   * defragment rewrites this member's data file without its free pages, so it
   * shrinks (see Storage.defragment): writes wait meanwhile, reads go on.
   */
  async defragment(): Promise<void> {
    await mapErrors(this.server.defragment());
  }

  async openBackup(): Promise<BackupSource> {
    const stream = await mapErrors(this.server.openBackup());
    return {
      revision: stream.header.revision,
      get remainingBytes() {
        return stream.remainingBytes;
      },
      nextChunk: () => stream.nextChunk(),
      close: () => stream.close(),
    };
  }

  openWatchStream(sink: WatchSink): WatchStream {
    return this.server.openWatchStream(sink);
  }

  leaseGrant(request: { readonly id: number; readonly ttl: number }): Promise<LeaseGrantResult> {
    return mapErrors(this.server.leaseGrant(request));
  }

  leaseRevoke(id: number): Promise<{ readonly revision: number }> {
    return mapErrors(this.server.leaseRevoke(id));
  }

  leaseKeepAlive(id: number): Promise<LeaseKeepAliveResult> {
    return mapErrors(this.server.leaseKeepAlive(id));
  }

  leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLiveResult> {
    return mapErrors(this.server.leaseTimeToLive(id, keys));
  }

  leaseLeases(): Promise<readonly number[]> {
    return mapErrors(this.server.leaseLeases());
  }

  /** revision is the applied store revision, for headers of responses that carry no revision of their own. */
  revision(): number {
    return this.server.revision();
  }

  header(): HeaderInfo {
    return { clusterId: this.server.clusterId, memberId: this.server.self.id, raftTerm: this.server.raftTerm() };
  }

  /** health answers etcd's /health: a linearizable read of key "health" must succeed. */
  async health(): Promise<{ ok: boolean; reason: string }> {
    try {
      await this.server.range({ key: new TextEncoder().encode("health") });
      return { ok: true, reason: "" };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }
}

/** memberCodeOf maps why a membership change was refused to etcd's error for it (etcd answers a removed id as "member not found"). */
const memberCodeOf: Record<MemberErrorCode, ApiErrorCode> = {
  badUrls: "memberBadUrls",
  peerUrlExists: "peerUrlExist",
  idRemoved: "memberNotFound",
  notFound: "memberNotFound",
  notLearner: "memberNotLearner",
  learnerNotReady: "learnerNotReady",
  tooManyLearners: "tooManyLearners",
  unhealthy: "unhealthy",
};

async function mapMemberErrors<T>(promise: Promise<T>): Promise<T> {
  try {
    return await mapErrors(promise);
  } catch (error) {
    if (error instanceof MemberError) throw new ApiError(memberCodeOf[error.code], { cause: error });
    throw error;
  }
}

function memberInfoOf(m: { readonly id: bigint; readonly name: string; readonly peerUrls: readonly string[]; readonly clientUrls: readonly string[]; readonly isLearner: boolean }): MemberInfo {
  return { id: m.id, name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner };
}

/** validPeerUrls: at least one URL, each http:// or https:// with a host and a port (etcd's "given member URLs are invalid" otherwise). */
function validPeerUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" && url.port !== "" && (url.pathname === "" || url.pathname === "/");
    } catch {
      return false;
    }
  });
}

async function mapErrors<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof ReplicaError) throw new ApiError(apiCodeOf[error.code], { cause: error });
    if (error instanceof NoSpaceError) throw new ApiError("noSpace", { cause: error });
    if (error instanceof StorageError && error.code === "busy") throw new GrpcStatusError(grpc.status.UNAVAILABLE, `synod: ${error.message}`);
    if (error instanceof StorageError && error.code === "maintenanceFailed") throw new GrpcStatusError(grpc.status.ABORTED, `synod: ${error.message}`);
    throw error;
  }
}
