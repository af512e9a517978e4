/**
 * MvccStore is the replicated state machine of the KV service: etcd's MVCC
 * semantics (revisions, versions, tombstones, history reads, txns, compaction,
 * HashKV) on top of a synchronous {@link OrderedStore}. Pure and
 * deterministic: the same commands applied to the same store contents give the
 * same responses, events and bytes on every replica.
 *
 * Writes (`apply`, `put`, `deleteRange`, `txn`, `compact`) must run inside the
 * caller's write transaction on the OrderedStore; reads (`range`, `hashKv`)
 * may run in a read transaction. A request that fails returns a KvError and
 * has written nothing.
 */
import { binaryString, compareBytes } from "./bytes.js";
import {
  checkDeleteRangeRequest,
  checkKvRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  viewOp,
} from "./check.js";
import { compareHolds } from "./compare.js";
import { crc32c } from "../storage/checksum.js";
import { KvError, fail, ok } from "./errors.js";
import type { KvErrorCode, KvResult } from "./errors.js";
import {
  decodeMeta,
  decodePointer,
  decodeRecord,
  encodeMeta,
  encodePointer,
  encodeRecord,
  historyKey,
  historyKeyPrefix,
  historyMarkLive,
  historyMarkTombstone,
  indexKey,
  indexKeyspaceEnd,
  metaKey,
  revisionKey,
  revisionKeyspaceStart,
  revisionOfHistoryKey,
  revisionOfKey,
  userKeyOfIndexKey,
} from "./layout.js";
import type { IndexPointer, Revision } from "./layout.js";
import type { OrderedStore } from "./ports.js";
import { requestSizeBytes } from "./request-size.js";
import { rangeFetchLimit, shapeRangeResponse } from "./range-shape.js";
import { EventType } from "./types.js";
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKvResponse,
  KeyValue,
  KvEvent,
  KvRequest,
  KvResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from "./types.js";

/** txnOpsMaxDefault is etcd's default `--max-txn-ops`. */
export const txnOpsMaxDefault = 128;
/** requestBytesMaxDefault is etcd's default `--max-request-bytes` (1.5 MiB). */
export const requestBytesMaxDefault = 1.5 * 1024 * 1024;

/** MvccOptions configures a store. Limits apply at the boundary (`check`), not when applying. */
export interface MvccOptions {
  /** txnOpsMax bounds the compares, and the ops of each branch, of one txn. */
  readonly txnOpsMax?: number;
  /** requestBytesMax bounds the marshalled size of one request. */
  readonly requestBytesMax?: number;
  /**
   * leaseExists tells whether a lease id is granted; a put naming an unknown
   * lease fails with "requested lease not found". Until the lease service
   * exists every lease is taken to exist. It must be deterministic (answer
   * from replicated state), since it decides the outcome of applied writes.
   */
  readonly leaseExists?: (lease: number) => boolean;
  /**
   * leases, when given, is told about every key a write attaches to or
   * detaches from a lease (see {@link LeaseAttachments}) and answers
   * `leaseExists` (so the two options exclude each other). Absent: writes
   * behave exactly as without a lease service.
   */
  readonly leases?: LeaseAttachments;
}

/**
 * LeaseAttachments is the hook through which applied writes keep the lease
 * service's key sets current, inside the same write transaction:
 * a put with lease L attaches its key to L (after detaching it from the
 * key's previous lease, if that differs); a put without a lease, or a
 * delete, detaches the key from its previous lease. Calls are made in apply
 * order and must be deterministic.
 */
export interface LeaseAttachments {
  exists(lease: number): boolean;
  attach(lease: number, key: Uint8Array): void;
  detach(lease: number, key: Uint8Array): void;
}

/**
 * EventsSinceRequest reads the history of a key range from `fromRevision`
 * on, in revision order. `key` / `rangeEnd` follow {@link RangeRequest}'s
 * conventions. `recordsMax` (at least 1) bounds the stored records read; it
 * is a soft bound: the last revision started is always read to its end, so a
 * revision is never split between two reads. `prevKv` asks for each event's
 * previous value (one extra seek per event).
 */
