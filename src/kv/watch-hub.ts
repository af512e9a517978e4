/**
 * WatchHub is the watch machinery one member runs over its applied MVCC
 * state: etcd's watchable store (synced and unsynced watchers, catch-up from
 * history, compaction cancels, progress notifications, fragments), as a pure
 * state machine. It reads the store through {@link WatchSource} and hands
 * responses to each stream's {@link WatchSink}; it starts no timers and never
 * waits.
 *
 * Driving contract (the server / replica driver):
 * - `onApplied(revision, events)` after every applied write that produced
 *   events, in apply order, before the next `pump()` (a lease revoke counts:
 *   its deletions are events). Writes that produced no events may be
 *   reported or not. A driver that installs a snapshot calls `onRestored()`
 *   once the new state is in place.
 * - `pump()` whenever there may be unsynced watchers (`unsyncedCount > 0`):
 *   after a watch is created with a past start revision, after `resume()`,
 *   and periodically (etcd syncs every 100 ms). Each call reads at most
 *   about `pumpRecordsMax` stored records (a revision is never split, so one
 *   huge revision may exceed it), then returns.
 * - `progressTick()` every progress-notify interval (etcd: 10 minutes).
 * - `stream.resume()` when a sink that answered `false` can take more (the
 *   gRPC stream's "drain").
 * - A sink's `send` must not call back into the hub.
 *
 * Guarantees, per watcher: events arrive in revision order, none twice,
 * none skipped, from its start revision on; every event of one revision is
 * in one response (several revisions may share one), unless the watch asked
 * for fragments and the response would exceed `fragmentBytesMax`, in which
 * case it is cut into pieces flagged `fragment` except the last. A response's
 * header revision is a revision through which the watcher has been sent
 * everything. A watcher that cannot get complete history (its next revision
 * is at or below the compaction revision) gets one response with
 * `compactRevision` and `canceled` and receives nothing more.
 *
 * Slow consumers: while a stream is paused (its sink answered `false`),
 * events for its synced watchers queue per watcher up to `pendingEventsMax`;
 * a revision that does not fit moves the watcher back to unsynced, and it
 * resumes from history at that revision once the stream drains. Memory per
 * watcher is therefore bounded by `pendingEventsMax` (plus one revision), and
 * nothing is lost. Control responses (created, canceled, progress) are sent
 * even while paused: they are small and caused one for one by client
 * requests or ticks.
 */
import { binaryString, compareBytes } from "./bytes.js";
import type { KvResult } from "./errors.js";
import { requestBytesMaxDefault } from "./mvcc-store.js";
import type { EventsSince, EventsSinceRequest } from "./mvcc-store.js";
import { eventFieldSizeBytes, watchResponseBaseSizeBytes } from "./response-size.js";
import { EventType } from "./types.js";
import type { KvEvent, ResponseHeader } from "./types.js";

/** WatchSource is what the hub reads from the MVCC store ({@link MvccStore} implements it). */
export interface WatchSource {
  readonly revision: number;
  readonly compactRevision: number;
  eventsSince(request: EventsSinceRequest): KvResult<EventsSince>;
}

/**
 * WatchCreateRequest is etcd's WatchCreateRequest. `key` / `rangeEnd` as
 * etcd: an empty key means "\0"; no `rangeEnd` watches the single key; a
 * `rangeEnd` of one zero byte watches every key >= `key`; otherwise
 * [key, rangeEnd). `startRevision` 0 or absent: from the next revision.
 * `watchId` 0 or absent: the stream picks one.
 */
export interface WatchCreateRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly startRevision?: number;
  readonly prevKv?: boolean;
  readonly filters?: { readonly noPut?: boolean; readonly noDelete?: boolean };
  readonly progressNotify?: boolean;
  readonly fragment?: boolean;
  readonly watchId?: number;
}

/** WatchResponse is etcd's WatchResponse; absent optional fields are protobuf zero values. */
export interface WatchResponse {
  readonly header: ResponseHeader;
  readonly watchId: number;
  readonly events: readonly KvEvent[];
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compactRevision?: number;
  readonly cancelReason?: string;
  readonly fragment?: boolean;
}

/**
 * WatchSink receives one stream's responses. `send` always takes the
 * response; it returns false when the consumer is full, after which the hub
 * sends that stream no more events until `resume()`.
 */
