/**
 * The etcd v3 HTTP/JSON gateway (etcd 3.4's grpc-gateway), served by the
 * member's HTTP server over the same backend ports as the gRPC API:
 *
 * - `GET /version` → `{"etcdserver": <server version>, "etcdcluster": "3.4.0"}`;
 * - `POST /v3/kv/range|put|deleterange|txn|compaction`,
 *   `/v3/maintenance/status`, `/v3/cluster/member/list`,
 *   `/v3/lease/grant|revoke|timetolive|leases` (revoke, timetolive and leases
 *   also under `/v3/kv/lease/`, as etcd 3.4 serves them): one JSON request
 *   message in the body, one JSON response;
 * - `POST /v3/watch` and `/v3/lease/keepalive`: streaming calls. Every JSON
 *   value of the body is one request, read as it arrives; every response
 *   is one `{"result": …}` line of a chunked response, written as it
 *   happens. A watch stream lasts until the client disconnects (or the
 *   gateway closes); a keep-alive stream ends when the body does and its
 *   answers are out.
 *
 * Every path is also served under `/v3beta/`, as etcd 3.4 does (clients
 * that find cluster version 3.3 use it). The JSON shapes are in
 * gateway-decode.ts and gateway-encode.ts, errors in gateway-errors.ts; the
 * request checks, conversions and error mapping are the gRPC layer's own.
 *
 * Bounds: one request message is at most `messageBytesMax` bytes of JSON;
 * a keep-alive stream has at most `keepAliveInFlightMax` requests waiting
 * for the backend (the body is paused beyond that); a watch stream's queued
 * events are bounded by the watch hub, which pauses on a full socket.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { status as GrpcCode } from "@grpc/grpc-js";
import { requestBytesMaxDefault, txnOpsMaxDefault } from "../../kv/index.js";
import type { KvRequest, WatchSink, WatchStream } from "../../kv/index.js";
import { hasEvents, hasMembership } from "../etcd/backend.js";
import type { EtcdBackend, EventsBackend, MembershipBackend } from "../etcd/backend.js";
import { checkRequest } from "../etcd/checks.js";
import type { RequestLimits } from "../etcd/checks.js";
import {
  compactionFromPb,
  deleteRangeFromPb,
  deleteRangeResponseToPb,
  fullHeader,
  int64ToNumber,
  memberToPb,
  uint64ToBigInt,
  memberListToPb,
  putFromPb,
  putResponseToPb,
  rangeFromPb,
  rangeResponseToPb,
  statusToPb,
  txnFromPb,
  txnResponseToPb,
} from "../etcd/convert.js";
import { leaseTimeToLiveToPb, watchCreateFromPb, watchResponseToPb } from "../etcd/convert-events.js";
import { ApiError, GrpcStatusError, toGrpcFailure } from "../etcd/errors.js";
import type { GrpcFailure } from "../etcd/errors.js";
import type { RequestObserver } from "../etcd/observer.js";
import type { ApiLogger } from "../etcd/server.js";
import type { PbResponseHeader, PbWatchRequest } from "../etcd/wire.js";
import {
  Fields,
  compactionRequestFromJson,
  deleteRangeRequestFromJson,
  leaseGrantRequestFromJson,
  leaseIdRequestFromJson,
  memberAddRequestFromJson,
  memberIdRequestFromJson,
  memberUpdateRequestFromJson,
  leaseTimeToLiveRequestFromJson,
  parseJson,
  putRequestFromJson,
  rangeRequestFromJson,
  txnRequestFromJson,
  watchRequestFromJson,
} from "./gateway-decode.js";
import {
  deleteRangeResponseJson,
  headerOnlyJson,
  leaseGrantResponseJson,
  leaseKeepAliveResponseJson,
  leaseLeasesResponseJson,
  leaseTimeToLiveResponseJson,
  memberListResponseJson,
  memberAddResponseJson,
  putResponseJson,
  rangeResponseJson,
  statusResponseJson,
  txnResponseJson,
  watchResponseJson,
} from "./gateway-encode.js";
import type { JsonObject } from "./gateway-encode.js";
import { GatewayDecodeError, errorBody, httpStatusOf, streamErrorBody } from "./gateway-errors.js";
import { JsonEndError, JsonValueSplitter, JsonValueTooLargeError } from "./json-values.js";

/** clusterVersionDefault is the cluster version `/version` reports: 3.4, so clients use the `/v3` paths. */
export const clusterVersionDefault = "3.4.0";
/** grpcOverheadBytes mirrors the gRPC server's allowance above `requestBytesMax` (etcd: 512 KiB). */
const grpcOverheadBytes = 512 * 1024;
/**
 * messageBytesMaxDefault bounds one JSON request message: base64 makes bytes
 * 4/3 larger and JSON adds names and quotes, so twice what gRPC accepts
 * lets through every request gRPC would take.
 */
