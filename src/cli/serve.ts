import { createServer } from "node:http";
import type { Server } from "node:http";
import { EtcdApiServer } from "../api/etcd/index.js";
import { SynodBackend } from "../api/etcd/synod-backend.js";
import type { HostPort, ServerConfig } from "../server/config.js";
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
  const apis: EtcdApiServer[] = [];
  for (const listen of config.listenClientUrls) {
    const api = new EtcdApiServer({ backend, requestBytesMax: config.requestBytesMax, txnOpsMax: config.txnOpsMax });
    await api.start(listen);
    apis.push(api);
  }
  const http: Server[] = [];
  for (const listen of config.listenMetricsUrls) http.push(await listenHttp(listen, backend));
  log(`member ${config.name} (${server.self.id.toString(16)}) serving clients on ${config.advertiseClientUrls.join(",")}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log(`received ${signal}, stopping`);
      void (async () => {
        await Promise.all(apis.map((a) => a.stop()));
        await Promise.all(http.map((h) => new Promise<void>((r) => h.close(() => r()))));
        await server.stop();
        resolve(0);
      })();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} synod: ${line}\n`);
}

function listenHttp(listen: HostPort, backend: SynodBackend): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/health" || req.url?.startsWith("/health?") === true) {
      void backend.health().then((health) => {
        res.writeHead(health.ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify({ health: String(health.ok), reason: health.reason }));
      });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}
