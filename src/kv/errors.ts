/** GrpcStatus names the gRPC status codes the KV errors map to. */
export const GrpcStatus = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, FAILED_PRECONDITION: 9, OUT_OF_RANGE: 11 } as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** kvErrors lists every KV error: its etcd message (exact, clients match on it) and gRPC status. */
const kvErrors = {
  compacted: { message: "etcdserver: mvcc: required revision has been compacted", status: GrpcStatus.OUT_OF_RANGE },
  futureRevision: { message: "etcdserver: mvcc: required revision is a future revision", status: GrpcStatus.OUT_OF_RANGE },
  emptyKey: { message: "etcdserver: key is not provided", status: GrpcStatus.INVALID_ARGUMENT },
  keyNotFound: { message: "etcdserver: key not found", status: GrpcStatus.INVALID_ARGUMENT },
  valueProvided: { message: "etcdserver: value is provided", status: GrpcStatus.INVALID_ARGUMENT },
  leaseProvided: { message: "etcdserver: lease is provided", status: GrpcStatus.INVALID_ARGUMENT },
  tooManyOps: { message: "etcdserver: too many operations in txn request", status: GrpcStatus.INVALID_ARGUMENT },
  duplicateKey: { message: "etcdserver: duplicate key given in txn request", status: GrpcStatus.INVALID_ARGUMENT },
  invalidSortOption: { message: "etcdserver: invalid sort option", status: GrpcStatus.INVALID_ARGUMENT },
  requestTooLarge: { message: "etcdserver: request is too large", status: GrpcStatus.INVALID_ARGUMENT },
  leaseNotFound: { message: "etcdserver: requested lease not found", status: GrpcStatus.NOT_FOUND },
  leaseExists: { message: "etcdserver: lease already exists", status: GrpcStatus.FAILED_PRECONDITION },
  leaseTtlTooLarge: { message: "etcdserver: too large lease TTL", status: GrpcStatus.OUT_OF_RANGE },
  // Synod's own: etcd takes any int64 lease ID, Synod's stay in [1, 2^53) so they are exact numbers.
  leaseIdOutOfRange: { message: "etcdserver: lease ID out of range", status: GrpcStatus.OUT_OF_RANGE },
} as const satisfies Record<string, { readonly message: string; readonly status: GrpcStatus }>;

/** KvErrorCode is the stable code of a {@link KvError}. */
export type KvErrorCode = keyof typeof kvErrors;

/**
 * KvError is the one error class of the KV store. `message` is etcd's exact
 * error string and `grpcStatus` the status etcd answers with, so existing
 * clients react to it as they do to etcd. A request that fails with a KvError
 * has changed nothing.
 */
export class KvError extends Error {
  readonly code: KvErrorCode;
  readonly grpcStatus: GrpcStatus;

  constructor(code: KvErrorCode, options?: { readonly cause?: unknown }) {
    super(kvErrors[code].message, options);
    this.name = "KvError";
    this.code = code;
    this.grpcStatus = kvErrors[code].status;
  }
}

/** KvResult is an expected outcome of the core: a value, or the error that left the store unchanged. */
export type KvResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KvError };

/** ok wraps a value as a successful {@link KvResult}. */
export function ok<T>(value: T): KvResult<T> {
  return { ok: true, value };
}

/** fail wraps an error code as a failed {@link KvResult}. */
export function fail<T>(code: KvErrorCode): KvResult<T> {
  return { ok: false, error: new KvError(code) };
}
