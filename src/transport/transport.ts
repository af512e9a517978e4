import type { Envelope } from "../consensus/types.js";

/**
 * Transport is the port between a server's replicas and its peers: it carries
 * engine messages to the node named by `to`, and hands every message that
 * arrives to the handler. Delivery is best effort: a message may be dropped
 * (full queue, peer down, oversized), never duplicated by the transport, and
 * the messages from one node to another arrive in the order they were sent
 * while a connection lasts. Consensus tolerates the loss.
 */
export interface Transport<M extends Envelope> {
  /** start begins listening (if the transport listens) and accepting sends. */
  start(): Promise<void>;
  /** stop closes every connection and timer; queued messages are dropped. */
  stop(): Promise<void>;
  /** send queues `msg` for its `to` node; it never blocks and never throws for a full queue. */
  send(msg: M): void;
  /** onMessage sets the handler of every arriving message (one handler; a later call replaces it). */
  onMessage(handler: (msg: M) => void): void;
  /** stats counts what the transport did and dropped. */
  stats(): TransportStats;
}

/** PeerAddress is where a peer listens. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** TransportStats are monotonic counters since the transport started. */
export interface TransportStats {
  readonly messagesSent: number;
  readonly messagesReceived: number;
  /** writes is the number of socket writes (or deliveries) that carried the sent messages. */
  readonly writes: number;
  readonly droppedQueueFull: number;
  readonly droppedOversized: number;
  readonly droppedUnknownPeer: number;
  /** droppedMisrouted counts arriving messages not addressed to this node. */
  readonly droppedMisrouted: number;
  /** connectionsRefused counts inbound connections closed for a bad handshake, a bad frame or a spoofed sender. */
  readonly connectionsRefused: number;
}

/** QueueLimits bound what waits to be sent to one peer. */
export interface QueueLimits {
  readonly queueMessagesMax: number;
  readonly queueBytesMax: number;
}

/** defaultQueueLimits are the production per-peer bounds. */
export const defaultQueueLimits: QueueLimits = {
  queueMessagesMax: 4096,
  queueBytesMax: 64 * 1024 * 1024,
};

/** MutableStats is the counters a transport updates. */
export type MutableStats = { -readonly [K in keyof TransportStats]: TransportStats[K] };

/** zeroStats is a fresh set of counters. */
export function zeroStats(): MutableStats {
  return {
    messagesSent: 0,
    messagesReceived: 0,
    writes: 0,
    droppedQueueFull: 0,
    droppedOversized: 0,
    droppedUnknownPeer: 0,
    droppedMisrouted: 0,
    connectionsRefused: 0,
  };
}

/**
 * PeerQueue holds what waits to be sent to one peer, bounded in messages and in
 * bytes. `push` refuses (returns false) rather than grow past either bound.
 */
export class PeerQueue<T> {
  private items: T[] = [];
  private bytes = 0;

  constructor(private readonly limits: QueueLimits) {}

  /** push appends an item of `size` bytes, or returns false when a bound would be exceeded. */
  push(item: T, size: number): boolean {
    if (this.items.length >= this.limits.queueMessagesMax) return false;
    if (this.bytes + size > this.limits.queueBytesMax) return false;
    this.items.push(item);
    this.bytes += size;
    return true;
  }

  /** drain removes and returns everything queued, oldest first. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }

  get length(): number {
    return this.items.length;
  }

  get byteLength(): number {
    return this.bytes;
  }
}

