import type { Socket } from "node:net";
/**
 * EtcdApiServer serves the etcd v3 gRPC API on top of an {@link EtcdBackend}:
 * KV (Range, Put, DeleteRange, Txn, Compact), Maintenance (Status, HashKV)
 * and Cluster (MemberList, and MemberAdd/Remove/Update/Promote when the
 * backend is a {@link MembershipBackend}); and, when the backend is an
 * {@link EventsBackend}, Watch, Lease, Lock and Election too
 * (`event-services.ts`). Every other method answers UNIMPLEMENTED.
 *
 * Each call: decode → etcd's request checks → backend → encode, with the
 * response header completed from `backend.header()`. Failures become etcd's
 * gRPC statuses and messages (`errors.ts`); every finished call is reported
 * to the {@link RequestObserver}.
 */
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { requestBytesMaxDefault, txnOpsMaxDefault } from "../../kv/index.js";
import type { KvRequest } from "../../kv/index.js";
import { hasBackup, hasClusterOps, hasEvents, hasMembership } from "./backend.js";
import type { AlarmKind, BackupBackend, BackupSource, EtcdBackend } from "./backend.js";
import { abortReason, CallKit, endCall, isClientCancel, whenDrained } from "./calls.js";
import type { ApiLogger } from "./calls.js";
import { checkRequest } from "./checks.js";
import type { RequestLimits } from "./checks.js";
import {
  compactionFromPb,
  deleteRangeFromPb,
  deleteRangeResponseToPb,
  fullHeader,
  idToWire,
  memberToPb,
  hashKvResponseToPb,
  int64ToNumber,
  memberListToPb,
  uint64ToBigInt,
  putFromPb,
  putResponseToPb,
  rangeFromPb,
  rangeResponseToPb,
  statusToPb,
  txnFromPb,
  txnResponseToPb,
} from "./convert.js";
import { GrpcStatusError } from "./errors.js";
import { electionHandlers, leaseHandlers, lockHandlers, watchHandlers } from "./event-services.js";
import type { EventServicesEnv } from "./event-services.js";
import type { RequestObserver } from "./observer.js";
import { etcdService } from "./protos.js";
import type { EtcdServiceName } from "./protos.js";
import type {
  PbCompactionRequest,
  PbCompactionResponse,
  PbDeleteRangeRequest,
  PbDeleteRangeResponse,
  PbHashKvRequest,
  PbHashKvResponse,
  PbAlarmRequest,
  PbAlarmResponse,
  PbDefragmentResponse,
  PbMemberAddRequest,
  PbMemberAddResponse,
  PbMemberIdRequest,
  PbMemberListResponse,
  PbMemberUpdateRequest,
  PbMoveLeaderRequest,
  PbMoveLeaderResponse,
  PbPutRequest,
  PbPutResponse,
  PbRangeRequest,
  PbRangeResponse,
  PbSnapshotResponse,
  PbStatusResponse,
  PbTxnRequest,
  PbTxnResponse,
} from "./wire.js";

/** alarmActions are etcd's AlarmRequest.AlarmAction values, by number. */
const alarmActions = ["get", "activate", "deactivate"] as const;
/** alarmKinds are etcd's AlarmType values, by number. */
const alarmKinds: readonly AlarmKind[] = ["NONE", "NOSPACE", "CORRUPT"];

/** grpcOverheadBytesDefault is the room etcd leaves above `--max-request-bytes` for gRPC framing (512 KiB). */
export const grpcOverheadBytesDefault = 512 * 1024;
/** shutdownGraceMsDefault is how long `stop` lets calls in flight finish before cutting them off. */
export const shutdownGraceMsDefault = 5_000;

export type { ApiLogger } from "./calls.js";

/** EtcdApiOptions configures an {@link EtcdApiServer}. */
export interface EtcdApiOptions {
  readonly backend: EtcdBackend;
  /** txnOpsMax: etcd `--max-txn-ops` (default 128). */
  readonly txnOpsMax?: number;
  /** requestBytesMax: etcd `--max-request-bytes` (default 1.5 MiB); larger writes get "request is too large". */
  readonly requestBytesMax?: number;
  /**
   * grpcOverheadBytes is added to `requestBytesMax` to give gRPC's maximum
   * received message length (default 512 KiB, as etcd); a larger message is
   * refused by gRPC itself with RESOURCE_EXHAUSTED.
   */
  readonly grpcOverheadBytes?: number;
  readonly observer?: RequestObserver;
  readonly logger?: ApiLogger;
  readonly shutdownGraceMs?: number;
}

