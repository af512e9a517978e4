export type { FeedResult, FrameErrorCode, Handshake } from "./frame-codec.js";
export {
  defaultFrameBytesMax,
  encodeFrame,
  encodeFrames,
  encodePayload,
  FrameDecoder,
  FrameError,
  frameHeaderBytes,
  handshake,
  isEnvelope,
  parseHandshake,
  protocolVersion,
} from "./frame-codec.js";
export type { MemoryNetworkOptions } from "./memory-transport.js";
export { MemoryNetwork, MemoryTransport } from "./memory-transport.js";
export type { TcpTransportOptions } from "./tcp-transport.js";
export { defaultTcpLimits, TcpTransport } from "./tcp-transport.js";
export type { PeerAddress, QueueLimits, Transport, TransportStats } from "./transport.js";
export { defaultQueueLimits, PeerQueue } from "./transport.js";
