/**
 * Watcher follows a key or a prefix as an async iterator of events, in
 * revision order, each exactly once. It owns one Watch stream; when the
 * stream breaks (the endpoint went away, the server stopped) it opens a new
 * one, on the next endpoint if needed, starting at the revision after the
 * last one it delivered or was told complete — so nothing is missed and
 * nothing repeats across reconnects. History the cluster compacted in the
 * meantime ends the iteration with a {@link WatchCompactedError}.
 *
 * Bounds: at most `bufferedEventsMax` events wait for the reader; beyond
 * that the gRPC stream stops reading, and the server holds the rest.
 */
import type * as grpc from "@grpc/grpc-js";
import { status as GrpcCode } from "@grpc/grpc-js";
import type { Connection } from "./connection.js";
import { sleep } from "./connection.js";
import { SynodClientError, WatchCompactedError, toClientError } from "./errors.js";
import { bytes, keyValueFromPb, prefixEndOf } from "./kv.js";
import type { Bytes, DecodedKeyValue, KeyValue } from "./kv.js";

/** bufferedEventsMax bounds the events a watcher holds for its reader. */
export const bufferedEventsMax = 1000;
/** reconnectPauseMsMax bounds the pause between two reconnects. */
export const reconnectPauseMsMax = 1000;

export interface WatchOptions {
  readonly prefix?: boolean;
  /** startRevision: first revision to report (history from there); absent: changes after the watch starts. */
  readonly startRevision?: number;
  readonly prevKv?: boolean;
}

/** WatchEvent is one change; a delete's `kv` holds the key and the deletion's modRevision only. */
export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

interface DecodedWatchResponse {
  readonly header: { readonly revision: string };
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compact_revision: string;
  readonly cancel_reason: string;
  readonly events: readonly { readonly type: number; readonly kv: DecodedKeyValue; readonly prev_kv: DecodedKeyValue | null }[];
}

/** See the file comment. */
export class Watcher implements AsyncIterable<WatchEvent> {
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  /** nextRevision: the first revision not yet delivered (0 until the first stream says where "now" is). */
  private nextRevision: number;
  private readonly buffer: WatchEvent[] = [];
  private failure: SynodClientError | undefined;
  private wake: (() => void) | undefined;
  private stream: grpc.ClientDuplexStream<object, DecodedWatchResponse> | undefined;
  private closed = false;
  private reconnects = 0;
  /** failedStarts counts reconnects since a stream last got its watch created (it sets the pause before the next). */
  private failedStarts = 0;

  constructor(
    private readonly connection: Connection,
    key: Bytes,
    private readonly options: WatchOptions = {},
  ) {
    this.key = bytes(key);
    this.rangeEnd = options.prefix === true ? prefixEndOf(this.key) : Buffer.alloc(0);
    this.nextRevision = options.startRevision ?? 0;
    this.connect();
  }

  /** revision is the last revision delivered or known complete (0 before the watch started). */
  get revision(): number {
    return Math.max(this.nextRevision - 1, 0);
  }

  /** reconnectCount is how many times the watch reopened its stream. */
  get reconnectCount(): number {
    return this.reconnects;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    for (;;) {
      const event = this.buffer.shift();
      if (event !== undefined) {
        if (this.stream?.isPaused() === true && this.buffer.length < bufferedEventsMax / 2) this.stream.resume();
        yield event;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** close ends the watch; the iteration ends after the events already buffered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream?.cancel();
    this.stream = undefined;
    this.notify();
  }

  private connect(): void {
    if (this.closed) return;
    const stream = this.connection.bidi<object, DecodedWatchResponse>("etcdserverpb.Watch", "Watch");
    this.stream = stream;
    stream.on("data", (response: DecodedWatchResponse) => this.onResponse(response));
    stream.on("error", (error: unknown) => {
      if (this.stream === stream) void this.reconnect(toClientError(error));
    });
    stream.on("end", () => {
      if (this.stream === stream) void this.reconnect(undefined);
    });
    stream.write({
      create_request: { key: this.key, range_end: this.rangeEnd, start_revision: this.nextRevision, prev_kv: this.options.prevKv === true },
    });
  }

  private onResponse(response: DecodedWatchResponse): void {
    const headerRevision = Number(response.header.revision);
    if (response.canceled) {
      const compactRevision = Number(response.compact_revision);
      this.fail(compactRevision > 0 ? new WatchCompactedError(compactRevision) : new SynodClientError(GrpcCode.UNKNOWN, response.cancel_reason || "watch canceled"));
      return;
    }
    if (response.created) {
      this.failedStarts = 0;
      if (this.nextRevision === 0) this.nextRevision = headerRevision + 1;
      return;
    }
    const from = this.nextRevision;
    for (const event of response.events) {
      const kv = keyValueFromPb(event.kv);
      if (kv.modRevision < from) continue; // already delivered before a reconnect
      const base = { type: event.type === 0 ? ("put" as const) : ("delete" as const), kv };
      this.buffer.push(event.prev_kv === null ? base : { ...base, prevKv: keyValueFromPb(event.prev_kv) });
      this.nextRevision = kv.modRevision + 1;
    }
    // A response without events is a progress notification: everything up to its revision was sent.
    if (response.events.length === 0) this.nextRevision = Math.max(this.nextRevision, headerRevision + 1);
    if (this.buffer.length >= bufferedEventsMax) this.stream?.pause();
    this.notify();
  }

  /** reconnect reopens the stream after a pause; a failure that is not about the endpoint ends the watch. */
  private async reconnect(error: SynodClientError | undefined): Promise<void> {
    this.stream = undefined;
    if (this.closed || this.failure !== undefined) return;
    if (error !== undefined && !error.unavailable && error.code !== GrpcCode.CANCELLED) {
      this.fail(error);
      return;
    }
    if (error?.unavailable === true) this.connection.rotate();
    this.reconnects++;
    this.failedStarts++;
    await sleep(Math.min(this.connection.retryPauseMs * this.failedStarts, reconnectPauseMsMax));
    this.connect();
  }

  private fail(error: SynodClientError): void {
    this.failure = error;
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
