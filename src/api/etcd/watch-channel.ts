/**
 * WatchChannel is one watch opened by the API layer itself (locks and
 * elections wait on key deletions; Observe follows a leader key) over
 * {@link EventsBackend.openWatchStream}, read with `await next()`.
 *
 * Bounds: at most `queueMax` responses wait to be read; beyond that the sink
 * answers false and the hub holds further events (its own bounded queue,
 * then history) until `next()` drains the queue and resumes the stream.
 * The sink never calls back into the hub: resuming happens in `next()`.
 */
import { status as GrpcCode } from "@grpc/grpc-js";
import { KvError } from "../../kv/index.js";
import type { WatchCreateRequest, WatchResponse, WatchStream } from "../../kv/index.js";
import type { EventsBackend } from "./backend.js";
import { abortReason } from "./calls.js";
import { GrpcStatusError } from "./errors.js";

/** watchChannelQueueMax bounds the responses a channel holds for its reader. */
export const watchChannelQueueMax = 64;

/** See the file comment. */
export class WatchChannel {
  private readonly queue: WatchResponse[] = [];
  private readonly stream: WatchStream;
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly onAbort = (): void => this.wakeReader();

  constructor(
    backend: EventsBackend,
    request: WatchCreateRequest,
    private readonly signal: AbortSignal,
  ) {
    this.stream = backend.openWatchStream({ send: (response) => this.push(response) });
    signal.addEventListener("abort", this.onAbort, { once: true });
    this.stream.createWatch(request);
  }

  /**
   * next resolves to the next response that carries events, skipping the
   * created and progress responses; it rejects when the signal aborts, when
   * the watch is canceled (KvError "compacted" if history is gone), or after
   * `close()`.
   */
  async next(): Promise<WatchResponse> {
    for (;;) {
      if (this.signal.aborted) throw abortReason(this.signal);
      if (this.closed) throw new Error("WatchChannel: closed");
      const response = this.queue.shift();
      if (response === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if (this.stream.paused && this.queue.length < watchChannelQueueMax / 2) this.stream.resume();
      if (response.canceled === true) {
        this.close();
        if ((response.compactRevision ?? 0) > 0) throw new KvError("compacted");
        throw new GrpcStatusError(GrpcCode.UNKNOWN, response.cancelReason ?? "watch canceled");
      }
      if (response.events.length > 0) return response;
    }
  }

  /** close ends the watch; a pending `next()` rejects. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener("abort", this.onAbort);
    this.stream.close();
    this.queue.length = 0;
    this.wakeReader();
  }

  private push(response: WatchResponse): boolean {
    if (this.closed) return true;
    this.queue.push(response);
    this.wakeReader();
    return this.queue.length < watchChannelQueueMax;
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
