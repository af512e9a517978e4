import assert from "node:assert/strict";
import { test } from "node:test";
import type { Envelope } from "../../src/consensus/types.js";
import { groupId, nodeId } from "../../src/consensus/types.js";
import { MemoryNetwork } from "../../src/transport/memory-transport.js";

interface Msg extends Envelope {
  readonly seq: number;
  readonly data: Uint8Array;
}

function msg(from: number, to: number, seq: number): Msg {
  return { groupId: groupId(1), from: nodeId(from), to: nodeId(to), seq, data: new Uint8Array([seq & 0xff]) };
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test("the memory transport delivers copies, in order, at the end of the turn", async () => {
  const net = new MemoryNetwork<Msg>();
  const a = net.transport(nodeId(1));
  const b = net.transport(nodeId(2));
  const got: Msg[] = [];
  b.onMessage((m) => got.push(m));
  await Promise.all([a.start(), b.start()]);
  const sent = [msg(1, 2, 1), msg(1, 2, 2), msg(1, 2, 3)];
  for (const m of sent) a.send(m);
  assert.equal(got.length, 0);
  await turn();
  assert.deepEqual(got, sent);
  assert.notEqual(got[0], sent[0]);
  assert.notEqual(got[0]?.data, sent[0]?.data);
  assert.equal(a.stats().writes, 1);
  await Promise.all([a.stop(), b.stop()]);
});

test("cut links lose messages; bounds drop; unknown peers are counted", async () => {
  const net = new MemoryNetwork<Msg>({ queueMessagesMax: 5 });
  const a = net.transport(nodeId(1));
  const b = net.transport(nodeId(2));
  const got: number[] = [];
  b.onMessage((m) => got.push(m.seq));
  await Promise.all([a.start(), b.start()]);
  net.setLink(nodeId(1), nodeId(2), false);
  a.send(msg(1, 2, 1));
  await turn();
  assert.deepEqual(got, []);
  net.isolate(nodeId(1), false);
  for (let i = 0; i < 8; i++) a.send(msg(1, 2, 10 + i));
  a.send(msg(1, 7, 0));
  await turn();
  assert.deepEqual(got, [10, 11, 12, 13, 14]);
  assert.equal(a.stats().droppedQueueFull, 3);
  assert.equal(a.stats().droppedUnknownPeer, 1);
  await b.stop();
  a.send(msg(1, 2, 20));
  await turn();
  assert.deepEqual(got, [10, 11, 12, 13, 14]);
});
