/**
 * Conversion of the Watch and Lease messages between the wire (`wire.ts`)
 * and the KV layer's types. Pure; the number and byte conventions are those
 * of `convert.ts`.
 */
import type { KvEvent, WatchCreateRequest, WatchResponse } from "../../kv/index.js";
import type { HeaderInfo, LeaseTimeToLiveResult } from "./backend.js";
import { bytesIn, bytesOut, fullHeader, int64ToNumber, keyValueToPb } from "./convert.js";
import type { PbEvent, PbLeaseTimeToLiveResponse, PbResponseHeader, PbWatchCreateRequest, PbWatchResponse } from "./wire.js";

/** filterNoPut and filterNoDelete are WatchCreateRequest.FilterType's numbers. */
const filterNoPut = 0;
const filterNoDelete = 1;

/**
 * watchCreateFromPb converts a WatchCreateRequest. An empty `range_end` is a
 * single key (the hub resolves the empty key and the "\0" range end as etcd
 * does); `start_revision` and `watch_id` 0 keep their "next revision" and
 * "server picks" meanings.
 */
export function watchCreateFromPb(p: PbWatchCreateRequest): WatchCreateRequest {
  return {
    key: bytesIn(p.key),
    rangeEnd: bytesIn(p.range_end),
    startRevision: int64ToNumber(p.start_revision),
    prevKv: p.prev_kv,
    filters: { noPut: p.filters.includes(filterNoPut), noDelete: p.filters.includes(filterNoDelete) },
    progressNotify: p.progress_notify,
    fragment: p.fragment,
    watchId: int64ToNumber(p.watch_id),
  };
}

function eventToPb(event: KvEvent): PbEvent {
  const kv = keyValueToPb(event.kv);
  return event.prevKv === undefined ? { type: event.type, kv } : { type: event.type, kv, prev_kv: keyValueToPb(event.prevKv) };
}

/** watchResponseToPb fills the hub's response with the member's header; absent fields become zero values. */
export function watchResponseToPb(r: WatchResponse, info: HeaderInfo): PbWatchResponse {
  return {
    header: fullHeader(info)(r.header),
    watch_id: r.watchId,
    created: r.created === true,
    canceled: r.canceled === true,
    compact_revision: r.compactRevision ?? 0,
    cancel_reason: r.cancelReason ?? "",
    fragment: r.fragment === true,
    events: r.events.map(eventToPb),
  };
}

export function leaseTimeToLiveToPb(r: LeaseTimeToLiveResult, header: PbResponseHeader): PbLeaseTimeToLiveResponse {
  return { header, ID: r.id, TTL: r.ttl, grantedTTL: r.grantedTtl, keys: r.keys.map(bytesOut) };
}
