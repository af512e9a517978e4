import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import type { Envelope, NodeId } from "../../src/consensus/types.js";
import { groupId, nodeId } from "../../src/consensus/types.js";
import { encodeFrame, handshake } from "../../src/transport/frame-codec.js";
import type { TcpTransportOptions } from "../../src/transport/tcp-transport.js";
import { TcpTransport } from "../../src/transport/tcp-transport.js";

interface TestMessage extends Envelope {
  readonly type: "test";
  readonly seq: number;
  readonly data: Uint8Array;
}

const token = "cluster-secret";
const host = "127.0.0.1";

function message(from: number, to: number, seq: number, bytes = 8): TestMessage {
  return { groupId: groupId(1), from: nodeId(from), to: nodeId(to), type: "test", seq, data: new Uint8Array(bytes).fill(seq & 0xff) };
}

/** Node is a started transport plus what it received and logged. */
interface Node {
  readonly id: NodeId;
  readonly transport: TcpTransport<TestMessage>;
  readonly received: TestMessage[];
  readonly logs: string[];
  readonly port: number;
}

type NodeOptions = Partial<Omit<TcpTransportOptions<TestMessage>, "self" | "listen" | "log">>;

function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 12000);
}

/** startNode starts a transport on `port`, or on a random port in [20000, 32000) retried on EADDRINUSE. */
async function startNode(id: number, options: NodeOptions = {}, port?: number): Promise<Node> {
  for (let attempt = 0; ; attempt++) {
    const received: TestMessage[] = [];
    const logs: string[] = [];
    const listenPort = port ?? randomPort();
    const transport = new TcpTransport<TestMessage>({
      self: nodeId(id),
      listen: { host, port: listenPort },
      clusterToken: token,
      reconnectDelayMsMin: 10,
      reconnectDelayMsMax: 100,
      log: (line) => logs.push(line),
      ...options,
    });
    transport.onMessage((msg) => received.push(msg));
    try {
      await transport.start();
      return { id: nodeId(id), transport, received, logs, port: listenPort };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== "EADDRINUSE" || attempt >= 20) throw err;
      if (port !== undefined) await sleep(50); // a fixed port: wait for it to be free again
    }
  }
}

function link(a: Node, b: Node): void {
  a.transport.setPeer(b.id, { host, port: b.port });
  b.transport.setPeer(a.id, { host, port: a.port });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function stopAll(...nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.transport.stop()));
}

test("two transports exchange messages in order, batched per turn", async () => {
  const a = await startNode(1);
  const b = await startNode(2);
  try {
    link(a, b);
    const rounds = 20;
    const perRound = 50;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) {
        a.transport.send(message(1, 2, r * perRound + i, 100));
        b.transport.send(message(2, 1, r * perRound + i));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const total = rounds * perRound;
    await waitFor("all messages", () => a.received.length === total && b.received.length === total);
    assert.deepEqual(
      b.received.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i),
    );
    assert.deepEqual(b.received[7], message(1, 2, 7, 100));
    assert.equal(Object.getPrototypeOf(b.received[7]?.data), Uint8Array.prototype);
    assert.deepEqual(
      a.received.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i),
    );
    const stats = a.transport.stats();
    assert.equal(stats.messagesSent, total);
    assert.ok(stats.writes <= rounds + 1, `${stats.writes} writes for ${rounds} turns`);
    assert.equal(b.transport.stats().messagesReceived, total);
  } finally {
    await stopAll(a, b);
  }
});

test("a sender reconnects to a peer that restarted", async () => {
  const a = await startNode(1);
  let b = await startNode(2);
  try {
    link(a, b);
    a.transport.send(message(1, 2, 1));
    await waitFor("first message", () => b.received.length === 1);
    await b.transport.stop();

    b = await startNode(2, {}, b.port);
    let seq = 2;
    await waitFor(
      "a message after the restart",
      () => {
        a.transport.send(message(1, 2, seq++));
        return b.received.length > 0;
      },
      10_000,
    );
    const seqs = b.received.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "still in order");
  } finally {
    await stopAll(a, b);
  }
});