export interface WatchSink {
  send(response: WatchResponse): boolean;
}

/** CreateWatchResult tells whether a watch was created; either way the matching response was sent. */
export type CreateWatchResult = { readonly ok: true; readonly watchId: number } | { readonly ok: false; readonly cancelReason: string };

/**
 * WatchStream is one client's watch stream (one gRPC Watch call): it owns
 * its watch ids, as in etcd, so two streams may both have a watch 0.
 */
export interface WatchStream {
  /** createWatch registers a watch and sends its created response (or a created-and-canceled one with the reason). */
  createWatch(request: WatchCreateRequest): CreateWatchResult;
  /** cancel removes a watch and sends its canceled response; an unknown id does nothing and returns false. */
  cancel(watchId: number): boolean;
  /** requestProgress sends a progress response (watch id -1) once every watch of the stream is synced. */
  requestProgress(): void;
  /** resume tells the hub the sink can take more: queued events are sent until it is full again. */
  resume(): void;
  /** close drops every watch of the stream without sending anything. */
  close(): void;
  /** paused is true while the sink is full. */
  readonly paused: boolean;
  /** watchIds lists the stream's watch ids, in creation order. */
  watchIds(): number[];
}

/** WatchHubOptions: every bound has a default. */
export interface WatchHubOptions {
  /** pendingEventsMax bounds the events queued for one watcher while its stream is paused. */
  readonly pendingEventsMax?: number;
  /** catchUpRecordsMax bounds the stored records one unsynced watcher reads per step. */
  readonly catchUpRecordsMax?: number;
  /** pumpRecordsMax bounds the stored records one `pump()` reads across watchers. */
  readonly pumpRecordsMax?: number;
  /** fragmentBytesMax is the response size above which a fragmenting watch's responses are split. */
  readonly fragmentBytesMax?: number;
  /** streamWatchersMax bounds the watches of one stream. */
  readonly streamWatchersMax?: number;
}

/** PumpReport says what one `pump()` did and what is left. */
export interface PumpReport {
  readonly recordsRead: number;
  readonly unsyncedCount: number;
}

export const pendingEventsMaxDefault = 4096;
export const catchUpRecordsMaxDefault = 1000;
export const pumpRecordsMaxDefault = 10_000;
/** fragmentBytesMaxDefault is etcd's: the request size limit plus 512 KiB of gRPC overhead. */
export const fragmentBytesMaxDefault = requestBytesMaxDefault + 512 * 1024;
export const streamWatchersMaxDefault = 10_000;

/** watchIdNone is the watch id of responses not tied to one watch (failed creates, stream progress). */
export const watchIdNone = -1;

/** The cancel reasons of a failed create: etcd's strings, and Synod's own limit. */
export const cancelReasons = {
  emptyRange: "mvcc: watcher range is empty",
  duplicateId: "mvcc: duplicate watch ID provided on the WatchStream",
  compacted: "etcdserver: mvcc: required revision has been compacted",
  tooManyWatchers: "synod: too many watches on this stream",
} as const;

type WatchSpan =
  | { readonly kind: "single"; readonly key: Uint8Array; readonly id: string }
  | { readonly kind: "range"; readonly start: Uint8Array; readonly end: Uint8Array | undefined };

const zeroByte = new Uint8Array([0]);

/** watchSpanOf resolves etcd's key / range_end conventions for watches; undefined means an empty range. */
function watchSpanOf(key: Uint8Array, rangeEnd: Uint8Array | undefined): WatchSpan | undefined {
  const start = key.length === 0 ? zeroByte : key;
  if (rangeEnd === undefined || rangeEnd.length === 0) return { kind: "single", key: start, id: binaryString(start) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: "range", start, end: undefined };
  if (compareBytes(start, rangeEnd) >= 0) return undefined;
  return { kind: "range", start, end: rangeEnd };
}

function rangeContains(span: WatchSpan & { readonly kind: "range" }, key: Uint8Array): boolean {
  return compareBytes(key, span.start) >= 0 && (span.end === undefined || compareBytes(key, span.end) < 0);
}

