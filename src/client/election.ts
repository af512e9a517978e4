/**
 * Election is one named leader election over the Election service
 * (v3electionpb): `campaign()` waits until this candidate leads, then
 * `proclaim()` publishes new values and `resign()` steps down; `leader()`
 * reads the current leader and `observe()` follows the leaders' values.
 * A candidate runs under a lease (given, or its own, kept alive); when the
 * lease ends, so does the leadership.
 */
import { status as GrpcCode } from "@grpc/grpc-js";
import type { SynodClient } from "./client.js";
import { SynodClientError, toClientError } from "./errors.js";
import { bytes, keyValueFromPb } from "./kv.js";
import type { Bytes, DecodedKeyValue, KeyValue } from "./kv.js";
import type { Lease } from "./lease.js";

/** electionLeaseTtlSecondsDefault is the TTL of a candidate's own lease (etcd's session default). */
export const electionLeaseTtlSecondsDefault = 60;
/** observeBufferMax bounds the leader values an observer holds for its reader. */
export const observeBufferMax = 100;

/** LeaderKey identifies one leadership (v3electionpb.LeaderKey). */
export interface LeaderKey {
  readonly name: Uint8Array;
  readonly key: Uint8Array;
  readonly rev: number;
  readonly lease: number;
}

interface DecodedLeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: string;
  readonly lease: string;
}

function leaderKeyToPb(leader: LeaderKey): object {
  return { name: bytes(leader.name), key: bytes(leader.key), rev: leader.rev, lease: leader.lease };
}

export interface CampaignOptions {
  readonly lease?: Lease;
  readonly signal?: AbortSignal;
}

/** See the file comment. */
export class Election {
  private leadership: LeaderKey | undefined;
  private ownLease: Lease | undefined;

  constructor(
    private readonly client: SynodClient,
    readonly name: string,
  ) {}

  /** leaderKey is this candidate's leadership once won. */
  get leaderKey(): LeaderKey | undefined {
    return this.leadership;
  }

  /** campaign waits until this candidate leads, with `value` published; aborting `signal` withdraws the candidacy. */
  async campaign(value: Bytes, options: CampaignOptions = {}): Promise<LeaderKey> {
    const lease = options.lease ?? (this.ownLease ??= await this.client.lease(electionLeaseTtlSecondsDefault));
    const response = await this.client.connection.unary<{ leader: DecodedLeaderKey }>(
      "v3electionpb.Election",
      "Campaign",
      { name: bytes(this.name), lease: lease.id, value: bytes(value) },
      { idempotent: false, wait: true, ...(options.signal === undefined ? {} : { signal: options.signal }) },
    );
    const leader = response.leader;
    this.leadership = { name: new Uint8Array(leader.name), key: new Uint8Array(leader.key), rev: Number(leader.rev), lease: Number(leader.lease) };
    return this.leadership;
  }

  /** proclaim publishes a new value; fails with "election: not leader" if this leadership ended. A write: not retried. */
  async proclaim(value: Bytes): Promise<void> {
    const leader = this.requireLeader();
    await this.client.connection.unary("v3electionpb.Election", "Proclaim", { leader: leaderKeyToPb(leader), value: bytes(value) }, { idempotent: false });
  }

  /** resign steps down (a no-op if the leadership already ended) and revokes the candidate's own lease. */
  async resign(): Promise<void> {
    const leader = this.leadership;
    this.leadership = undefined;
    if (leader !== undefined) await this.client.connection.unary("v3electionpb.Election", "Resign", { leader: leaderKeyToPb(leader) }, { idempotent: true });
    const lease = this.ownLease;
    this.ownLease = undefined;
    await lease?.revoke();
  }

  /** leader reads the current leader's key and value; undefined when there is none. */
  async leader(): Promise<KeyValue | undefined> {
    try {
      const response = await this.client.connection.unary<{ kv: DecodedKeyValue }>("v3electionpb.Election", "Leader", { name: bytes(this.name) }, { idempotent: true });
      return keyValueFromPb(response.kv);
    } catch (error) {
      if (error instanceof SynodClientError && error.details === "election: no leader") return undefined;
      throw error;
    }
  }

  /** observe yields the current leader's key-value, then each new value and each new leader, until `signal` aborts. */
  async *observe(signal?: AbortSignal): AsyncGenerator<KeyValue> {
    const stream = this.client.connection.serverStream<{ kv: DecodedKeyValue }>("v3electionpb.Election", "Observe", { name: bytes(this.name) });
    const buffer: KeyValue[] = [];
    let failure: SynodClientError | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    stream.on("data", (response: { kv: DecodedKeyValue }) => {
      buffer.push(keyValueFromPb(response.kv));
      if (buffer.length >= observeBufferMax) stream.pause();
      notify();
    });
    stream.on("error", (error: unknown) => {
      if (signal?.aborted !== true) failure = toClientError(error);
      notify();
    });
    stream.on("end", () => {
      ended = true;
      notify();
    });
    const onAbort = (): void => {
      stream.cancel();
      ended = true;
      notify();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const next = buffer.shift();
        if (next !== undefined) {
          if (stream.isPaused() && buffer.length < observeBufferMax / 2) stream.resume();
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      stream.cancel();
    }
  }

  private requireLeader(): LeaderKey {
    if (this.leadership === undefined) throw new SynodClientError(GrpcCode.UNKNOWN, "election: not leader");
    return this.leadership;
  }
}
