/**
 * Errors at the etcd API boundary: the server-level failures a backend may
 * throw ({@link ApiError}), and the one function that turns anything a backend
 * throws into the gRPC status etcd would answer with, so clients react to
 * Synod's errors as they do to etcd's.
 */
import { status as GrpcCode } from "@grpc/grpc-js";
import { KvError } from "../../kv/index.js";

/**
 * apiErrors lists the server-level errors: etcd's exact message (clients
 * match on it) and gRPC status, as etcd 3.4 answers them.
 */
const apiErrors = {
  noLeader: { message: "etcdserver: no leader", grpcStatus: GrpcCode.UNAVAILABLE },
  notLeader: { message: "etcdserver: not leader", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  leaderChanged: { message: "etcdserver: leader changed", grpcStatus: GrpcCode.UNAVAILABLE },
  notCapable: { message: "etcdserver: not capable", grpcStatus: GrpcCode.UNAVAILABLE },
  stopped: { message: "etcdserver: server stopped", grpcStatus: GrpcCode.UNAVAILABLE },
  timeout: { message: "etcdserver: request timed out", grpcStatus: GrpcCode.UNAVAILABLE },
  timeoutDueToLeaderFail: {
    message: "etcdserver: request timed out, possibly due to previous leader failure",
    grpcStatus: GrpcCode.UNAVAILABLE,
  },
  timeoutDueToConnectionLost: {
    message: "etcdserver: request timed out, possibly due to connection lost",
    grpcStatus: GrpcCode.UNAVAILABLE,
  },
  unhealthy: { message: "etcdserver: unhealthy cluster", grpcStatus: GrpcCode.UNAVAILABLE },
  corrupt: { message: "etcdserver: corrupt cluster", grpcStatus: GrpcCode.DATA_LOSS },
  tooManyRequests: { message: "etcdserver: too many requests", grpcStatus: GrpcCode.RESOURCE_EXHAUSTED },
  noSpace: { message: "etcdserver: mvcc: database space exceeded", grpcStatus: GrpcCode.RESOURCE_EXHAUSTED },
  notSupportedForLearner: { message: "etcdserver: rpc not supported for learner", grpcStatus: GrpcCode.UNAVAILABLE },
  memberNotFound: { message: "etcdserver: member not found", grpcStatus: GrpcCode.NOT_FOUND },
  memberExist: { message: "etcdserver: member ID already exist", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  peerUrlExist: { message: "etcdserver: Peer URLs already exists", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  memberBadUrls: { message: "etcdserver: given member URLs are invalid", grpcStatus: GrpcCode.INVALID_ARGUMENT },
  memberNotLearner: { message: "etcdserver: can only promote a learner member", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  learnerNotReady: { message: "etcdserver: can only promote a learner member which is in sync with leader", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  tooManyLearners: { message: "etcdserver: too many learner members in cluster", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  badLeaderTransferee: { message: "etcdserver: bad leader transferee", grpcStatus: GrpcCode.FAILED_PRECONDITION },
  // etcd has no gRPC status of its own for this one: it reaches clients as UNKNOWN.
  timeoutLeaderTransfer: { message: "etcdserver: request timed out, leader transfer took too long", grpcStatus: GrpcCode.UNKNOWN },
} as const satisfies Record<string, { readonly message: string; readonly grpcStatus: GrpcCode }>;

/** ApiErrorCode is the stable code of an {@link ApiError}. */
export type ApiErrorCode = keyof typeof apiErrors;

/**
 * ApiError is a server-level failure reported by a backend (no leader, a
 * timeout, a stopping server…). `message` is etcd's exact string and
 * `grpcStatus` the status etcd answers with. Whether the request took effect
 * is unknown for the timeouts and `leaderChanged`, as in etcd.
 */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly grpcStatus: GrpcCode;

  constructor(code: ApiErrorCode, options?: { readonly cause?: unknown }) {
    super(apiErrors[code].message, options);
    this.name = "ApiError";
    this.code = code;
    this.grpcStatus = apiErrors[code].grpcStatus;
  }
}

/** GrpcFailure is what a gRPC handler answers with when a call fails. */
export interface GrpcFailure {
  readonly code: GrpcCode;
  readonly details: string;
}

/** internalErrorMessage is all a client learns of an unexpected failure; the server logs the rest. */
export const internalErrorMessage = "synod: internal server error";

/**
 * toGrpcFailure maps what a backend threw to a gRPC status: a KvError or an
 * ApiError to its own status and etcd message, a failure that already is a
 * gRPC status (code and details) to itself, anything else to INTERNAL with a
 * generic message (`unexpected` is told, so the caller can log it).
 */
export function toGrpcFailure(error: unknown, unexpected: (error: unknown) => void): GrpcFailure {
  if (error instanceof KvError || error instanceof ApiError) return { code: error.grpcStatus, details: error.message };
  if (error instanceof GrpcStatusError) return { code: error.grpcStatus, details: error.message };
  unexpected(error);
  return { code: GrpcCode.INTERNAL, details: internalErrorMessage };
}

/**
 * GrpcStatusError carries a gRPC status chosen by the API layer itself (for
 * example UNIMPLEMENTED for a method that is not built yet).
 */
export class GrpcStatusError extends Error {
  constructor(
    readonly grpcStatus: GrpcCode,
    message: string,
  ) {
    super(message);
    this.name = "GrpcStatusError";
  }
}

/**
 * concurrencyErrors are the failures of etcd's lock and election services:
 * etcd returns them as plain errors, so gRPC reports them as UNKNOWN with
 * the message alone, and clients match on the message.
 */
const concurrencyErrors = {
  sessionExpired: "mutex: session is expired",
  notLeader: "election: not leader",
  noLeader: "election: no leader",
  missingLeaderKey: '"leader" field must be provided',
} as const;

/** ConcurrencyErrorCode is the stable code of a {@link ConcurrencyError}. */
export type ConcurrencyErrorCode = keyof typeof concurrencyErrors;

/** ConcurrencyError is a Lock or Election failure, with etcd's exact message and status (UNKNOWN). */
export class ConcurrencyError extends GrpcStatusError {
  readonly code: ConcurrencyErrorCode;

  constructor(code: ConcurrencyErrorCode) {
    super(GrpcCode.UNKNOWN, concurrencyErrors[code]);
    this.name = "ConcurrencyError";
    this.code = code;
  }
}