interface WatchOptions {
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

/**
 * Watcher is one watch. Invariants: every matching event of a revision below
 * `nextRevision` has been sent or is in `pending` (for a synced watcher the
 * hub's notified revision + 1 also bounds what it has); `pending` is
 * non-empty only while its stream is paused; state "done" (compacted)
 * watchers keep their id until canceled, as etcd's do.
 */
class Watcher {
  state: "synced" | "unsynced" | "done" = "unsynced";
  nextRevision: number;
  pending: WatchResponse[] = [];
  pendingEvents = 0;
  sentSinceTick = false;

  constructor(
    readonly id: number,
    readonly stream: StreamState,
    readonly span: WatchSpan,
    readonly options: WatchOptions,
    nextRevision: number,
  ) {
    this.nextRevision = nextRevision;
  }

  /** readRequest is the history read that continues this watcher from `nextRevision`. */
  readRequest(recordsMax: number): EventsSinceRequest {
    const { span } = this;
    const base = { fromRevision: this.nextRevision, recordsMax, prevKv: this.options.prevKv };
    if (span.kind === "single") return { ...base, key: span.key };
    return { ...base, key: span.start, rangeEnd: span.end ?? zeroByte };
  }

  /** shape applies the watch's filters and drops `prevKv` unless asked for. */
  shape(events: readonly KvEvent[]): KvEvent[] {
    const out: KvEvent[] = [];
    for (const event of events) {
      if (this.options.noPut && event.type === EventType.PUT) continue;
      if (this.options.noDelete && event.type === EventType.DELETE) continue;
      out.push(this.options.prevKv || event.prevKv === undefined ? event : { type: event.type, kv: event.kv });
    }
    return out;
  }
}

/** StreamOps is how a stream reaches the hub that owns it. */
interface StreamOps {
  create(stream: StreamState, request: WatchCreateRequest): CreateWatchResult;
  cancel(stream: StreamState, watchId: number): boolean;
  requestProgress(stream: StreamState): void;
  resume(stream: StreamState): void;
  close(stream: StreamState): void;
}

class StreamState implements WatchStream {
  paused = false;
  closed = false;
  progressDeferred = false;
  nextAutoId = 0;
  readonly watchers = new Map<number, Watcher>();

  constructor(
    readonly sink: WatchSink,
    private readonly ops: StreamOps,
  ) {}

  createWatch(request: WatchCreateRequest): CreateWatchResult {
    return this.ops.create(this, request);
  }

  cancel(watchId: number): boolean {
    return this.ops.cancel(this, watchId);
  }

  requestProgress(): void {
    this.ops.requestProgress(this);
  }

  resume(): void {
    this.ops.resume(this);
  }

  close(): void {
    this.ops.close(this);
  }

  watchIds(): number[] {
    return [...this.watchers.keys()];
  }

  /** send hands a response to the sink and remembers a full sink. */
  send(response: WatchResponse): void {
    if (!this.sink.send(response)) this.paused = true;
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`WatchHub: ${name} must be a positive integer, got ${n}`);
  return n;
}

/** See the file comment. */
export class WatchHub {
  readonly pendingEventsMax: number;
  readonly catchUpRecordsMax: number;
  readonly pumpRecordsMax: number;
  readonly fragmentBytesMax: number;
  readonly streamWatchersMax: number;

  private readonly streams = new Set<StreamState>();
  /** Synced single-key watchers by key, and synced range watchers. */
  private readonly syncedKeys = new Map<string, Set<Watcher>>();
  private readonly syncedRanges = new Set<Watcher>();
  /** Unsynced watchers, in round-robin order (a watcher that made progress goes to the back). */
  private readonly unsynced = new Set<Watcher>();
  /** notified is the last revision whose events the synced watchers have been given. */
  private notified: number;
  private readonly ops: StreamOps;

