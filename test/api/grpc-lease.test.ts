/**
 * The etcd Lease service over real gRPC, against the events test backend
 * with a manual clock: grant, keep-alive stream, time-to-live with keys,
 * revoke (attached keys deleted, watchers told), leases, expiry, and etcd's
 * errors to the letter.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { EventsTestBackend, ManualClock } from "./events-test-backend.js";
import { RawClient, b, eventText, isGrpcError, openStream, startApiWith } from "./harness.js";
import type { ApiFixture, DecodedHeader, DecodedRangeResponse, DecodedWatchResponse } from "./harness.js";

interface GrantResponse {
  readonly header: DecodedHeader;
  readonly ID: string;
  readonly TTL: string;
  readonly error: string;
}
interface KeepAliveResponse {
  readonly header: DecodedHeader;
  readonly ID: string;
  readonly TTL: string;
}
interface TimeToLiveResponse {
  readonly header: DecodedHeader;
  readonly ID: string;
  readonly TTL: string;
  readonly grantedTTL: string;
  readonly keys: readonly Buffer[];
}
interface LeasesResponse {
  readonly header: DecodedHeader;
  readonly leases: readonly { readonly ID: string }[];
}

async function expectStatus(call: Promise<unknown>, code: grpc.status, details: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(isGrpcError(error), String(error));
    assert.equal(error.code, code, error.details);
    assert.equal(error.details, details);
    return true;
  });
}

describe("etcd Lease over gRPC", () => {
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

  const lease = <Res>(method: string, request: object): Promise<Res> => client.call<Res>("etcdserverpb.Lease", method, request);
  const grant = (TTL: number, ID = 0): Promise<GrantResponse> => lease<GrantResponse>("LeaseGrant", { TTL, ID });
  const ttlOf = (ID: string, keys = false): Promise<TimeToLiveResponse> => lease<TimeToLiveResponse>("LeaseTimeToLive", { ID, keys });
  const get = (key: string): Promise<DecodedRangeResponse> => client.kv<DecodedRangeResponse>("Range", { key: b(key) });

  test("grant: server-chosen and client-chosen ids, TTL raised to the minimum, etcd's errors", async () => {
    const first = await grant(60);
    assert.equal(first.TTL, "60");
    assert.equal(first.error, "");
    assert.ok(Number(first.ID) > 0);
    const chosen = await grant(30, 0x1234);
    assert.equal(chosen.ID, String(0x1234));
    assert.equal((await grant(1)).TTL, "2");
    await expectStatus(grant(10, 0x1234), grpc.status.FAILED_PRECONDITION, "etcdserver: lease already exists");
    await expectStatus(grant(9_000_000_001), grpc.status.OUT_OF_RANGE, "etcdserver: too large lease TTL");
  });

  test("time-to-live: remaining and granted TTL, attached keys; -1 for an unknown lease", async () => {
    const { ID } = await grant(60);
    await client.kv("Put", { key: b("ttl/a"), value: b("1"), lease: ID });
    await client.kv("Put", { key: b("ttl/b"), value: b("2"), lease: ID });
    api.backend.advance(1_500);
    const ttl = await ttlOf(ID, true);
    assert.deepEqual([ttl.ID, ttl.TTL, ttl.grantedTTL], [ID, "58", "60"]);
    assert.deepEqual(ttl.keys.map(String), ["ttl/a", "ttl/b"]);
    assert.equal(ttl.header.revision, String(api.backend.mvcc.revision));
    assert.deepEqual((await ttlOf(ID)).keys, []);
    const unknown = await ttlOf("999999");
    assert.deepEqual([unknown.ID, unknown.TTL, unknown.grantedTTL], ["999999", "-1", "0"]);
  });

  test("keep-alive stream: each {ID} answered with {ID, TTL} in order; TTL 0 for an unknown lease; renews the deadline", async () => {
    const { ID } = await grant(10);
    const opened = openStream<KeepAliveResponse>(api.endpoint, "etcdserverpb.Lease", "LeaseKeepAlive");
    try {
      api.backend.advance(8_000);
      opened.stream.write({ ID });
      opened.stream.write({ ID: 424242 });
      opened.stream.write({ ID });
      const answers = [await opened.stream.next(), await opened.stream.next(), await opened.stream.next()];
      assert.deepEqual(
        answers.map((a) => [a.ID, a.TTL]),
        [
          [ID, "10"],
          ["424242", "0"],
          [ID, "10"],
        ],
      );
      api.backend.advance(8_000);
      assert.equal((await ttlOf(ID)).TTL, "2", "the keep-alive moved the deadline");
      opened.stream.end();
      const status = await opened.stream.status;
      assert.equal(status.code, grpc.status.OK, "a half-closed keep-alive stream ends with OK once answered, as etcd's");
    } finally {
      opened.close();
    }
  });

  test("revoke: attached keys are deleted in one revision and watchers see it; revoking again is NOT_FOUND", async () => {
    const { ID } = await grant(60);
    await client.kv("Put", { key: b("rv/a"), value: b("1"), lease: ID });
    await client.kv("Put", { key: b("rv/b"), value: b("2"), lease: ID });
    await client.kv("Put", { key: b("rv/c"), value: b("3") });
    const watch = openStream<DecodedWatchResponse>(api.endpoint, "etcdserverpb.Watch", "Watch");
    try {
      watch.stream.write({ create_request: { key: b("rv/"), range_end: b("rv0") } });
      await watch.stream.next();
      const revoked = await lease<{ header: DecodedHeader }>("LeaseRevoke", { ID });
      const r = api.backend.mvcc.revision;
      assert.equal(revoked.header.revision, String(r));
      assert.deepEqual((await watch.stream.next()).events.map(eventText), [`DELETE rv/a@${r}`, `DELETE rv/b@${r}`]);
      assert.equal((await get("rv/a")).kvs.length, 0);
      assert.equal((await get("rv/c")).kvs.length, 1);
      await expectStatus(lease("LeaseRevoke", { ID }), grpc.status.NOT_FOUND, "etcdserver: requested lease not found");
      await expectStatus(
        client.kv("Put", { key: b("rv/a"), value: b("1"), lease: ID }),
        grpc.status.NOT_FOUND,
        "etcdserver: requested lease not found",
      );
    } finally {
      watch.close();
    }
  });

  test("expiry: a lease not kept alive is revoked when its TTL passes, with its keys", async () => {
    const { ID } = await grant(5);
    await client.kv("Put", { key: b("exp"), value: b("1"), lease: ID });
    api.backend.advance(4_900);
    assert.equal((await get("exp")).kvs.length, 1);
    api.backend.advance(200);
    assert.equal((await get("exp")).kvs.length, 0);
    assert.equal((await ttlOf(ID)).TTL, "-1");
  });

  test("leases: every live lease id", async () => {
    const ids = (await lease<LeasesResponse>("LeaseLeases", {})).leases.map((l) => l.ID);
    const { ID } = await grant(60);
    const after = (await lease<LeasesResponse>("LeaseLeases", {})).leases.map((l) => l.ID);
    assert.deepEqual(after.sort(), [...ids, ID].sort());
  });
});