export interface EventsSinceRequest {
  readonly fromRevision: number;
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly recordsMax: number;
  readonly prevKv?: boolean;
}

/**
 * EventsSince is one bounded read of history: the events of the revisions
 * [fromRevision, nextRevision) that touch the range, in order, and how many
 * stored records were read to find them. `nextRevision` is `revision + 1`
 * once the read reached the current revision.
 */
export interface EventsSince {
  readonly events: readonly KvEvent[];
  readonly nextRevision: number;
  readonly recordsRead: number;
}

/** Applied is what an applied write produced: its response and the events to feed watchers, in order. */
export interface Applied<R> {
  readonly response: R;
  readonly events: readonly KvEvent[];
}

/** KeySpan is a request's key range, with etcd's `range_end` conventions resolved. */
type KeySpan =
  | { readonly kind: "single"; readonly key: Uint8Array }
  | { readonly kind: "range"; readonly start: Uint8Array; readonly end: Uint8Array | undefined };

function spanOf(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeySpan {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { kind: "single", key };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: "range", start: key, end: undefined };
  return { kind: "range", start: key, end: rangeEnd };
}

/** LiveKey is a key that exists at some revision, and the revision that wrote its value. */
interface LiveKey {
  readonly key: Uint8Array;
  readonly revision: Revision;
}

/** HistoryRecord is one stored revision of one key, as read back for a watcher. */
interface HistoryRecord {
  readonly revision: Revision;
  readonly tombstone: boolean;
  readonly kv: KeyValue;
}

interface HistoryRead {
  readonly records: readonly HistoryRecord[];
  readonly nextRevision: number;
  readonly recordsRead: number;
}

/** inRange reports whether `key` lies in the half-open range [start, end) (end undefined: no upper bound). */
function inRange(span: KeySpan & { readonly kind: "range" }, key: Uint8Array): boolean {
  return compareBytes(key, span.start) >= 0 && (span.end === undefined || compareBytes(key, span.end) < 0);
}

/**
 * WriteBatch is one write transaction in progress: every change gets main
 * revision `beginRevision + 1` and the next sub revision.
 */
class WriteBatch {
  changes = 0;
  readonly events: KvEvent[] = [];
  constructor(readonly beginRevision: number) {}

  /** readRevision is what reads inside the batch see: the batch's own writes once there are any. */
  readRevision(): number {
    return this.changes > 0 ? this.beginRevision + 1 : this.beginRevision;
  }
}

/** TxnPath records which branch every txn (and nested txn on the taken branch) takes. */
interface TxnPath {
  readonly succeeded: boolean;
  readonly nested: readonly TxnPath[];
}

const empty = new Uint8Array(0);
const metaRevision = metaKey("revision");
const metaCompactRevision = metaKey("compactRevision");
const metaConsistentIndex = metaKey("consistentIndex");

/** See the file comment. */
export class MvccStore {
  readonly txnOpsMax: number;
  readonly requestBytesMax: number;
  private readonly leaseExists: (lease: number) => boolean;
  private readonly leases: LeaseAttachments | undefined;
  private revisionCurrent: number;
  private revisionCompacted: number;

  /** The constructor reads the revisions from `store`; a fresh store is at revision 1, never compacted (-1), as etcd. */
  constructor(
    private readonly store: OrderedStore,
    options: MvccOptions = {},
  ) {
    this.txnOpsMax = options.txnOpsMax ?? txnOpsMaxDefault;
    this.requestBytesMax = options.requestBytesMax ?? requestBytesMaxDefault;
    const leases = options.leases;
    // With a lease store, existence must come from it: attaching to a lease it does not know is a bug.
    if (leases !== undefined && options.leaseExists !== undefined) throw new Error("MvccStore: give either leases or leaseExists, not both");
    this.leases = leases;
    this.leaseExists = options.leaseExists ?? (leases === undefined ? () => true : (lease) => leases.exists(lease));
    this.revisionCurrent = this.readMeta(metaRevision) ?? 1;
    this.revisionCompacted = this.readMeta(metaCompactRevision) ?? -1;
  }

