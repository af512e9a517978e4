/**
 * Lease is a granted lease that the client keeps alive: a LeaseKeepAlive
 * stream sends the lease's ID every third of its TTL and reopens (on the
 * next endpoint if needed) when it breaks. The lease is `lost` when the
 * server answers TTL 0 (the lease is gone) or when no renewal succeeded
 * within the TTL; keys attached to it are gone then too. `revoke()` ends it
 * at once; `close()` only stops keeping it alive.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Connection } from "./connection.js";
import { toClientError } from "./errors.js";

/** keepAliveIntervalMsMin bounds how often a lease is renewed. */
export const keepAliveIntervalMsMin = 500;

interface KeepAliveResponse {
  readonly ID: string;
  readonly TTL: string;
}

/** See the file comment. */
export class Lease {
  /** lost resolves once the lease is known to be gone (never rejects). */
  readonly lost: Promise<void>;
  private markLost: () => void = () => undefined;
  private isLost = false;
  private stream: grpc.ClientDuplexStream<{ ID: number }, KeepAliveResponse> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private renewedAtMs = Date.now();
  private closed = false;

  constructor(
    private readonly connection: Connection,
    readonly id: number,
    readonly ttl: number,
    keepAlive: boolean,
  ) {
    this.lost = new Promise((resolve) => (this.markLost = resolve));
    if (keepAlive) this.schedule(0);
  }

  /** alive is false once the lease is lost, revoked or closed. */
  get alive(): boolean {
    return !this.isLost && !this.closed;
  }

  /** revoke deletes the lease and every key attached to it. Not retried (etcd answers "not found" to a repeat). */
  async revoke(): Promise<void> {
    this.close();
    await this.connection.unary("etcdserverpb.Lease", "LeaseRevoke", { ID: this.id }, { idempotent: false });
    this.lose();
  }

  /** timeToLive asks the remaining TTL in seconds (-1: the lease does not exist). */
  async timeToLive(): Promise<number> {
    const response = await this.connection.unary<{ TTL: string }>("etcdserverpb.Lease", "LeaseTimeToLive", { ID: this.id, keys: false }, { idempotent: true });
    return Number(response.TTL);
  }

  /** close stops the keep-alives; the lease then ends by itself after its TTL. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  private intervalMs(): number {
    return Math.max((this.ttl * 1000) / 3, keepAliveIntervalMsMin);
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.isLost) return;
    this.timer = setTimeout(() => this.beat(), delayMs);
  }

  /** beat sends one keep-alive (opening the stream if needed) and schedules the next. */
  private beat(): void {
    if (this.closed || this.isLost) return;
    if (Date.now() - this.renewedAtMs > this.ttl * 1000) {
      this.lose();
      return;
    }
    try {
      (this.stream ??= this.openStream()).write({ ID: this.id });
    } catch (error) {
      this.dropStream(error);
    }
    this.schedule(this.intervalMs());
  }

  private openStream(): grpc.ClientDuplexStream<{ ID: number }, KeepAliveResponse> {
    const stream = this.connection.bidi<{ ID: number }, KeepAliveResponse>("etcdserverpb.Lease", "LeaseKeepAlive");
    stream.on("data", (response: KeepAliveResponse) => {
      if (Number(response.TTL) <= 0) this.lose();
      else this.renewedAtMs = Date.now();
    });
    stream.on("error", (error: unknown) => {
      if (this.stream === stream) this.dropStream(error);
    });
    stream.on("end", () => {
      if (this.stream === stream) this.stream = undefined;
    });
    return stream;
  }

  /** dropStream forgets a broken stream (the next beat opens another), moving to the next endpoint if this one is down. */
  private dropStream(error: unknown): void {
    this.stream = undefined;
    if (!this.closed && toClientError(error).unavailable) this.connection.rotate();
  }

  private lose(): void {
    if (this.isLost) return;
    this.isLost = true;
    this.close();
    this.markLost();
  }
}
