import { Packr, Unpackr } from "msgpackr";
import type { Envelope, NodeId } from "../consensus/types.js";
import { assert } from "../consensus/types.js";

/**
 * The peer wire format, as a pure byte-level codec (no sockets here).
 *
 * A connection carries frames: a 4-byte big-endian payload length, then that
 * many bytes of msgpack. The dialing side's first frame is a Handshake; every
 * later frame is one engine message (an object carrying an Envelope). Each
 * payload decodes on its own: msgpack records (which make arrays of like
 * objects, e.g. an append's entries, smaller and faster) are defined inside the
 * payload that uses them, never across frames. Values round-trip exactly except
 * that binary fields arrive as plain Uint8Arrays and -0 arrives as 0.
 */

/** frameHeaderBytes is the size of a frame's length prefix. */
export const frameHeaderBytes = 4;

/** defaultFrameBytesMax bounds one frame's payload unless configured otherwise. */
export const defaultFrameBytesMax = 16 * 1024 * 1024;

/** protocolVersion is the version of this wire format; peers with another version are refused. */
export const protocolVersion = 1;

/** FrameErrorCode names how a byte stream broke the format. */
export type FrameErrorCode = "frameTooLarge" | "malformedFrame";

/** FrameError says a peer's byte stream broke the format; the connection is closed, nothing else. */
export class FrameError extends Error {
  readonly code: FrameErrorCode;

  constructor(code: FrameErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FrameError";
    this.code = code;
  }
}

/** FeedResult is what feeding bytes to a decoder gives: the frames completed, or the error that ends the stream. */
export type FeedResult = { readonly ok: true; readonly frames: unknown[] } | { readonly ok: false; readonly error: FrameError };

const packr = new Packr({ useRecords: true });

/** encodePayload is the msgpack payload of one frame (no length prefix). */
export function encodePayload(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** encodeFrames concatenates payloads into one buffer of frames, each with its length prefix. */
export function encodeFrames(payloads: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const p of payloads) total += frameHeaderBytes + p.length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const p of payloads) {
    out.writeUInt32BE(p.length, offset);
    out.set(p, offset + frameHeaderBytes);
    offset += frameHeaderBytes + p.length;
  }
  return out;
}

/** encodeFrame is one value as one complete frame. */
export function encodeFrame(value: unknown): Buffer {
  return encodeFrames([encodePayload(value)]);
}

/**
 * FrameDecoder turns a byte stream, fed in chunks of any size, into decoded
 * frame payloads. It holds at most one incomplete frame, whose size is checked
 * against `frameBytesMax` as soon as its length prefix is known, so a peer can
 * never make it buffer more. After an error it stays failed.
 */
export class FrameDecoder {
  private readonly frameBytesMax: number;
  private readonly unpackr = new Unpackr({ useRecords: true, mapsAsObjects: true, copyBuffers: true, int64AsType: "number" });
  private readonly header = new Uint8Array(frameHeaderBytes);
  private headerFilled = 0;
  /** payload is the frame being assembled once its length is known (null while reading a header). */
  private payload: Uint8Array | null = null;
  private payloadFilled = 0;
  private error: FrameError | null = null;

  constructor(options: { readonly frameBytesMax?: number } = {}) {
    this.frameBytesMax = options.frameBytesMax ?? defaultFrameBytesMax;
    assert(this.frameBytesMax > 0, "frameBytesMax must be positive");
  }

  /** bufferedBytes is how many bytes of an incomplete frame are held. */
  bufferedBytes(): number {
    return this.headerFilled + this.payloadFilled;
  }

