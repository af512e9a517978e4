import { Packr } from "msgpackr";
import type { Entry, LogIndex, Snapshot } from "../consensus/types.js";
import { assert } from "../consensus/types.js";
import { LeaseClock, LeaseStore, MvccStore, WatchHub } from "../kv/index.js";
import type { KvError, KvEvent, KvRequest, KvResponse, LeaseInfo, LeaseRequest, LeaseResponse, MvccOptions, TxnRequest } from "../kv/index.js";
import { viewOp } from "../kv/check.js";
import type { StateMachinePort } from "../replica/ports.js";
import type { Storage, Table } from "../storage/storage.js";
import { BackupStream } from "./backup-stream.js";
import type { EngineKind } from "./engines.js";
import { LmdbOrderedStore } from "./lmdb-ordered-store.js";
import { decodeSnapshotDescriptor, encodeSnapshotDescriptor, SnapshotTables } from "./snapshot-tables.js";

/** MemberAttributes are what a member publishes about itself through the log (etcd's "publish"). */
export interface MemberAttributes {
  readonly nodeId: number;
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** AlarmType names an alarm, as etcd's AlarmType enum. */
export type AlarmType = "NOSPACE";

/** AlarmChange raises or clears one member's alarm; every member applies it alike (etcd's replicated alarms). */
export interface AlarmChange {
  readonly action: "activate" | "deactivate";
  readonly nodeId: number;
  readonly alarm: AlarmType;
}

/** Alarm is one raised alarm: which member raised it and what it is. */
export interface Alarm {
  readonly nodeId: number;
  readonly alarm: AlarmType;
}

/**
 * NoSpaceError refuses a write while a NOSPACE alarm is raised (or when the
 * write would take the data file past the quota); nothing was changed.
 */
export class NoSpaceError extends Error {
  readonly code = "noSpace";
  constructor() {
    super("etcdserver: mvcc: database space exceeded");
    this.name = "NoSpaceError";
  }
}

/**
 * MemberRecord is what the log says of one member: its engine node id, its
 * etcd member id (decimal: ids are uint64) and its peer URLs.
 */
export interface MemberRecord {
  readonly nodeId: number;
  readonly memberId: string;
  readonly peerUrls: readonly string[];
}

/**
 * MemberRecordChange changes the replicated member records; each is proposed
 * before the engine's configuration change it goes with. `put` adds a member
 * or replaces its peer URLs; `remove` drops a member's record and attributes
 * and remembers its id as removed forever; `seed` records the initial members
 * and the cluster id once (entries already recorded or removed are kept).
 */
export type MemberRecordChange =
  | { readonly action: "put"; readonly record: MemberRecord }
  | { readonly action: "remove"; readonly record: MemberRecord }
  | { readonly action: "seed"; readonly clusterId: string; readonly records: readonly MemberRecord[] };

/** MemberRecordError refuses a record change that conflicts with the applied records; nothing was changed. */
export class MemberRecordError extends Error {
  constructor(
    readonly code: "idRemoved" | "peerUrlExists",
    message: string,
  ) {
    super(message);
    this.name = "MemberRecordError";
  }
}

/** KvCommand is what a log entry carries: a KV request, a member's attributes, records or an alarm, and the id its origin waits on. */
export type KvCommand =
  | { readonly id: string; readonly request: KvRequest }
  | { readonly id: string; readonly lease: LeaseRequest }
  | { readonly id: string; readonly publish: MemberAttributes }
  | { readonly id: string; readonly alarm: AlarmChange }
  | { readonly id: string; readonly members: MemberRecordChange };

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeCommand(command: KvCommand): Uint8Array {
  return packr.pack(command);
}

/** decodeCommand reads an entry's command; a malformed one yields undefined (it is applied as a no-op everywhere alike). */
export function decodeCommand(data: Uint8Array): KvCommand | undefined {
  try {
    const value: unknown = packr.unpack(data);
    if (typeof value !== "object" || value === null) return undefined;
    const { id, request, publish } = value as { id?: unknown; request?: unknown; publish?: unknown };
    if (typeof id !== "string") return undefined;
    if (typeof request === "object" && request !== null) return { id, request: request as KvRequest };
    const lease = (value as { lease?: unknown }).lease;
    if (typeof lease === "object" && lease !== null) return { id, lease: lease as LeaseRequest };
    if (isMemberAttributes(publish)) return { id, publish };
    const alarm = (value as { alarm?: unknown }).alarm;
    if (isAlarmChange(alarm)) return { id, alarm };
    const members = (value as { members?: unknown }).members;
    if (isMemberRecordChange(members)) return { id, members };
    return undefined;
  } catch {
    return undefined;
  }
}

function isMemberAttributes(v: unknown): v is MemberAttributes {
  if (typeof v !== "object" || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m["nodeId"] === "number" && typeof m["name"] === "string" && Array.isArray(m["clientUrls"]) && m["clientUrls"].every((u) => typeof u === "string");
}

function isMemberRecord(v: unknown): v is MemberRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r["nodeId"] === "number" && Number.isSafeInteger(r["nodeId"]) && r["nodeId"] > 0 &&
    typeof r["memberId"] === "string" && /^[1-9][0-9]{0,19}$/.test(r["memberId"]) &&
    Array.isArray(r["peerUrls"]) && r["peerUrls"].length > 0 && r["peerUrls"].every((u) => typeof u === "string")
  );
}

