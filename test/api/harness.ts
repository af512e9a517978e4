/**
 * Test harness for the etcd API layer: an {@link EtcdApiServer} over the
 * {@link MvccTestBackend} on 127.0.0.1 and a random port in [20000, 32000),
 * and a raw gRPC client built from the same .proto files.
 */
import * as grpc from "@grpc/grpc-js";
import { EtcdApiServer, RequestCounter, etcdService } from "../../src/api/etcd/index.js";
import type { ApiLogger, EtcdApiOptions, EtcdServiceName } from "../../src/api/etcd/index.js";
import { MvccTestBackend } from "./test-backend.js";

const portLow = 20_000;
const portHigh = 32_000;
const bindAttemptsMax = 30;

/** ApiFixture is a running server with its test backend, counters and captured log. */
export interface ApiFixture<B extends MvccTestBackend = MvccTestBackend> {
  readonly server: EtcdApiServer;
  readonly backend: B;
  readonly counter: RequestCounter;
  readonly logged: { readonly message: string; readonly error: unknown }[];
  readonly port: number;
  /** endpoint is "127.0.0.1:PORT". */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** startApi starts a fresh server on a random free port (retrying ports in use). */
export function startApi(options: Partial<EtcdApiOptions> = {}): Promise<ApiFixture> {
  return startApiWith(new MvccTestBackend(), options);
}

/** startApiWith starts a server over the given test backend (see startApi). */
export async function startApiWith<B extends MvccTestBackend>(backend: B, options: Partial<EtcdApiOptions> = {}): Promise<ApiFixture<B>> {
  const counter = new RequestCounter();
  const logged: { message: string; error: unknown }[] = [];
  const logger: ApiLogger = { error: (message, error) => logged.push({ message, error }) };
  for (let attempt = 1; ; attempt++) {
    const port = portLow + Math.floor(Math.random() * (portHigh - portLow));
    const server = new EtcdApiServer({ backend, observer: counter, logger, shutdownGraceMs: 1_000, ...options });
    try {
      await server.start({ host: "127.0.0.1", port });
    } catch (error) {
      await server.stop();
      if (attempt < bindAttemptsMax && error instanceof Error && /EADDRINUSE|No address added/.test(error.message)) continue;
      throw error;
    }
    const endpoint = `127.0.0.1:${port}`;
    backend.clientUrl = `http://${endpoint}`;
    return { server, backend, counter, logged, port, endpoint, close: () => server.stop() };
  }
}

/** RawClient calls etcd methods with plain protobuf objects (the field names of the .proto files). */
export class RawClient {
  private readonly client: grpc.Client;

  constructor(endpoint: string) {
    this.client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  }

  /** call makes one unary call and resolves to the decoded response (int64 as strings, bytes as Buffers). */
  call<Res>(service: EtcdServiceName, method: string, request: object, options: grpc.CallOptions = {}): Promise<Res> {
    const definition = etcdService(service)[method];
    if (definition === undefined) throw new Error(`no method ${service}/${method}`);
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<object, Res>(
        definition.path,
        (value: object) => definition.requestSerialize(value),
        (bytes: Buffer) => definition.responseDeserialize(bytes) as Res,
        request,
        options,
        (error, value) => {
          if (error !== null) reject(error);
          else if (value === undefined) reject(new Error("no response"));
          else resolve(value);
        },
      );
    });
  }

  kv<Res>(method: "Range" | "Put" | "DeleteRange" | "Txn" | "Compact", request: object): Promise<Res> {
    return this.call<Res>("etcdserverpb.KV", method, request);
  }

  close(): void {
    this.client.close();
  }
}

// ---- decoded responses, as the raw client sees them ------------------------------

export interface DecodedHeader {
  readonly cluster_id: string;
  readonly member_id: string;
  readonly revision: string;
  readonly raft_term: string;
}

export interface DecodedKeyValue {
  readonly key: Buffer;
  readonly create_revision: string;
  readonly mod_revision: string;
  readonly version: string;
  readonly value: Buffer;
  readonly lease: string;
}

export interface DecodedRangeResponse {
  readonly header: DecodedHeader;
  readonly kvs: readonly DecodedKeyValue[];
  readonly more: boolean;
  readonly count: string;
}

export interface DecodedPutResponse {
  readonly header: DecodedHeader;
  readonly prev_kv: DecodedKeyValue | null;
}

export interface DecodedDeleteRangeResponse {
  readonly header: DecodedHeader;
  readonly deleted: string;
  readonly prev_kvs: readonly DecodedKeyValue[];
}

