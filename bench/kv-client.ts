/**
 * A lean etcd KV client for the benchmark: raw `@grpc/grpc-js` channels and
 * the serializers of the project's etcd protos, nothing in between, so the
 * generator spends as little CPU per request as grpc-js allows.
 *
 * Field names follow the protos (`keepCase`); int64 fields are decimal
 * strings (see `src/api/etcd/protos.ts`).
 */
import * as grpc from "@grpc/grpc-js";
import { etcdService } from "../src/api/etcd/protos.js";

/** ResponseHeader is the part of etcd's header the benchmark reads. */
export interface ResponseHeader {
  readonly revision: string;
}

/** KeyValue is mvccpb.KeyValue as decoded. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly mod_revision: string;
}

/** PutRequest is the part of etcdserverpb.PutRequest the benchmark sets. */
export interface PutRequest {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** PutResponse is etcdserverpb.PutResponse as decoded. */
export interface PutResponse {
  readonly header: ResponseHeader | null;
}

/** RangeRequest is the part of etcdserverpb.RangeRequest the benchmark sets. */
export interface RangeRequest {
  readonly key: Buffer;
  readonly serializable: boolean;
}

/** RangeResponse is etcdserverpb.RangeResponse as decoded. */
export interface RangeResponse {
  readonly header: ResponseHeader | null;
  readonly kvs: readonly KeyValue[];
  readonly count: string;
}

/** CompareModRevision is an etcdserverpb.Compare on a key's mod_revision. */
export interface CompareModRevision {
  readonly result: number;
  readonly target: number;
  readonly key: Buffer;
  readonly mod_revision: string;
}

/** RequestOp is etcdserverpb.RequestOp holding a put or a range. */
export type RequestOp = { readonly request_put: PutRequest } | { readonly request_range: RangeRequest };

/** TxnRequest is etcdserverpb.TxnRequest. */
export interface TxnRequest {
  readonly compare: readonly CompareModRevision[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

/** TxnResponse is etcdserverpb.TxnResponse as decoded (only range responses are read). */
export interface TxnResponse {
  readonly header: ResponseHeader | null;
  readonly succeeded: boolean;
  readonly responses: readonly { readonly response_range?: RangeResponse | null }[];
}

/** compareResult and compareTarget are the enum values of etcdserverpb.Compare used here. */
export const compareResult = { equal: 0 } as const;
export const compareTarget = { mod: 2 } as const;

interface Method<Req, Res> {
  readonly path: string;
  readonly serialize: (value: Req) => Buffer;
  readonly deserialize: (bytes: Buffer) => Res;
}

interface KvMethods {
  readonly put: Method<PutRequest, PutResponse>;
  readonly range: Method<RangeRequest, RangeResponse>;
  readonly txn: Method<TxnRequest, TxnResponse>;
}

let methods: KvMethods | undefined;

function method<Req, Res>(name: "Put" | "Range" | "Txn"): Method<Req, Res> {
  const definition = etcdService("etcdserverpb.KV")[name];
  if (definition === undefined) throw new Error(`etcd protos: KV has no method ${name}`);
  // The loader's serializers are untyped; the interfaces above mirror the protos they encode.
  const serialize = definition.requestSerialize as (value: Req) => Buffer;
  const deserialize = definition.responseDeserialize as (bytes: Buffer) => Res;
  return { path: definition.path, serialize, deserialize };
}

function kvMethods(): KvMethods {
  methods ??= { put: method("Put"), range: method("Range"), txn: method("Txn") };
  return methods;
}

/** RequestError is a failed request; `message` is what the summary counts errors by. */
export class RequestError extends Error {
  readonly code = "requestFailed";
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "RequestError";
  }
}

/** errorMessage names a grpc failure as `STATUS: details`, e.g. `UNAVAILABLE: No connection established`. */
export function errorMessage(error: unknown): string {
  if (error instanceof RequestError) return error.message;
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "number") {
    const name = grpc.status[error.code] ?? `code ${error.code}`;
    const details = "details" in error && typeof error.details === "string" ? error.details : "";
    return details === "" ? name : `${name}: ${details}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** channelMessageBytesMax bounds a response; 16 MiB covers any range the benchmark issues. */
const channelMessageBytesMax = 16 * 1024 * 1024;

/**
 * KvChannel is one gRPC channel to one endpoint. Each channel has its own
 * subchannel pool, so `--conns C` means C TCP connections (grpc-js would
 * otherwise share one connection between clients of the same target).
 */
export class KvChannel {
  private readonly client: grpc.Client;

  constructor(readonly endpoint: string) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": channelMessageBytesMax,
      "grpc.max_send_message_length": channelMessageBytesMax,
    });
  }

  /** waitForReady resolves once the channel is connected, or rejects at the deadline. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (error) => {
        if (error === undefined) resolve();
        else reject(new RequestError(`${this.endpoint}: not ready: ${error.message}`, { cause: error }));
      });
    });
  }

  put(request: PutRequest, timeoutMs: number): Promise<PutResponse> {
    return this.unary(kvMethods().put, request, timeoutMs);
  }

  range(request: RangeRequest, timeoutMs: number): Promise<RangeResponse> {
    return this.unary(kvMethods().range, request, timeoutMs);
  }

  txn(request: TxnRequest, timeoutMs: number): Promise<TxnResponse> {
    return this.unary(kvMethods().txn, request, timeoutMs);
  }

  close(): void {
    this.client.close();
  }

  private unary<Req, Res>(m: Method<Req, Res>, request: Req, timeoutMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.serialize, m.deserialize, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new RequestError("empty response"));
        else resolve(response);
      });
    });
  }
}

/** ChannelPool holds `conns` channels spread round-robin over the endpoints. */
export class ChannelPool {
  readonly channels: readonly KvChannel[];

  constructor(endpoints: readonly string[], conns: number) {
    if (endpoints.length === 0 || conns < 1) throw new Error("ChannelPool: needs at least one endpoint and one connection");
    const channels: KvChannel[] = [];
    for (let i = 0; i < conns; i++) channels.push(new KvChannel(endpoints[i % endpoints.length] ?? ""));
    this.channels = channels;
  }

  /** channelFor returns the channel that request loop `client` uses: loops are spread round-robin. */
  channelFor(client: number): KvChannel {
    const channel = this.channels[client % this.channels.length];
    if (channel === undefined) throw new Error("ChannelPool: no channel");
    return channel;
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return Promise.all(this.channels.map((c) => c.waitForReady(timeoutMs))).then(() => undefined);
  }

  close(): void {
    for (const channel of this.channels) channel.close();
  }
}