function isMemberRecordChange(v: unknown): v is MemberRecordChange {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Record<string, unknown>;
  if (c["action"] === "put" || c["action"] === "remove") return isMemberRecord(c["record"]);
  return c["action"] === "seed" && typeof c["clusterId"] === "string" && Array.isArray(c["records"]) && c["records"].every(isMemberRecord);
}

function isAlarmChange(v: unknown): v is AlarmChange {
  if (typeof v !== "object" || v === null) return false;
  const a = v as Record<string, unknown>;
  return (a["action"] === "activate" || a["action"] === "deactivate") && typeof a["nodeId"] === "number" && a["alarm"] === "NOSPACE";
}

/** Alarms live in the state machine's table under their own prefix, so snapshots carry them: key = prefix, node id, alarm. */
const alarmPrefix = Buffer.from("s/alarm/");
const alarmCodes: Record<AlarmType, number> = { NOSPACE: 1 };

function alarmKey(alarm: Alarm): Buffer {
  const key = Buffer.alloc(alarmPrefix.length + 5);
  alarmPrefix.copy(key);
  key.writeUInt32BE(alarm.nodeId, alarmPrefix.length);
  key.writeUInt8(alarmCodes[alarm.alarm], alarmPrefix.length + 4);
  return key;
}

/** prefixEnd is the first key after every key starting with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end;
}

/** writesData tells whether a KV request changes data that a NOSPACE alarm must refuse (etcd's capped applier). */
export function writesData(request: KvRequest): boolean {
  if ("put" in request) return true;
  if ("txn" in request) return txnWrites(request.txn);
  return false;
}

function txnWrites(txn: TxnRequest): boolean {
  return [...(txn.success ?? []), ...(txn.failure ?? [])].some((op) => {
    const view = viewOp(op);
    if (view === undefined || view.kind === "range") return false;
    return view.kind === "txn" ? txnWrites(view.request) : true;
  });
}

/** Member attributes live in the state machine's table under their own prefix, beside the MVCC keyspaces, so snapshots carry them. */
const memberPrefix = Buffer.from("s/member/");

/** nodeKey is `prefix` followed by a node id (u32, big-endian), the key of one member's record under that prefix. */
function nodeKey(prefix: Buffer, nodeId: number): Buffer {
  const key = Buffer.alloc(prefix.length + 4);
  prefix.copy(key);
  key.writeUInt32BE(nodeId, prefix.length);
  return key;
}

function memberKey(nodeId: number): Buffer {
  return nodeKey(memberPrefix, nodeId);
}

