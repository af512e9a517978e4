/**
 * One client port for gRPC and the JSON gateway, as etcd's: a gRPC client
 * and an HTTP/1.1 client reach the same backend through the same port.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { fullHeader, rangeResponseToPb } from "../../src/api/etcd/convert.js";
import { etcdService } from "../../src/api/etcd/index.js";
import { createClientPortServer, isHttp2Start } from "../../src/api/http/client-port.js";
import { createGateway } from "../../src/api/http/gateway.js";
import { RawClient, b } from "../api/harness.js";
import type { DecodedRangeResponse } from "../api/harness.js";
import { MvccTestBackend } from "../api/test-backend.js";
import { b64, post } from "./harness.js";

test("isHttp2Start: the HTTP/2 preface, not an HTTP/1 request line", () => {
  assert.equal(isHttp2Start(Buffer.from("PRI * HTTP/2.0\r\n")), true);
  assert.equal(isHttp2Start(Buffer.from("PR")), true, "a prefix of the preface may still be HTTP/2");
  for (const start of ["POST /v3/kv/range", "GET /version", "PUT /x"]) assert.equal(isHttp2Start(Buffer.from(start)), false, start);
});

test("gRPC and the JSON gateway share one port: a write through one is read through the other", async () => {
  const backend = new MvccTestBackend();
  const grpcServer = new grpc.Server();
  grpcServer.addService(etcdService("etcdserverpb.KV"), {
    Range: (call: grpc.ServerUnaryCall<{ key: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      backend.range({ key: new Uint8Array(call.request.key) }).then(
        (r) => callback(null, rangeResponseToPb(r, fullHeader(backend.header()))),
        (error: unknown) => callback({ code: grpc.status.INTERNAL, details: String(error) }),
      );
    },
  });
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const gateway = createGateway(backend);
  const http = createServer((req, res) => {
    if (!gateway(req, res)) res.writeHead(404).end();
  });
  const port = createClientPortServer({ http2: (socket) => injector.injectConnection(socket), http1: (socket) => http.emit("connection", socket) });
  await new Promise<void>((resolve) => port.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(port.address() as AddressInfo).port}`;
  const client = new RawClient(url.slice("http://".length));
  try {
    await post(url, "/v3/kv/put", { key: b64("shared"), value: b64("port") });
    const viaGrpc = await client.kv<DecodedRangeResponse>("Range", { key: b("shared") });
    assert.equal(viaGrpc.kvs[0]?.value.toString(), "port");
    const viaJson = await post<{ kvs: { value: string }[] }>(url, "/v3/kv/range", { key: b64("shared") });
    assert.equal(Buffer.from(viaJson.kvs[0]?.value ?? "", "base64").toString(), "port");
    const version = await fetch(`${url}/version`);
    assert.equal(await version.text(), '{"etcdserver":"3.4.0","etcdcluster":"3.4.0"}');
  } finally {
    client.close();
    injector.destroy();
    grpcServer.forceShutdown();
    http.closeAllConnections();
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
});