  /** feed consumes one chunk and returns every frame it completed, in order. */
  feed(chunk: Uint8Array): FeedResult {
    if (this.error !== null) return { ok: false, error: this.error };
    const frames: unknown[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.payload === null) {
        // Fast path: a whole frame inside this chunk is decoded in place.
        if (this.headerFilled === 0 && chunk.length - offset >= frameHeaderBytes) {
          const length = readLength(chunk, offset);
          const problem = this.checkLength(length);
          if (problem !== null) return this.fail(problem);
          if (chunk.length - offset - frameHeaderBytes >= length) {
            const start = offset + frameHeaderBytes;
            const decoded = this.decode(chunk.subarray(start, start + length));
            if (decoded instanceof FrameError) return this.fail(decoded);
            frames.push(decoded.value);
            offset = start + length;
            continue;
          }
        }
        const take = Math.min(frameHeaderBytes - this.headerFilled, chunk.length - offset);
        this.header.set(chunk.subarray(offset, offset + take), this.headerFilled);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled < frameHeaderBytes) break;
        const length = readLength(this.header, 0);
        const problem = this.checkLength(length);
        if (problem !== null) return this.fail(problem);
        this.payload = new Uint8Array(length);
        this.payloadFilled = 0;
      }
      const take = Math.min(this.payload.length - this.payloadFilled, chunk.length - offset);
      this.payload.set(chunk.subarray(offset, offset + take), this.payloadFilled);
      this.payloadFilled += take;
      offset += take;
      if (this.payloadFilled < this.payload.length) break;
      const decoded = this.decode(this.payload);
      this.payload = null;
      this.payloadFilled = 0;
      this.headerFilled = 0;
      if (decoded instanceof FrameError) return this.fail(decoded);
      frames.push(decoded.value);
    }
    return { ok: true, frames };
  }

  private checkLength(length: number): FrameError | null {
    if (length > this.frameBytesMax) {
      return new FrameError("frameTooLarge", `frame of ${length} bytes exceeds frameBytesMax ${this.frameBytesMax}`);
    }
    if (length === 0) return new FrameError("malformedFrame", "empty frame");
    return null;
  }

  private decode(payload: Uint8Array): { readonly value: unknown } | FrameError {
    // A plain Uint8Array view (not a Buffer) makes msgpackr return binary
    // fields as plain Uint8Arrays; copyBuffers makes them independent copies.
    const view = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    try {
      return { value: this.unpackr.unpack(view) as unknown };
    } catch (err) {
      return new FrameError("malformedFrame", `frame of ${payload.length} bytes is not valid msgpack`, { cause: err });
    }
  }

  private fail(error: FrameError): FeedResult {
    this.error = error;
    this.payload = null;
    return { ok: false, error };
  }
}

function readLength(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) * 0x100_0000 + ((bytes[offset + 1] ?? 0) << 16)) + ((bytes[offset + 2] ?? 0) << 8) + (bytes[offset + 3] ?? 0);
}

/** Handshake is the first frame a dialing peer sends: who it is, and proof it belongs to the cluster. */
export interface Handshake {
  readonly type: "hello";
  readonly clusterToken: string;
  readonly from: NodeId;
  readonly protocolVersion: number;
  /**
   * peerAddress, when present, is where the dialer listens for peers. It lets
   * a member that joined an existing cluster answer a peer it has not yet
   * learned about from the replicated member records (see TcpTransport's `admit`).
   */
  readonly peerAddress?: { readonly host: string; readonly port: number };
}

/** handshake builds this node's handshake frame payload; `peerAddress` is where this node listens, if it tells. */
export function handshake(clusterToken: string, from: NodeId, peerAddress?: { readonly host: string; readonly port: number }): Handshake {
  return peerAddress === undefined ? { type: "hello", clusterToken, from, protocolVersion } : { type: "hello", clusterToken, from, protocolVersion, peerAddress };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** parseHandshake checks the shape of a decoded first frame; null when it is not a handshake. */
export function parseHandshake(value: unknown): Handshake | null {
  if (!isRecord(value) || value["type"] !== "hello") return null;
  if (typeof value["clusterToken"] !== "string") return null;
  if (!isNodeIdValue(value["from"]) || !Number.isSafeInteger(value["protocolVersion"])) return null;
  const address = value["peerAddress"];
  if (address !== undefined && !isPeerAddressValue(address)) return null;
  return value as unknown as Handshake;
}

function isPeerAddressValue(value: unknown): boolean {
  if (!isRecord(value) || typeof value["host"] !== "string" || value["host"].length === 0 || value["host"].length > 255) return false;
  const port = value["port"];
  return typeof port === "number" && Number.isInteger(port) && port > 0 && port <= 65535;
}

function isNodeIdValue(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/** isEnvelope checks that a decoded frame carries a message envelope (group, sender, receiver). */
export function isEnvelope(value: unknown): value is Envelope {
  return (
    isRecord(value) &&
    Number.isSafeInteger(value["groupId"]) &&
    isNodeIdValue(value["from"]) &&
    isNodeIdValue(value["to"])
  );
}