/**
 * Member records, removed ids and the cluster id live under their own
 * prefixes of the state machine's table, so snapshots carry them:
 * `s/peer/<node id u32>` → record, `s/removed/<member id u64>` → record, `s/cluster` → id.
 */
const peerPrefix = Buffer.from("s/peer/");
const removedPrefix = Buffer.from("s/removed/");
const clusterKey = Buffer.from("s/cluster");

function peerKey(nodeId: number): Buffer {
  return nodeKey(peerPrefix, nodeId);
}

function removedKey(memberId: string): Buffer {
  const key = Buffer.alloc(removedPrefix.length + 8);
  removedPrefix.copy(key);
  key.writeBigUInt64BE(BigInt(memberId), removedPrefix.length);
  return key;
}

/** MemberRecords is the applied member table: current records by node id, removed member ids, and the cluster id once seeded. */
export interface MemberRecords {
  readonly records: ReadonlyMap<number, MemberRecord>;
  readonly removed: ReadonlyMap<string, MemberRecord>;
  readonly clusterId: string | undefined;
}

/**
 * isMembershipRecord tells whether a table key is one of the state machine's
 * member, removed-member, cluster-id or alarm records: they describe the cluster a copy was taken from,
 * so a restore into a new cluster leaves them out.
 */
export function isMembershipRecord(key: Uint8Array): boolean {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return [memberPrefix, alarmPrefix, peerPrefix, removedPrefix, clusterKey].some((prefix) => k.subarray(0, prefix.length).equals(prefix));
}

/** stateMachineTableName is the LMDB table the state machine keeps everything in. */
export const stateMachineTableName = "mvcc";

/** AppliedResult is the outcome of one applied command, for the member that waits on it. */
export type AppliedResult =
  | { readonly ok: true; readonly response: KvResponse | LeaseResponse | null; readonly revision: number }
  | { readonly ok: false; readonly error: KvError | NoSpaceError | MemberRecordError };

interface Pending {
  resolve(result: AppliedResult): void;
}

/** LeaseChange is an applied lease command, mirrored into the leader-side lease clock after it is durable. */
type LeaseChange =
  | { readonly kind: "granted"; readonly lease: LeaseInfo }
  | { readonly kind: "revoked"; readonly id: number }
  | { readonly kind: "checkpointed"; readonly id: number; readonly remainingTtl: number };

/**
 * KvStateMachine is the replicated state one member applies: the MVCC store
 * with its leases, on an LMDB table of the server's storage, plus the watch
 * hub and lease clock fed from it. Applied changes and the applied index
 * commit in the same group commit as the consensus writes of the same Ready;
 * watchers and the lease clock hear of them only once that commit is durable.
 */
export class KvStateMachine implements StateMachinePort {
  /** snapshots holds the live and staging tables, the pinned view followers pull, and the staging progress. */
  readonly snapshots: SnapshotTables;
  private mvccStore!: MvccStore;
  private leaseStore!: LeaseStore;
  private readonly waiting = new Map<string, Pending>();
  /**
   * recordsCached mirrors the member records as of applied index `atIndex`;
   * reading at another applied index (say, after a snapshot restore) reads the
   * table again, and an applied batch without record changes moves it along.
   */
  private recordsCached: { readonly atIndex: number; readonly value: MemberRecords } | undefined;
  /** alarmsCached mirrors the alarm keys of the table; undefined until read (and after a restore). */
  private alarmsCached: readonly Alarm[] | undefined;
  /** hub serves this member's watches from its applied state. */
  readonly hub: WatchHub;
  /** clock tracks lease deadlines; it decides expiry only while this member leads. */
  readonly clock = new LeaseClock();

  constructor(
    private readonly storage: Storage,
    private readonly options: MvccOptions = {},
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.snapshots = new SnapshotTables(storage);
    this.openStores();
    // The hub reads through whichever store is current (a snapshot replaces it).
    const current = (): MvccStore => this.mvccStore;
    this.hub = new WatchHub({
      get revision() {
        return current().revision;
      },
      get compactRevision() {
        return current().compactRevision;
      },
      eventsSince: (request) => current().eventsSince(request),
    });
    this.clock.load(this.leaseStore.leases());
  }

