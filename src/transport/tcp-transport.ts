import { createHash, timingSafeEqual } from "node:crypto";
import type { Server, Socket } from "node:net";
import { connect, createServer } from "node:net";
import type { Envelope, NodeId } from "../consensus/types.js";
import { assert } from "../consensus/types.js";
import {
  defaultFrameBytesMax,
  encodeFrame,
  encodeFrames,
  encodePayload,
  frameHeaderBytes,
  FrameDecoder,
  handshake,
  isEnvelope,
  parseHandshake,
  protocolVersion,
} from "./frame-codec.js";
import type { MutableStats, PeerAddress, Transport, TransportStats } from "./transport.js";
import { defaultQueueLimits, PeerQueue, zeroStats } from "./transport.js";

/** TcpTransportOptions configures one node's peer transport; every limit has a name and a default. */
export interface TcpTransportOptions<M extends Envelope> {
  readonly self: NodeId;
  /** listen is where this node accepts peers; port 0 picks a free port (see `address()`). */
  readonly listen: PeerAddress;
  /** clusterToken is the shared secret every peer presents in its handshake. */
  readonly clusterToken: string;
  readonly peers?: Iterable<readonly [NodeId, PeerAddress]>;
  /** advertise, when set, is sent in the handshake: where peers can dial this node back. */
  readonly advertise?: PeerAddress;
  /**
   * admit decides whether a dialer that passed the token check may talk to
   * this node (default: every one). Refused, its connection is closed before
   * any of its messages is read. Admitted with an advertised address while its
   * id has none here, the address becomes that peer's (address learning).
   */
  readonly admit?: (id: NodeId, address: PeerAddress | undefined) => boolean;
  readonly frameBytesMax?: number;
  readonly queueMessagesMax?: number;
  readonly queueBytesMax?: number;
  /** The reconnect delay doubles from reconnectDelayMsMin up to reconnectDelayMsMax; each wait is jittered to [½, 1] of it. */
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  /** handshakeTimeoutMs closes an inbound connection that has not identified itself in time. */
  readonly handshakeTimeoutMs?: number;
  readonly inboundConnectionsMax?: number;
  /** validate checks an arriving frame is a message of the engine (default: it carries an envelope). */
  readonly validate?: (value: unknown) => value is M;
  /** log receives one line per notable event (refused connection, lost peer); default stderr. */
  readonly log?: (line: string) => void;
  /** random in [0, 1) for the reconnect jitter; default Math.random. */
  readonly random?: () => number;
}

/** defaultTcpLimits are the production defaults of the TCP transport's timing and bounds. */
export const defaultTcpLimits = {
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 2000,
  handshakeTimeoutMs: 5000,
  inboundConnectionsMax: 256,
} as const;

/** OutboundPeer is the sending side towards one peer: its queue and its one connection. */
interface OutboundPeer {
  readonly id: NodeId;
  address: PeerAddress;
  readonly queue: PeerQueue<Uint8Array>;
  socket: Socket | null;
  connected: boolean;
  /** failures counts connections that failed or did not last since the last stable one; it drives the backoff. */
  failures: number;
  /** connectedAtMs is when the current connection was established (null while not connected). */
  connectedAtMs: number | null;
  timer: NodeJS.Timeout | null;
}

/**
 * TcpTransport carries engine messages between nodes over TCP.
 *
 * Each node dials one connection to each peer it sends to and only writes on
 * it; it reads from the connections its peers dial. The dialer's first frame is
 * a handshake (cluster token, node id, protocol version); a connection with a
 * wrong token, a malformed frame, an oversized frame or a message claiming
 * another sender is closed, and only that connection.
 *
 * Sending is batched: every message sent to a peer during one event-loop turn
 * is queued (encoded at once, so its size is known) and written with a single
 * socket write at the end of the turn. Per-peer queues are bounded in messages
 * and bytes; a full queue drops the new message and counts it. While a socket
 * is backed up the queue holds what follows, within the same bounds. A lost
 * connection is redialled with exponential backoff and jitter; messages queued
 * meanwhile are sent once it is back, messages written to a dying socket are lost.
 */
