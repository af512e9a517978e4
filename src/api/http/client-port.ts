/**
 * Serving gRPC and the JSON gateway on one client port, as etcd does (it
 * multiplexes with cmux): each accepted connection is routed by its first
 * bytes. A connection that opens with the HTTP/2 client preface ("PRI * HTTP/2.0")
 * goes to the gRPC server, any other (HTTP/1.x: "GET ", "POST", …) to the
 * HTTP server. The bytes read to decide are put back before the hand-over,
 * so the receiver sees the connection from its start.
 *
 * The gRPC side takes connections through grpc-js's
 * `Server.createConnectionInjector(credentials).injectConnection(socket)`;
 * the HTTP side through `httpServer.emit("connection", socket)`.
 *
 * Bound: a connection must send enough to decide within `sniffTimeoutMs`,
 * else it is closed.
 */
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";

/** http2Preface is the start of every HTTP/2 connection (RFC 9113 §3.4); three bytes tell it from any HTTP/1 method. */
const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const sniffBytes = 3;
export const sniffTimeoutMsDefault = 10_000;

/** ClientPortRoutes receive the connections of each protocol. */
export interface ClientPortRoutes {
  /** http2 takes a connection that began with the HTTP/2 preface (gRPC). */
  readonly http2: (socket: Socket) => void;
  /** http1 takes every other connection (the JSON gateway, /health, …). */
  readonly http1: (socket: Socket) => void;
  readonly sniffTimeoutMs?: number;
}

/** isHttp2Start tells whether the first bytes of a connection are the HTTP/2 preface's. */
export function isHttp2Start(first: Uint8Array): boolean {
  const n = Math.min(first.length, http2Preface.length);
  return n > 0 && Buffer.from(first.buffer, first.byteOffset, n).equals(http2Preface.subarray(0, n));
}

/** routeConnection reads a connection's first bytes and hands it to the route of its protocol. */
export function routeConnection(socket: Socket, routes: ClientPortRoutes): void {
  let seen = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), routes.sniffTimeoutMs ?? sniffTimeoutMsDefault);
  const decide = (): void => {
    clearTimeout(timer);
    socket.removeListener("readable", onReadable);
    socket.removeListener("end", onEnd);
    socket.removeListener("error", onError);
    if (seen.length > 0) socket.unshift(seen);
    if (isHttp2Start(seen) && seen.length >= sniffBytes) routes.http2(socket);
    else routes.http1(socket);
  };
  const onReadable = (): void => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      seen = Buffer.concat([seen, chunk]);
    }
    if (seen.length >= sniffBytes || (seen.length > 0 && !isHttp2Start(seen))) decide();
  };
  const onEnd = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const onError = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("readable", onReadable);
  socket.once("end", onEnd);
  socket.once("error", onError);
}

/** createClientPortServer is a TCP server that routes every connection it accepts (see the file comment). */
export function createClientPortServer(routes: ClientPortRoutes): Server {
  return createServer({ pauseOnConnect: false }, (socket) => routeConnection(socket, routes));
}