  constructor(
    private readonly source: WatchSource,
    options: WatchHubOptions = {},
  ) {
    this.pendingEventsMax = positiveInteger("pendingEventsMax", options.pendingEventsMax, pendingEventsMaxDefault);
    this.catchUpRecordsMax = positiveInteger("catchUpRecordsMax", options.catchUpRecordsMax, catchUpRecordsMaxDefault);
    this.pumpRecordsMax = positiveInteger("pumpRecordsMax", options.pumpRecordsMax, pumpRecordsMaxDefault);
    this.fragmentBytesMax = positiveInteger("fragmentBytesMax", options.fragmentBytesMax, fragmentBytesMaxDefault);
    this.streamWatchersMax = positiveInteger("streamWatchersMax", options.streamWatchersMax, streamWatchersMaxDefault);
    this.notified = source.revision;
    this.ops = {
      create: (stream, request) => this.create(stream, request),
      cancel: (stream, watchId) => this.cancel(stream, watchId),
      requestProgress: (stream) => this.requestProgress(stream),
      resume: (stream) => this.resume(stream),
      close: (stream) => this.close(stream),
    };
  }

  /** openStream starts a watch stream whose responses go to `sink`. */
  openStream(sink: WatchSink): WatchStream {
    const stream = new StreamState(sink, this.ops);
    this.streams.add(stream);
    return stream;
  }

  /** progress is the revision through which synced watchers have been notified. */
  progress(): number {
    return this.notified;
  }

  /** unsyncedCount is the number of watchers waiting for `pump()` (or for their stream to drain). */
  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  /** watcherCount is the number of live watches over all streams (compacted ones count until canceled). */
  get watcherCount(): number {
    let n = 0;
    for (const stream of this.streams) n += stream.watchers.size;
    return n;
  }

  /**
   * onApplied hands the events of one applied revision to the synced
   * watchers. `revision` must follow the last one reported (or the store's
   * revision when the hub was made or restored), and every event must carry it.
   */
  onApplied(revision: number, events: readonly KvEvent[]): void {
    if (events.length === 0) return;
    if (revision !== this.notified + 1) {
      throw new Error(`WatchHub: applied revision ${revision} does not follow the notified revision ${this.notified}`);
    }
    for (const event of events) {
      if (event.kv.modRevision !== revision) throw new Error(`WatchHub: event at ${event.kv.modRevision} reported for revision ${revision}`);
    }
    this.notified = revision;
    const batches = new Map<Watcher, KvEvent[]>();
    const add = (w: Watcher, event: KvEvent): void => {
      const batch = batches.get(w);
      if (batch === undefined) batches.set(w, [event]);
      else batch.push(event);
    };
    for (const event of events) {
      for (const w of this.syncedKeys.get(binaryString(event.kv.key)) ?? []) add(w, event);
      for (const w of this.syncedRanges) if (w.span.kind === "range" && rangeContains(w.span, event.kv.key)) add(w, event);
    }
    for (const [w, batch] of batches) {
      if (w.nextRevision > revision) continue; // starts later
      w.nextRevision = revision + 1;
      const shaped = w.shape(batch);
      if (shaped.length > 0) this.deliver(w, shaped, revision);
    }
  }

  /**
   * onRestored tells the hub the store's contents were replaced (a snapshot
   * was installed): every synced watcher catches up from the new history,
   * which cancels it as compacted if that history no longer reaches back.
   */
  onRestored(): void {
    for (const stream of this.streams) {
      for (const w of stream.watchers.values()) {
        if (w.state === "synced") this.unsync(w, Math.max(w.nextRevision, this.notified + 1));
      }
    }
    this.notified = this.source.revision;
  }

  /** pump lets unsynced watchers catch up from history, within `pumpRecordsMax` records (see the file comment). */
  pump(): PumpReport {
    let budget = this.pumpRecordsMax;
    let recordsRead = 0;
    for (const w of [...this.unsynced]) {
      if (budget <= 0) break;
      if (w.state !== "unsynced" || w.stream.paused) continue;
      this.unsynced.delete(w);
      const read = this.catchUp(w, Math.min(this.catchUpRecordsMax, budget));
      budget -= read;
      recordsRead += read;
    }
    this.sendDeferredProgress();
    return { recordsRead, unsyncedCount: this.unsynced.size };
  }

  /**
   * progressTick sends a progress notification (no events, the notified
   * revision) to every synced watcher that asked for them, has nothing
   * queued, and was sent no events since the previous tick (as etcd elides).
   */
  progressTick(): void {
    for (const stream of this.streams) {
      for (const w of stream.watchers.values()) {
        const due = w.options.progressNotify && w.state === "synced" && w.pending.length === 0 && !w.sentSinceTick;
        w.sentSinceTick = false;
        if (due) stream.send({ header: this.header(), watchId: w.id, events: [] });
      }
    }
  }