  /** revision is the current store revision (the last write txn's main revision). */
  get revision(): number {
    return this.revisionCurrent;
  }

  /** compactRevision is the revision of the last compaction, -1 if none. */
  get compactRevision(): number {
    return this.revisionCompacted;
  }

  /** consistentIndex is the log index recorded with the state (0 if none); the replica driver owns it. */
  consistentIndex(): number {
    return this.readMeta(metaConsistentIndex) ?? 0;
  }

  /** setConsistentIndex records the applied log index in the same write transaction as the batch. */
  setConsistentIndex(index: number): void {
    this.store.put(metaConsistentIndex, encodeMeta(index));
  }

  /**
   * check runs etcd's gRPC-boundary validation on a request before it is
   * proposed: request shape, txn size against `txnOpsMax`, duplicate keys,
   * then the marshalled size against `requestBytesMax` (`sizeBytes` defaults
   * to {@link requestSizeBytes}).
   */
  check(request: KvRequest, sizeBytes?: number): KvError | undefined {
    const code = checkKvRequest(request, this.txnOpsMax);
    if (code !== undefined) return new KvError(code);
    if ((sizeBytes ?? requestSizeBytes(request)) > this.requestBytesMax) return new KvError("requestTooLarge");
    return undefined;
  }

  /** apply executes one replicated command. */
  apply(request: KvRequest): KvResult<Applied<KvResponse>> {
    if ("range" in request) {
      const r = this.range(request.range);
      return r.ok ? ok({ response: { range: r.value }, events: [] }) : r;
    }
    if ("put" in request) return mapApplied(this.put(request.put), (put) => ({ put }));
    if ("deleteRange" in request) return mapApplied(this.deleteRange(request.deleteRange), (deleteRange) => ({ deleteRange }));
    if ("txn" in request) return mapApplied(this.txn(request.txn), (txn) => ({ txn }));
    return mapApplied(this.compact(request.compaction), (compaction) => ({ compaction }));
  }

  /** range reads keys at the current or an older, uncompacted revision. */
  range(r: RangeRequest): KvResult<RangeResponse> {
    const code = checkRangeRequest(r);
    if (code !== undefined) return fail(code);
    return this.executeRange(r, this.revisionCurrent);
  }

  /** put writes one key (checks the lease first, then `ignoreValue` / `ignoreLease` need the key). */
  put(r: PutRequest): KvResult<Applied<PutResponse>> {
    const code = checkPutRequest(r) ?? this.checkLease(r.lease ?? 0);
    if (code !== undefined) return fail(code);
    const batch = new WriteBatch(this.revisionCurrent);
    const result = this.executePut(batch, r);
    if (!result.ok) return result;
    this.finish(batch);
    return ok({ response: result.value, events: batch.events });
  }

  /** deleteRange deletes the live keys of a range; deleting nothing leaves the revision as it is. */
  deleteRange(r: DeleteRangeRequest): KvResult<Applied<DeleteRangeResponse>> {
    const code = checkDeleteRangeRequest(r);
    if (code !== undefined) return fail(code);
    const batch = new WriteBatch(this.revisionCurrent);
    const response = this.executeDeleteRange(batch, r);
    this.finish(batch);
    return ok({ response, events: batch.events });
  }

  /**
   * txn evaluates every compare — of the txn and of the nested txns on the
   * taken branches — against the state before the txn, checks the taken ops
   * against that state too, then runs them: all writes share one main
   * revision, and reads see the txn's earlier writes. A txn that writes
   * nothing does not bump the revision.
   */
  txn(r: TxnRequest): KvResult<Applied<TxnResponse>> {
    const code = checkTxnRequest(r, undefined);
    if (code !== undefined) return fail(code);
    const path = this.txnPath(r);
    const pathCode = this.checkTxnPath(r, path);
    if (pathCode !== undefined) return fail(pathCode);
    const batch = new WriteBatch(this.revisionCurrent);
    const response = this.executeTxn(batch, r, path);
    this.finish(batch);
    return ok({ response: { ...response, header: { revision: batch.readRevision() } }, events: batch.events });
  }

