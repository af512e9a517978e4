/**
 * SynodClientError is every failure the client reports: the gRPC status
 * `code` and the server's message (`details`, also the error's message:
 * etcd's exact strings, such as "etcdserver: requested lease not found" or
 * "election: not leader"), with the original error as `cause`.
 */
import { status as GrpcCode } from "@grpc/grpc-js";

export class SynodClientError extends Error {
  constructor(
    readonly code: GrpcCode,
    readonly details: string,
    options?: { readonly cause?: unknown },
  ) {
    super(details, options);
    this.name = "SynodClientError";
  }

  /** unavailable: the endpoint could not serve the call (another endpoint may). */
  get unavailable(): boolean {
    return this.code === GrpcCode.UNAVAILABLE;
  }
}

/** WatchCompactedError: a watch needs history the cluster compacted; restart from `compactRevision` or later. */
export class WatchCompactedError extends SynodClientError {
  constructor(readonly compactRevision: number) {
    super(GrpcCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted");
    this.name = "WatchCompactedError";
  }
}

/** toClientError wraps a gRPC failure (anything with a numeric code and details) as a {@link SynodClientError}. */
export function toClientError(error: unknown): SynodClientError {
  if (error instanceof SynodClientError) return error;
  if (error instanceof Error && "code" in error && typeof error.code === "number") {
    const details = "details" in error && typeof error.details === "string" ? error.details : error.message;
    return new SynodClientError(error.code, details, { cause: error });
  }
  return new SynodClientError(GrpcCode.UNKNOWN, error instanceof Error ? error.message : String(error), { cause: error });
}
