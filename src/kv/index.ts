/** The KV state machine's public surface. */
export { MvccStore, requestBytesMaxDefault, txnOpsMaxDefault } from "./mvcc-store.js";
export type { Applied, MvccOptions } from "./mvcc-store.js";
export { MemoryStore } from "./memory-store.js";
export type { OrderedStore, ScanOptions, StoreEntry } from "./ports.js";
export { GrpcStatus, KvError } from "./errors.js";
export type { KvErrorCode, KvResult } from "./errors.js";
export { requestSizeBytes } from "./request-size.js";
export { prefixEnd } from "./bytes.js";
export * from "./types.js";