  /**
   * compact discards the history below `revision`: every key keeps its latest
   * revision at or before it unless that is a deletion, in which case the key
   * disappears from history. Reads at `revision` and later are unchanged.
   * Compaction happens here and now (so `physical` changes nothing).
   */
  compact(r: CompactionRequest): KvResult<Applied<CompactionResponse>> {
    if (r.revision <= this.revisionCompacted) return fail("compacted");
    if (r.revision > this.revisionCurrent) return fail("futureRevision");
    this.compactHistory(r.revision);
    this.revisionCompacted = r.revision;
    this.store.put(metaCompactRevision, encodeMeta(r.revision));
    return ok({ response: { header: { revision: this.revisionCurrent } }, events: [] });
  }

  /**
   * hashKv hashes (CRC-32C) every stored revision up to `revision` (<= 0: the
   * current one) in revision order, key and record bytes. Replicas that
   * applied the same commands hold the same bytes, so they agree.
   */
  hashKv(revision: number): KvResult<HashKvResponse> {
    if (revision > 0 && revision < this.revisionCompacted) return fail("compacted");
    if (revision > this.revisionCurrent) return fail("futureRevision");
    const hashRevision = revision <= 0 ? this.revisionCurrent : revision;
    let hash = 0;
    for (const [key, value] of this.store.scan(revisionKeyspaceStart, revisionKey(hashRevision + 1, 0), { reverse: false })) {
      hash = crc32c(value, crc32c(key, hash));
    }
    return ok({
      header: { revision: this.revisionCurrent },
      hash,
      compactRevision: this.revisionCompacted,
      hashRevision,
    });
  }

  /**
   * eventsSince reads the recorded changes of a key range from `fromRevision`
   * on (see {@link EventsSinceRequest}); this is how a watcher that fell
   * behind catches up. Events are exactly those the writes returned when
   * applied (the `prevKv` of each only when asked for).
   *
   * It fails with "compacted" when `fromRevision` is at or below the
   * compaction revision: compaction keeps each key's latest revision at or
   * before it but drops the deletions made at exactly that revision and the
   * values they (and the changes there) replaced, so the history there is no
   * longer complete. A `fromRevision` past the current revision reads
   * nothing.
   */
  eventsSince(r: EventsSinceRequest): KvResult<EventsSince> {
    if (!Number.isSafeInteger(r.recordsMax) || r.recordsMax < 1) throw new RangeError(`eventsSince: recordsMax ${r.recordsMax}`);
    const from = Math.max(1, r.fromRevision);
    if (from <= this.revisionCompacted) return fail("compacted");
    if (from > this.revisionCurrent) return ok({ events: [], nextRevision: from, recordsRead: 0 });
    const span = spanOf(r.key, r.rangeEnd);
    const found = span.kind === "single" ? this.keyHistorySince(span.key, from, r.recordsMax) : this.historySince(span, from, r.recordsMax);
    const events = found.records.map(({ revision, tombstone, kv }) => {
      const type = tombstone ? EventType.DELETE : EventType.PUT;
      const prev = r.prevKv === true ? this.valueBefore(kv.key, revision) : undefined;
      return prev === undefined ? { type, kv } : { type, kv, prevKv: prev };
    });
    return ok({ events, nextRevision: found.nextRevision, recordsRead: found.recordsRead });
  }

  /**
   * deleteKeys deletes every listed key that is live, all in one revision
   * (no revision if none is): how a lease revoke removes its keys. Keys are
   * deleted in the order given; a repeated key is deleted once.
   */
  deleteKeys(keys: readonly Uint8Array[]): Applied<DeleteRangeResponse> {
    const batch = new WriteBatch(this.revisionCurrent);
    const prevKvs: KeyValue[] = [];
    for (const key of keys) {
      const prev = this.currentKv(key);
      if (prev === undefined) continue;
      this.deleteKey(batch, prev);
      prevKvs.push(prev);
    }
    this.finish(batch);
    return { response: { header: { revision: batch.readRevision() }, deleted: prevKvs.length, prevKvs }, events: batch.events };
  }

