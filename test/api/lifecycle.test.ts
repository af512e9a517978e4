/** Server lifecycle and limits: graceful then forced stop, configurable request limits, streaming methods not built yet. */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { etcdService } from "../../src/api/etcd/index.js";
import { RawClient, b, isGrpcError, startApi } from "./harness.js";
import type { DecodedPutResponse } from "./harness.js";

test("stop waits for calls in flight, then cuts off those that outlive the grace period", async () => {
  const api = await startApi({ shutdownGraceMs: 200 });
  const client = new RawClient(api.endpoint);
  try {
    await client.kv<DecodedPutResponse>("Put", { key: b("k"), value: b("v") });
    // A backend call that never answers holds the server open until the grace period ends.
    api.backend.range = () => new Promise(() => undefined);
    const hanging = client.kv("Range", { key: b("k") });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startedMs = Date.now();
    await api.close();
    const tookMs = Date.now() - startedMs;
    assert.ok(tookMs >= 150 && tookMs < 2_000, `stop took ${tookMs} ms`);
    await assert.rejects(hanging, (error: unknown) => isGrpcError(error) && error.code !== grpc.status.OK);
  } finally {
    client.close();
  }
});

test("request limits are configurable: etcd's message below the gRPC limit, gRPC's above it", async () => {
  const api = await startApi({ requestBytesMax: 1_024, grpcOverheadBytes: 1_024 });
  const client = new RawClient(api.endpoint);
  try {
    await client.kv("Put", { key: b("k"), value: Buffer.alloc(900) });
    await assert.rejects(client.kv("Put", { key: b("k"), value: Buffer.alloc(1_500) }), (error: unknown) => {
      assert.ok(isGrpcError(error));
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(error.details, "etcdserver: request is too large");
      return true;
    });
    await assert.rejects(client.kv("Put", { key: b("k"), value: Buffer.alloc(3_000) }), (error: unknown) => {
      assert.ok(isGrpcError(error));
      assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
      return true;
    });
    assert.equal(api.backend.mvcc.revision, 2);
  } finally {
    client.close();
    await api.close();
  }
});

test("a streaming method not built yet (Watch) ends its stream with UNIMPLEMENTED", async () => {
  const api = await startApi();
  const client = new grpc.Client(api.endpoint, grpc.credentials.createInsecure());
  try {
    const watch = etcdService("etcdserverpb.Watch").Watch;
    assert.ok(watch !== undefined);
    const stream = client.makeBidiStreamRequest<object, unknown>(
      watch.path,
      (value: object) => watch.requestSerialize(value),
      (bytes: Buffer) => watch.responseDeserialize(bytes) as unknown,
    );
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      stream.on("status", resolve);
      stream.on("error", () => undefined);
      stream.on("data", () => undefined);
      stream.write({ create_request: { key: b("k") } });
    });
    assert.equal(status.code, grpc.status.UNIMPLEMENTED);
    assert.match(status.details, /Watch\/Watch is not implemented/);
    assert.equal(api.counter.count("etcdserverpb.Watch", "Watch", grpc.status.UNIMPLEMENTED), 1);
  } finally {
    client.close();
    await api.close();
  }
});
