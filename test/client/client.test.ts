/**
 * The Synod client against the etcd API over the events test backend:
 * retries only for idempotent requests, leases kept alive, watches that
 * resume on another endpoint without gaps or duplicates, Mutex fencing
 * tokens and fenced writes, and elections.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../../src/api/etcd/index.js";
import { Election, Mutex, SynodClient, SynodClientError, fencedPut } from "../../src/client/index.js";
import type { WatchEvent } from "../../src/client/index.js";
import { EventsTestBackend } from "../api/events-test-backend.js";
import { startApiWith } from "../api/harness.js";
import type { ApiFixture } from "../api/harness.js";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** deadEndpoint refuses connections (nothing listens on port 1). */
const deadEndpoint = "127.0.0.1:1";

describe("SynodClient", () => {
  let backend: EventsTestBackend;
  let api: ApiFixture<EventsTestBackend>;
  let client: SynodClient;

  before(async () => {
    backend = new EventsTestBackend({ tickMs: 50, leaseTtlMinSeconds: 1 });
    api = await startApiWith(backend);
    client = new SynodClient({ endpoints: [api.endpoint], retryPauseMs: 10 });
  });
  after(async () => {
    client.close();
    backend.close();
    await api.close();
  });

  test("kv: put, get (prefix), delete, txn with compares", async () => {
    const put = await client.kv.put("c/a", "1");
    await client.kv.put("c/b", "2");
    const got = await client.kv.get("c/", { prefix: true });
    assert.deepEqual(got.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`), ["c/a=1", "c/b=2"]);
    assert.equal(got.kvs[0]?.createRevision, put.revision);
    const { compare, op } = await import("../../src/client/index.js");
    const cas = await client.kv.txn({ compare: [compare.value("c/a", "=", "1")], success: [op.put("c/a", "2")], failure: [op.get("c/a")] });
    assert.equal(cas.succeeded, true);
    const again = await client.kv.txn({ compare: [compare.value("c/a", "=", "1")], success: [op.put("c/a", "3")] });
    assert.equal(again.succeeded, false);
    assert.equal((await client.kv.delete("c/", { prefix: true })).deleted, 2);
  });

  test("retries: reads move past an unavailable endpoint; writes are never retried", async () => {
    const twoEndpoints = new SynodClient({ endpoints: [deadEndpoint, api.endpoint], retryPauseMs: 10 });
    try {
      assert.equal((await twoEndpoints.kv.get("nothing")).kvs.length, 0, "the read was retried on the next endpoint");
      backend.failNext(new ApiError("noLeader"));
      await assert.rejects(twoEndpoints.kv.put("r", "1"), (error: unknown) => {
        assert.ok(error instanceof SynodClientError);
        assert.equal(error.code, grpc.status.UNAVAILABLE);
        assert.equal(error.details, "etcdserver: no leader");
        return true;
      });
      assert.equal((await client.kv.get("r")).kvs.length, 0, "the failed put was not tried again");
      const { compare, op } = await import("../../src/client/index.js");
      backend.failNext(new ApiError("noLeader"));
      await assert.rejects(twoEndpoints.kv.txn({ compare: [compare.version("r", "=", 0)], success: [op.put("r", "1")] }));
      assert.equal((await client.kv.get("r")).kvs.length, 0, "a txn that writes is not retried");
      backend.failNext(new ApiError("noLeader"));
      assert.equal((await twoEndpoints.kv.txn({ success: [op.get("r")] })).succeeded, true, "a read-only txn is retried");
    } finally {
      twoEndpoints.close();
    }
  });

  test("lease: kept alive past its TTL, lost once keep-alives stop; revoke deletes its keys", async () => {
    const lease = await client.lease(1);
    await client.kv.put("leased", "x", { lease: lease.id });
    await settle(1_800);
    assert.ok((await lease.timeToLive()) >= 0, "still alive after 1.8 s of a 1 s TTL");
    assert.equal((await client.kv.get("leased")).kvs.length, 1);
    lease.close();
    await settle(1_500);
    assert.equal(await lease.timeToLive(), -1);
    assert.equal((await client.kv.get("leased")).kvs.length, 0);

    const second = await client.lease(30);
    await client.kv.put("leased2", "y", { lease: second.id });
    await second.revoke();
    assert.equal((await client.kv.get("leased2")).kvs.length, 0);
    await second.lost;
  });

  test("mutex: fencing tokens grow with each holder; a stale holder's fenced write is refused", async () => {
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const mutex = new Mutex(client, "fence");
      await mutex.lock();
      tokens.push(mutex.fencingToken ?? 0);
      await mutex.unlock();
    }
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens.join(", ")}`);

    const first = new Mutex(client, "fence");
    await first.lock();
    assert.equal(await fencedPut(client, first, "resource", "from first"), true);
    // The first holder stalls; its lease ends (revoked here) and a second holder takes the lock.
    const firstLease = first.leaseId;
    assert.ok(firstLease !== undefined);
    await client.connection.unary("etcdserverpb.Lease", "LeaseRevoke", { ID: firstLease }, { idempotent: false });
    const second = new Mutex(client, "fence");
    await second.lock();
    assert.ok((second.fencingToken ?? 0) > (first.fencingToken ?? 0));
    assert.equal(await fencedPut(client, first, "resource", "stale write"), false, "the store refuses the stale holder");
    assert.equal(await fencedPut(client, second, "resource", "from second"), true);
    assert.equal(text((await client.kv.get("resource")).kvs[0]?.value ?? new Uint8Array()), "from second");
    await second.unlock();
  });

  test("mutex: concurrent holders never overlap", async () => {
    const clients = Array.from({ length: 4 }, () => new SynodClient({ endpoints: [api.endpoint] }));
    let inside = 0;
    let maxInside = 0;
    try {
      await Promise.all(
        clients.map(async (c) => {
          for (let round = 0; round < 3; round++) {
            const mutex = new Mutex(c, "overlap");
            await mutex.lock();
            inside++;
            maxInside = Math.max(maxInside, inside);
            await settle(5);
            inside--;
            await mutex.unlock();
          }
        }),
      );
    } finally {
      for (const c of clients) c.close();
    }
    assert.equal(maxInside, 1);
  });

  test("election: campaign, leader, observe, proclaim, resign", async () => {
    const a = new Election(client, "elect");
    const b = new Election(client, "elect");
    assert.equal(await a.leader(), undefined);
    const observer = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const kv of a.observe(observer.signal)) seen.push(text(kv.value));
    })();
    await a.campaign("alpha");
    const bWins = b.campaign("beta");
    await settle(50);
    assert.equal(text((await b.leader())?.value ?? new Uint8Array()), "alpha");
    await a.proclaim("alpha2");
    await a.resign();
    await bWins;
    await assert.rejects(a.proclaim("late"), /election: not leader/);
    await settle(50);
    observer.abort();
    await observing;
    assert.deepEqual(seen, ["alpha", "alpha2", "beta"]);
    await b.resign();
  });
});