test("garbage on a connection closes that connection only", async () => {
  const a = await startNode(1);
  const b = await startNode(2);
  try {
    link(a, b);
    a.transport.send(message(1, 2, 1));
    await waitFor("first message", () => b.received.length === 1);

    const raw = connect({ host, port: b.port });
    const closed = new Promise<void>((resolve) => raw.on("close", () => resolve()));
    raw.on("error", () => {});
    raw.write("GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    await closed;
    assert.equal(b.transport.stats().connectionsRefused, 1);
    assert.ok(b.logs.some((l) => l.includes("frameBytesMax")), b.logs.join("\n"));

    // A valid handshake followed by a malformed frame is closed too.
    const raw2 = connect({ host, port: b.port });
    const closed2 = new Promise<void>((resolve) => raw2.on("close", () => resolve()));
    raw2.on("error", () => {});
    raw2.write(Buffer.concat([encodeFrame(handshake(token, nodeId(5))), Buffer.from([0, 0, 0, 2, 0xc1, 0xc1])]));
    await closed2;
    assert.equal(b.transport.stats().connectionsRefused, 2);

    a.transport.send(message(1, 2, 2));
    b.transport.send(message(2, 1, 3));
    await waitFor("messages after the garbage", () => b.received.length === 2 && a.received.length === 1);
  } finally {
    await stopAll(a, b);
  }
});

test("a wrong cluster token, or a message claiming another sender, is refused", async () => {
  const b = await startNode(2);
  const intruder = await startNode(3, { clusterToken: "wrong" });
  const a = await startNode(1);
  try {
    link(a, b);
    intruder.transport.setPeer(b.id, { host, port: b.port });
    intruder.transport.send(message(3, 2, 1));
    await waitFor("refusal", () => b.logs.some((l) => l.includes("wrong cluster token")));
    assert.ok(b.transport.stats().connectionsRefused >= 1);

    const spoof = connect({ host, port: b.port });
    const closed = new Promise<void>((resolve) => spoof.on("close", () => resolve()));
    spoof.on("error", () => {});
    spoof.write(Buffer.concat([encodeFrame(handshake(token, nodeId(5))), encodeFrame(message(1, 2, 99))]));
    await closed;
    assert.ok(b.logs.some((l) => l.includes("claims to come from node 1")), b.logs.join("\n"));

    a.transport.send(message(1, 2, 2));
    await waitFor("the real peer's message", () => b.received.length === 1);
    assert.deepEqual(
      b.received.map((m) => m.from),
      [1],
    );
  } finally {
    await stopAll(a, b, intruder);
  }
});

test("per-peer queues drop rather than grow past their bounds", async () => {
  const down = randomPort(); // nobody listens there
  const a = await startNode(1, { queueMessagesMax: 10, queueBytesMax: 100_000, frameBytesMax: 64 * 1024 });
  try {
    a.transport.setPeer(nodeId(2), { host, port: down });
    for (let i = 0; i < 100; i++) a.transport.send(message(1, 2, i));
    assert.equal(a.transport.stats().droppedQueueFull, 90);
    a.transport.send(message(1, 9, 0));
    assert.equal(a.transport.stats().droppedUnknownPeer, 1);
    a.transport.send(message(1, 2, 0, 70_000));
    assert.equal(a.transport.stats().droppedOversized, 1);
    await sleep(50); // reconnect attempts keep failing; nothing grows
    a.transport.send(message(1, 2, 100));
    assert.equal(a.transport.stats().droppedQueueFull, 91);
  } finally {
    await stopAll(a);
  }

  const small = await startNode(1, { queueMessagesMax: 1000, queueBytesMax: 10_000 });
  const b = await startNode(2);
  try {
    link(small, b);
    for (let i = 0; i < 100; i++) small.transport.send(message(1, 2, i, 1000)); // ~1 KiB each
    const dropped = small.transport.stats().droppedQueueFull;
    assert.ok(dropped >= 90 && dropped < 100, `dropped ${dropped}`);
    await waitFor("the messages that fit", () => b.received.length === 100 - dropped);
    assert.deepEqual(
      b.received.map((m) => m.seq),
      Array.from({ length: 100 - dropped }, (_, i) => i),
    );
  } finally {
    await stopAll(small, b);
  }
});

test("a dialer that advertises its address becomes a peer the receiver can answer", async () => {
  // b knows nobody (like a member that joined an existing cluster); a knows b and advertises itself.
  const b = await startNode(2);
  const aPort = randomPort();
  const a = await startNode(1, { advertise: { host, port: aPort }, peers: [[b.id, { host, port: b.port }]] }, aPort);
  try {
    assert.equal(b.transport.hasPeer(a.id), false);
    a.transport.send(message(1, 2, 1));
    await waitFor("b to receive", () => b.received.length === 1);
    assert.equal(b.transport.hasPeer(a.id), true);
    b.transport.send(message(2, 1, 2));
    await waitFor("a to receive the answer", () => a.received.length === 1);
  } finally {
    await a.transport.stop();
    await b.transport.stop();
  }
});

test("a dialer the admit policy refuses is closed before any message reaches the handler", async () => {
  const refused = new Set<NodeId>([nodeId(1)]);
  const b = await startNode(2, { admit: (id) => !refused.has(id) });
  const a = await startNode(1);
  try {
    link(a, b);
    a.transport.send(message(1, 2, 1));
    await waitFor("the refusal", () => b.logs.some((l) => l.includes("not admitted")));
    assert.equal(b.received.length, 0);
    // Once admitted again, messages flow; removePeer then closes its inbound connection too.
    refused.clear();
    await waitFor("a message once admitted", () => {
      a.transport.send(message(1, 2, 2));
      return b.received.length > 0;
    });
    refused.add(nodeId(1));
    b.transport.removePeer(a.id);
    const before = b.received.length;
    await sleep(200);
    a.transport.send(message(1, 2, 3));
    await sleep(300);
    assert.equal(b.received.length, before);
  } finally {
    await a.transport.stop();
    await b.transport.stop();
  }
});