  /** table is the live table: it changes when a received snapshot is installed. */
  private get table(): Table {
    return this.snapshots.live;
  }

  private openStores(): void {
    const store = new LmdbOrderedStore(this.table);
    this.leaseStore = new LeaseStore(store);
    this.mvccStore = new MvccStore(store, { ...this.options, leases: this.leaseStore });
  }

  /** usedBytes is the space the state machine's table holds now (etcd's "db size in use"). */
  usedBytes(): number {
    return this.storage.tableUsedBytes(this.snapshots.liveName);
  }

  /** mvcc is the store, for reads served outside the log (Range, HashKV). */
  get mvcc(): MvccStore {
    return this.mvccStore;
  }

  /** leases is the replicated lease state, for reads (TimeToLive, Leases). */
  get leases(): LeaseStore {
    return this.leaseStore;
  }

  appliedIndex(): LogIndex {
    return this.mvccStore.consistentIndex() as LogIndex;
  }

  /** waitFor registers interest in the command `id`; the promise settles when it is applied. */
  waitFor(id: string): { promise: Promise<AppliedResult>; cancel(): void } {
    let resolve!: (r: AppliedResult) => void;
    const promise = new Promise<AppliedResult>((r) => (resolve = r));
    this.waiting.set(id, { resolve });
    return { promise, cancel: () => this.waiting.delete(id) };
  }

  apply(entries: readonly Entry[]): Promise<void> {
    const results: { id: string; result: AppliedResult }[] = [];
    const applied: { revision: number; events: readonly KvEvent[] }[] = [];
    const leaseChanges: LeaseChange[] = [];
    const indexBefore = this.mvccStore.consistentIndex();
    let recordsChanged = false;
    return this.storage
      .transaction(() => {
        let appliedIndex = this.mvccStore.consistentIndex();
        for (const entry of entries) {
          if (entry.index <= appliedIndex) continue;
          if (entry.type === "normal" && entry.data.length > 0) {
            const command = decodeCommand(entry.data);
            if (command !== undefined) {
              if ("members" in command) recordsChanged = true;
              const result = this.applyCommand(command, applied, leaseChanges);
              if (this.waiting.has(command.id)) results.push({ id: command.id, result });
            }
          }
          appliedIndex = entry.index;
        }
        this.mvccStore.setConsistentIndex(appliedIndex);
      })
      .then(() => {
        const cached = this.recordsCached;
        this.recordsCached = !recordsChanged && cached !== undefined && cached.atIndex === indexBefore ? { atIndex: this.mvccStore.consistentIndex(), value: cached.value } : undefined;
        for (const { revision, events } of applied) this.hub.onApplied(revision, events);
        const now = this.nowMs();
        for (const change of leaseChanges) {
          if (change.kind === "granted") this.clock.granted(change.lease, now);
          else if (change.kind === "revoked") this.clock.revoked(change.id);
          else this.clock.checkpointed(change.id, change.remainingTtl, now);
        }
        for (const { id, result } of results) {
          const pending = this.waiting.get(id);
          this.waiting.delete(id);
          pending?.resolve(result);
        }
      });
  }

  private applyCommand(command: KvCommand, applied: { revision: number; events: readonly KvEvent[] }[], leaseChanges: LeaseChange[]): AppliedResult {
    if ("publish" in command) {
      this.table.putSync(memberKey(command.publish.nodeId), Buffer.from(packr.pack(command.publish)));
      return { ok: true, response: null, revision: this.mvccStore.revision };
    }
    if ("members" in command) return this.applyMemberChange(command.members);
    if ("alarm" in command) {
      const key = alarmKey(command.alarm);
      if (command.alarm.action === "activate") this.table.putSync(key, Buffer.alloc(0));
      else this.table.removeSync(key);
      this.alarmsCached = undefined;
      return { ok: true, response: null, revision: this.mvccStore.revision };
    }
    // etcd's capped applier: while NOSPACE is raised, writes and lease grants fail alike on every member.
    if (this.alarms().some((a) => a.alarm === "NOSPACE") && ("lease" in command ? "leaseGrant" in command.lease : writesData(command.request))) {
      return { ok: false, error: new NoSpaceError() };
    }
    const outcome = "lease" in command ? this.leaseStore.apply(command.lease, this.mvccStore) : this.mvccStore.apply(command.request);
    if (!outcome.ok) return { ok: false, error: outcome.error };
    if (outcome.value.events.length > 0) applied.push({ revision: this.mvccStore.revision, events: outcome.value.events });
    if ("lease" in command) leaseChanges.push(...this.leaseChangesOf(command.lease));
    return { ok: true, response: outcome.value.response, revision: this.mvccStore.revision };
  }

