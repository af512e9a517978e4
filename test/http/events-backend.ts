/**
 * EventsTestBackend is the TEST twin of a member for the JSON gateway: one
 * MvccStore, LeaseStore and WatchHub on a MemoryStore, single node, no
 * consensus, no durability, with a lease clock on a settable time. Every
 * request is applied at once, in arrival order; each write's events go to
 * the hub at once, and the hub is pumped until its watchers have caught up.
 *
 * Failures can be injected: `failNext(error)` makes the next backend call
 * reject with `error`.
 */
import type {
  EventsBackend,
  HeaderInfo,
  LeaseGrantResult,
  LeaseKeepAliveResult,
  LeaseTimeToLiveResult,
  MemberInfo,
  StatusInfo,
} from "../../src/api/etcd/backend.js";
import type { HealthSource } from "../../src/api/http/http-server.js";
import { LeaseClock, LeaseStore, MemoryStore, MvccStore, WatchHub } from "../../src/kv/index.js";
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  KvEvent,
  KvResult,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WatchSink,
  WatchStream,
} from "../../src/kv/index.js";
import { testClusterId, testMemberId, testMemberName, testPeerUrl, testRaftTerm, testVersion } from "../api/test-backend.js";

export { testClusterId, testMemberId, testMemberName, testPeerUrl, testRaftTerm, testVersion };

const msPerSecond = 1000;
/** pumpRoundsMax bounds the hub pumps after one call; watchers of paused streams wait for resume. */
const pumpRoundsMax = 100;

export class EventsTestBackend implements EventsBackend, HealthSource {
  readonly store = new MemoryStore();
  readonly leases: LeaseStore;
  readonly mvcc: MvccStore;
  readonly hub: WatchHub;
  readonly clock = new LeaseClock();
  /** nowMs is the lease clock's time; tests move it to expire leases. */
  nowMs = 1_000_000;
  /** clientUrl is reported by memberList; the harness sets it once the port is known. */
  clientUrl = "";
  raftIndex = 1;
  /** streamsOpened / streamsClosed count hub streams, to check that a client leaving closes its stream. */
  streamsOpened = 0;
  streamsClosed = 0;
  private readonly injected: unknown[] = [];

  constructor() {
    this.leases = new LeaseStore(this.store);
    this.mvcc = new MvccStore(this.store, { leases: this.leases });
    this.hub = new WatchHub(this.mvcc);
    this.clock.promote(this.nowMs, 0);
  }

  failNext(error: unknown): void {
    this.injected.push(error);
  }

  range(r: RangeRequest): Promise<RangeResponse> {
    return this.run(() => unwrap(this.mvcc.range(r)));
  }