  // ---- reads -------------------------------------------------------------

  /** historySince scans `r/` from `from` for the records of a range (see {@link eventsSince}). */
  private historySince(span: KeySpan & { readonly kind: "range" }, from: number, recordsMax: number): HistoryRead {
    const records: HistoryRecord[] = [];
    let recordsRead = 0;
    let lastMain = 0;
    const end = revisionKey(this.revisionCurrent + 1, 0);
    for (const [rkey, rvalue] of this.store.scan(revisionKey(from, 0), end, { reverse: false })) {
      const revision = revisionOfKey(rkey);
      if (recordsRead >= recordsMax && revision.main !== lastMain) return { records, nextRevision: revision.main, recordsRead };
      recordsRead++;
      lastMain = revision.main;
      const record = decodeRecord(rvalue);
      if (inRange(span, record.kv.key)) records.push({ revision, tombstone: record.tombstone, kv: record.kv });
    }
    return { records, nextRevision: this.revisionCurrent + 1, recordsRead };
  }

  /** keyHistorySince walks one key's `h/` entries from `from` (see {@link eventsSince}). */
  private keyHistorySince(key: Uint8Array, from: number, recordsMax: number): HistoryRead {
    const revisions: Revision[] = [];
    let lastMain = 0;
    const end = historyKey(key, this.revisionCurrent + 1, 0);
    for (const [hkey] of this.store.scan(historyKey(key, from, 0), end, { reverse: false })) {
      const revision = revisionOfHistoryKey(hkey);
      if (revisions.length >= recordsMax && revision.main !== lastMain) {
        return { records: this.loadRecords(revisions), nextRevision: revision.main, recordsRead: revisions.length };
      }
      lastMain = revision.main;
      revisions.push(revision);
    }
    return { records: this.loadRecords(revisions), nextRevision: this.revisionCurrent + 1, recordsRead: revisions.length };
  }

  private loadRecords(revisions: readonly Revision[]): HistoryRecord[] {
    return revisions.map((revision) => {
      const bytes = this.store.get(revisionKey(revision.main, revision.sub));
      if (bytes === undefined) throw new Error(`MvccStore: history points at missing revision ${revision.main}.${revision.sub}`);
      const record = decodeRecord(bytes);
      return { revision, tombstone: record.tombstone, kv: record.kv };
    });
  }

  /** valueBefore is the key's live value just before `revision`, if it had one and it is still stored. */
  private valueBefore(key: Uint8Array, revision: Revision): KeyValue | undefined {
    const older = { reverse: true, limit: 1 } as const;
    let found: Revision | undefined;
    for (const [hkey, mark] of this.store.scan(historyKeyPrefix(key), historyKey(key, revision.main, revision.sub), older)) {
      if (mark[0] !== historyMarkTombstone[0]) found = revisionOfHistoryKey(hkey);
    }
    if (found === undefined) return undefined;
    const bytes = this.store.get(revisionKey(found.main, found.sub));
    return bytes === undefined ? undefined : decodeRecord(bytes).kv;
  }

  private readMeta(key: Uint8Array): number | undefined {
    const bytes = this.store.get(key);
    return bytes === undefined ? undefined : decodeMeta(bytes);
  }

  private pointerOf(key: Uint8Array): IndexPointer | undefined {
    const bytes = this.store.get(indexKey(key));
    return bytes === undefined ? undefined : decodePointer(bytes);
  }

  /** revisionAt returns the revision holding `key`'s value at `at`, or undefined if it did not exist then. */
  private revisionAt(key: Uint8Array, pointer: IndexPointer, at: number): Revision | undefined {
    if (pointer.main <= at) return pointer.tombstone ? undefined : pointer;
    const older = { reverse: true, limit: 1 } as const;
    for (const [hkey, mark] of this.store.scan(historyKeyPrefix(key), historyKey(key, at + 1, 0), older)) {
      return mark[0] === historyMarkTombstone[0] ? undefined : revisionOfHistoryKey(hkey);
    }
    return undefined;
  }

