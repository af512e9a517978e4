/**
 * The gRPC handlers of the services that need an {@link EventsBackend}:
 * Watch, Lease, Lock (v3lockpb) and Election (v3electionpb).
 *
 * Streams: Watch maps the hub's responses to the wire and pauses the hub
 * when gRPC's write buffer is full (resuming on "drain"); LeaseKeepAlive
 * answers requests one at a time, in order, and stops reading while
 * `keepAliveQueueMax` requests wait; Observe waits for "drain" before its
 * next send. Every stream ends when its client cancels, and with "server
 * stopped" when the server stops.
 */
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import type { KeyValue, KvRequest, ResponseHeader, WatchStream } from "../../kv/index.js";
import type { EventsBackend } from "./backend.js";
import { endCall, isClientCancel, whenDrained } from "./calls.js";
import type { CallKit } from "./calls.js";
import * as concurrency from "./concurrency.js";
import type { ConcurrencyEnv, LeaderKey } from "./concurrency.js";
import { bytesIn, bytesOut, fullHeader, int64ToNumber, keyValueToPb } from "./convert.js";
import { leaseTimeToLiveToPb, watchCreateFromPb, watchResponseToPb } from "./convert-events.js";
import { ConcurrencyError } from "./errors.js";
import type { GrpcFailure } from "./errors.js";
import type {
  PbCampaignRequest,
  PbCampaignResponse,
  PbHeaderResponse,
  PbLeaderKeyIn,
  PbLeaderRequest,
  PbLeaderResponse,
  PbLeaseGrantRequest,
  PbLeaseGrantResponse,
  PbLeaseIdRequest,
  PbLeaseKeepAliveResponse,
  PbLeaseLeasesResponse,
  PbLeaseTimeToLiveRequest,
  PbLeaseTimeToLiveResponse,
  PbLockRequest,
  PbLockResponse,
  PbProclaimRequest,
  PbResignRequest,
  PbResponseHeader,
  PbUnlockRequest,
  PbWatchRequest,
  PbWatchResponse,
} from "./wire.js";

/** keepAliveQueueMax bounds the keep-alive requests of one stream read but not yet answered. */
export const keepAliveQueueMax = 64;

type Handlers = Record<string, grpc.UntypedHandleCall>;

/** EventServicesEnv is what the handlers need from the server. */
export interface EventServicesEnv {
  readonly kit: CallKit;
  readonly backend: EventsBackend;
  checked<R extends KvRequest>(request: R): R;
}

function header(backend: EventsBackend, revision: number): PbResponseHeader {
  return fullHeader(backend.header())({ revision });
}

/** currentRevision is the revision for headers of responses that carry none of their own. */
function currentRevision(backend: EventsBackend): number {
  return backend.revision?.() ?? 0;
}

// ---- Watch -----------------------------------------------------------------------

export function watchHandlers(env: EventServicesEnv): Handlers {
  const { kit, backend } = env;
  const service = "etcdserverpb.Watch";
  const watch: grpc.handleBidiStreamingCall<PbWatchRequest, PbWatchResponse> = (call) => {
    const startedMs = performance.now();
    const scope = kit.open(call);
    let closed = false;
    let stream: WatchStream;
    try {
      stream = backend.openWatchStream({
        send: (response) => (closed ? true : call.write(watchResponseToPb(response, backend.header()))),
      });
    } catch (error) {
      scope.release();
      const failure = kit.failure(service, "Watch", error);
      endCall(call, failure);
      kit.report(service, "Watch", failure.code, startedMs);
      return;
    }
    const finish = (failure: GrpcFailure | undefined, code: grpc.status): void => {
      if (closed) return;
      closed = true;
      stream.close();
      scope.release();
      if (!call.cancelled) endCall(call, failure);
      kit.report(service, "Watch", code, startedMs);
    };
    const fail = (error: unknown): void => {
      if (isClientCancel(error)) {
        finish(undefined, grpc.status.CANCELLED);
        return;
      }
      const failure = kit.failure(service, "Watch", error);
      finish(failure, failure.code);
    };
    scope.signal.addEventListener("abort", () => fail(scope.signal.reason), { once: true });
    call.on("drain", () => {
      if (!closed) stream.resume();
    });
    call.on("error", () => finish(undefined, grpc.status.CANCELLED));
    call.on("data", (request: PbWatchRequest) => {
      if (closed) return;
      try {
        watchRequest(stream, request);
      } catch (error) {
        fail(error);
      }
    });
    // A client that half-closes keeps its watches, as etcd's stream does: only cancellation ends it.
  };
  return { Watch: watch };
}

