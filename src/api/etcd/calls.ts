/**
 * CallKit is the plumbing every gRPC handler of the etcd API shares: an
 * abort signal per call (fired when the client cancels or the server
 * stops), the mapping of failures to etcd's statuses, and the report of
 * each finished call to the {@link RequestObserver}.
 */
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { ApiError, GrpcStatusError, toGrpcFailure } from "./errors.js";
import type { GrpcFailure } from "./errors.js";
import type { RequestObserver } from "./observer.js";

/** ApiLogger receives the failures a client only sees as INTERNAL. */
export interface ApiLogger {
  error(message: string, error: unknown): void;
}

/** clientCancelledMessage is the reason a call's signal carries when its client went away. */
export const clientCancelledMessage = "context canceled";

/** CallScope is one call in flight: its abort signal and the function that forgets it. */
export interface CallScope {
  readonly signal: AbortSignal;
  release(): void;
}

/** cancelledCall is the gRPC "call" shape the kit needs to notice a client going away. */
interface CancellableCall {
  on(event: "cancelled", listener: () => void): unknown;
}

/** isClientCancel tells whether an abort reason is the client going away (nothing is to be sent back). */
export function isClientCancel(reason: unknown): boolean {
  return reason instanceof GrpcStatusError && reason.grpcStatus === grpc.status.CANCELLED;
}

/** See the file comment. */
export class CallKit {
  private readonly scopes = new Set<AbortController>();
  private stopping = false;

  constructor(
    private readonly observer: RequestObserver | undefined,
    readonly logger: ApiLogger,
  ) {}

  /** open starts a call's scope: its signal aborts when the client cancels or when `abortAll` runs. */
  open(call: CancellableCall): CallScope {
    const controller = new AbortController();
    if (this.stopping) controller.abort(new ApiError("stopped"));
    else this.scopes.add(controller);
    call.on("cancelled", () => controller.abort(new GrpcStatusError(grpc.status.CANCELLED, clientCancelledMessage)));
    return { signal: controller.signal, release: () => this.scopes.delete(controller) };
  }

  /** abortAll ends every call in flight with "server stopped" (waiting locks, watches, keep-alives). */
  abortAll(): void {
    this.stopping = true;
    for (const controller of this.scopes) controller.abort(new ApiError("stopped"));
    this.scopes.clear();
  }

  /** failure maps an error to etcd's status, logging the unexpected ones. */
  failure(service: string, method: string, error: unknown): GrpcFailure {
    return toGrpcFailure(error, (unexpected) => this.logger.error(`etcd API: ${service}/${method} failed`, unexpected));
  }

  /** unary wraps a unary method: errors become etcd statuses, and the call is reported when done. */
  unary<Req, Res>(service: string, method: string, run: (request: Req, signal: AbortSignal) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const startedMs = performance.now();
      const scope = this.open(call);
      void Promise.resolve(call.request)
        .then((request) => run(request, scope.signal))
        .then(
          (response) => {
            callback(null, response);
            this.report(service, method, grpc.status.OK, startedMs);
          },
          (error: unknown) => {
            const failure = isClientCancel(error) ? { code: grpc.status.CANCELLED, details: clientCancelledMessage } : this.failure(service, method, error);
            callback(failure);
            this.report(service, method, failure.code, startedMs);
          },
        )
        .finally(() => scope.release());
    };
  }

  report(service: string, method: string, code: grpc.status, startedMs: number): void {
    if (this.observer === undefined) return;
    try {
      this.observer.requestDone({ service, method, code, durationMs: performance.now() - startedMs });
    } catch (error) {
      this.logger.error("etcd API: request observer failed", error);
    }
  }
}

/** StreamCall is the part of a server-streaming or bidi gRPC call a handler ends. */
interface EndableCall {
  end(): void;
  emit(event: "error", failure: GrpcFailure): boolean;
}

/** endCall ends a streaming call: with OK when `failure` is undefined, else with the failure's status. */
export function endCall(call: EndableCall, failure: GrpcFailure | undefined): void {
  if (failure === undefined) call.end();
  else call.emit("error", failure);
}

/** abortReason is a signal's reason as an Error (AbortSignal reasons may be anything). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error("aborted", { cause: reason });
}

/** whenDrained resolves once a writable stream emits "drain", or rejects when `signal` aborts first. */
export function whenDrained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      stream.off("drain", onDrain);
      reject(abortReason(signal));
    };
    const onDrain = (): void => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    stream.once("drain", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
