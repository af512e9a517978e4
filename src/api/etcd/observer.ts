/**
 * The hook through which the API reports every finished gRPC call, so the
 * server can keep metrics (request counts by method and status code, and
 * latencies) without the API layer knowing how they are exported.
 */
import { status as GrpcCode } from "@grpc/grpc-js";

/** RequestEvent describes one finished call. */
export interface RequestEvent {
  /** service is the full gRPC service name, e.g. "etcdserverpb.KV". */
  readonly service: string;
  /** method is the gRPC method name, e.g. "Range". */
  readonly method: string;
  /** code is the gRPC status the call ended with (0 is OK). */
  readonly code: GrpcCode;
  /** durationMs is the time from the call's arrival to its answer. */
  readonly durationMs: number;
}

/** RequestObserver is told of every finished call; it must not throw and should be quick. */
export interface RequestObserver {
  requestDone(event: RequestEvent): void;
}

/** grpcCodeName is a status code's name as gRPC spells it ("OK", "OUT_OF_RANGE", …). */
export function grpcCodeName(code: GrpcCode): string {
  return GrpcCode[code] ?? `CODE_${code}`;
}

/** RequestCounter counts finished calls by service, method and status code. */
export class RequestCounter implements RequestObserver {
  private readonly counts = new Map<string, number>();

  requestDone(event: RequestEvent): void {
    const key = counterKey(event.service, event.method, event.code);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** count is how many calls of `service`/`method` ended with `code`. */
  count(service: string, method: string, code: GrpcCode): number {
    return this.counts.get(counterKey(service, method, code)) ?? 0;
  }

  /** entries lists every non-zero counter as "service/method CODE" and its count, in first-seen order. */
  entries(): readonly (readonly [string, number])[] {
    return [...this.counts.entries()];
  }
}

function counterKey(service: string, method: string, code: GrpcCode): string {
  return `${service}/${method} ${grpcCodeName(code)}`;
}
