/**
 * MvccTestBackend is the TEST backend of the etcd API layer: one MvccStore on
 * a MemoryStore, single node, no consensus, no durability. Every request is
 * applied at once, in arrival order. It exists to test the API layer alone;
 * the real backend is the server's.
 *
 * Failures can be injected: `failNext(error)` makes the next backend call
 * reject with `error`, to check how the API maps it.
 */
import type { EtcdBackend, HeaderInfo, MemberInfo, StatusInfo } from "../../src/api/etcd/index.js";
import { MemoryStore, MvccStore } from "../../src/kv/index.js";
import type {
  Applied,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  KvEvent,
  KvResult,
  MvccOptions,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../../src/kv/index.js";

/** testClusterId and testMemberId exceed 2^63, to prove uint64 IDs cross the wire exactly. */
export const testClusterId = 0xf3a1_92c4_5d6e_7b80n;
export const testMemberId = 0xe1d2_c3b4_a596_8778n;
export const testMemberName = "synod-test";
export const testPeerUrl = "http://127.0.0.1:2380";
/** testVersion is the server version the test backend reports. */
export const testVersion = "3.4.0";
export const testRaftTerm = 2;

export class MvccTestBackend implements EtcdBackend {
  readonly store: MemoryStore;
  readonly mvcc: MvccStore;
  /** clientUrl is reported by memberList; the harness sets it once the port is known. */
  clientUrl = "";
  /** raftIndex counts the writes applied, standing in for the log index. */
  raftIndex = 1;
  /** dbSizeBytesFixed, when set, is reported as the database size instead of the stored bytes. */
  dbSizeBytesFixed: number | undefined;
  private readonly injected: unknown[] = [];

  constructor(options: MvccOptions = {}, store = new MemoryStore()) {
    this.store = store;
    this.mvcc = new MvccStore(this.store, options);
  }

  /** failNext makes the next backend call reject with `error`. */
  failNext(error: unknown): void {
    this.injected.push(error);
  }

  range(r: RangeRequest): Promise<RangeResponse> {
    return this.run(() => unwrap(this.mvcc.range(r)));
  }

  put(r: PutRequest): Promise<PutResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.put(r))));
  }

  deleteRange(r: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.deleteRange(r))));
  }

  txn(r: TxnRequest): Promise<TxnResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.txn(r))));
  }

  compact(r: CompactionRequest): Promise<CompactionResponse> {
    return this.run(() => this.applied(unwrap(this.mvcc.compact(r))));
  }

  hashKv(revision: number): Promise<HashKvResponse> {
    return this.run(() => unwrap(this.mvcc.hashKv(revision)));
  }

  status(): Promise<StatusInfo> {
    return this.run(() => this.statusNow());
  }

  /** statusNow is what `status` answers at this moment. */
  statusNow(): StatusInfo {
    const sizeBytes = this.dbSizeBytesFixed ?? this.sizeBytes();
    return {
      version: testVersion,
      dbSizeBytes: sizeBytes,
      dbSizeInUseBytes: sizeBytes,
      leader: testMemberId,
      raftIndex: this.raftIndex,
      raftTerm: testRaftTerm,
      raftAppliedIndex: this.raftIndex,
      errors: [],
      isLearner: false,
      revision: this.mvcc.revision,
    };
  }

  memberList(): Promise<readonly MemberInfo[]> {
    return this.run(() => [
      { id: testMemberId, name: testMemberName, peerUrls: [testPeerUrl], clientUrls: [this.clientUrl], isLearner: false },
    ]);
  }

  header(): HeaderInfo {
    return { clusterId: testClusterId, memberId: testMemberId, raftTerm: testRaftTerm };
  }

  /** applied counts a write and hands its events to `afterApply`, then returns its response. */
  protected applied<T>(result: Applied<T>): T {
    this.raftIndex++;
    this.afterApply(result.events);
    return result.response;
  }

  /** afterApply is told the events of every applied write, in order (the base backend has no watchers). */
  protected afterApply(_events: readonly KvEvent[]): void {}

  private sizeBytes(): number {
    let bytes = 0;
    for (const [key, value] of this.store.entries()) bytes += key.length + value.length;
    return bytes;
  }

  protected run<T>(work: () => T): Promise<T> {
    const error = this.injected.shift();
    if (error !== undefined) return Promise.reject(asError(error));
    try {
      return Promise.resolve(work());
    } catch (thrown) {
      return Promise.reject(asError(thrown));
    }
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error("non-Error failure", { cause: value });
}

export function unwrap<T>(result: KvResult<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}