  /**
   * applyMemberChange applies a record change alike on every member. It
   * refuses, deterministically, to record a removed id again or to give a
   * peer URL to two members; the proposer checked this too, but two changes
   * may race through the log.
   */
  private applyMemberChange(change: MemberRecordChange): AppliedResult {
    const current = this.memberRecords();
    const done: AppliedResult = { ok: true, response: null, revision: this.mvccStore.revision };
    switch (change.action) {
      case "put": {
        const { record } = change;
        if (current.removed.has(record.memberId)) return { ok: false, error: new MemberRecordError("idRemoved", `member ${record.memberId} was removed`) };
        const clash = [...current.records.values()].find((r) => r.nodeId !== record.nodeId && r.peerUrls.some((u) => record.peerUrls.includes(u)));
        if (clash !== undefined) return { ok: false, error: new MemberRecordError("peerUrlExists", `a peer URL of member ${clash.memberId} is taken`) };
        this.table.putSync(peerKey(record.nodeId), Buffer.from(packr.pack(record)));
        return done;
      }
      case "remove":
        this.table.removeSync(peerKey(change.record.nodeId));
        this.table.removeSync(memberKey(change.record.nodeId));
        this.table.putSync(removedKey(change.record.memberId), Buffer.from(packr.pack(change.record)));
        return done;
      case "seed":
        if (current.clusterId === undefined) this.table.putSync(clusterKey, Buffer.from(change.clusterId));
        for (const record of change.records) {
          if (current.records.has(record.nodeId) || current.removed.has(record.memberId)) continue;
          this.table.putSync(peerKey(record.nodeId), Buffer.from(packr.pack(record)));
        }
        return done;
    }
  }

  /** memberRecords is the applied member table (see {@link MemberRecords}). */
  memberRecords(): MemberRecords {
    const atIndex = this.mvccStore.consistentIndex();
    if (this.recordsCached !== undefined && this.recordsCached.atIndex === atIndex) return this.recordsCached.value;
    const records = new Map<number, MemberRecord>();
    for (const { value } of this.table.getRange({ start: peerPrefix, end: prefixEnd(peerPrefix) })) {
      const record: unknown = packr.unpack(value);
      if (isMemberRecord(record)) records.set(record.nodeId, record);
    }
    const removed = new Map<string, MemberRecord>();
    for (const { value } of this.table.getRange({ start: removedPrefix, end: prefixEnd(removedPrefix) })) {
      const record: unknown = packr.unpack(value);
      if (isMemberRecord(record)) removed.set(record.memberId, record);
    }
    const cluster = this.table.get(clusterKey);
    const value: MemberRecords = { records, removed, clusterId: cluster === undefined ? undefined : Buffer.from(cluster).toString() };
    this.recordsCached = { atIndex, value };
    return value;
  }