/** watchRequest applies one WatchRequest; a request with no operation set is ignored, as etcd does. */
function watchRequest(stream: WatchStream, request: PbWatchRequest): void {
  switch (request.request_union) {
    case "create_request":
      if (request.create_request) stream.createWatch(watchCreateFromPb(request.create_request));
      return;
    case "cancel_request":
      if (request.cancel_request) stream.cancel(int64ToNumber(request.cancel_request.watch_id));
      return;
    case "progress_request":
      stream.requestProgress();
      return;
    case undefined:
      return;
    default: {
      const unexpected: never = request.request_union;
      throw new Error(`etcd API: unexpected watch request ${String(unexpected)}`);
    }
  }
}

// ---- Lease -----------------------------------------------------------------------

export function leaseHandlers(env: EventServicesEnv): Handlers {
  const { kit, backend } = env;
  const service = "etcdserverpb.Lease";
  return {
    LeaseGrant: kit.unary(service, "LeaseGrant", async (p: PbLeaseGrantRequest): Promise<PbLeaseGrantResponse> => {
      const granted = await backend.leaseGrant({ id: int64ToNumber(p.ID), ttl: int64ToNumber(p.TTL) });
      return { header: header(backend, granted.revision), ID: granted.id, TTL: granted.ttl, error: "" };
    }),
    LeaseRevoke: kit.unary(service, "LeaseRevoke", async (p: PbLeaseIdRequest): Promise<PbHeaderResponse> => {
      const revoked = await backend.leaseRevoke(int64ToNumber(p.ID));
      return { header: header(backend, revoked.revision) };
    }),
    LeaseTimeToLive: kit.unary(service, "LeaseTimeToLive", async (p: PbLeaseTimeToLiveRequest): Promise<PbLeaseTimeToLiveResponse> => {
      const ttl = await backend.leaseTimeToLive(int64ToNumber(p.ID), p.keys);
      return leaseTimeToLiveToPb(ttl, header(backend, currentRevision(backend)));
    }),
    LeaseLeases: kit.unary(service, "LeaseLeases", async (): Promise<PbLeaseLeasesResponse> => {
      const ids = await backend.leaseLeases();
      return { header: header(backend, currentRevision(backend)), leases: ids.map((ID) => ({ ID })) };
    }),
    LeaseKeepAlive: keepAliveHandler(env),
  };
}

/**
 * keepAliveHandler answers each {ID} with {ID, TTL} (TTL 0: no such lease),
 * in order. The stream ends with OK once the client half-closes and every
 * request read is answered, as etcd's does; a backend failure ends it with
 * that failure's status.
 */
function keepAliveHandler(env: EventServicesEnv): grpc.handleBidiStreamingCall<PbLeaseIdRequest, PbLeaseKeepAliveResponse> {
  const { kit, backend } = env;
  const service = "etcdserverpb.Lease";
  return (call) => {
    const startedMs = performance.now();
    const scope = kit.open(call);
    const queue: number[] = [];
    let closed = false;
    let ended = false;
    let running = false;
    const finish = (error: unknown): void => {
      if (closed) return;
      closed = true;
      scope.release();
      if (error === undefined) {
        call.end();
        kit.report(service, "LeaseKeepAlive", grpc.status.OK, startedMs);
        return;
      }
      if (isClientCancel(error)) {
        kit.report(service, "LeaseKeepAlive", grpc.status.CANCELLED, startedMs);
        return;
      }
      const failure = kit.failure(service, "LeaseKeepAlive", error);
      if (!call.cancelled) endCall(call, failure);
      kit.report(service, "LeaseKeepAlive", failure.code, startedMs);
    };
    const answer = async (): Promise<void> => {
      if (running) return;
      running = true;
      try {
        for (let id = queue.shift(); id !== undefined && !closed; id = queue.shift()) {
          if (call.isPaused() && queue.length < keepAliveQueueMax / 2) call.resume();
          const result = await backend.leaseKeepAlive(id);
          if (closed) return;
          const response = { header: header(backend, currentRevision(backend)), ID: result.id, TTL: result.ttl };
          if (!call.write(response)) await whenDrained(call, scope.signal);
        }
        if (ended) finish(undefined);
      } catch (error) {
        finish(error);
      } finally {
        running = false;
      }
    };
    scope.signal.addEventListener("abort", () => finish(scope.signal.reason), { once: true });
    call.on("error", () => finish(scope.signal.reason ?? new Error("keep-alive stream failed")));
    call.on("data", (request: PbLeaseIdRequest) => {
      if (closed) return;
      queue.push(int64ToNumber(request.ID));
      if (queue.length >= keepAliveQueueMax) call.pause();
      void answer();
    });
    call.on("end", () => {
      ended = true;
      void answer();
    });
  };
}