  // ---- stream operations ---------------------------------------------------

  private header(): ResponseHeader {
    return { revision: this.notified };
  }

  private create(stream: StreamState, r: WatchCreateRequest): CreateWatchResult {
    if (stream.closed) throw new Error("WatchHub: createWatch on a closed stream");
    const span = watchSpanOf(r.key, r.rangeEnd);
    if (span === undefined) return this.refuse(stream, cancelReasons.emptyRange);
    const start = r.startRevision ?? 0;
    if (start < 0) return this.refuse(stream, cancelReasons.compacted);
    if (stream.watchers.size >= this.streamWatchersMax) return this.refuse(stream, cancelReasons.tooManyWatchers);
    let id = r.watchId ?? 0;
    if (id === 0) {
      while (stream.watchers.has(stream.nextAutoId)) stream.nextAutoId++;
      id = stream.nextAutoId++;
    } else if (stream.watchers.has(id)) {
      return this.refuse(stream, cancelReasons.duplicateId);
    }
    const options: WatchOptions = {
      prevKv: r.prevKv === true,
      noPut: r.filters?.noPut === true,
      noDelete: r.filters?.noDelete === true,
      fragment: r.fragment === true,
      progressNotify: r.progressNotify === true,
    };
    const w = new Watcher(id, stream, span, options, start === 0 ? this.notified + 1 : start);
    stream.watchers.set(id, w);
    stream.send({ header: this.header(), watchId: id, created: true, events: [] });
    if (w.nextRevision > this.notified) this.sync(w);
    else if (w.nextRevision <= this.source.compactRevision) this.cancelCompacted(w);
    else this.unsynced.add(w);
    return { ok: true, watchId: id };
  }

  private refuse(stream: StreamState, cancelReason: string): CreateWatchResult {
    stream.send({ header: this.header(), watchId: watchIdNone, created: true, canceled: true, cancelReason, events: [] });
    return { ok: false, cancelReason };
  }

  private cancel(stream: StreamState, watchId: number): boolean {
    const w = stream.watchers.get(watchId);
    if (w === undefined) return false;
    this.drop(w);
    stream.watchers.delete(watchId);
    stream.send({ header: this.header(), watchId, canceled: true, events: [] });
    this.sendDeferredProgress();
    return true;
  }

  private requestProgress(stream: StreamState): void {
    if (this.allSynced(stream)) stream.send({ header: this.header(), watchId: watchIdNone, events: [] });
    else stream.progressDeferred = true;
  }

  private resume(stream: StreamState): void {
    stream.paused = false;
    for (const w of stream.watchers.values()) {
      while (!stream.paused) {
        const response = w.pending.shift();
        if (response === undefined) break;
        w.pendingEvents -= response.events.length;
        this.sendEvents(w, response);
      }
      if (stream.paused) break;
    }
    this.sendDeferredProgress();
  }

  private close(stream: StreamState): void {
    for (const w of stream.watchers.values()) this.drop(w);
    stream.watchers.clear();
    stream.closed = true;
    this.streams.delete(stream);
  }

  // ---- watcher moves -------------------------------------------------------

  private sync(w: Watcher): void {
    w.state = "synced";
    if (w.span.kind === "single") {
      const set = this.syncedKeys.get(w.span.id);
      if (set === undefined) this.syncedKeys.set(w.span.id, new Set([w]));
      else set.add(w);
    } else {
      this.syncedRanges.add(w);
    }
  }

  private unsync(w: Watcher, nextRevision: number): void {
    this.removeSynced(w);
    w.state = "unsynced";
    w.nextRevision = nextRevision;
    this.unsynced.add(w);
  }

  private removeSynced(w: Watcher): void {
    if (w.span.kind === "range") {
      this.syncedRanges.delete(w);
      return;
    }
    const set = this.syncedKeys.get(w.span.id);
    if (set === undefined) return;
    set.delete(w);
    if (set.size === 0) this.syncedKeys.delete(w.span.id);
  }

  /** drop takes a watcher out of every group and forgets what it had queued. */
  private drop(w: Watcher): void {
    this.removeSynced(w);
    this.unsynced.delete(w);
    w.state = "done";
    w.pending = [];
    w.pendingEvents = 0;
  }