/** ListenAddress is where to listen; port 0 picks a free port. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

const consoleLogger: ApiLogger = {
  error(message, error) {
    console.error(message, error);
  },
};

/** MethodShape is what grpc-js needs to know to answer a method it does not serve. */
interface MethodShape {
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

type Handlers = Record<string, grpc.UntypedHandleCall>;

/** See the file comment. */
export class EtcdApiServer {
  private readonly backend: EtcdBackend;
  private readonly limits: RequestLimits;
  private readonly kit: CallKit;
  private readonly shutdownGraceMs: number;
  private readonly server: grpc.Server;
  private boundPort: number | undefined;

  constructor(options: EtcdApiOptions) {
    this.backend = options.backend;
    this.limits = {
      txnOpsMax: options.txnOpsMax ?? txnOpsMaxDefault,
      requestBytesMax: options.requestBytesMax ?? requestBytesMaxDefault,
    };
    this.kit = new CallKit(options.observer, options.logger ?? consoleLogger);
    this.shutdownGraceMs = options.shutdownGraceMs ?? shutdownGraceMsDefault;
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": this.limits.requestBytesMax + (options.grpcOverheadBytes ?? grpcOverheadBytesDefault),
    });
    this.addService("etcdserverpb.KV", this.kvHandlers());
    this.addService("etcdserverpb.Maintenance", this.maintenanceHandlers());
    this.addService("etcdserverpb.Cluster", this.clusterHandlers());
    this.addService("etcdserverpb.Auth", {});
    const { backend } = this;
    if (hasEvents(backend)) {
      const checked = <R extends KvRequest>(request: R): R => this.checked(request);
      const env: EventServicesEnv = { kit: this.kit, backend, checked };
      const concurrencyEnv = { backend, checked, logger: this.kit.logger };
      this.addService("etcdserverpb.Watch", watchHandlers(env));
      this.addService("etcdserverpb.Lease", leaseHandlers(env));
      this.addService("v3lockpb.Lock", lockHandlers(env, concurrencyEnv));
      this.addService("v3electionpb.Election", electionHandlers(env, concurrencyEnv));
    } else {
      for (const name of ["etcdserverpb.Watch", "etcdserverpb.Lease", "v3lockpb.Lock", "v3electionpb.Election"] as const) this.addService(name, {});
    }
  }

  /** port is the port listened on once started. */
  get port(): number | undefined {
    return this.boundPort;
  }

  /** start listens on `address` (insecure, plain HTTP/2) and resolves to the bound port. */
  start(address: ListenAddress): Promise<number> {
    const host = address.host.includes(":") ? `[${address.host}]` : address.host;
    const target = `${host}:${address.port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error !== null) {
          reject(new Error(`etcd API: cannot listen on ${target}: ${error.message}`, { cause: error }));
          return;
        }
        this.boundPort = port;
        resolve(port);
      });
    });
  }

  /**
   * stop refuses new calls, ends the open streams and waiting locks and
   * campaigns with "server stopped", lets other calls in flight finish for
   * up to `shutdownGraceMs`, then cuts the rest off.
   */
  /**
   * injectConnections lets another listener hand this server its HTTP/2
   * connections (the client port shared with the JSON gateway), instead of `start`.
   */
  injectConnections(): (socket: Socket) => void {
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    return (socket) => injector.injectConnection(socket);
  }

  stop(): Promise<void> {
    this.kit.abortAll();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, this.shutdownGraceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---- services ---------------------------------------------------------------

  private kvHandlers(): Handlers {
    const kv = "etcdserverpb.KV";
    return {
      Range: this.kit.unary(kv, "Range", async (p: PbRangeRequest): Promise<PbRangeResponse> => {
        const r = this.checked({ range: rangeFromPb(p) }).range;
        return rangeResponseToPb(await this.backend.range(r), fullHeader(this.backend.header()));
      }),
      Put: this.kit.unary(kv, "Put", async (p: PbPutRequest): Promise<PbPutResponse> => {
        const r = this.checked({ put: putFromPb(p) }).put;
        return putResponseToPb(await this.backend.put(r), fullHeader(this.backend.header()));
      }),
      DeleteRange: this.kit.unary(kv, "DeleteRange", async (p: PbDeleteRangeRequest): Promise<PbDeleteRangeResponse> => {
        const r = this.checked({ deleteRange: deleteRangeFromPb(p) }).deleteRange;
        return deleteRangeResponseToPb(await this.backend.deleteRange(r), fullHeader(this.backend.header()));
      }),
      Txn: this.kit.unary(kv, "Txn", async (p: PbTxnRequest): Promise<PbTxnResponse> => {
        const r = this.checked({ txn: txnFromPb(p) }).txn;
        return txnResponseToPb(await this.backend.txn(r), fullHeader(this.backend.header()));
      }),
      Compact: this.kit.unary(kv, "Compact", async (p: PbCompactionRequest): Promise<PbCompactionResponse> => {
        const r = this.checked({ compaction: compactionFromPb(p) }).compaction;
        const response = await this.backend.compact(r);
        return { header: fullHeader(this.backend.header())(response.header) };
      }),
    };
  }

  private maintenanceHandlers(): Handlers {
    const maintenance = "etcdserverpb.Maintenance";
    return {
      Status: this.kit.unary(maintenance, "Status", async (): Promise<PbStatusResponse> => {
        const status = await this.backend.status();
        return statusToPb(status, fullHeader(this.backend.header()));
      }),
      HashKV: this.kit.unary(maintenance, "HashKV", async (p: PbHashKvRequest): Promise<PbHashKvResponse> => {
        const response = await this.backend.hashKv(int64ToNumber(p.revision));
        return hashKvResponseToPb(response, fullHeader(this.backend.header()));
      }),
      ...this.clusterOpsHandlers(),
      ...this.backupHandlers(),
    };
  }

  /** backupHandlers serves Maintenance.Snapshot when the backend can take backups. */
  private backupHandlers(): Handlers {
    const { backend } = this;
    if (!hasBackup(backend)) return {};
    const handler: grpc.handleServerStreamingCall<unknown, PbSnapshotResponse> = (call) => {
      void this.streamBackup(backend, call);
    };
    return { Snapshot: handler };
  }

  /**
   * streamBackup sends one backup as etcd sends its snapshot: pieces of the
   * file in `blob`, each with the bytes still to come. It takes the next piece
   * only once gRPC has room for it, so a slow client holds one piece in memory,
   * not the file; a client that goes away releases the backup's read transaction.
   */
  private async streamBackup(backend: BackupBackend, call: grpc.ServerWritableStream<unknown, PbSnapshotResponse>): Promise<void> {
    const service = "etcdserverpb.Maintenance";
    const startedMs = performance.now();
    const scope = this.kit.open(call);
    let source: BackupSource | undefined;
    try {
      source = await backend.openBackup();
      for (;;) {
        if (scope.signal.aborted) throw abortReason(scope.signal);
        const blob = source.nextChunk();
        if (blob === null) break;
        const header = fullHeader(backend.header())({ revision: source.revision });
        if (call.write({ header, remaining_bytes: String(source.remainingBytes), blob })) await new Promise((resolve) => setImmediate(resolve));
        else await whenDrained(call, scope.signal);
      }
      endCall(call, undefined);
      this.kit.report(service, "Snapshot", grpc.status.OK, startedMs);
    } catch (error) {
      if (isClientCancel(error)) {
        this.kit.report(service, "Snapshot", grpc.status.CANCELLED, startedMs);
        return;
      }
      const failure = this.kit.failure(service, "Snapshot", error);
      if (!call.cancelled) endCall(call, failure);
      this.kit.report(service, "Snapshot", failure.code, startedMs);
    } finally {
      source?.close();
      scope.release();
    }
  }

  /** clusterOpsHandlers serves the operator's Maintenance calls when the backend has them. */
  private clusterOpsHandlers(): Handlers {
    const { backend } = this;
    if (!hasClusterOps(backend)) return {};
    const maintenance = "etcdserverpb.Maintenance";
    return {
      MoveLeader: this.kit.unary(maintenance, "MoveLeader", async (p: PbMoveLeaderRequest): Promise<PbMoveLeaderResponse> => {
        await backend.moveLeader(uint64ToBigInt(p.targetID));
        return { header: fullHeader(backend.header())({ revision: 0 }) };
      }),
      Alarm: this.kit.unary(maintenance, "Alarm", async (p: PbAlarmRequest): Promise<PbAlarmResponse> => {
        const action = alarmActions[p.action];
        const alarm = alarmKinds[p.alarm];
        if (action === undefined || alarm === undefined) throw new GrpcStatusError(grpc.status.INVALID_ARGUMENT, "etcdserver: unknown alarm action or type");
        const alarms = await backend.alarm({ action, memberId: uint64ToBigInt(p.memberID), alarm });
        return {
          header: fullHeader(backend.header())({ revision: 0 }),
          alarms: alarms.map((a) => ({ memberID: idToWire(a.memberId), alarm: alarmKinds.indexOf(a.alarm) })),
        };
      }),
      Defragment: this.kit.unary(maintenance, "Defragment", async (): Promise<PbDefragmentResponse> => {
        await backend.defragment();
        return { header: fullHeader(backend.header())({ revision: 0 }) };
      }),
    };
  }

  private clusterHandlers(): Handlers {
    return {
      MemberList: this.kit.unary("etcdserverpb.Cluster", "MemberList", async (): Promise<PbMemberListResponse> => {
        const members = await this.backend.memberList();
        return memberListToPb(members, fullHeader(this.backend.header()));
      }),
      ...this.membershipHandlers(),
    };
  }

  /** membershipHandlers serves the Cluster service's changes when the backend has them. */
  private membershipHandlers(): Handlers {
    const { backend } = this;
    if (!hasMembership(backend)) return {};
    const cluster = "etcdserverpb.Cluster";
    return {
      MemberAdd: this.kit.unary(cluster, "MemberAdd", async (p: PbMemberAddRequest): Promise<PbMemberAddResponse> => {
        const { member, members } = await backend.memberAdd({ peerUrls: p.peerURLs, isLearner: p.isLearner });
        return { ...memberListToPb(members, fullHeader(backend.header())), member: memberToPb(member) };
      }),
      MemberRemove: this.kit.unary(cluster, "MemberRemove", async (p: PbMemberIdRequest): Promise<PbMemberListResponse> => {
        return memberListToPb(await backend.memberRemove(uint64ToBigInt(p.ID)), fullHeader(backend.header()));
      }),
      MemberUpdate: this.kit.unary(cluster, "MemberUpdate", async (p: PbMemberUpdateRequest): Promise<PbMemberListResponse> => {
        return memberListToPb(await backend.memberUpdate(uint64ToBigInt(p.ID), p.peerURLs), fullHeader(backend.header()));
      }),
      MemberPromote: this.kit.unary(cluster, "MemberPromote", async (p: PbMemberIdRequest): Promise<PbMemberListResponse> => {
        return memberListToPb(await backend.memberPromote(uint64ToBigInt(p.ID)), fullHeader(backend.header()));
      }),
    };
  }

  /** checked throws etcd's error for a request that fails the boundary checks, else returns it. */
  private checked<R extends KvRequest>(request: R): R {
    const error = checkRequest(request, this.limits);
    if (error !== undefined) throw error;
    return request;
  }

  /** addService registers `handlers`; every method of the service without one answers UNIMPLEMENTED. */
  private addService(name: EtcdServiceName, handlers: Handlers): void {
    const service = etcdService(name);
    const implementation: Handlers = {};
    for (const [method, definition] of Object.entries(service)) {
      implementation[method] = handlers[method] ?? this.unimplemented(name, method, definition);
    }
    this.server.addService(service, implementation);
  }

  // ---- call plumbing ------------------------------------------------------------

  /** unimplemented answers a method that is not built yet, in the form its streaming shape needs. */
  private unimplemented(service: string, method: string, shape: MethodShape): grpc.UntypedHandleCall {
    const error = new GrpcStatusError(grpc.status.UNIMPLEMENTED, `synod: ${service}/${method} is not implemented yet`);
    const failure = { code: error.grpcStatus, details: error.message };
    if (!shape.responseStream) {
      return (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
        callback(failure);
        this.kit.report(service, method, failure.code, performance.now());
      };
    }
    return (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
      call.emit("error", failure);
      this.kit.report(service, method, failure.code, performance.now());
    };
  }
}