  /** liveKeys yields the keys of a span that exist at revision `at`, in key order. */
  private *liveKeys(span: KeySpan, at: number): Generator<LiveKey> {
    if (span.kind === "single") {
      const pointer = this.pointerOf(span.key);
      const revision = pointer === undefined ? undefined : this.revisionAt(span.key, pointer, at);
      if (revision !== undefined) yield { key: span.key, revision };
      return;
    }
    const end = span.end === undefined ? indexKeyspaceEnd : indexKey(span.end);
    for (const [ikey, ivalue] of this.store.scan(indexKey(span.start), end, { reverse: false })) {
      const key = userKeyOfIndexKey(ikey);
      const revision = this.revisionAt(key, decodePointer(ivalue), at);
      if (revision !== undefined) yield { key, revision };
    }
  }

  private loadKv(revision: Revision): KeyValue {
    const bytes = this.store.get(revisionKey(revision.main, revision.sub));
    if (bytes === undefined) throw new Error(`MvccStore: index points at missing revision ${revision.main}.${revision.sub}`);
    const record = decodeRecord(bytes);
    if (record.tombstone) throw new Error(`MvccStore: index points at a tombstone ${revision.main}.${revision.sub}`);
    return record.kv;
  }

  /** currentKv is the key's live value as reads inside the batch see it. */
  private currentKv(key: Uint8Array): KeyValue | undefined {
    const pointer = this.pointerOf(key);
    return pointer === undefined || pointer.tombstone ? undefined : this.loadKv(pointer);
  }

  /** resolveReadRevision applies etcd's rules to a requested read revision, given the reader's current one. */
  private resolveReadRevision(requested: number, current: number): KvResult<number> {
    if (requested > current) return fail("futureRevision");
    const at = requested <= 0 ? current : requested;
    if (at < this.revisionCompacted) return fail("compacted");
    return ok(at);
  }

  /** executeRange reads a range as seen by a reader at `current` (the store's, or a batch's read revision). */
  private executeRange(r: RangeRequest, current: number): KvResult<RangeResponse> {
    const at = this.resolveReadRevision(r.revision ?? 0, current);
    if (!at.ok) return at;
    const fetchMax = r.countOnly === true ? 0 : rangeFetchLimit(r);
    const fetched: Revision[] = [];
    let count = 0;
    for (const live of this.liveKeys(spanOf(r.key, r.rangeEnd), at.value)) {
      count++;
      if (r.countOnly !== true && (fetchMax === 0 || fetched.length < fetchMax)) fetched.push(live.revision);
    }
    const kvs = fetched.map((revision) => this.loadKv(revision));
    return ok(shapeRangeResponse({ kvs, count }, r, current));
  }

  // ---- writes ------------------------------------------------------------

  private checkLease(lease: number): KvErrorCode | undefined {
    return lease !== 0 && !this.leaseExists(lease) ? "leaseNotFound" : undefined;
  }

  /** finish ends a batch: the revision moves only if something changed. */
  private finish(batch: WriteBatch): void {
    if (batch.changes === 0) return;
    this.revisionCurrent = batch.beginRevision + 1;
    this.store.put(metaRevision, encodeMeta(this.revisionCurrent));
  }

  private writeRevision(batch: WriteBatch, key: Uint8Array, kv: KeyValue, tombstone: boolean): void {
    const main = batch.beginRevision + 1;
    const sub = batch.changes++;
    this.store.put(revisionKey(main, sub), encodeRecord({ tombstone, kv }));
    this.store.put(historyKey(key, main, sub), tombstone ? historyMarkTombstone : historyMarkLive);
    this.store.put(indexKey(key), encodePointer({ main, sub, tombstone }));
  }

