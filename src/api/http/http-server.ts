import { Server } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerMetrics } from "../../server/metrics.js";
import type { EtcdBackend, EventsBackend } from "../etcd/backend.js";
import { createGateway } from "./gateway.js";
import type { Gateway, GatewayOptions } from "./gateway.js";

/** HealthSource answers etcd's /health question: can this member serve a linearizable read now? */
export interface HealthSource {
  health(): Promise<{ ok: boolean; reason: string }>;
}

/** MemberHttpBackend is what the member's HTTP port serves from: health, and the etcd API for the JSON gateway. */
export type MemberHttpBackend = HealthSource & (EtcdBackend | EventsBackend);

/** HttpServerOptions configures the member's HTTP port. */
export interface HttpServerOptions {
  /** gateway configures etcd's JSON gateway (request limits, logger, observer). */
  readonly gateway?: GatewayOptions;
}

/**
 * MemberHttpServer is the member's HTTP server. `close` first ends the
 * gateway's open streams (watches last until the client leaves), so that
 * closing the server does not wait on them.
 */
export class MemberHttpServer extends Server {
  constructor(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly gateway: Gateway,
  ) {
    super(handler);
  }

  override close(callback?: (error?: Error) => void): this {
    this.gateway.close();
    return super.close(callback);
  }
}

/**
 * startHttp serves the member's HTTP endpoints on a separate port: `/health`
 * in etcd's JSON shape (`{"health":"true","reason":""}`), `/metrics` for
 * Prometheus, and etcd's HTTP/JSON gateway (`/version`, `/v3/…`, see
 * gateway.ts) over `backend`.
 */
export function startHttp(
  listen: { host: string; port: number },
  backend: MemberHttpBackend,
  metrics: ServerMetrics,
  options: HttpServerOptions = {},
): Promise<MemberHttpServer> {
  const server = createMemberHttpServer(backend, metrics, options);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

/** createMemberHttpServer builds the HTTP server without listening, for a caller that hands it connections (the shared client port). */
export function createMemberHttpServer(backend: MemberHttpBackend, metrics: ServerMetrics, options: HttpServerOptions = {}): MemberHttpServer {
  const gateway = createGateway(backend, options.gateway);
  const server = new MemberHttpServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      void backend.health().then((h) => {
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
    if (gateway(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  }, gateway);
  return server;
}