// ---- Lock ------------------------------------------------------------------------

export function lockHandlers(env: EventServicesEnv, concurrencyEnv: ConcurrencyEnv): Handlers {
  const { kit, backend } = env;
  const service = "v3lockpb.Lock";
  return {
    Lock: kit.unary(service, "Lock", async (p: PbLockRequest, signal): Promise<PbLockResponse> => {
      const held = await concurrency.lock(concurrencyEnv, { name: bytesIn(p.name), lease: int64ToNumber(p.lease) }, signal);
      return { header: fullHeader(backend.header())(held.header), key: bytesOut(held.key) };
    }),
    Unlock: kit.unary(service, "Unlock", async (p: PbUnlockRequest): Promise<PbHeaderResponse> => {
      const released = await concurrency.unlock(concurrencyEnv, bytesIn(p.key));
      return { header: fullHeader(backend.header())(released) };
    }),
  };
}

// ---- Election --------------------------------------------------------------------

function leaderKeyFromPb(p: PbLeaderKeyIn | null): LeaderKey {
  if (p === null) throw new ConcurrencyError("missingLeaderKey");
  return { name: bytesIn(p.name), key: bytesIn(p.key), rev: int64ToNumber(p.rev), lease: int64ToNumber(p.lease) };
}

export function electionHandlers(env: EventServicesEnv, concurrencyEnv: ConcurrencyEnv): Handlers {
  const { kit, backend } = env;
  const service = "v3electionpb.Election";
  const full = (h: ResponseHeader): PbResponseHeader => fullHeader(backend.header())(h);
  return {
    Campaign: kit.unary(service, "Campaign", async (p: PbCampaignRequest, signal): Promise<PbCampaignResponse> => {
      const request = { name: bytesIn(p.name), lease: int64ToNumber(p.lease), value: bytesIn(p.value) };
      const won = await concurrency.campaign(concurrencyEnv, request, signal);
      const { leader } = won;
      return { header: full(won.header), leader: { name: bytesOut(leader.name), key: bytesOut(leader.key), rev: leader.rev, lease: leader.lease } };
    }),
    Proclaim: kit.unary(service, "Proclaim", async (p: PbProclaimRequest): Promise<PbHeaderResponse> => {
      return { header: full(await concurrency.proclaim(concurrencyEnv, leaderKeyFromPb(p.leader), bytesIn(p.value))) };
    }),
    Resign: kit.unary(service, "Resign", async (p: PbResignRequest): Promise<PbHeaderResponse> => {
      return { header: full(await concurrency.resign(concurrencyEnv, leaderKeyFromPb(p.leader))) };
    }),
    Leader: kit.unary(service, "Leader", async (p: PbLeaderRequest): Promise<PbLeaderResponse> => {
      const current = await concurrency.leader(concurrencyEnv, bytesIn(p.name));
      return { header: full(current.header), kv: keyValueToPb(current.kv) };
    }),
    Observe: observeHandler(env, concurrencyEnv),
  };
}

function observeHandler(env: EventServicesEnv, concurrencyEnv: ConcurrencyEnv): grpc.handleServerStreamingCall<PbLeaderRequest, PbLeaderResponse> {
  const { kit, backend } = env;
  const service = "v3electionpb.Election";
  return (call) => {
    const startedMs = performance.now();
    const scope = kit.open(call);
    const send = async (h: ResponseHeader, kv: KeyValue): Promise<void> => {
      if (!call.write({ header: fullHeader(backend.header())(h), kv: keyValueToPb(kv) })) await whenDrained(call, scope.signal);
    };
    void concurrency
      .observe(concurrencyEnv, bytesIn(call.request.name), send, scope.signal)
      .catch((error: unknown) => {
        if (isClientCancel(error)) {
          kit.report(service, "Observe", grpc.status.CANCELLED, startedMs);
          return;
        }
        const failure = kit.failure(service, "Observe", error);
        if (!call.cancelled) endCall(call, failure);
        kit.report(service, "Observe", failure.code, startedMs);
      })
      .finally(() => scope.release());
  };
}