export const messageBytesMaxDefault = 2 * (requestBytesMaxDefault + grpcOverheadBytes);
export const keepAliveInFlightMaxDefault = 64;

/** The path prefixes served; everything after one is a route name. */
const prefixes = ["/v3/", "/v3beta/"] as const;

/** GatewayOptions configures {@link createGateway}; every field has a default. */
export interface GatewayOptions {
  /** txnOpsMax: etcd `--max-txn-ops` (default 128), as the gRPC API. */
  readonly txnOpsMax?: number;
  /** requestBytesMax: etcd `--max-request-bytes` (default 1.5 MiB), as the gRPC API. */
  readonly requestBytesMax?: number;
  /** messageBytesMax bounds the JSON text of one request message. */
  readonly messageBytesMax?: number;
  /** clusterVersion is what `/version` reports as `etcdcluster`. */
  readonly clusterVersion?: string;
  /** keepAliveInFlightMax bounds the keep-alive requests of one stream waiting for the backend. */
  readonly keepAliveInFlightMax?: number;
  /** observer is told of every finished call, under the gRPC service and method it stands for. */
  readonly observer?: RequestObserver;
  /** logger receives the failures a client only sees as an internal error. */
  readonly logger?: ApiLogger;
}

/**
 * Gateway handles a request if its path is the gateway's (returning true),
 * and leaves it to the caller otherwise (false). `close` ends every open
 * stream, so the HTTP server can stop.
 */
export interface Gateway {
  (req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
  /** openStreams counts the streaming calls in progress. */
  readonly openStreams: number;
}

/** createGateway builds the gateway over `backend`; watch and lease paths need an {@link EventsBackend}. */
export function createGateway(backend: EtcdBackend | EventsBackend, options: GatewayOptions = {}): Gateway {
  const gateway = new GatewayCore(backend, options);
  const handler = (req: IncomingMessage, res: ServerResponse): boolean => gateway.handle(req, res);
  return Object.defineProperties(handler, {
    close: { value: () => gateway.close() },
    openStreams: { get: () => gateway.openStreams },
  }) as Gateway;
}

/** corsHeaders are sent on every gateway response, as etcd's client handler does. */
const corsHeaders: OutgoingHttpHeaders = {
  "Access-Control-Allow-Headers": "accept, content-type, authorization",
  "Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
  "Access-Control-Allow-Origin": "*",
};
const jsonHeaders: OutgoingHttpHeaders = { ...corsHeaders, "Content-Type": "application/json" };
/** grpcHeaders mark an answer that came from the server (not from the gateway's own decoding), as grpc-gateway does. */
const grpcHeaders: OutgoingHttpHeaders = { ...jsonHeaders, "Grpc-Metadata-Content-Type": "application/grpc" };

type UnaryRun = (fields: Fields) => Promise<JsonObject>;

interface UnaryRoute {
  readonly kind: "unary";
  readonly service: string;
  readonly method: string;
  readonly run: UnaryRun;
}

interface StreamRoute {
  readonly kind: "stream";
  readonly service: string;
  readonly method: string;
  readonly open: (req: IncomingMessage, res: ServerResponse, done: (code: GrpcCode) => void) => OpenStream;
}

type Route = UnaryRoute | StreamRoute;

/** OpenStream is a streaming call in progress; `close` ends it from the server side. */
interface OpenStream {
  close(failure: GrpcFailure): void;
}

const consoleLogger: ApiLogger = {
  error(message, error) {
    console.error(message, error);
  },
};

class GatewayCore {
  private readonly limits: RequestLimits;
  private readonly messageBytesMax: number;
  private readonly clusterVersion: string;
  private readonly keepAliveInFlightMax: number;
  private readonly observer: RequestObserver | undefined;
  private readonly logger: ApiLogger;
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly streams = new Set<OpenStream>();
  private closed = false;