  private leaseChangesOf(request: LeaseRequest): LeaseChange[] {
    if ("leaseRevoke" in request) return [{ kind: "revoked", id: request.leaseRevoke.id }];
    if ("leaseCheckpoint" in request) {
      return request.leaseCheckpoint.checkpoints.map((c) => ({ kind: "checkpointed" as const, id: c.id, remainingTtl: c.remainingTtl }));
    }
    // A grant's id may have been picked by the store: read back the newest lease.
    const id = request.leaseGrant.id ?? 0;
    const lease = id !== 0 ? this.leaseStore.lease(id) : this.leaseStore.leases().at(-1);
    return lease === undefined ? [] : [{ kind: "granted", lease }];
  }
  /** alarms lists the raised alarms, by node id then type. */
  alarms(): readonly Alarm[] {
    if (this.alarmsCached !== undefined) return this.alarmsCached;
    const types = Object.entries(alarmCodes) as [AlarmType, number][];
    const out: Alarm[] = [];
    for (const { key } of this.table.getRange({ start: alarmPrefix, end: prefixEnd(alarmPrefix) })) {
      const nodeId = key.readUInt32BE(alarmPrefix.length);
      const code = key.readUInt8(alarmPrefix.length + 4);
      const type = types.find(([, c]) => c === code)?.[0];
      if (type !== undefined) out.push({ nodeId, alarm: type });
    }
    this.alarmsCached = out;
    return out;
  }

  /** publishedMembers lists the attributes every member published, by node id. */
  publishedMembers(): Map<number, MemberAttributes> {
    const out = new Map<number, MemberAttributes>();
    for (const { value } of this.table.getRange({ start: memberPrefix, end: prefixEnd(memberPrefix) })) {
      const attributes: unknown = packr.unpack(value);
      if (isMemberAttributes(attributes)) out.set(attributes.nodeId, attributes);
    }
    return out;
  }

  /** openBackup starts a consistent backup of the table as last committed (see backup-stream.ts). */
  openBackup(options: { engine: EngineKind; takenAtMs: number; onClose: () => void }): Promise<BackupStream> {
    return BackupStream.open({ table: this.table, view: this.storage.readView(), engine: options.engine, nowMs: options.takenAtMs, onClose: options.onClose });
  }


  /**
   * restore installs a received snapshot. Its data is a descriptor: the state
   * itself was staged chunk by chunk before the engine was given the snapshot,
   * so installing flips the live table inside the commit that persists the
   * snapshot (enqueued in the same turn as the engine's persist). Data that is
   * not a descriptor is an older whole dump, or Paxos' empty state at slot 0.
   */
  restore(snapshot: Snapshot): Promise<void> {
    const index = decodeSnapshotDescriptor(snapshot.data);
    if (index === null) return this.restoreDump(snapshot);
    assert(index === snapshot.meta.index, `snapshot descriptor names ${index}, its metadata ${snapshot.meta.index}`);
    const { term } = snapshot.meta;
    assert(this.snapshots.isStaged(index, term), `snapshot ${index} (term ${term}) was staged completely before the engine took it`);
    return this.storage
      .transaction(() => {
        this.snapshots.install(index, term);
        this.alarmsCached = undefined;
        // Cached revisions must be re-read from the installed table.
        this.openStores();
      })
      .then(() => {
        assert(this.appliedIndex() === index, `installed state is at ${this.appliedIndex()}, its snapshot at ${index}`);
        this.snapshots.pin(index);
        this.afterRestore();
        return this.snapshots.dropStaging();
      });
  }

  private restoreDump(snapshot: Snapshot): Promise<void> {
    const pairs = snapshot.data.length === 0 ? [] : (packr.unpack(snapshot.data) as [Uint8Array, Uint8Array][]);
    return this.storage
      .transaction(() => {
        this.table.clearSync();
        this.alarmsCached = undefined;
        for (const [key, value] of pairs) this.table.putSync(Buffer.from(key), Buffer.from(value));
        this.openStores();
      })
      .then(() => this.afterRestore());
  }

  private afterRestore(): void {
    this.hub.onRestored();
    this.clock.load(this.leaseStore.leases());
  }

  /**
   * snapshotData describes the applied state and pins it: a read view of the
   * live table as of the applied index, which followers pull in chunks, held
   * until the next snapshot is taken or installed. Call it outside a commit,
   * once everything applied is durable.
   */
  snapshotData(): Uint8Array {
    const index = this.appliedIndex();
    this.snapshots.pin(index);
    return encodeSnapshotDescriptor(index);
  }
}
