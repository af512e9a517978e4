/**
 * Protobuf-encoded sizes of the watch messages Synod sends (mvccpb.KeyValue,
 * mvccpb.Event, etcdserverpb.WatchResponse), so a watch that asked for
 * fragments is split at the same byte bound etcd splits at. The response
 * header is counted as if every field were set (cluster id, member id and
 * raft term are filled by the server). Pure.
 */
import { varintBytes } from "./request-size.js";
import type { KeyValue, KvEvent } from "./types.js";

function lengthDelimited(field: number, size: number): number {
  return varintBytes(field * 8) + varintBytes(size) + size;
}

function int(field: number, n: number): number {
  return n === 0 ? 0 : varintBytes(field * 8) + varintBytes(n);
}

/** keyValueSizeBytes is the encoded size of one KeyValue message (without its own tag and length). */
export function keyValueSizeBytes(kv: KeyValue): number {
  return (
    (kv.key.length === 0 ? 0 : lengthDelimited(1, kv.key.length)) +
    int(2, kv.createRevision) +
    int(3, kv.modRevision) +
    int(4, kv.version) +
    (kv.value.length === 0 ? 0 : lengthDelimited(5, kv.value.length)) +
    int(6, kv.lease)
  );
}

/** eventSizeBytes is the encoded size of one Event message (without its own tag and length). */
export function eventSizeBytes(event: KvEvent): number {
  return (
    int(1, event.type) +
    lengthDelimited(2, keyValueSizeBytes(event.kv)) +
    (event.prevKv === undefined ? 0 : lengthDelimited(3, keyValueSizeBytes(event.prevKv)))
  );
}

/** eventFieldSizeBytes is what one event adds to a WatchResponse: field 11, its length, the event. */
export function eventFieldSizeBytes(event: KvEvent): number {
  return lengthDelimited(11, eventSizeBytes(event));
}

/** headerFieldSizeBytesMax bounds a ResponseHeader field: four 10-byte varints with their tags, plus tag and length. */
const headerFieldSizeBytesMax = 2 + 4 * 11;

/** watchResponseBaseSizeBytes is a WatchResponse's size without its events: header, watch id and flags. */
export function watchResponseBaseSizeBytes(watchId: number): number {
  // watch_id (2), created/canceled/fragment (3, 4, 7) are one byte each plus tag; compact_revision (5) is 0 on event responses.
  return headerFieldSizeBytesMax + int(2, watchId) + 3 * 2;
}
