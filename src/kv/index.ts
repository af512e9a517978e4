/** The KV state machine's public surface. */
export { MvccStore, requestBytesMaxDefault, txnOpsMaxDefault } from "./mvcc-store.js";
export type { Applied, EventsSince, EventsSinceRequest, LeaseAttachments, MvccOptions } from "./mvcc-store.js";
export { MemoryStore } from "./memory-store.js";
export type { OrderedStore, ScanOptions, StoreEntry } from "./ports.js";
export { GrpcStatus, KvError } from "./errors.js";
export type { KvErrorCode, KvResult } from "./errors.js";
export { requestSizeBytes } from "./request-size.js";
export { prefixEnd } from "./bytes.js";
export * from "./types.js";
export { WatchHub, fragmentResponse, watchIdNone, cancelReasons } from "./watch-hub.js";
export type {
  CreateWatchResult,
  PumpReport,
  WatchCreateRequest,
  WatchHubOptions,
  WatchResponse,
  WatchSink,
  WatchSource,
  WatchStream,
} from "./watch-hub.js";
export { LeaseStore, leaseIdLimit, leaseTtlMaxSeconds, leaseTtlMinSecondsDefault, validLeaseId } from "./lease-store.js";
export type {
  LeaseCheckpoint,
  LeaseGrantRequest,
  LeaseInfo,
  LeaseRequest,
  LeaseResponse,
  LeaseStoreOptions,
  LeaseTimeToLive,
} from "./lease-store.js";
export { LeaseClock } from "./lease-clock.js";
export type { KeepAliveResult, LeaseClockOptions } from "./lease-clock.js";
