/**
 * EventsTestBackend is the TEST twin of the server's events backend: the
 * {@link MvccTestBackend} (one MvccStore on a MemoryStore, single node, no
 * consensus) plus a WatchHub, a LeaseStore and a LeaseClock, driven the way
 * the server drives them: every applied write feeds the hub, unsynced
 * watchers are pumped after a watch is created or a stream resumes, and
 * expired leases are revoked when the clock says so.
 *
 * Time comes from an injected {@link TestClock}: with a {@link ManualClock}
 * a test moves it with `advance(ms)`, which revokes the leases that expired;
 * with the real clock (`tickMs` set) a timer does that every `tickMs`.
 */
import { performance } from "node:perf_hooks";
import type { EventsBackend, LeaseGrantResult, LeaseKeepAliveResult, LeaseTimeToLiveResult } from "../../src/api/etcd/index.js";
import { LeaseClock, LeaseStore, MemoryStore, WatchHub } from "../../src/kv/index.js";
import type { KvEvent, LeaseResponse, WatchHubOptions, WatchSink, WatchStream } from "../../src/kv/index.js";
import { MvccTestBackend, unwrap } from "./test-backend.js";

/** TestClock gives monotonic milliseconds. */
export interface TestClock {
  now(): number;
}

/** ManualClock stands still until a test advances it. */
export class ManualClock implements TestClock {
  nowMs = 1_000_000;
  now(): number {
    return this.nowMs;
  }
}

const realClock: TestClock = { now: () => performance.now() };

export interface EventsTestOptions {
  readonly clock?: TestClock;
  /** tickMs: revoke expired leases every tickMs of real time (for tests with real clients and the real clock). */
  readonly tickMs?: number;
  readonly leaseTtlMinSeconds?: number;
  readonly hub?: WatchHubOptions;
}

export class EventsTestBackend extends MvccTestBackend implements EventsBackend {
  readonly leases: LeaseStore;
  readonly hub: WatchHub;
  readonly leaseClock = new LeaseClock();
  readonly clock: TestClock;
  /** sinkFullCount counts the times a watch sink answered false (its consumer was full). */
  sinkFullCount = 0;
  private pumpScheduled = false;
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(options: EventsTestOptions = {}) {
    const store = new MemoryStore();
    const leases = new LeaseStore(store, options.leaseTtlMinSeconds === undefined ? {} : { leaseTtlMinSeconds: options.leaseTtlMinSeconds });
    super({ leases }, store);
    this.leases = leases;
    this.clock = options.clock ?? realClock;
    this.hub = new WatchHub(this.mvcc, options.hub ?? {});
    this.leaseClock.load(leases.leases());
    this.leaseClock.promote(this.clock.now(), 0);
    if (options.tickMs !== undefined) {
      this.ticker = setInterval(() => this.expireLeases(), options.tickMs);
      this.ticker.unref();
    }
  }

  /** close stops the lease timer, if any. */
  close(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
  }

  /** advance moves a {@link ManualClock} on and revokes the leases that expired. */
  advance(ms: number): void {
    if (!(this.clock instanceof ManualClock)) throw new Error("advance needs a ManualClock");
    this.clock.nowMs += ms;
    this.expireLeases();
  }

  /** expireLeases revokes every lease past its deadline, as the leader's lessor loop does. */
  expireLeases(): void {
    for (const id of this.leaseClock.expired(this.clock.now())) {
      if (this.leases.exists(id)) this.revokeNow(id);
      else this.leaseClock.revoked(id);
    }
  }

  // ---- EventsBackend -----------------------------------------------------------

  openWatchStream(sink: WatchSink): WatchStream {
    const stream = this.hub.openStream({
      send: (response) => {
        const more = sink.send(response);
        if (!more) this.sinkFullCount++;
        return more;
      },
    });
    const schedulePump = (): void => this.schedulePump();
    return {
      createWatch(request) {
        const result = stream.createWatch(request);
        schedulePump();
        return result;
      },
      cancel: (watchId) => stream.cancel(watchId),
      requestProgress: () => stream.requestProgress(),
      resume() {
        stream.resume();
        schedulePump();
      },
      close: () => stream.close(),
      get paused() {
        return stream.paused;
      },
      watchIds: () => stream.watchIds(),
    };
  }

  leaseGrant(request: { readonly id: number; readonly ttl: number }): Promise<LeaseGrantResult> {
    return this.run(() => {
      const response = this.applied(unwrap(this.leases.apply({ leaseGrant: request }, this.mvcc)));
      const granted = leaseGrantOf(response);
      this.leaseClock.granted({ id: granted.id, ttl: granted.ttl, remainingTtl: 0 }, this.clock.now());
      return { id: granted.id, ttl: granted.ttl, revision: granted.header.revision };
    });
  }

  leaseRevoke(id: number): Promise<{ readonly revision: number }> {
    return this.run(() => this.revokeNow(id));
  }

  leaseKeepAlive(id: number): Promise<LeaseKeepAliveResult> {
    return this.run(() => {
      const renewed = this.leaseClock.keepAlive(id, this.clock.now());
      if (renewed.kind !== "renewed") return { id, ttl: 0 };
      if (renewed.clearCheckpoint) {
        this.applied(unwrap(this.leases.apply({ leaseCheckpoint: { checkpoints: [{ id, remainingTtl: 0 }] } }, this.mvcc)));
        this.leaseClock.checkpointed(id, 0, this.clock.now());
      }
      return { id, ttl: renewed.ttl };
    });
  }

  leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLiveResult> {
    return this.run(() => {
      const lease = this.leases.timeToLive(id, { keys });
      if (!lease.ok) return { id, ttl: -1, grantedTtl: 0, keys: [] };
      const remainingMs = this.leaseClock.remainingMs(id, this.clock.now()) ?? 0;
      return { id, ttl: Math.floor(remainingMs / 1000), grantedTtl: lease.value.grantedTtl, keys: lease.value.keys };
    });
  }

  leaseLeases(): Promise<readonly number[]> {
    return this.run(() => this.leases.leases().map((lease) => lease.id));
  }

  revision(): number {
    return this.mvcc.revision;
  }

  // ---- driving -----------------------------------------------------------------

  protected override afterApply(events: readonly KvEvent[]): void {
    const first = events[0];
    if (first === undefined) return;
    this.hub.onApplied(first.kv.modRevision, events);
  }

  private revokeNow(id: number): { readonly revision: number } {
    this.applied(unwrap(this.leases.apply({ leaseRevoke: { id } }, this.mvcc)));
    this.leaseClock.revoked(id);
    return { revision: this.mvcc.revision };
  }

  /** schedulePump lets unsynced watchers catch up soon, outside any sink call, until none is left or none can move. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      const before = this.hub.unsyncedCount;
      const report = this.hub.pump();
      if (report.unsyncedCount > 0 && (report.recordsRead > 0 || report.unsyncedCount < before)) this.schedulePump();
    });
  }
}

function leaseGrantOf(response: LeaseResponse): { readonly header: { readonly revision: number }; readonly id: number; readonly ttl: number } {
  if (!("leaseGrant" in response)) throw new Error("lease store answered a grant with another response");
  return response.leaseGrant;
}
