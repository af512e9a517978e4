import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { RaftMessage } from "../../src/consensus/raft/messages.js";
import { groupId, logIndex, nodeId, term } from "../../src/consensus/types.js";
import {
  encodeFrame,
  encodeFrames,
  encodePayload,
  FrameDecoder,
  handshake,
  isEnvelope,
  parseHandshake,
} from "../../src/transport/frame-codec.js";

const append: RaftMessage = {
  type: "append",
  groupId: groupId(3),
  from: nodeId(1),
  to: nodeId(2),
  term: term(7),
  prevLogIndex: logIndex(41),
  prevLogTerm: term(6),
  commit: logIndex(40),
  entries: [
    { index: logIndex(42), term: term(7), type: "normal", data: new Uint8Array([0, 1, 2, 255]) },
    { index: logIndex(43), term: term(7), type: "normal", data: new Uint8Array(0) },
    { index: logIndex(44), term: term(7), type: "config", change: { ops: [{ type: "addLearner", node: nodeId(9) }] } },
  ],
};

const snapshot: RaftMessage = {
  type: "snapshot",
  groupId: groupId(2 ** 40),
  from: nodeId(1),
  to: nodeId(3),
  term: term(2 ** 33),
  snapshot: {
    meta: { index: logIndex(2 ** 45), term: term(9), membership: { voters: [nodeId(1)], votersOutgoing: [], learners: [] } },
    data: new Uint8Array(70_000).fill(5),
  },
};

function decodeAll(bytes: Uint8Array, chunkSizes: readonly number[] = [bytes.length]): unknown[] {
  const decoder = new FrameDecoder();
  const out: unknown[] = [];
  let offset = 0;
  for (const size of chunkSizes) {
    const result = decoder.feed(bytes.subarray(offset, offset + size));
    assert.ok(result.ok, result.ok ? "" : result.error.message);
    out.push(...result.frames);
    offset += size;
  }
  assert.equal(decoder.bufferedBytes(), 0);
  return out;
}

test("engine messages round-trip exactly, binary data as plain Uint8Arrays", () => {
  const frames = decodeAll(encodeFrames([encodePayload(append), encodePayload(snapshot)]));
  assert.deepEqual(frames, [append, snapshot]);
  const decoded = frames[0] as typeof append & { type: "append" };
  const first = decoded.entries[0];
  assert.ok(first?.type === "normal");
  assert.equal(Object.getPrototypeOf(first.data), Uint8Array.prototype);
  assert.ok(isEnvelope(decoded));
  assert.ok(!isEnvelope({ groupId: 1, from: 0, to: 2 }));
});

test("decoded binary data does not alias the bytes that were fed", () => {
  const bytes = encodeFrame(append);
  const [decoded] = decodeAll(bytes) as [typeof append & { type: "append" }];
  bytes.fill(0);
  const first = decoded.entries[0];
  assert.ok(first?.type === "normal");
  assert.deepEqual(first.data, new Uint8Array([0, 1, 2, 255]));
});

// msgpack writes -0 as the integer 0; no engine message carries -0, so the generator leaves it out.
test("any chunking of a frame stream decodes to the same frames", () => {
  const value = fc.oneof(
    fc.constant<unknown>(append),
    fc.record({ groupId: fc.nat(), from: fc.integer({ min: 1 }), to: fc.integer({ min: 1 }), data: fc.uint8Array({ maxLength: 600 }) }, { noNullPrototype: true }),
    fc.record({ type: fc.string(), n: fc.double({ noNaN: true }).filter((n) => !Object.is(n, -0)), list: fc.array(fc.nat(), { maxLength: 20 }) }, { noNullPrototype: true }),
  );
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 900 }), { maxLength: 40 }), (values, cuts) => {
      const bytes = encodeFrames(values.map(encodePayload));
      const sizes: number[] = [];
      let rest = bytes.length;
      for (const cut of cuts) {
        if (rest === 0) break;
        const size = Math.min(cut, rest);
        sizes.push(size);
        rest -= size;
      }
      if (rest > 0) sizes.push(rest);
      assert.deepEqual(decodeAll(bytes, sizes), values);
    }),
  );
});

test("a truncated frame waits for the rest, byte by byte", () => {
  const bytes = encodeFrame(append);
  const decoder = new FrameDecoder();
  for (let i = 0; i < bytes.length - 1; i++) {
    const result = decoder.feed(bytes.subarray(i, i + 1));
    assert.deepEqual(result, { ok: true, frames: [] });
  }
  assert.equal(decoder.bufferedBytes(), bytes.length - 1);
  assert.deepEqual(decoder.feed(bytes.subarray(bytes.length - 1)), { ok: true, frames: [append] });
});

test("a frame over frameBytesMax is an error as soon as its length is read", () => {
  const decoder = new FrameDecoder({ frameBytesMax: 1024 });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  const result = decoder.feed(header);
  assert.ok(!result.ok);
  assert.equal(result.error.code, "frameTooLarge");
  assert.equal(decoder.bufferedBytes(), 0);
  // The decoder stays failed.
  assert.equal(decoder.feed(encodeFrame({ a: 1 })).ok, false);
  // Exactly at the limit is fine.
  const ok = new FrameDecoder({ frameBytesMax: 1024 });
  const payload = encodePayload({ d: new Uint8Array(1000) });
  assert.ok(payload.length <= 1024);
  assert.equal(ok.feed(encodeFrames([payload])).ok, true);
});

test("garbage bytes and empty frames are errors", () => {
  const cases: Uint8Array[] = [
    Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // a length of 0x47455420: too large
    Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]), // 0xc1 is never valid msgpack
    Buffer.from([0, 0, 0, 3, 0x93, 0x01, 0x02]), // an array of 3 holding only 2
    Buffer.from([0, 0, 0, 0]),
    Buffer.from([0, 0, 0, 2, 0x01, 0x02]), // two values in one frame
  ];
  for (const bytes of cases) {
    const result = new FrameDecoder().feed(bytes);
    assert.ok(!result.ok, `expected an error for ${Buffer.from(bytes).toString("hex")}`);
    assert.ok(result.error.code === "frameTooLarge" || result.error.code === "malformedFrame");
  }
  const fuzz = fc.uint8Array({ minLength: 5, maxLength: 200 });
  fc.assert(
    fc.property(fuzz, (bytes) => {
      // Never throws, never buffers beyond the limit.
      const decoder = new FrameDecoder({ frameBytesMax: 4096 });
      const result = decoder.feed(bytes);
      assert.ok(decoder.bufferedBytes() <= 4 + 4096);
      if (result.ok) for (const frame of result.frames) assert.notEqual(frame, undefined);
    }),
  );
});

test("handshakes parse, and other values are not handshakes", () => {
  const hello = handshake("secret", nodeId(4));
  assert.deepEqual(parseHandshake(decodeAll(encodeFrame(hello))[0]), hello);
  assert.equal(parseHandshake({ type: "hello", clusterToken: 5, from: 4, protocolVersion: 1 }), null);
  assert.equal(parseHandshake({ type: "hello", clusterToken: "x", from: 0, protocolVersion: 1 }), null);
  assert.equal(parseHandshake(append), null);
  assert.equal(parseHandshake("hello"), null);
});
