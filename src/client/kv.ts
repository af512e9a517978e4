/**
 * KvClient: get, put, delete and txn with plain TypeScript values. Keys and
 * values are strings (UTF-8) or bytes; revisions, versions and lease IDs are
 * numbers (Synod keeps them below 2^53). Reads are retried on UNAVAILABLE;
 * writes, and txns holding a write, are not (see connection.ts).
 */
import type { Connection } from "./connection.js";

export type Bytes = string | Uint8Array;

/** KeyValue is a stored key (mvccpb.KeyValue); `lease` 0 means none. */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

export interface GetOptions {
  /** prefix reads every key starting with `key`. */
  readonly prefix?: boolean;
  readonly revision?: number;
  readonly limit?: number;
  readonly serializable?: boolean;
}

export interface PutOptions {
  readonly lease?: number;
  readonly prevKv?: boolean;
}

export interface GetResult {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  readonly count: number;
  readonly more: boolean;
}

/** Compare is one guard of a txn, built with {@link compare}. */
export interface Compare {
  readonly wire: object;
}

/** Op is one operation of a txn branch, built with {@link op}. */
export interface Op {
  readonly wire: object;
  readonly writes: boolean;
}

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly Op[];
  readonly failure?: readonly Op[];
}

/** TxnResult: `responses` are the raw decoded op responses of the branch taken. */
export interface TxnResult {
  readonly revision: number;
  readonly succeeded: boolean;
  readonly responses: readonly object[];
}

/** DecodedKeyValue is a KeyValue as the loader decodes it (int64 as decimal strings). */
export interface DecodedKeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly create_revision: string;
  readonly mod_revision: string;
  readonly version: string;
  readonly lease: string;
}

export interface DecodedHeader {
  readonly revision: string;
}

const encoder = new TextEncoder();

/** bytes encodes a string as UTF-8; bytes pass through. */
export function bytes(value: Bytes): Buffer {
  return typeof value === "string" ? Buffer.from(encoder.encode(value)) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** prefixEndOf is the range end covering every key that starts with `prefix` ("\0": all keys, for an all-0xff prefix). */
export function prefixEndOf(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] ?? 0;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function keyValueFromPb(kv: DecodedKeyValue): KeyValue {
  return {
    key: new Uint8Array(kv.key),
    value: new Uint8Array(kv.value),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: Number(kv.lease),
  };
}

function rangeToPb(key: Bytes, options: GetOptions = {}): object {
  const k = bytes(key);
  return {
    key: k,
    range_end: options.prefix === true ? prefixEndOf(k) : Buffer.alloc(0),
    revision: options.revision ?? 0,
    limit: options.limit ?? 0,
    serializable: options.serializable === true,
  };
}

function putToPb(key: Bytes, value: Bytes, options: PutOptions = {}): object {
  return { key: bytes(key), value: bytes(value), lease: options.lease ?? 0, prev_kv: options.prevKv === true };
}

function deleteToPb(key: Bytes, options: { readonly prefix?: boolean } = {}): object {
  const k = bytes(key);
  return { key: k, range_end: options.prefix === true ? prefixEndOf(k) : Buffer.alloc(0) };
}

type CompareOp = "=" | ">" | "<" | "!=";
const compareResult: Record<CompareOp, number> = { "=": 0, ">": 1, "<": 2, "!=": 3 };

/** compare builds txn guards, etcd's Compare(target(key), op, operand). */
export const compare = {
  version: (key: Bytes, op: CompareOp, version: number): Compare => ({ wire: { key: bytes(key), target: 0, result: compareResult[op], version } }),
  createRevision: (key: Bytes, op: CompareOp, revision: number): Compare => ({
    wire: { key: bytes(key), target: 1, result: compareResult[op], create_revision: revision },
  }),
  modRevision: (key: Bytes, op: CompareOp, revision: number): Compare => ({
    wire: { key: bytes(key), target: 2, result: compareResult[op], mod_revision: revision },
  }),
  value: (key: Bytes, op: CompareOp, value: Bytes): Compare => ({ wire: { key: bytes(key), target: 3, result: compareResult[op], value: bytes(value) } }),
};

/** op builds txn operations. */
export const op = {
  get: (key: Bytes, options?: GetOptions): Op => ({ wire: { request_range: rangeToPb(key, options) }, writes: false }),
  put: (key: Bytes, value: Bytes, options?: PutOptions): Op => ({ wire: { request_put: putToPb(key, value, options) }, writes: true }),
  delete: (key: Bytes, options?: { readonly prefix?: boolean }): Op => ({ wire: { request_delete_range: deleteToPb(key, options) }, writes: true }),
};

/** See the file comment. */
export class KvClient {
  constructor(private readonly connection: Connection) {}

  async get(key: Bytes, options: GetOptions = {}): Promise<GetResult> {
    const response = await this.connection.unary<{ header: DecodedHeader; kvs: DecodedKeyValue[]; count: string; more: boolean }>(
      "etcdserverpb.KV",
      "Range",
      rangeToPb(key, options),
      { idempotent: true },
    );
    return { revision: Number(response.header.revision), kvs: response.kvs.map(keyValueFromPb), count: Number(response.count), more: response.more };
  }

  /** put is never retried automatically (it may have been applied). */
  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<{ readonly revision: number; readonly prevKv?: KeyValue }> {
    const response = await this.connection.unary<{ header: DecodedHeader; prev_kv: DecodedKeyValue | null }>(
      "etcdserverpb.KV",
      "Put",
      putToPb(key, value, options),
      { idempotent: false },
    );
    const revision = Number(response.header.revision);
    return response.prev_kv === null ? { revision } : { revision, prevKv: keyValueFromPb(response.prev_kv) };
  }

  async delete(key: Bytes, options: { readonly prefix?: boolean } = {}): Promise<{ readonly revision: number; readonly deleted: number }> {
    const response = await this.connection.unary<{ header: DecodedHeader; deleted: string }>("etcdserverpb.KV", "DeleteRange", deleteToPb(key, options), {
      idempotent: false,
    });
    return { revision: Number(response.header.revision), deleted: Number(response.deleted) };
  }

  /** txn: retried on UNAVAILABLE only when every op is a read. */
  async txn(request: TxnRequest): Promise<TxnResult> {
    const success = request.success ?? [];
    const failure = request.failure ?? [];
    const readOnly = [...success, ...failure].every((o) => !o.writes);
    const response = await this.connection.unary<{ header: DecodedHeader; succeeded: boolean; responses: object[] }>(
      "etcdserverpb.KV",
      "Txn",
      { compare: (request.compare ?? []).map((c) => c.wire), success: success.map((o) => o.wire), failure: failure.map((o) => o.wire) },
      { idempotent: readOnly },
    );
    return { revision: Number(response.header.revision), succeeded: response.succeeded, responses: response.responses };
  }
}
