/**
 * storage/ — one server's durable state on LMDB.
 *
 * - `Storage.open({ dataDir })` claims the directory (lock file `synod.lock`,
 *   refused with code "locked" while another live process holds it) and opens
 *   the environment `<dataDir>/synod.mdb` with a fixed map size.
 * - `storage.group<H>(groupId)` is a group's log store: `load()` on restart,
 *   `persist({ hardState, entries, snapshot })` for each Ready, `saveSnapshot`
 *   + `compact` after the engine compacts, `saveBootstrap`, the applied index.
 * - `storage.transaction(fn)` and `storage.table(name)` let the state machine
 *   write its tables and `writeAppliedIndex` in the same commit.
 * - Every write of one event-loop turn shares one durable commit.
 * - Snapshot data is stored in LMDB itself, in chunks of `snapshotChunkBytes`
 *   under the group's snapshot key space, not in a file beside it: installing a
 *   snapshot and dropping the log it replaces then happen in one atomic commit,
 *   and every chunk carries its own checksum like every other record.
 */
export { crc32c } from "./checksum.js";
export type { RecordKind, StorageErrorCode } from "./errors.js";
export { StorageCorruptionError, StorageError } from "./errors.js";
export type { DurableState, PersistRequest } from "./group-storage.js";
export { GroupStorage } from "./group-storage.js";
export { lockFileName } from "./lock.js";
export { emptyRaftHardState, raftDurableState } from "./raft-state.js";
export type { StorageOptions, StorageStats, Table } from "./storage.js";
export { consensusTableName, defaultStorageLimits, envFileName, Storage } from "./storage.js";
