/**
 * Errors of etcd's HTTP/JSON gateway as etcd 3.4 (grpc-gateway v1) writes
 * them: the HTTP status chosen from the gRPC code, the unary error body
 * `{"error": msg, "message": msg, "code": N}`, and the error object a
 * streaming call ends with, `{"error": {"grpc_code", "http_code",
 * "message", "http_status"}}`. Which gRPC code and message a failure gets is
 * decided once, by `toGrpcFailure` of the gRPC layer; this file only shapes it
 * for HTTP.
 */
import { STATUS_CODES } from "node:http";
import { status as GrpcCode } from "@grpc/grpc-js";
import type { GrpcFailure } from "../etcd/errors.js";

/**
 * httpStatusOf is grpc-gateway v1's HTTPStatusFromCode, the version etcd 3.4
 * ships (FAILED_PRECONDITION is 412 there, 400 in later versions).
 */
export function httpStatusOf(code: GrpcCode): number {
  switch (code) {
    case GrpcCode.OK:
      return 200;
    case GrpcCode.CANCELLED:
      return 408;
    case GrpcCode.UNKNOWN:
      return 500;
    case GrpcCode.INVALID_ARGUMENT:
      return 400;
    case GrpcCode.DEADLINE_EXCEEDED:
      return 504;
    case GrpcCode.NOT_FOUND:
      return 404;
    case GrpcCode.ALREADY_EXISTS:
      return 409;
    case GrpcCode.PERMISSION_DENIED:
      return 403;
    case GrpcCode.UNAUTHENTICATED:
      return 401;
    case GrpcCode.RESOURCE_EXHAUSTED:
      return 429;
    case GrpcCode.FAILED_PRECONDITION:
      return 412;
    case GrpcCode.ABORTED:
      return 409;
    case GrpcCode.OUT_OF_RANGE:
      return 400;
    case GrpcCode.UNIMPLEMENTED:
      return 501;
    case GrpcCode.INTERNAL:
      return 500;
    case GrpcCode.UNAVAILABLE:
      return 503;
    case GrpcCode.DATA_LOSS:
      return 500;
    default:
      return 500;
  }
}

/** errorBody is the unary error body, in grpc-gateway's field order. */
export function errorBody(failure: GrpcFailure): string {
  return JSON.stringify({ error: failure.details, message: failure.details, code: failure.code });
}

/** streamErrorBody is the error object that ends a streaming response (no newline after it, as grpc-gateway). */
export function streamErrorBody(failure: GrpcFailure): string {
  const httpCode = httpStatusOf(failure.code);
  const error: Record<string, string | number> = {};
  if (failure.code !== GrpcCode.OK) error["grpc_code"] = failure.code;
  error["http_code"] = httpCode;
  if (failure.details !== "") error["message"] = failure.details;
  error["http_status"] = STATUS_CODES[httpCode] ?? "";
  return JSON.stringify({ error });
}

/**
 * GatewayDecodeError is a request body the gateway could not turn into a
 * request message (bad JSON, bad base64, a wrong type, an unknown enum
 * name). etcd answers these with INVALID_ARGUMENT on unary calls and UNKNOWN
 * when the first message of a stream fails, with Go's decoder message.
 */
export class GatewayDecodeError extends Error {
  readonly code = "decode";

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = "GatewayDecodeError";
  }
}