export class TcpTransport<M extends Envelope> implements Transport<M> {
  private readonly self: NodeId;
  private readonly tokenDigest: Buffer;
  private readonly frameBytesMax: number;
  private readonly queueLimits: { readonly queueMessagesMax: number; readonly queueBytesMax: number };
  private readonly reconnectDelayMsMin: number;
  private readonly reconnectDelayMsMax: number;
  private readonly handshakeTimeoutMs: number;
  private readonly inboundConnectionsMax: number;
  private readonly validate: (value: unknown) => value is M;
  private readonly log: (line: string) => void;
  private readonly random: () => number;
  private readonly handshakeFrame: Buffer;
  private readonly addresses = new Map<NodeId, PeerAddress>();
  private readonly outbound = new Map<NodeId, OutboundPeer>();
  /** inbound maps each accepted connection to the peer it identified as (0 until its handshake). */
  private readonly inbound = new Map<Socket, NodeId>();
  private readonly admit: (id: NodeId, address: PeerAddress | undefined) => boolean;
  private readonly dirty = new Set<OutboundPeer>();
  private readonly counters: MutableStats = zeroStats();
  private handler: ((msg: M) => void) | null = null;
  private server: Server | null = null;
  private listenAddress: PeerAddress;
  private running = false;
  private flushScheduled = false;

  constructor(options: TcpTransportOptions<M>) {
    this.self = options.self;
    this.tokenDigest = digest(options.clusterToken);
    this.frameBytesMax = options.frameBytesMax ?? defaultFrameBytesMax;
    this.queueLimits = {
      queueMessagesMax: options.queueMessagesMax ?? defaultQueueLimits.queueMessagesMax,
      queueBytesMax: options.queueBytesMax ?? defaultQueueLimits.queueBytesMax,
    };
    this.reconnectDelayMsMin = options.reconnectDelayMsMin ?? defaultTcpLimits.reconnectDelayMsMin;
    this.reconnectDelayMsMax = options.reconnectDelayMsMax ?? defaultTcpLimits.reconnectDelayMsMax;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? defaultTcpLimits.handshakeTimeoutMs;
    this.inboundConnectionsMax = options.inboundConnectionsMax ?? defaultTcpLimits.inboundConnectionsMax;
    this.validate = options.validate ?? (isEnvelope as (value: unknown) => value is M);
    this.log = options.log ?? ((line) => process.stderr.write(`synod transport ${options.self}: ${line}\n`));
    this.random = options.random ?? Math.random;
    this.handshakeFrame = encodeFrame(handshake(options.clusterToken, options.self, options.advertise));
    this.admit = options.admit ?? (() => true);
    this.listenAddress = options.listen;
    assert(this.reconnectDelayMsMin > 0 && this.reconnectDelayMsMin <= this.reconnectDelayMsMax, "reconnect delays");
    for (const [id, address] of options.peers ?? []) this.addresses.set(id, address);
  }

