import type { Envelope, NodeId } from "../consensus/types.js";
import { assert } from "../consensus/types.js";
import { defaultFrameBytesMax, encodeFrames, encodePayload, FrameDecoder, frameHeaderBytes } from "./frame-codec.js";
import type { MutableStats, QueueLimits, Transport, TransportStats } from "./transport.js";
import { defaultQueueLimits, PeerQueue, zeroStats } from "./transport.js";

/** MemoryNetworkOptions bounds the in-memory network like the TCP transport is bounded. */
export interface MemoryNetworkOptions {
  readonly frameBytesMax?: number;
  readonly queueMessagesMax?: number;
  readonly queueBytesMax?: number;
}

/**
 * MemoryNetwork connects MemoryTransports inside one process, for tests of the
 * layers above the transport. It behaves like the TCP transport where that
 * matters to them: messages go through the same frame encoding (so they arrive
 * as fresh copies, as they would from a socket), one event-loop turn's
 * messages to a peer are delivered together at the end of the turn, per-peer
 * queues are bounded and drop when full, and links can be cut (messages on a
 * cut link are lost, as on a dead connection).
 */
export class MemoryNetwork<M extends Envelope> {
  readonly frameBytesMax: number;
  readonly queueLimits: QueueLimits;
  private readonly nodes = new Map<NodeId, MemoryTransport<M>>();
  private readonly cut = new Set<string>();

  constructor(options: MemoryNetworkOptions = {}) {
    this.frameBytesMax = options.frameBytesMax ?? defaultFrameBytesMax;
    this.queueLimits = {
      queueMessagesMax: options.queueMessagesMax ?? defaultQueueLimits.queueMessagesMax,
      queueBytesMax: options.queueBytesMax ?? defaultQueueLimits.queueBytesMax,
    };
  }

  /** transport creates the transport of node `self` on this network. */
  transport(self: NodeId): MemoryTransport<M> {
    assert(!this.nodes.has(self), `node ${self} already has a transport`);
    const t = new MemoryTransport<M>(this, self);
    this.nodes.set(self, t);
    return t;
  }

  /** setLink cuts (`up` false) or restores the one-way link from `from` to `to`. */
  setLink(from: NodeId, to: NodeId, up: boolean): void {
    if (up) this.cut.delete(linkKey(from, to));
    else this.cut.add(linkKey(from, to));
  }

  /** isolate cuts (or restores) every link to and from `node`. */
  isolate(node: NodeId, isolated = true): void {
    for (const other of this.nodes.keys()) {
      if (other === node) continue;
      this.setLink(node, other, !isolated);
      this.setLink(other, node, !isolated);
    }
  }

  /** isLinkUp says whether messages from `from` reach `to`. */
  isLinkUp(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(linkKey(from, to));
  }

  /** node returns the transport of `id`, if it has one. */
  node(id: NodeId): MemoryTransport<M> | undefined {
    return this.nodes.get(id);
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

/** MemoryTransport is one node's Transport on a MemoryNetwork. */
export class MemoryTransport<M extends Envelope> implements Transport<M> {
  private readonly queues = new Map<NodeId, PeerQueue<Uint8Array>>();
  private readonly counters: MutableStats = zeroStats();
  private handler: ((msg: M) => void) | null = null;
  private running = false;
  private flushScheduled = false;

  constructor(
    private readonly network: MemoryNetwork<M>,
    readonly self: NodeId,
  ) {}

  start(): Promise<void> {
    this.running = true;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    this.queues.clear();
    return Promise.resolve();
  }

  onMessage(handler: (msg: M) => void): void {
    this.handler = handler;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  send(msg: M): void {
    if (!this.running || msg.to === this.self || this.network.node(msg.to) === undefined) {
      this.counters.droppedUnknownPeer++;
      return;
    }
    const payload = encodePayload(msg);
    if (payload.length > this.network.frameBytesMax) {
      this.counters.droppedOversized++;
      return;
    }
    let queue = this.queues.get(msg.to);
    if (queue === undefined) {
      queue = new PeerQueue(this.network.queueLimits);
      this.queues.set(msg.to, queue);
    }
    if (!queue.push(payload, frameHeaderBytes + payload.length)) {
      this.counters.droppedQueueFull++;
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** flush delivers each peer's queued messages, decoded from one buffer of frames as a socket would carry them. */
  private flush(): void {
    this.flushScheduled = false;
    for (const [to, queue] of this.queues) {
      if (queue.length === 0) continue;
      const payloads = queue.drain();
      this.counters.writes++;
      this.counters.messagesSent += payloads.length;
      const target = this.network.node(to);
      if (target === undefined || !this.network.isLinkUp(this.self, to)) continue;
      const decoder = new FrameDecoder({ frameBytesMax: this.network.frameBytesMax });
      const result = decoder.feed(encodeFrames(payloads));
      assert(result.ok, "frames this network encoded decode");
      for (const frame of result.frames) target.deliver(frame as M);
    }
  }

  private deliver(msg: M): void {
    if (!this.running) return;
    this.counters.messagesReceived++;
    this.handler?.(msg);
  }
}