  private putKey(batch: WriteBatch, key: Uint8Array, value: Uint8Array, lease: number): void {
    const main = batch.beginRevision + 1;
    const prev = this.currentKv(key);
    const kv: KeyValue = {
      key,
      createRevision: prev === undefined ? main : prev.createRevision,
      modRevision: main,
      version: prev === undefined ? 1 : prev.version + 1,
      value,
      lease,
    };
    this.writeRevision(batch, key, kv, false);
    if (this.leases !== undefined) {
      const prevLease = prev?.lease ?? 0;
      if (prevLease !== 0 && prevLease !== lease) this.leases.detach(prevLease, key);
      if (lease !== 0 && prevLease !== lease) this.leases.attach(lease, key);
    }
    batch.events.push(prev === undefined ? { type: EventType.PUT, kv } : { type: EventType.PUT, kv, prevKv: prev });
  }

  private deleteKey(batch: WriteBatch, prev: KeyValue): void {
    const kv: KeyValue = {
      key: prev.key,
      createRevision: 0,
      modRevision: batch.beginRevision + 1,
      version: 0,
      value: empty,
      lease: 0,
    };
    this.writeRevision(batch, prev.key, kv, true);
    if (this.leases !== undefined && prev.lease !== 0) this.leases.detach(prev.lease, prev.key);
    batch.events.push({ type: EventType.DELETE, kv, prevKv: prev });
  }

  private executePut(batch: WriteBatch, r: PutRequest): KvResult<PutResponse> {
    const needsPrev = r.ignoreValue === true || r.ignoreLease === true;
    const prev = needsPrev || r.prevKv === true ? this.currentKv(r.key) : undefined;
    if (needsPrev && prev === undefined) return fail("keyNotFound");
    const value = r.ignoreValue === true && prev !== undefined ? prev.value : (r.value ?? empty);
    const lease = r.ignoreLease === true && prev !== undefined ? prev.lease : (r.lease ?? 0);
    this.putKey(batch, r.key, value, lease);
    const header = { revision: batch.beginRevision + 1 };
    return ok(r.prevKv === true && prev !== undefined ? { header, prevKv: prev } : { header });
  }

  private executeDeleteRange(batch: WriteBatch, r: DeleteRangeRequest): DeleteRangeResponse {
    // Collect before writing: the store may not be written during a scan.
    const doomed = [...this.liveKeys(spanOf(r.key, r.rangeEnd), batch.readRevision())].map((live) => this.loadKv(live.revision));
    for (const prev of doomed) this.deleteKey(batch, prev);
    return {
      header: { revision: batch.readRevision() },
      deleted: doomed.length,
      prevKvs: r.prevKv === true ? doomed : [],
    };
  }

  // ---- txn ---------------------------------------------------------------

  /** txnPath evaluates the compares of a txn and of the nested txns on its taken branch, at the current revision. */
  private txnPath(r: TxnRequest): TxnPath {
    const succeeded = (r.compare ?? []).every((c) => {
      const kvs = [...this.liveKeys(spanOf(c.key, c.rangeEnd), this.revisionCurrent)].map((live) => this.loadKv(live.revision));
      return compareHolds(c, kvs);
    });
    const nested: TxnPath[] = [];
    for (const op of (succeeded ? r.success : r.failure) ?? []) {
      const view = viewOp(op);
      if (view?.kind === "txn") nested.push(this.txnPath(view.request));
    }
    return { succeeded, nested };
  }

  /**
   * checkTxnPath checks the ops on the taken branches against the state
   * before the txn: a range's revision must be readable; a put that keeps the
   * old value or lease needs the key; a put's lease must exist.
   */
  private checkTxnPath(r: TxnRequest, path: TxnPath): KvErrorCode | undefined {
    let nestedIndex = 0;
    for (const op of (path.succeeded ? r.success : r.failure) ?? []) {
      const view = viewOp(op);
      let code: KvErrorCode | undefined;
      switch (view?.kind) {
        case "range":
          code = this.checkReadRevision(view.request.revision ?? 0);
          break;
        case "put":
          code = this.checkPutAgainstState(view.request);
          break;
        case "txn":
          code = this.checkTxnPath(view.request, nthPath(path, nestedIndex++));
          break;
        case "deleteRange":
        case undefined:
          break;
      }
      if (code !== undefined) return code;
    }
    return undefined;
  }

