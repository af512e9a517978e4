export { crc32c } from "./checksum.js";
export type { RecordKind, StorageErrorCode } from "./errors.js";
export { StorageCorruptionError, StorageError } from "./errors.js";
export type { DurableState, PersistRequest } from "./group-storage.js";
export { GroupStorage } from "./group-storage.js";
export { lockFileName } from "./lock.js";
export { emptyRaftHardState, raftDurableState } from "./raft-state.js";
export type { StorageOptions, StorageStats, Table } from "./storage.js";
export { consensusTableName, defaultStorageLimits, envFileName, Storage } from "./storage.js";
