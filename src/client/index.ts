/** The Synod client: a typed client of the etcd v3 API with leases, watches, a mutex with fencing and elections. */
export { SynodClient } from "./client.js";
export type { SynodClientOptions } from "./client.js";
export { Connection, attemptsMaxDefault, retryPauseMsDefault } from "./connection.js";
export type { ConnectionOptions, UnaryOptions } from "./connection.js";
export { SynodClientError, WatchCompactedError } from "./errors.js";
export { KvClient, compare, op } from "./kv.js";
export type { Bytes, Compare, GetOptions, GetResult, KeyValue, Op, PutOptions, TxnRequest, TxnResult } from "./kv.js";
export { Lease, keepAliveIntervalMsMin } from "./lease.js";
export { Watcher, bufferedEventsMax } from "./watch.js";
export type { WatchEvent, WatchOptions } from "./watch.js";
export { Mutex, fencedPut, mutexLeaseTtlSecondsDefault } from "./mutex.js";
export type { MutexOptions } from "./mutex.js";
export { Election, electionLeaseTtlSecondsDefault } from "./election.js";
export type { CampaignOptions, LeaderKey } from "./election.js";
