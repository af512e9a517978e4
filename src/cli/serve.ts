import type { Server } from "node:net";
import { EtcdApiServer, grpcCodeName } from "../api/etcd/index.js";
import type { RequestEvent } from "../api/etcd/index.js";
import { createClientPortServer } from "../api/http/client-port.js";
import { createMemberHttpServer, startHttp } from "../api/http/http-server.js";
import type { MemberHttpServer } from "../api/http/http-server.js";
import { SynodBackend } from "../api/etcd/synod-backend.js";
import type { ServerConfig } from "../server/config.js";
import { SynodServer } from "../server/synod-server.js";
import { StorageError } from "../storage/errors.js";

/**
 * serve runs one member until SIGINT or SIGTERM: the server, the etcd gRPC API
 * on every client URL, and /health on the metrics URLs. Resolves with the
 * process exit code.
 */
export async function serve(config: ServerConfig): Promise<number> {
  let server: SynodServer;
  try {
    server = SynodServer.open(config);
  } catch (error) {
    if (error instanceof StorageError && error.code === "locked") {
      process.stderr.write(`synod: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  await server.start();
  const backend = new SynodBackend(server);
  const limits = { requestBytesMax: config.requestBytesMax, txnOpsMax: config.txnOpsMax };
  const observer = {
    requestDone: (e: RequestEvent): void => {
      server.metrics.grpcRequests.inc({ grpc_service: e.service, grpc_method: e.method, grpc_code: grpcCodeName(e.code) });
      server.metrics.grpcDuration.observe({ grpc_service: e.service, grpc_method: e.method }, e.durationMs / 1000);
    },
  };
  // Each client URL serves gRPC and etcd's JSON gateway on one port, as etcd does:
  // connections are told apart by their first bytes.
  const apis: EtcdApiServer[] = [];
  const clientPorts: Server[] = [];
  const http: MemberHttpServer[] = [];
  for (const listen of config.listenClientUrls) {
    const api = new EtcdApiServer({ backend, ...limits, observer });
    const gateway = createMemberHttpServer(backend, server.metrics, { gateway: { ...limits, observer } });
    const grpcConnection = api.injectConnections();
    const port = createClientPortServer({ http2: grpcConnection, http1: (socket) => gateway.emit("connection", socket) });
    await new Promise<void>((resolve, reject) => {
      port.once("error", reject);
      port.listen(listen.port, listen.host, () => resolve());
    });
    apis.push(api);
    http.push(gateway);
    clientPorts.push(port);
  }
  for (const listen of config.listenMetricsUrls) http.push(await startHttp(listen, backend, server.metrics, { gateway: { ...limits, observer } }));
  log(`member ${config.name} (${server.self.id.toString(16)}) serving clients on ${config.advertiseClientUrls.join(",")}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log(`received ${signal}, stopping`);
      void (async () => {
        for (const port of clientPorts) port.close();
        await Promise.all(apis.map((a) => a.stop()));
        await Promise.all(http.map((h) => new Promise<void>((r) => h.close(() => r()))));
        await server.stop();
        resolve(0);
      })();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    // A removed member stops its replica by itself (etcd shuts it down); the process then exits non-zero.
    void server.removed.then((line) => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        // Requests in flight (say, the MemberRemove that removed this member) get their "server stopped" first.
        await new Promise((r) => setTimeout(r, removedAnswerGraceMs));
        for (const port of clientPorts) port.close();
        await Promise.all(apis.map((a) => a.stop()));
        await Promise.all(http.map((h) => new Promise<void>((r) => h.close(() => r()))));
        log(`${line}; exiting`);
        resolve(exitCodeRemoved);
      })();
    });
  });
}

/** exitCodeRemoved is the exit code of a member that stopped because it was removed from the cluster. */
const exitCodeRemoved = 3;
/** removedAnswerGraceMs: how long a removed member keeps its client ports open so requests in flight get their answer. */
const removedAnswerGraceMs = 500;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} synod: ${line}\n`);
}
