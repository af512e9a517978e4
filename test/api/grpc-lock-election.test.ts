/**
 * The v3lock and v3election services over real gRPC, against the events
 * test backend with a manual clock: mutual exclusion among concurrent
 * callers with immediate hand-over, fencing order, waiters whose lease ends,
 * cancellation, and election campaign / leader / observe / proclaim / resign
 * with etcd's errors to the letter.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { EventsTestBackend, ManualClock } from "./events-test-backend.js";
import { RawClient, b, isGrpcError, kvText, openStream, startApiWith } from "./harness.js";
import type { ApiFixture, DecodedHeader, DecodedKeyValue, DecodedRangeResponse } from "./harness.js";

interface LockResponse {
  readonly header: DecodedHeader;
  readonly key: Buffer;
}
interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: string;
  readonly lease: string;
}
interface CampaignResponse {
  readonly header: DecodedHeader;
  readonly leader: LeaderKey;
}
interface LeaderResponse {
  readonly header: DecodedHeader;
  readonly kv: DecodedKeyValue;
}

async function expectStatus(call: Promise<unknown>, code: grpc.status, details: string | RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(isGrpcError(error), String(error));
    assert.equal(error.code, code, error.details);
    if (typeof details === "string") assert.equal(error.details, details);
    else assert.match(error.details, details);
    return true;
  });
}

const settle = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("v3lock and v3election over gRPC", () => {
  let api: ApiFixture<EventsTestBackend>;
  let client: RawClient;

  before(async () => {
    api = await startApiWith(new EventsTestBackend({ clock: new ManualClock() }));
    client = new RawClient(api.endpoint);
  });
  after(async () => {
    client.close();
    await api.close();
  });

  const grant = async (TTL = 60): Promise<string> => (await client.call<{ ID: string }>("etcdserverpb.Lease", "LeaseGrant", { TTL })).ID;
  const lock = (name: string, lease: string, options: grpc.CallOptions = {}): Promise<LockResponse> =>
    client.call<LockResponse>("v3lockpb.Lock", "Lock", { name: b(name), lease }, options);
  const unlock = (key: Buffer): Promise<unknown> => client.call("v3lockpb.Lock", "Unlock", { key });
  const get = (key: Buffer | string): Promise<DecodedRangeResponse> =>
    client.kv<DecodedRangeResponse>("Range", { key: typeof key === "string" ? b(key) : key });
  const keysUnder = async (p: string): Promise<string[]> => {
    const end = b(p);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    return (await client.kv<DecodedRangeResponse>("Range", { key: b(p), range_end: end })).kvs.map((kv) => kv.key.toString());
  };

  test("lock: the key is name/<lease hex>, attached to the lease; uncontended header is the creating txn's", async () => {
    const lease = await grant();
    const held = await lock("l1", lease);
    assert.equal(held.key.toString(), `l1/${BigInt(lease).toString(16)}`);
    const kv = (await get(held.key)).kvs[0];
    assert.ok(kv !== undefined);
    assert.equal(kv.lease, lease);
    assert.equal(held.header.revision, kv.create_revision);
    await unlock(held.key);
    assert.equal((await get(held.key)).kvs.length, 0);
  });

  test("lock: mutual exclusion among concurrent callers, FIFO by create revision, immediate hand-over", async () => {
    const callers = 5;
    const leases = await Promise.all(Array.from({ length: callers }, () => grant()));
    const log: string[] = [];
    let holder: string | undefined;
    const handOverMs: number[] = [];
    let releasedAtMs = 0;
    const tokens: number[] = [];
    const run = async (lease: string, i: number): Promise<void> => {
      const held = await lock("mx", lease);
      if (releasedAtMs > 0) handOverMs.push(performance.now() - releasedAtMs);
      assert.equal(holder, undefined, `caller ${i} got the lock while ${holder ?? ""} held it`);
      holder = String(i);
      tokens.push(Number((await get(held.key)).kvs[0]?.create_revision));
      log.push(`enter ${i}`);
      await settle(20);
      log.push(`exit ${i}`);
      holder = undefined;
      releasedAtMs = performance.now();
      await unlock(held.key);
    };
    // Start them one after another so their queue order is known.
    const runs: Promise<void>[] = [];
    for (const [i, lease] of leases.entries()) {
      runs.push(run(lease, i));
      await settle(10);
    }
    await Promise.all(runs);
    assert.deepEqual(
      log,
      Array.from({ length: callers }, (_, i) => [`enter ${i}`, `exit ${i}`]).flat(),
    );
    assert.deepEqual([...tokens].sort((x, y) => x - y), tokens, "fencing tokens increase with each holder");
    assert.ok(Math.max(...handOverMs) < 150, `hand-over took ${Math.max(...handOverMs).toFixed(1)} ms: the waiter reacts to the deletion itself`);
  });

  test("lock: a lease that does not exist fails with etcd's error; lease 0 gets a fresh session lease", async () => {
    await expectStatus(lock("nl", "777777"), grpc.status.NOT_FOUND, "etcdserver: requested lease not found");
    const held = await lock("zero", "0");
    const kv = (await get(held.key)).kvs[0];
    assert.ok(kv !== undefined && kv.lease !== "0");
    const ttl = await client.call<{ grantedTTL: string }>("etcdserverpb.Lease", "LeaseTimeToLive", { ID: kv.lease });
    assert.equal(ttl.grantedTTL, "60");
    await unlock(held.key);
  });

  test("lock: a waiter whose lease expires fails at once with 'mutex: session is expired' and never gets the lock", async () => {
    const holderLease = await grant(60);
    const waiterLease = await grant(5);
    const held = await lock("exp", holderLease);
    const waiting = lock("exp", waiterLease);
    await settle();
    assert.equal((await keysUnder("exp/")).length, 2);
    api.backend.advance(6_000); // the waiter's lease ends; the holder's has 54 s left
    await expectStatus(waiting, grpc.status.UNKNOWN, "mutex: session is expired");
    assert.deepEqual(await keysUnder("exp/"), [held.key.toString()]);
    await unlock(held.key);
  });

  test("lock: a waiter whose lease is past its deadline but not yet revoked does not get the lock, and its key goes", async () => {
    const holderLease = await grant(60);
    const waiterLease = await grant(5);
    const held = await lock("pend", holderLease);
    const waiting = lock("pend", waiterLease);
    await settle();
    // Time passes but the lessor has not revoked yet (its revoke is pending).
    (api.backend.clock as ManualClock).nowMs += 6_000;
    const refused = expectStatus(waiting, grpc.status.UNKNOWN, "mutex: session is expired");
    await unlock(held.key);
    await refused;
    assert.deepEqual(await keysUnder("pend/"), []);
    api.backend.expireLeases();
  });

  test("lock: a waiting Lock whose client goes away deletes its key, and the next waiter moves up", async () => {
    const [a, b2, c] = [await grant(), await grant(), await grant()];
    const held = await lock("cx", a);
    const gaveUp = lock("cx", b2, { deadline: Date.now() + 150 });
    await settle();
    const third = lock("cx", c);
    await expectStatus(gaveUp, grpc.status.DEADLINE_EXCEEDED, /^Deadline exceeded/);
    await settle(50);
    assert.equal((await keysUnder("cx/")).length, 2, "the cancelled waiter's key is gone");
    await unlock(held.key);
    const next = await third;
    assert.equal(next.key.toString(), `cx/${BigInt(c).toString(16)}`);
    await unlock(next.key);
  });

  test("unlock of a key that is not held still answers with a header", async () => {
    const response = await client.call<{ header: DecodedHeader }>("v3lockpb.Lock", "Unlock", { key: b("nothing/1") });
    assert.equal(response.header.revision, String(api.backend.mvcc.revision));
  });

  // ---- election ----------------------------------------------------------------

  const election = <Res>(method: string, request: object, options: grpc.CallOptions = {}): Promise<Res> =>
    client.call<Res>("v3electionpb.Election", method, request, options);

  test("election: campaign, leader, observe, proclaim, resign and hand-over, with etcd's errors", async () => {
    await expectStatus(election("Leader", { name: b("el") }), grpc.status.UNKNOWN, "election: no leader");
    const observer = openStream<LeaderResponse>(api.endpoint, "v3electionpb.Election", "Observe", { name: b("el") });
    try {
      const [la, lb] = [await grant(), await grant()];
      const a = await election<CampaignResponse>("Campaign", { name: b("el"), lease: la, value: b("alpha") });
      assert.equal(a.leader.key.toString(), `el/${BigInt(la).toString(16)}`);
      assert.equal(a.leader.name.toString(), "el");
      assert.equal(a.leader.lease, la);
      assert.equal(a.header.revision, a.leader.rev);
      const seenA = await observer.stream.next();
      assert.equal(kvText(seenA.kv), `${a.leader.key.toString()}=alpha@${a.leader.rev}/${a.leader.rev}/1`);

      const bWins = election<CampaignResponse>("Campaign", { name: b("el"), lease: lb, value: b("beta") });
      await settle();
      const leader = await election<LeaderResponse>("Leader", { name: b("el") });
      assert.equal(leader.kv.value.toString(), "alpha");

      await election("Proclaim", { leader: a.leader, value: b("alpha2") });
      assert.equal((await observer.stream.next()).kv.value.toString(), "alpha2");
      await expectStatus(
        election("Proclaim", { leader: { ...a.leader, rev: "1" }, value: b("x") }),
        grpc.status.UNKNOWN,
        "election: not leader",
      );
      await expectStatus(election("Proclaim", { value: b("x") }), grpc.status.UNKNOWN, '"leader" field must be provided');
      await expectStatus(election("Resign", {}), grpc.status.UNKNOWN, '"leader" field must be provided');

      await election("Resign", { leader: a.leader });
      const b1 = await bWins;
      assert.equal(b1.leader.key.toString(), `el/${BigInt(lb).toString(16)}`);
      assert.equal((await observer.stream.next()).kv.value.toString(), "beta");
      // Resigning again (the key is gone) is not an error, as etcd's.
      await election("Resign", { leader: a.leader });
      // A campaign by the current leader's lease with another value proclaims it.
      const again = await election<CampaignResponse>("Campaign", { name: b("el"), lease: lb, value: b("beta2") });
      assert.equal(again.leader.rev, b1.leader.rev);
      assert.equal((await observer.stream.next()).kv.value.toString(), "beta2");
      // The leader's lease ends: the observer sees nothing until a new leader is elected.
      await client.call("etcdserverpb.Lease", "LeaseRevoke", { ID: lb });
      await expectStatus(election("Leader", { name: b("el") }), grpc.status.UNKNOWN, "election: no leader");
      const lc = await grant();
      await election<CampaignResponse>("Campaign", { name: b("el"), lease: lc, value: b("gamma") });
      assert.equal((await observer.stream.next()).kv.value.toString(), "gamma");
    } finally {
      observer.stream.cancel();
      observer.close();
    }
  });

  test("election: a campaign whose client goes away resigns its candidacy", async () => {
    const [la, lb] = [await grant(), await grant()];
    await election<CampaignResponse>("Campaign", { name: b("gone"), lease: la, value: b("a") });
    await assert.rejects(election("Campaign", { name: b("gone"), lease: lb, value: b("b") }, { deadline: Date.now() + 150 }));
    await settle(50);
    assert.deepEqual(await keysUnder("gone/"), [`gone/${BigInt(la).toString(16)}`]);
  });
});