  put(r: PutRequest): Promise<PutResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.put(r))));
  }

  deleteRange(r: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.deleteRange(r))));
  }

  txn(r: TxnRequest): Promise<TxnResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.txn(r))));
  }

  compact(r: CompactionRequest): Promise<CompactionResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.compact(r))));
  }

  hashKv(revision: number): Promise<HashKvResponse> {
    return this.run(() => unwrap(this.mvcc.hashKv(revision)));
  }

  status(): Promise<StatusInfo> {
    return this.run(() => ({
      version: testVersion,
      dbSizeBytes: 4096,
      dbSizeInUseBytes: 2048,
      leader: testMemberId,
      raftIndex: this.raftIndex,
      raftTerm: testRaftTerm,
      raftAppliedIndex: this.raftIndex,
      errors: [],
      isLearner: false,
      revision: this.mvcc.revision,
    }));
  }

  memberList(): Promise<readonly MemberInfo[]> {
    return this.run(() => [
      { id: testMemberId, name: testMemberName, peerUrls: [testPeerUrl], clientUrls: [this.clientUrl], isLearner: false },
    ]);
  }

  header(): HeaderInfo {
    return { clusterId: testClusterId, memberId: testMemberId, raftTerm: testRaftTerm };
  }

  health(): Promise<{ ok: boolean; reason: string }> {
    return Promise.resolve({ ok: true, reason: "" });
  }

  // ---- watches -------------------------------------------------------------

  /** openWatchStream opens a hub stream and pumps the hub after every call that may leave watchers behind. */
  openWatchStream(sink: WatchSink): WatchStream {
    const stream = this.hub.openStream(sink);
    this.streamsOpened++;
    const pump = (): void => this.pump();
    const closed = (): void => {
      this.streamsClosed++;
    };
    return {
      createWatch(request) {
        const result = stream.createWatch(request);
        pump();
        return result;
      },
      cancel: (watchId) => stream.cancel(watchId),
      requestProgress: () => stream.requestProgress(),
      resume() {
        stream.resume();
        pump();
      },
      close() {
        stream.close();
        closed();
      },
      get paused() {
        return stream.paused;
      },
      watchIds: () => stream.watchIds(),
    };
  }

  // ---- leases --------------------------------------------------------------

  leaseGrant(request: { readonly id: number; readonly ttl: number }): Promise<LeaseGrantResult> {
    return this.run(() => {
      const applied = unwrap(this.leases.apply({ leaseGrant: request }, this.mvcc));
      if (!("leaseGrant" in applied.response)) throw new Error("lease grant answered with another response");
      const { id, ttl, header } = applied.response.leaseGrant;
      this.clock.granted({ id, ttl, remainingTtl: 0 }, this.nowMs);
      this.raftIndex++;
      return { id, ttl, revision: header.revision };
    });
  }

  leaseRevoke(id: number): Promise<{ readonly revision: number }> {
    return this.run(() => {
      const applied = unwrap(this.leases.apply({ leaseRevoke: { id } }, this.mvcc));
      this.clock.revoked(id);
      this.raftIndex++;
      this.events(applied.events);
      return { revision: this.mvcc.revision };
    });
  }

  leaseKeepAlive(id: number): Promise<LeaseKeepAliveResult> {
    return this.run(() => {
      const result = this.clock.keepAlive(id, this.nowMs);
      return { id, ttl: result.kind === "renewed" ? result.ttl : 0 };
    });
  }

  leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLiveResult> {
    return this.run(() => {
      const stored = this.leases.timeToLive(id, { keys });
      if (!stored.ok) return { id, ttl: -1, grantedTtl: 0, keys: [] };
      const remainingMs = this.clock.remainingMs(id, this.nowMs) ?? stored.value.remainingTtl * msPerSecond;
      return { id, ttl: Math.max(0, Math.floor(remainingMs / msPerSecond)), grantedTtl: stored.value.grantedTtl, keys: stored.value.keys };
    });
  }

  leaseLeases(): Promise<readonly number[]> {
    return this.run(() => this.leases.leases().map((lease) => lease.id));
  }

  // ---- plumbing ------------------------------------------------------------

  private applied<T>(applied: { readonly response: T; readonly events: readonly KvEvent[] }): T {
    this.raftIndex++;
    this.events(applied.events);
    return applied.response;
  }

  private events(events: readonly KvEvent[]): void {
    if (events.length > 0) this.hub.onApplied(this.mvcc.revision, events);
    this.pump();
  }

  /** pump lets unsynced watchers catch up as far as their streams take it. */
  private pump(): void {
    for (let round = 0; round < pumpRoundsMax && this.hub.unsyncedCount > 0; round++) {
      if (this.hub.pump().recordsRead === 0) break;
    }
  }

  private run<T>(work: () => T): Promise<T> {
    const error = this.injected.shift();
    if (error !== undefined) return Promise.reject(asError(error));
    try {
      return Promise.resolve(work());
    } catch (thrown) {
      return Promise.reject(asError(thrown));
    }
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error("non-Error failure", { cause: value });
}

function unwrap<T>(result: KvResult<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}
