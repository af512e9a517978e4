import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { LeaseClock } from "../../src/kv/lease-clock.js";
import type { LeaseInfo } from "../../src/kv/lease-store.js";

const lease = (id: number, ttl: number, remainingTtl = 0): LeaseInfo => ({ id, ttl, remainingTtl });

test("a member that is not the leader never expires a lease and refuses keep-alives", () => {
  const clock = new LeaseClock();
  clock.granted(lease(1, 5), 0);
  assert.equal(clock.primary, false);
  assert.deepEqual(clock.expired(1e12), []);
  assert.deepEqual(clock.dueCheckpoints(1e12), []);
  assert.deepEqual(clock.keepAlive(1, 0), { kind: "notPrimary" });
  assert.equal(clock.remainingMs(1, 1e12), Infinity);
});

test("on the leader a lease expires TTL after its grant or last keep-alive; expired ids come earliest first, bounded, not repeated before the retry", () => {
  const clock = new LeaseClock({ expiredRetryMs: 3000, revokeBatchMax: 2 });
  clock.promote(0, 0);
  clock.granted(lease(1, 10), 0); // deadline 10 000
  clock.granted(lease(2, 5), 1000); // 6 000
  clock.granted(lease(3, 5), 1000); // 6 000
  clock.granted(lease(4, 60), 0);
  assert.deepEqual(clock.expired(5999), []);
  assert.deepEqual(clock.keepAlive(3, 5000), { kind: "renewed", ttl: 5, clearCheckpoint: false }); // 3 now at 10 000
  assert.equal(clock.remainingMs(3, 5000), 5000);
  assert.deepEqual(clock.expired(6000), [2]);
  assert.deepEqual(clock.expired(6001), [], "proposed once per retry interval");
  assert.deepEqual(clock.keepAlive(2, 6001), { kind: "expired" });
  assert.deepEqual(clock.expired(10_000), [2, 1], "earliest deadline first: lease 2 is due again after its retry interval; at most two");
  assert.deepEqual(clock.expired(10_000), [3], "the rest");
  assert.deepEqual(clock.expired(10_001), [], "each proposed once per retry interval");
  clock.revoked(1);
  clock.revoked(2);
  assert.deepEqual(clock.expired(13_000), [3], "lease 3's revoke did not apply: proposed again");
  clock.revoked(3);
  assert.deepEqual(clock.expired(60_000), [4]);
  assert.deepEqual(clock.keepAlive(1, 0), { kind: "notFound" });
});

test("promote gives every lease its remaining TTL (checkpointed, else full) plus the extension, from now", () => {
  const clock = new LeaseClock();
  clock.load([lease(1, 100, 30), lease(2, 10), lease(3, 2)]);
  clock.promote(50_000, 1500);
  assert.equal(clock.deadlineMs(1), 50_000 + 1500 + 30_000);
  assert.equal(clock.deadlineMs(2), 50_000 + 1500 + 10_000);
  assert.equal(clock.deadlineMs(3), 50_000 + 1500 + 2000);
  assert.deepEqual(clock.expired(50_000 + 1500 + 2000 - 1), []);
  assert.deepEqual(clock.expired(50_000 + 1500 + 2000), [3]);
  clock.demote();
  assert.equal(clock.deadlineMs(2), Infinity);
  assert.deepEqual(clock.expired(1e12), []);
});

test("failover: a lease kept alive on the old leader does not expire early on the new one", () => {
  const oldLeader = new LeaseClock();
  const newLeader = new LeaseClock();
  oldLeader.promote(0, 0);
  oldLeader.granted(lease(7, 10), 0);
  newLeader.granted(lease(7, 10), 0); // followers mirror the grant without a deadline
  const renewed = oldLeader.keepAlive(7, 9000); // the old leader's deadline: 19 000
  assert.equal(renewed.kind, "renewed");
  oldLeader.demote();
  newLeader.promote(9500, 1000); // elected just after: deadline 20 500 >= 19 000
  assert.deepEqual(newLeader.expired(20_499), []);
  assert.deepEqual(newLeader.expired(20_500), [7]);
});

test("checkpoints: due every interval for leases longer than it, with the remaining TTL rounded up; a keep-alive asks to clear a stored one", () => {
  const clock = new LeaseClock({ checkpointIntervalMs: 60_000 });
  clock.promote(0, 0);
  clock.granted(lease(1, 300), 0); // checkpointed every minute
  clock.granted(lease(2, 30), 0); // shorter than the interval: never
  assert.deepEqual(clock.dueCheckpoints(59_999), []);
  assert.deepEqual(clock.dueCheckpoints(60_000), [{ id: 1, remainingTtl: 240 }]);
  assert.deepEqual(clock.dueCheckpoints(61_000), [], "not again until the checkpoint applies");
  clock.checkpointed(1, 240, 61_000); // applied: next one a minute later
  assert.deepEqual(clock.dueCheckpoints(121_000), [{ id: 1, remainingTtl: 179 }]);
  assert.deepEqual(clock.keepAlive(1, 121_500), { kind: "renewed", ttl: 300, clearCheckpoint: true });
  clock.checkpointed(1, 0, 121_600);
  assert.deepEqual(clock.keepAlive(1, 122_000), { kind: "renewed", ttl: 300, clearCheckpoint: false });
});

test("property: after any history and a promote, no lease expires before now + extension + its remaining TTL", () => {
  const entry = fc.record({ id: fc.integer({ min: 1, max: 50 }), ttl: fc.integer({ min: 2, max: 1000 }), remaining: fc.integer({ min: 0, max: 1000 }) });
  fc.assert(
    fc.property(
      fc.uniqueArray(entry, { selector: (e) => e.id, maxLength: 20 }),
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 3 }),
      (entries, nowMs, extendMs, flips) => {
        const clock = new LeaseClock();
        clock.load(entries.map((e) => lease(e.id, e.ttl, Math.min(e.remaining, e.ttl))));
        for (let i = 0; i < flips; i++) {
          clock.promote(nowMs - 1000 * (flips - i), extendMs);
          clock.demote();
        }
        clock.promote(nowMs, extendMs);
        for (const e of entries) {
          const remaining = Math.min(e.remaining, e.ttl) > 0 ? Math.min(e.remaining, e.ttl) : e.ttl;
          const earliest = nowMs + extendMs + remaining * 1000;
          assert.equal(clock.deadlineMs(e.id), earliest);
        }
        const soonest = Math.min(...entries.map((e) => clock.deadlineMs(e.id) ?? Infinity));
        assert.deepEqual(clock.expired(soonest - 1), []);
      },
    ),
  );
});