  /** start listens on the configured address; it rejects if the address is unavailable (e.g. EADDRINUSE). */
  async start(): Promise<void> {
    assert(!this.running && this.server === null, "transport already started");
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.listenAddress.port, this.listenAddress.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.log(`listener error: ${err.message}`));
    const bound = server.address();
    if (bound !== null && typeof bound === "object") this.listenAddress = { host: this.listenAddress.host, port: bound.port };
    this.server = server;
    this.running = true;
  }

  /** stop closes the listener and every connection, cancels reconnects and drops what is queued. */
  async stop(): Promise<void> {
    this.running = false;
    for (const peer of this.outbound.values()) this.closeOutbound(peer);
    this.outbound.clear();
    this.dirty.clear();
    for (const socket of this.inbound.keys()) socket.destroy();
    this.inbound.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** address is where this transport listens (with the real port once started). */
  address(): PeerAddress {
    return this.listenAddress;
  }

  /** setPeer adds or moves a peer; a moved peer's connection is redialled. */
  setPeer(id: NodeId, address: PeerAddress): void {
    this.addresses.set(id, address);
    const peer = this.outbound.get(id);
    if (peer !== undefined && (peer.address.host !== address.host || peer.address.port !== address.port)) {
      peer.address = address;
      peer.socket?.destroy();
    }
  }

  /** hasPeer tells whether an address is known for `id`. */
  hasPeer(id: NodeId): boolean {
    return this.addresses.has(id);
  }

  /**
   * removePeer forgets a peer: its connections (both ways) close and what was
   * queued for it is dropped. Whether it may dial in again is `admit`'s call.
   */
  removePeer(id: NodeId): void {
    this.addresses.delete(id);
    for (const [socket, from] of this.inbound) if (from === id) socket.destroy();
    const peer = this.outbound.get(id);
    if (peer === undefined) return;
    this.outbound.delete(id);
    this.dirty.delete(peer);
    this.closeOutbound(peer);
  }

  onMessage(handler: (msg: M) => void): void {
    this.handler = handler;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** send queues `msg` for its peer and schedules the end-of-turn write. */
  send(msg: M): void {
    const peer = this.running ? this.outboundPeer(msg.to) : null;
    if (peer === null) {
      this.counters.droppedUnknownPeer++;
      return;
    }
    const payload = encodePayload(msg);
    if (payload.length > this.frameBytesMax) {
      this.counters.droppedOversized++;
      this.log(`dropped a ${payload.length}-byte message to node ${msg.to}: over frameBytesMax ${this.frameBytesMax}`);
      return;
    }
    if (!peer.queue.push(payload, frameHeaderBytes + payload.length)) {
      this.counters.droppedQueueFull++;
      return;
    }
    this.dirty.add(peer);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushAll());
    }
    if (peer.socket === null && peer.timer === null) this.dial(peer);
  }

  private outboundPeer(id: NodeId): OutboundPeer | null {
    let peer = this.outbound.get(id);
    if (peer !== undefined) return peer;
    const address = this.addresses.get(id);
    if (address === undefined || id === this.self) return null;
    peer = { id, address, queue: new PeerQueue(this.queueLimits), socket: null, connected: false, failures: 0, connectedAtMs: null, timer: null };
    this.outbound.set(id, peer);
    return peer;
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (const peer of this.dirty) this.flushPeer(peer);
    this.dirty.clear();
  }

  /** flushPeer writes everything queued for `peer` in one write, unless it is not connected or backed up. */
  private flushPeer(peer: OutboundPeer): void {
    const socket = peer.socket;
    if (socket === null || !peer.connected || socket.writableNeedDrain || peer.queue.length === 0) return;
    const payloads = peer.queue.drain();
    socket.write(encodeFrames(payloads));
    this.counters.writes++;
    this.counters.messagesSent += payloads.length;
  }

  private dial(peer: OutboundPeer): void {
    peer.timer = null;
    if (!this.running || this.outbound.get(peer.id) !== peer) return;
    const socket = connect({ host: peer.address.host, port: peer.address.port });
    peer.socket = socket;
    peer.connected = false;
    socket.setNoDelay(true);
    socket.write(this.handshakeFrame);
    socket.resume(); // peers never write back on this connection; discard anything that arrives
    socket.on("connect", () => {
      peer.connected = true;
      peer.connectedAtMs = Date.now();
      this.flushPeer(peer);
    });
    socket.on("drain", () => this.flushPeer(peer));
    socket.on("error", (err) => {
      if (peer.failures === 0) this.log(`connection to node ${peer.id} at ${peer.address.host}:${peer.address.port}: ${err.message}`);
    });
    socket.on("close", () => {
      if (peer.socket !== socket) return;
      peer.socket = null;
      peer.connected = false;
      // A connection that lasted resets the backoff; one the peer closes at once (say, for a
      // wrong cluster token) counts as a failure, so it is not redialled in a tight loop.
      const stable = peer.connectedAtMs !== null && Date.now() - peer.connectedAtMs >= this.reconnectDelayMsMax;
      peer.connectedAtMs = null;
      if (stable) peer.failures = 0;
      if (!this.running || this.outbound.get(peer.id) !== peer) return;
      peer.failures++;
      const ceilingMs = Math.min(this.reconnectDelayMsMax, this.reconnectDelayMsMin * 2 ** Math.min(peer.failures - 1, 30));
      const delayMs = Math.max(1, Math.round(ceilingMs * (0.5 + 0.5 * this.random())));
      peer.timer = setTimeout(() => this.dial(peer), delayMs);
    });
  }

  private closeOutbound(peer: OutboundPeer): void {
    if (peer.timer !== null) clearTimeout(peer.timer);
    peer.timer = null;
    const socket = peer.socket;
    peer.socket = null;
    peer.connected = false;
    peer.connectedAtMs = null;
    socket?.destroy();
    peer.queue.drain();
  }

  /** accept reads one inbound connection: a handshake, then messages from that peer. */
  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    const refuse = (why: string): void => {
      if (socket.destroyed) return;
      this.counters.connectionsRefused++;
      this.log(`closing connection from ${remote}: ${why}`);
      socket.destroy();
    };
    if (!this.running || this.inbound.size >= this.inboundConnectionsMax) {
      refuse(`inbound connections at inboundConnectionsMax ${this.inboundConnectionsMax}`);
      return;
    }
    this.inbound.set(socket, 0 as NodeId);
    socket.setNoDelay(true);
    const decoder = new FrameDecoder({ frameBytesMax: this.frameBytesMax });
    let from: NodeId | null = null;
    const timer = setTimeout(() => refuse(`no handshake within ${this.handshakeTimeoutMs} ms`), this.handshakeTimeoutMs);
    socket.on("data", (chunk: Buffer) => {
      const result = decoder.feed(chunk);
      if (!result.ok) return refuse(result.error.message);
      for (const frame of result.frames) {
        if (socket.destroyed) return;
        if (from === null) {
          const why = this.checkHandshake(frame);
          if (typeof why === "string") return refuse(why);
          from = why;
          this.inbound.set(socket, from);
          clearTimeout(timer);
          continue;
        }
        if (!this.validate(frame)) return refuse("frame is not a message");
        if (frame.from !== from) return refuse(`message claims to come from node ${frame.from}, not node ${from}`);
        if (frame.to !== this.self) {
          this.counters.droppedMisrouted++;
          continue;
        }
        this.counters.messagesReceived++;
        this.handler?.(frame);
      }
    });
    socket.on("error", () => {}); // "close" follows; refusals are logged where they happen
    socket.on("close", () => {
      clearTimeout(timer);
      this.inbound.delete(socket);
    });
  }

  /** checkHandshake returns the peer's id, or why its first frame is refused. */
  private checkHandshake(frame: unknown): NodeId | string {
    const hello = parseHandshake(frame);
    if (hello === null) return "first frame is not a handshake";
    if (hello.protocolVersion !== protocolVersion) {
      return `node ${hello.from} speaks protocol version ${hello.protocolVersion}, not ${protocolVersion}`;
    }
    if (!timingSafeEqual(digest(hello.clusterToken), this.tokenDigest)) return `node ${hello.from} presented a wrong cluster token`;
    if (hello.from === this.self) return `node ${hello.from} claims this node's own id`;
    if (!this.admit(hello.from, hello.peerAddress)) return `node ${hello.from} is not admitted (removed from the cluster)`;
    if (hello.peerAddress !== undefined && !this.addresses.has(hello.from)) this.setPeer(hello.from, hello.peerAddress);
    return hello.from;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
