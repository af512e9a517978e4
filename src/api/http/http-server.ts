import { createServer } from "node:http";
import type { Server } from "node:http";
import type { ServerMetrics } from "../../server/metrics.js";

/** HealthSource answers etcd's /health question: can this member serve a linearizable read now? */
export interface HealthSource {
  health(): Promise<{ ok: boolean; reason: string }>;
}

/**
 * startHttp serves the operator endpoints on a separate port: `/health` in
 * etcd's JSON shape (`{"health":"true","reason":""}`) and `/metrics` for
 * Prometheus.
 */
export function startHttp(listen: { host: string; port: number }, health: HealthSource, metrics: ServerMetrics): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      void health.health().then((h) => {
        res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify({ health: String(h.ok), reason: h.reason }));
      });
      return;
    }
    if (path === "/metrics") {
      void metrics.text().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.contentType() });
          res.end(text);
        },
        (error: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics failed: ${String(error)}\n`);
        },
      );
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