export interface DecodedResponseOp {
  readonly response: "response_range" | "response_put" | "response_delete_range" | "response_txn";
  readonly response_range?: DecodedRangeResponse;
  readonly response_put?: DecodedPutResponse;
  readonly response_delete_range?: DecodedDeleteRangeResponse;
  readonly response_txn?: DecodedTxnResponse;
}

export interface DecodedTxnResponse {
  readonly header: DecodedHeader;
  readonly succeeded: boolean;
  readonly responses: readonly DecodedResponseOp[];
}

/** b is a string's UTF-8 bytes as a Buffer. */
export function b(s: string): Buffer {
  return Buffer.from(s, "utf8");
}

/** kvText renders a decoded KeyValue compactly for assertions: "key=value@create/mod/version". */
export function kvText(kv: DecodedKeyValue): string {
  return `${kv.key.toString()}=${kv.value.toString()}@${kv.create_revision}/${kv.mod_revision}/${kv.version}`;
}

/** isGrpcError narrows a rejection to a gRPC ServiceError. */
export function isGrpcError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && "code" in error && "details" in error;
}

/**
 * RawStream is one streaming call made with plain protobuf objects: what the
 * server sent is read in order with `next()`, and `status` resolves when the
 * call ends.
 */
export class RawStream<Res> {
  private readonly received: Res[] = [];
  private waiting: (() => void) | undefined;
  readonly status: Promise<grpc.StatusObject>;
  private ended = false;

  constructor(private readonly call: grpc.ClientDuplexStream<object, Res> | grpc.ClientReadableStream<Res>) {
    call.on("data", (response: Res) => {
      this.received.push(response);
      this.wake();
    });
    call.on("error", () => undefined);
    this.status = new Promise((resolve) => {
      call.on("status", (status: grpc.StatusObject) => {
        this.ended = true;
        this.wake();
        resolve(status);
      });
    });
  }

  /** write sends one request (bidi calls only). */
  write(request: object): void {
    if (!("write" in this.call)) throw new Error("not a bidi stream");
    this.call.write(request);
  }

  /** next resolves to the next response, failing after `timeoutMs` or when the call ended. */
  async next(timeoutMs = 2_000): Promise<Res> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = this.received.shift();
      if (response !== undefined) return response;
      if (this.ended) throw new Error("stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** quiet asserts nothing arrives within `ms`. */
  async quiet(ms = 100): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.received.length > 0) throw new Error(`unexpected response: ${JSON.stringify(this.received[0])}`);
  }

  /** pending is how many responses arrived and were not read yet. */
  get pending(): number {
    return this.received.length;
  }

  end(): void {
    if ("end" in this.call) this.call.end();
  }

  /** pause stops reading (the server's writes then back up); resume reads again. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  cancel(): void {
    this.call.cancel();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}

/** openStream starts a bidi or server-streaming call of an etcd method with a raw client. */
export function openStream<Res>(endpoint: string, service: EtcdServiceName, method: string, request?: object): { stream: RawStream<Res>; close(): void } {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  const definition = etcdService(service)[method];
  if (definition === undefined) throw new Error(`no method ${service}/${method}`);
  const serialize = (value: object): Buffer => definition.requestSerialize(value);
  const deserialize = (bytes: Buffer): Res => definition.responseDeserialize(bytes) as Res;
  const call =
    request === undefined
      ? client.makeBidiStreamRequest<object, Res>(definition.path, serialize, deserialize)
      : client.makeServerStreamRequest<object, Res>(definition.path, serialize, deserialize, request);
  return { stream: new RawStream<Res>(call), close: (): void => client.close() };
}

export interface DecodedEvent {
  readonly type: number;
  readonly kv: DecodedKeyValue;
  readonly prev_kv: DecodedKeyValue | null;
}

export interface DecodedWatchResponse {
  readonly header: DecodedHeader;
  readonly watch_id: string;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compact_revision: string;
  readonly cancel_reason: string;
  readonly fragment: boolean;
  readonly events: readonly DecodedEvent[];
}

/** eventText renders an event compactly: "PUT key=value@create/mod/version" or "DELETE key@mod", with " prev=…" if present. */
export function eventText(event: DecodedEvent): string {
  const body = event.type === 0 ? `PUT ${kvText(event.kv)}` : `DELETE ${event.kv.key.toString()}@${event.kv.mod_revision}`;
  return event.prev_kv === null ? body : `${body} prev=${kvText(event.prev_kv)}`;
}
