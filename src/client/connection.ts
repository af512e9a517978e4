/**
 * Connection is the client's link to a Synod (or etcd) cluster: one gRPC
 * channel to one endpoint of the list at a time, moved to the next endpoint
 * when a call finds the current one UNAVAILABLE.
 *
 * Retries: a unary call marked idempotent (reads, time-to-live, lease list,
 * unlock) is retried on UNAVAILABLE up to `attemptsMax` times with a
 * growing pause; any other call is tried once, because a write that timed
 * out may have been applied and must not be applied twice behind the
 * caller's back.
 */
import * as grpc from "@grpc/grpc-js";
import { etcdService } from "../api/etcd/protos.js";
import type { EtcdServiceName } from "../api/etcd/protos.js";
import { SynodClientError, toClientError } from "./errors.js";

/** attemptsMaxDefault bounds the tries of one idempotent call. */
export const attemptsMaxDefault = 5;
/** retryPauseMsDefault is the pause before the second try; each later pause adds as much again. */
export const retryPauseMsDefault = 50;

/** ConnectionOptions: `endpoints` are "host:port" strings, tried in order. */
export interface ConnectionOptions {
  readonly endpoints: readonly string[];
  readonly attemptsMax?: number;
  readonly retryPauseMs?: number;
  /** callTimeoutMs bounds each unary call that does not wait by design (Lock and Campaign do); absent: none. */
  readonly callTimeoutMs?: number;
}

/** UnaryOptions: `idempotent` allows retries; `wait` marks calls that may block for long (no call timeout). */
export interface UnaryOptions {
  readonly idempotent: boolean;
  readonly signal?: AbortSignal;
  readonly wait?: boolean;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new SynodClientError(grpc.status.CANCELLED, "aborted"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new SynodClientError(grpc.status.CANCELLED, "aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** See the file comment. */
export class Connection {
  readonly attemptsMax: number;
  readonly retryPauseMs: number;
  private readonly endpoints: readonly string[];
  private readonly callTimeoutMs: number | undefined;
  private index = 0;
  private channel: grpc.Client;
  private closed = false;

  constructor(options: ConnectionOptions) {
    if (options.endpoints.length === 0) throw new RangeError("SynodClient: at least one endpoint is needed");
    this.endpoints = [...options.endpoints];
    this.attemptsMax = options.attemptsMax ?? attemptsMaxDefault;
    this.retryPauseMs = options.retryPauseMs ?? retryPauseMsDefault;
    this.callTimeoutMs = options.callTimeoutMs;
    this.channel = this.open();
  }

  /** endpoint is the endpoint calls currently go to. */
  get endpoint(): string {
    return this.endpoints[this.index] ?? "";
  }

  /** rotate moves to the next endpoint (after a call found the current one unavailable). */
  rotate(): void {
    if (this.closed) return;
    this.channel.close();
    this.index = (this.index + 1) % this.endpoints.length;
    this.channel = this.open();
  }

  close(): void {
    this.closed = true;
    this.channel.close();
  }

  /** unary makes one unary call, retrying idempotent ones on UNAVAILABLE (see the file comment). */
  async unary<Res>(service: EtcdServiceName, method: string, request: object, options: UnaryOptions): Promise<Res> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unaryOnce<Res>(service, method, request, options);
      } catch (error) {
        if (!(error instanceof SynodClientError) || !error.unavailable) throw error;
        this.rotate();
        if (!options.idempotent || attempt >= this.attemptsMax) throw error;
        await sleep(this.retryPauseMs * attempt, options.signal);
      }
    }
  }

  /** bidi opens a bidi-streaming call on the current endpoint. */
  bidi<Req extends object, Res>(service: EtcdServiceName, method: string): grpc.ClientDuplexStream<Req, Res> {
    const definition = this.method(service, method);
    return this.channel.makeBidiStreamRequest<Req, Res>(
      definition.path,
      (value: Req) => definition.requestSerialize(value),
      (bytes: Buffer) => definition.responseDeserialize(bytes) as Res,
    );
  }

  /** serverStream opens a server-streaming call on the current endpoint. */
  serverStream<Res>(service: EtcdServiceName, method: string, request: object): grpc.ClientReadableStream<Res> {
    const definition = this.method(service, method);
    return this.channel.makeServerStreamRequest<object, Res>(
      definition.path,
      (value: object) => definition.requestSerialize(value),
      (bytes: Buffer) => definition.responseDeserialize(bytes) as Res,
      request,
    );
  }

  private unaryOnce<Res>(service: EtcdServiceName, method: string, request: object, options: UnaryOptions): Promise<Res> {
    const definition = this.method(service, method);
    const callOptions: grpc.CallOptions = {};
    if (this.callTimeoutMs !== undefined && options.wait !== true) callOptions.deadline = Date.now() + this.callTimeoutMs;
    return new Promise<Res>((resolve, reject) => {
      if (options.signal?.aborted === true) {
        reject(new SynodClientError(grpc.status.CANCELLED, "aborted"));
        return;
      }
      const call = this.channel.makeUnaryRequest<object, Res>(
        definition.path,
        (value: object) => definition.requestSerialize(value),
        (bytes: Buffer) => definition.responseDeserialize(bytes) as Res,
        request,
        callOptions,
        (error, value) => {
          options.signal?.removeEventListener("abort", cancel);
          if (error !== null) reject(toClientError(error));
          else if (value === undefined) reject(new SynodClientError(grpc.status.INTERNAL, "empty response"));
          else resolve(value);
        },
      );
      const cancel = (): void => call.cancel();
      options.signal?.addEventListener("abort", cancel, { once: true });
    });
  }

  private method(service: EtcdServiceName, method: string): grpc.MethodDefinition<object, unknown> {
    if (this.closed) throw new SynodClientError(grpc.status.CANCELLED, "SynodClient: closed");
    const definition: grpc.MethodDefinition<object, unknown> | undefined = etcdService(service)[method];
    if (definition === undefined) throw new Error(`SynodClient: no method ${service}/${method}`);
    return definition;
  }

  private open(): grpc.Client {
    return new grpc.Client(this.endpoint, grpc.credentials.createInsecure());
  }
}
