/**
 * Test harness for the JSON gateway: the member's HTTP server (`startHttp`,
 * so /health and /metrics are served beside the gateway) over the
 * API's events test twin on 127.0.0.1 and a random port in [20000, 32000),
 * and small HTTP clients: one for unary calls, one that reads a streaming
 * response line by line as it arrives.
 */
import { request } from "node:http";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { startHttp } from "../../src/api/http/http-server.js";
import type { HealthSource, HttpServerOptions, MemberHttpServer } from "../../src/api/http/http-server.js";
import { ServerMetrics } from "../../src/server/metrics.js";
import { EventsTestBackend } from "../api/events-test-backend.js";
import type { EventsTestOptions } from "../api/events-test-backend.js";

/** HttpTestBackend is the API's events test twin, healthy, as the member's HTTP port needs it. */
export class HttpTestBackend extends EventsTestBackend implements HealthSource {
  constructor(options: EventsTestOptions = {}) {
    super(options);
  }

  health(): Promise<{ ok: boolean; reason: string }> {
    return Promise.resolve({ ok: true, reason: "" });
  }
}

const portLow = 20_000;
const portHigh = 32_000;
const bindAttemptsMax = 30;

/** GatewayFixture is a running HTTP server with its test backend. */
export interface GatewayFixture {
  readonly backend: HttpTestBackend;
  readonly server: MemberHttpServer;
  readonly port: number;
  /** url is "http://127.0.0.1:PORT". */
  readonly url: string;
  close(): Promise<void>;
}

/** startGateway starts a fresh member HTTP server on a random free port (retrying ports in use). */
export async function startGateway(options: HttpServerOptions = {}, backend = new HttpTestBackend()): Promise<GatewayFixture> {
  for (let attempt = 1; ; attempt++) {
    const port = portLow + Math.floor(Math.random() * (portHigh - portLow));
    let server: MemberHttpServer;
    try {
      server = await startHttp({ host: "127.0.0.1", port }, backend, new ServerMetrics(), options);
    } catch (error) {
      if (attempt < bindAttemptsMax && error instanceof Error && "code" in error && error.code === "EADDRINUSE") continue;
      throw error;
    }
    const url = `http://127.0.0.1:${port}`;
    backend.clientUrl = url;
    const close = (): Promise<void> =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        backend.close();
      });
    return { backend, server, port, url, close };
  }
}

/** HttpAnswer is a whole response: status, headers and body text. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** trailers are the HTTP trailers received after the body. */
  readonly trailers: NodeJS.Dict<string>;
}

/** call sends one request and reads the whole response. `body` is sent as is (a string) or as JSON. */
export function call(url: string, path: string, body?: string | object, method = "POST"): Promise<HttpAnswer> {
  const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8"), trailers: res.trailers }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(text);
  });
}

/** post calls a gateway path and parses the JSON answer, failing on a non-200 status. */
export async function post<T = Record<string, unknown>>(url: string, path: string, body: object = {}): Promise<T> {
  const answer = await call(url, path, body);
  if (answer.status !== 200) throw new Error(`${path}: HTTP ${answer.status}: ${answer.text}`);
  return JSON.parse(answer.text) as T;
}

/**
 * LineStream is a streaming call in progress: the request body stays open
 * (more values can be sent), and the response's lines are collected as they
 * arrive.
 */
export class LineStream {
  readonly lines: string[] = [];
  status = 0;
  ended = false;
  private readonly req: ClientRequest;
  private res: IncomingMessage | undefined;
  private partial = "";
  private waiters: (() => void)[] = [];

  constructor(url: string, path: string, first?: object | string) {
    this.req = request(`${url}${path}`, { method: "POST", agent: false, headers: { "Content-Type": "application/json" } }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const parts = (this.partial + chunk).split("\n");
        this.partial = parts.pop() ?? "";
        this.lines.push(...parts);
        this.wake();
      });
      res.on("end", () => {
        if (this.partial !== "") this.lines.push(this.partial);
        this.partial = "";
        this.ended = true;
        this.wake();
      });
      res.on("error", () => undefined);
      this.wake();
    });
    this.req.on("error", () => {
      this.ended = true;
      this.wake();
    });
    this.req.flushHeaders();
    if (first !== undefined) this.send(first);
  }

  /** send writes one more value to the request body. */
  send(value: object | string): void {
    this.req.write(typeof value === "string" ? value : JSON.stringify(value));
  }

  /** endBody ends the request body (the response may go on). */
  endBody(): void {
    this.req.end();
  }

  /** waitLines resolves once at least `count` lines arrived, or rejects after `timeoutMs`. */
  async waitLines(count: number, timeoutMs = 3_000): Promise<string[]> {
    await this.waitFor(() => this.lines.length >= count, timeoutMs, () => `${count} lines, got ${JSON.stringify(this.lines)}`);
    return this.lines.slice(0, count);
  }

  /** waitEnd resolves once the response ended. */
  async waitEnd(timeoutMs = 3_000): Promise<void> {
    await this.waitFor(() => this.ended, timeoutMs, () => `the end of the response, lines ${JSON.stringify(this.lines)}`);
  }

  /** waitStatus resolves once the response head arrived. */
  async waitStatus(timeoutMs = 3_000): Promise<number> {
    await this.waitFor(() => this.res !== undefined || this.ended, timeoutMs, () => "a response");
    return this.status;
  }

  /** destroy drops the connection, as a client that goes away. */
  destroy(): void {
    this.req.destroy();
    this.res?.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async waitFor(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new Error(`timed out waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(leftMs, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** b64 is a string's UTF-8 bytes in base64. */
export function b64(s: string | Uint8Array): string {
  return (typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s)).toString("base64");
}

/** waitUntil polls `done` every 10 ms until it holds, or throws after `timeoutMs`. */
export async function waitUntil(done: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