  private checkReadRevision(revision: number): KvErrorCode | undefined {
    if (revision === 0) return undefined;
    if (revision > this.revisionCurrent) return "futureRevision";
    if (revision < this.revisionCompacted) return "compacted";
    return undefined;
  }

  private checkPutAgainstState(r: PutRequest): KvErrorCode | undefined {
    if ((r.ignoreValue === true || r.ignoreLease === true) && this.currentKv(r.key) === undefined) return "keyNotFound";
    return this.checkLease(r.lease ?? 0);
  }

  /** executeTxn runs the taken branch; a nested txn's header revision is 0, as etcd leaves it. */
  private executeTxn(batch: WriteBatch, r: TxnRequest, path: TxnPath): TxnResponse {
    const responses: ResponseOp[] = [];
    let nestedIndex = 0;
    for (const op of (path.succeeded ? r.success : r.failure) ?? []) {
      const view = viewOp(op);
      if (view === undefined) throw new Error("MvccStore: empty op in a checked txn");
      switch (view.kind) {
        case "range":
          responses.push({ responseRange: mustSucceed(this.executeRange(view.request, batch.readRevision())) });
          break;
        case "put":
          responses.push({ responsePut: mustSucceed(this.executePut(batch, view.request)) });
          break;
        case "deleteRange":
          responses.push({ responseDeleteRange: this.executeDeleteRange(batch, view.request) });
          break;
        case "txn":
          responses.push({ responseTxn: this.executeTxn(batch, view.request, nthPath(path, nestedIndex++)) });
          break;
      }
    }
    return { header: { revision: 0 }, succeeded: path.succeeded, responses };
  }

  // ---- compaction --------------------------------------------------------

  /**
   * compactHistory deletes, for every key, each revision at or below `at`
   * except the key's latest one there — and that one too if it is a deletion
   * (then the key's index entry goes as well, unless written since).
   */
  private compactHistory(at: number): void {
    const latest = new Map<string, { readonly key: Uint8Array; readonly revision: Revision; readonly tombstone: boolean }>();
    const doomed: { readonly key: Uint8Array; readonly revision: Revision }[] = [];
    for (const [rkey, rvalue] of this.store.scan(revisionKeyspaceStart, revisionKey(at + 1, 0), { reverse: false })) {
      const record = decodeRecord(rvalue);
      const id = binaryString(record.kv.key);
      const previous = latest.get(id);
      if (previous !== undefined) doomed.push(previous);
      latest.set(id, { key: record.kv.key, revision: revisionOfKey(rkey), tombstone: record.tombstone });
    }
    for (const entry of latest.values()) {
      if (!entry.tombstone) continue;
      doomed.push(entry);
      const pointer = this.pointerOf(entry.key);
      if (pointer !== undefined && pointer.main === entry.revision.main && pointer.sub === entry.revision.sub) {
        this.store.delete(indexKey(entry.key));
      }
    }
    for (const { key, revision } of doomed) {
      this.store.delete(revisionKey(revision.main, revision.sub));
      this.store.delete(historyKey(key, revision.main, revision.sub));
    }
  }
}

function nthPath(path: TxnPath, index: number): TxnPath {
  const nested = path.nested[index];
  if (nested === undefined) throw new Error("MvccStore: txn path shorter than its nested txns");
  return nested;
}

/** mustSucceed unwraps a result that the txn pre-check guarantees; failing here is a bug, not bad input. */
function mustSucceed<T>(result: KvResult<T>): T {
  if (!result.ok) throw new Error(`MvccStore: checked txn op failed: ${result.error.message}`, { cause: result.error });
  return result.value;
}

function mapApplied<R, S>(result: KvResult<Applied<R>>, wrap: (response: R) => S): KvResult<Applied<S>> {
  return result.ok ? ok({ response: wrap(result.value.response), events: result.value.events }) : result;
}