  constructor(
    private readonly backend: EtcdBackend | EventsBackend,
    options: GatewayOptions,
  ) {
    this.limits = {
      txnOpsMax: options.txnOpsMax ?? txnOpsMaxDefault,
      requestBytesMax: options.requestBytesMax ?? requestBytesMaxDefault,
    };
    this.messageBytesMax = options.messageBytesMax ?? messageBytesMaxDefault;
    this.clusterVersion = options.clusterVersion ?? clusterVersionDefault;
    this.keepAliveInFlightMax = options.keepAliveInFlightMax ?? keepAliveInFlightMaxDefault;
    this.observer = options.observer;
    this.logger = options.logger ?? consoleLogger;
    this.routes = this.buildRoutes();
  }

  get openStreams(): number {
    return this.streams.size;
  }

  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/version") {
      this.version(req, res);
      return true;
    }
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (prefix === undefined) return false;
    if (req.method === "OPTIONS") {
      res.writeHead(200, { ...corsHeaders, "Content-Length": 0 });
      res.end();
      return true;
    }
    const route = this.routes.get(path.slice(prefix.length));
    if (route === undefined) {
      plainText(res, 404, "Not Found\n");
      return true;
    }
    if (req.method !== "POST") {
      plainText(res, 405, "Method Not Allowed\n");
      return true;
    }
    if (this.closed) {
      this.fail(res, toGrpcFailure(new ApiError("stopped"), () => undefined), false);
      req.resume();
      return true;
    }
    if (route.kind === "unary") this.unary(req, res, route);
    else this.stream(req, res, route);
    return true;
  }

  /** close ends every open stream with etcd's "server stopped" and refuses new calls. */
  close(): void {
    this.closed = true;
    const failure = toGrpcFailure(new ApiError("stopped"), () => undefined);
    for (const stream of [...this.streams]) stream.close(failure);
  }

  // ---- /version ----------------------------------------------------------------

  private version(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (req.method !== "GET") {
      res.setHeader("Allow", "GET");
      plainText(res, 405, "Method Not Allowed\n");
      return;
    }
    this.backend.status().then(
      (status) => {
        const body = JSON.stringify({ etcdserver: status.version, etcdcluster: this.clusterVersion });
        res.writeHead(200, { ...jsonHeaders, "Content-Length": Buffer.byteLength(body) });
        res.end(body);
      },
      (error: unknown) => this.fail(res, this.failureOf("version", error), true),
    );
  }

  // ---- unary calls -------------------------------------------------------------------

  private unary(req: IncomingMessage, res: ServerResponse, route: UnaryRoute): void {
    const startedMs = performance.now();
    const report = (code: GrpcCode): void => this.report(route.service, route.method, code, startedMs);
    readFirstValue(req, this.messageBytesMax).then(
      (text) => {
        let fields: Fields;
        try {
          fields = Fields.of(text === undefined ? {} : parseJson(text));
        } catch (error) {
          report(this.decodeFailed(res, error, GrpcCode.INVALID_ARGUMENT));
          return;
        }
        route.run(fields).then(
          (response) => {
            const body = JSON.stringify(response);
            res.writeHead(200, { ...grpcHeaders, "Content-Length": Buffer.byteLength(body) });
            res.end(body);
            report(GrpcCode.OK);
          },
          (error: unknown) => {
            if (error instanceof GatewayDecodeError) {
              report(this.decodeFailed(res, error, GrpcCode.INVALID_ARGUMENT));
              return;
            }
            const failure = this.failureOf(`${route.service}/${route.method}`, error);
            this.fail(res, failure, true);
            report(failure.code);
          },
        );
      },
      (error: unknown) => {
        report(this.decodeFailed(res, error, GrpcCode.INVALID_ARGUMENT));
        if (error instanceof JsonValueTooLargeError) res.once("finish", () => req.destroy());
      },
    );
  }

  /**
   * decodeFailed answers a request whose body could not be read as a
   * message: `code` with the decoder's message (too large a message is
   * RESOURCE_EXHAUSTED, as gRPC's own limit). Returns the code answered.
   */
  private decodeFailed(res: ServerResponse, error: unknown, code: GrpcCode): GrpcCode {
    if (error instanceof JsonValueTooLargeError) {
      res.setHeader("Connection", "close");
      this.fail(res, { code: GrpcCode.RESOURCE_EXHAUSTED, details: error.message }, false);
      return GrpcCode.RESOURCE_EXHAUSTED;
    }
    if (error instanceof GatewayDecodeError || error instanceof JsonEndError) {
      this.fail(res, { code, details: error.message }, false);
      return code;
    }
    const failure = this.failureOf("request body", error);
    this.fail(res, failure, false);
    return failure.code;
  }

  /**
   * fail writes a unary error. `fromServer` errors carry grpc-gateway's
   * trailer, as etcd's do; the gateway's own decoding errors do not.
   */
  private fail(res: ServerResponse, failure: GrpcFailure, fromServer: boolean): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = errorBody(failure);
    if (fromServer) {
      res.writeHead(httpStatusOf(failure.code), { ...jsonHeaders, Trailer: "Grpc-Trailer-Content-Type", "Transfer-Encoding": "chunked" });
      res.addTrailers({ "Grpc-Trailer-Content-Type": "application/grpc" });
    } else {
      res.writeHead(httpStatusOf(failure.code), { ...jsonHeaders, "Content-Length": Buffer.byteLength(body) });
    }
    res.end(body);
  }

  private failureOf(what: string, error: unknown): GrpcFailure {
    return toGrpcFailure(error, (unexpected) => this.logger.error(`etcd gateway: ${what} failed`, unexpected));
  }

  private checked<R extends KvRequest>(request: R): R {
    const error = checkRequest(request, this.limits);
    if (error !== undefined) throw error;
    return request;
  }

  private header(): ReturnType<typeof fullHeader> {
    return fullHeader(this.backend.header());
  }

  /** events returns the backend if it serves watches and leases, else throws UNIMPLEMENTED for `what`. */
  private membership(method: string): MembershipBackend {
    if (hasMembership(this.backend)) return this.backend;
    throw new GrpcStatusError(GrpcCode.UNIMPLEMENTED, `synod: etcdserverpb.Cluster/${method} is not implemented yet`);
  }

  private events(what: string): EventsBackend {
    if (hasEvents(this.backend)) return this.backend;
    throw new GrpcStatusError(GrpcCode.UNIMPLEMENTED, `synod: ${what} is not implemented yet`);
  }

  /** currentHeader is the header of answers that carry no revision of their own: the member's applied revision. */
  private currentHeader(backend: EventsBackend): PbResponseHeader {
    return this.header()({ revision: backend.revision?.() ?? 0 });
  }

  private buildRoutes(): ReadonlyMap<string, Route> {
    const b = this.backend;
    const kv = "etcdserverpb.KV";
    const lease = "etcdserverpb.Lease";
    const unary = (service: string, method: string, run: UnaryRun): UnaryRoute => ({ kind: "unary", service, method, run });
    const leaseRevoke = unary(lease, "LeaseRevoke", async (f) => {
      const p = leaseIdRequestFromJson(f);
      const result = await this.events("etcdserverpb.Lease/LeaseRevoke").leaseRevoke(int64ToNumber(p.ID));
      return headerOnlyJson(this.header()({ revision: result.revision }));
    });
    const leaseTimeToLive = unary(lease, "LeaseTimeToLive", async (f) => {
      const p = leaseTimeToLiveRequestFromJson(f);
      const events = this.events("etcdserverpb.Lease/LeaseTimeToLive");
      const result = await events.leaseTimeToLive(int64ToNumber(p.ID), p.keys);
      return leaseTimeToLiveResponseJson(leaseTimeToLiveToPb(result, this.currentHeader(events)));
    });
    const leaseLeases = unary(lease, "LeaseLeases", async () => {
      const events = this.events("etcdserverpb.Lease/LeaseLeases");
      const ids = await events.leaseLeases();
      return leaseLeasesResponseJson({ header: this.currentHeader(events), leases: ids.map((ID) => ({ ID })) });
    });
    return new Map<string, Route>([
      ["kv/range", unary(kv, "Range", async (f) => {
        const r = this.checked({ range: rangeFromPb(rangeRequestFromJson(f)) }).range;
        return rangeResponseJson(rangeResponseToPb(await b.range(r), this.header()));
      })],
      ["kv/put", unary(kv, "Put", async (f) => {
        const r = this.checked({ put: putFromPb(putRequestFromJson(f)) }).put;
        return putResponseJson(putResponseToPb(await b.put(r), this.header()));
      })],
      ["kv/deleterange", unary(kv, "DeleteRange", async (f) => {
        const r = this.checked({ deleteRange: deleteRangeFromPb(deleteRangeRequestFromJson(f)) }).deleteRange;
        return deleteRangeResponseJson(deleteRangeResponseToPb(await b.deleteRange(r), this.header()));
      })],
      ["kv/txn", unary(kv, "Txn", async (f) => {
        const r = this.checked({ txn: txnFromPb(txnRequestFromJson(f)) }).txn;
        return txnResponseJson(txnResponseToPb(await b.txn(r), this.header()));
      })],
      ["kv/compaction", unary(kv, "Compact", async (f) => {
        const r = this.checked({ compaction: compactionFromPb(compactionRequestFromJson(f)) }).compaction;
        const response = await b.compact(r);
        return headerOnlyJson(this.header()(response.header));
      })],
      ["maintenance/status", unary("etcdserverpb.Maintenance", "Status", async () => {
        const status = await b.status();
        return statusResponseJson(statusToPb(status, this.header()));
      })],
      ["cluster/member/list", unary("etcdserverpb.Cluster", "MemberList", async () => {
        const members = await b.memberList();
        return memberListResponseJson(memberListToPb(members, this.header()));
      })],
      ["cluster/member/add", unary("etcdserverpb.Cluster", "MemberAdd", async (f) => {
        const p = memberAddRequestFromJson(f);
        const { member, members } = await this.membership("MemberAdd").memberAdd({ peerUrls: p.peerURLs, isLearner: p.isLearner });
        return memberAddResponseJson({ ...memberListToPb(members, this.header()), member: memberToPb(member) });
      })],
      ["cluster/member/remove", unary("etcdserverpb.Cluster", "MemberRemove", async (f) => {
        const members = await this.membership("MemberRemove").memberRemove(uint64ToBigInt(memberIdRequestFromJson(f).ID));
        return memberListResponseJson(memberListToPb(members, this.header()));
      })],
      ["cluster/member/update", unary("etcdserverpb.Cluster", "MemberUpdate", async (f) => {
        const p = memberUpdateRequestFromJson(f);
        const members = await this.membership("MemberUpdate").memberUpdate(uint64ToBigInt(p.ID), p.peerURLs);
        return memberListResponseJson(memberListToPb(members, this.header()));
      })],
      ["cluster/member/promote", unary("etcdserverpb.Cluster", "MemberPromote", async (f) => {
        const members = await this.membership("MemberPromote").memberPromote(uint64ToBigInt(memberIdRequestFromJson(f).ID));
        return memberListResponseJson(memberListToPb(members, this.header()));
      })],
      ["lease/grant", unary(lease, "LeaseGrant", async (f) => {
        const p = leaseGrantRequestFromJson(f);
        const granted = await this.events("etcdserverpb.Lease/LeaseGrant").leaseGrant({ id: int64ToNumber(p.ID), ttl: int64ToNumber(p.TTL) });
        const header = this.header()({ revision: granted.revision });
        return leaseGrantResponseJson({ header, ID: granted.id, TTL: granted.ttl, error: "" });
      })],
      ["lease/revoke", leaseRevoke],
      ["kv/lease/revoke", leaseRevoke],
      ["lease/timetolive", leaseTimeToLive],
      ["kv/lease/timetolive", leaseTimeToLive],
      ["lease/leases", leaseLeases],
      ["kv/lease/leases", leaseLeases],
      ["watch", { kind: "stream", service: "etcdserverpb.Watch", method: "Watch", open: (req, res, done) => this.openWatch(req, res, done) }],
      ["lease/keepalive", {
        kind: "stream",
        service: lease,
        method: "LeaseKeepAlive",
        open: (req, res, done) => this.openKeepAlive(req, res, done),
      }],
    ]);
  }

  // ---- streaming calls -----------------------------------------------------------------

  private stream(req: IncomingMessage, res: ServerResponse, route: StreamRoute): void {
    const startedMs = performance.now();
    let finished = false;
    // done may run inside route.open (a refused call), before the stream is known.
    const slot: { open?: OpenStream } = {};
    const done = (code: GrpcCode): void => {
      if (finished) return;
      finished = true;
      if (slot.open !== undefined) this.streams.delete(slot.open);
      this.report(route.service, route.method, code, startedMs);
    };
    slot.open = route.open(req, res, done);
    if (!finished) this.streams.add(slot.open);
  }

  /**
   * openWatch runs one watch stream. The first body value must decode, else
   * the call fails as etcd's does (UNKNOWN, a unary error body); once the
   * stream has begun, a bad value stops the reading of requests (as
   * grpc-gateway's CloseSend) and the watches go on.
   */
  private openWatch(req: IncomingMessage, res: ServerResponse, done: (code: GrpcCode) => void): OpenStream {
    let backend: EventsBackend;
    try {
      backend = this.events("etcdserverpb.Watch/Watch");
    } catch (error) {
      return this.refuseStream(req, res, this.failureOf("watch", error), done);
    }
    let stream: WatchStream | undefined;
    let started = false;
    let ended = false;
    let waitingDrain = false;
    const sink: WatchSink = {
      send: (response) => {
        if (ended) return true;
        const written = res.write(`${JSON.stringify({ result: watchResponseJson(watchResponseToPb(response, backend.header())) })}\n`);
        if (!written && !waitingDrain) {
          waitingDrain = true;
          res.once("drain", () => {
            waitingDrain = false;
            if (!ended) stream?.resume();
          });
        }
        return written;
      },
    };
    const start = (): boolean => {
      if (started) return true;
      try {
        stream = backend.openWatchStream(sink);
      } catch (error) {
        end(this.failureOf("watch", error), true);
        return false;
      }
      started = true;
      res.writeHead(200, { ...grpcHeaders, "Transfer-Encoding": "chunked" });
      res.flushHeaders();
      return true;
    };
    const end = (failure: GrpcFailure | undefined, unaryError: boolean): void => {
      if (ended) return;
      ended = true;
      stream?.close();
      stream = undefined;
      if (failure !== undefined && !res.writableEnded && !res.destroyed) {
        if (unaryError) this.fail(res, failure, failure.code !== GrpcCode.UNKNOWN);
        else res.end(streamErrorBody(failure));
      }
      done(failure?.code ?? GrpcCode.OK);
    };
    res.once("close", () => end(undefined, false));
    const onValue = (text: string): boolean => {
      let request: PbWatchRequest;
      try {
        request = watchRequestFromJson(Fields.of(parseJson(text)));
      } catch (error) {
        if (!started) end(this.decodeFailure(error), true);
        return false;
      }
      if (!start() || stream === undefined) return false;
      switch (request.request_union) {
        case "create_request":
          if (request.create_request) stream.createWatch(watchCreateFromPb(request.create_request));
          break;
        case "cancel_request":
          if (request.cancel_request) stream.cancel(int64ToNumber(request.cancel_request.watch_id));
          break;
        case "progress_request":
          stream.requestProgress();
          break;
        case undefined:
          break;
      }
      return true;
    };
    readValues(req, this.messageBytesMax, {
      value: (text) => !ended && onValue(text),
      end: (error) => {
        if (ended) return;
        if (error !== undefined && !started) {
          end(this.decodeFailure(error), true);
          return;
        }
        // The body is over: the watches stay until the client leaves, as in etcd.
        start();
      },
    });
    return { close: (failure) => end(failure, !started) };
  }

  /**
   * openKeepAlive runs one keep-alive stream: each body value is a
   * LeaseKeepAliveRequest, answered in order; the response ends once the
   * body has ended and every answer is written, or at the first backend
   * failure (with a stream error object, as grpc-gateway ends a stream).
   */
  private openKeepAlive(req: IncomingMessage, res: ServerResponse, done: (code: GrpcCode) => void): OpenStream {
    let backend: EventsBackend;
    try {
      backend = this.events("etcdserverpb.Lease/LeaseKeepAlive");
    } catch (error) {
      return this.refuseStream(req, res, this.failureOf("keep-alive", error), done);
    }
    let started = false;
    let ended = false;
    let bodyOver = false;
    let inFlight = 0;
    let queue: Promise<void> = Promise.resolve();
    const start = (answered = true): void => {
      if (started) return;
      started = true;
      // grpc-gateway copies the server's headers, which a stream that never answered did not send.
      res.writeHead(200, { ...(answered ? grpcHeaders : jsonHeaders), "Transfer-Encoding": "chunked" });
      res.flushHeaders();
    };
    const end = (failure: GrpcFailure | undefined): void => {
      if (ended) return;
      ended = true;
      if (!res.writableEnded && !res.destroyed) {
        if (failure === undefined) {
          start(false);
          res.end();
        } else if (!started) {
          this.fail(res, failure, failure.code !== GrpcCode.UNKNOWN);
        } else {
          res.end(streamErrorBody(failure));
        }
      }
      done(failure?.code ?? GrpcCode.OK);
    };
    const maybeEnd = (): void => {
      if (bodyOver && inFlight === 0) end(undefined);
    };
    res.once("close", () => end(undefined));
    const keepAlive = async (id: number): Promise<void> => {
      try {
        const result = await backend.leaseKeepAlive(id);
        const response = leaseKeepAliveResponseJson({ header: this.currentHeader(backend), ID: result.id, TTL: result.ttl });
        if (!ended) res.write(`${JSON.stringify({ result: response })}\n`);
      } catch (error) {
        end(this.failureOf("etcdserverpb.Lease/LeaseKeepAlive", error));
      }
    };
    readValues(req, this.messageBytesMax, {
      value: (text) => {
        if (ended) return false;
        let id: number;
        try {
          id = int64ToNumber(leaseIdRequestFromJson(Fields.of(parseJson(text))).ID);
        } catch (error) {
          if (!started) end(this.decodeFailure(error));
          return false;
        }
        start();
        inFlight++;
        if (inFlight >= this.keepAliveInFlightMax) req.pause();
        queue = queue.then(async () => {
          if (!ended) await keepAlive(id);
          inFlight--;
          if (inFlight < this.keepAliveInFlightMax && !bodyOver) req.resume();
          maybeEnd();
        });
        return true;
      },
      end: (error) => {
        if (error !== undefined && !started) {
          end(this.decodeFailure(error));
          return;
        }
        bodyOver = true;
        maybeEnd();
      },
    });
    return { close: (failure) => end(failure) };
  }

  /** refuseStream answers a streaming call that cannot start with a unary error. */
  private refuseStream(req: IncomingMessage, res: ServerResponse, failure: GrpcFailure, done: (code: GrpcCode) => void): OpenStream {
    req.resume();
    this.fail(res, failure, true);
    done(failure.code);
    return { close: () => undefined };
  }

  /** decodeFailure is the failure of a stream's first message that does not decode: UNKNOWN, as grpc-gateway reports it. */
  private decodeFailure(error: unknown): GrpcFailure {
    if (error instanceof JsonValueTooLargeError) return { code: GrpcCode.RESOURCE_EXHAUSTED, details: error.message };
    if (error instanceof GatewayDecodeError || error instanceof JsonEndError) return { code: GrpcCode.UNKNOWN, details: error.message };
    return this.failureOf("request body", error);
  }

  private report(service: string, method: string, code: GrpcCode, startedMs: number): void {
    if (this.observer === undefined) return;
    try {
      this.observer.requestDone({ service, method, code, durationMs: performance.now() - startedMs });
    } catch (error) {
      this.logger.error("etcd gateway: request observer failed", error);
    }
  }
}