  /**
   * cancelCompacted ends a watcher whose history is gone. The reported
   * compact revision is the first one a new watch can start at: etcd's
   * compaction revision when the watcher was below it; one more when it was
   * exactly at it, because compaction dropped that revision's deletions (etcd
   * would let such a watch start and silently miss them).
   */
  private cancelCompacted(w: Watcher): void {
    const compacted = this.source.compactRevision;
    const compactRevision = w.nextRevision < compacted ? compacted : compacted + 1;
    this.drop(w);
    w.stream.send({ header: this.header(), watchId: w.id, canceled: true, compactRevision, events: [] });
  }

  /** catchUp reads one bounded step of history for an unsynced watcher; returns the records read. */
  private catchUp(w: Watcher, recordsMax: number): number {
    if (w.nextRevision <= this.source.compactRevision) {
      this.cancelCompacted(w);
      return 0;
    }
    if (w.nextRevision > this.source.revision) {
      this.sync(w);
      return 0;
    }
    const read = this.source.eventsSince(w.readRequest(recordsMax));
    if (!read.ok) {
      this.cancelCompacted(w);
      return 0;
    }
    const { events, nextRevision, recordsRead } = read.value;
    if (nextRevision <= w.nextRevision) throw new Error(`WatchHub: history read made no progress at ${w.nextRevision}`);
    w.nextRevision = nextRevision;
    const shaped = w.shape(events);
    if (shaped.length > 0) this.sendEvents(w, { header: { revision: nextRevision - 1 }, watchId: w.id, events: shaped });
    if (w.nextRevision > this.source.revision) this.sync(w);
    else this.unsynced.add(w);
    return recordsRead;
  }

  // ---- delivery ------------------------------------------------------------

  /** deliver gives a synced watcher one revision's events: now, queued, or left in history if the queue is full. */
  private deliver(w: Watcher, events: KvEvent[], revision: number): void {
    const response: WatchResponse = { header: { revision }, watchId: w.id, events };
    if (!w.stream.paused && w.pending.length === 0) {
      this.sendEvents(w, response);
    } else if (w.pendingEvents + events.length <= this.pendingEventsMax) {
      w.pending.push(response);
      w.pendingEvents += events.length;
    } else {
      this.unsync(w, revision);
    }
  }

  private sendEvents(w: Watcher, response: WatchResponse): void {
    if (response.events.length > 0) w.sentSinceTick = true;
    if (!w.options.fragment) {
      w.stream.send(response);
      return;
    }
    for (const piece of fragmentResponse(response, this.fragmentBytesMax)) w.stream.send(piece);
  }

  private allSynced(stream: StreamState): boolean {
    for (const w of stream.watchers.values()) if (w.state === "unsynced" || w.pending.length > 0) return false;
    return true;
  }

  private sendDeferredProgress(): void {
    for (const stream of this.streams) {
      if (!stream.progressDeferred || !this.allSynced(stream)) continue;
      stream.progressDeferred = false;
      stream.send({ header: this.header(), watchId: watchIdNone, events: [] });
    }
  }
}

/**
 * fragmentResponse splits a response as etcd's sendFragments does: not at
 * all if it is under `bytesMax` or has fewer than two events; otherwise into
 * pieces each holding as many events as stay under `bytesMax` (at least
 * one), every piece but the last flagged `fragment`.
 */
export function fragmentResponse(response: WatchResponse, bytesMax: number): WatchResponse[] {
  const { events } = response;
  const base = watchResponseBaseSizeBytes(response.watchId);
  const sizes = events.map(eventFieldSizeBytes);
  const total = sizes.reduce((sum, n) => sum + n, base);
  if (total < bytesMax || events.length < 2) return [response];
  const pieces: WatchResponse[] = [];
  let start = 0;
  while (start < events.length) {
    let size = base;
    let end = start;
    while (end < events.length) {
      const next = size + (sizes[end] ?? 0);
      if (end > start && next >= bytesMax) break;
      size = next;
      end++;
    }
    const piece = { ...response, events: events.slice(start, end) };
    pieces.push(end < events.length ? { ...piece, fragment: true } : piece);
    start = end;
  }
  return pieces;
}