test("watch: resumes on the next endpoint from the last revision + 1, without gaps or duplicates", async () => {
  const backend = new EventsTestBackend();
  const first = await startApiWith(backend);
  const second = await startApiWith(backend);
  const client = new SynodClient({ endpoints: [first.endpoint, second.endpoint], retryPauseMs: 10 });
  const writer = new SynodClient({ endpoints: [second.endpoint] });
  try {
    const watcher = client.watch("w/", { prefix: true, prevKv: true });
    const events: WatchEvent[] = [];
    const reading = (async () => {
      for await (const event of watcher) {
        events.push(event);
        if (events.length === 20) return;
      }
    })();
    await settle(50);
    for (let i = 0; i < 10; i++) await writer.kv.put(`w/${i % 3}`, String(i));
    while (events.length < 10) await settle(10);
    await first.close(); // the watch stream breaks: "server stopped"
    for (let i = 10; i < 20; i++) await writer.kv.put(`w/${i % 3}`, String(i));
    await reading;
    assert.ok(watcher.reconnectCount >= 1);
    assert.deepEqual(
      events.map((e) => text(e.kv.value)),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    const revisions = events.map((e) => e.kv.modRevision);
    assert.deepEqual([...new Set(revisions)], revisions, "no revision twice");
    assert.equal(text(events[19]?.prevKv?.value ?? new Uint8Array()), "16");
    watcher.close();
  } finally {
    client.close();
    writer.close();
    await second.close();
  }
});

test("watch: a start revision replays history; a compacted one ends the iteration with WatchCompactedError", async () => {
  const backend = new EventsTestBackend();
  const api = await startApiWith(backend);
  const client = new SynodClient({ endpoints: [api.endpoint] });
  try {
    const a = await client.kv.put("h", "1");
    await client.kv.put("h", "2");
    const replay = client.watch("h", { startRevision: a.revision });
    const values: string[] = [];
    for await (const event of replay) {
      values.push(text(event.kv.value));
      if (values.length === 2) break;
    }
    assert.deepEqual(values, ["1", "2"]);
    replay.close();
    await client.connection.unary("etcdserverpb.KV", "Compact", { revision: a.revision + 1 }, { idempotent: false });
    const compacted = client.watch("h", { startRevision: a.revision });
    await assert.rejects(
      (async () => {
        for await (const _ of compacted) assert.fail("no event expected");
      })(),
      (error: unknown) => error instanceof Error && error.name === "WatchCompactedError",
    );
  } finally {
    client.close();
    await api.close();
  }
});