function plainText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    ...corsHeaders,
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * readFirstValue resolves to the text of the body's first JSON value
 * (undefined for an empty body); the rest of the body is read and ignored,
 * as Go's decoder leaves it.
 */
function readFirstValue(req: IncomingMessage, valueBytesMax: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (text: string | undefined, error?: unknown): void => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve(text);
      else reject(error instanceof Error ? error : new Error("request body failed", { cause: error }));
    };
    readValues(req, valueBytesMax, {
      value: (text) => {
        settle(text);
        return false;
      },
      end: (error) => settle(undefined, error),
    });
  });
}

/** ValueHandlers receive a body's JSON values; `value` returns false to stop reading values (the rest is drained). */
interface ValueHandlers {
  value(text: string): boolean;
  /** end: the body is over (error: it ended inside a value, a value was too large, or the request failed). */
  end(error?: unknown): void;
}

function readValues(req: IncomingMessage, valueBytesMax: number, handlers: ValueHandlers): void {
  const splitter = new JsonValueSplitter(valueBytesMax);
  let reading = true;
  let over = false;
  const finish = (error?: unknown): void => {
    if (over) return;
    over = true;
    handlers.end(error);
  };
  req.on("data", (chunk: Buffer) => {
    if (!reading) return;
    let values: string[];
    try {
      values = splitter.feed(chunk);
    } catch (error) {
      reading = false;
      finish(error);
      return;
    }
    for (const text of values) {
      if (!handlers.value(text)) {
        reading = false;
        return;
      }
    }
  });
  req.on("end", () => {
    if (!reading) {
      finish();
      return;
    }
    let last: string[];
    try {
      last = splitter.end();
    } catch (error) {
      finish(error);
      return;
    }
    for (const text of last) if (!handlers.value(text)) break;
    finish();
  });
  req.on("error", (error) => finish(error));
}
