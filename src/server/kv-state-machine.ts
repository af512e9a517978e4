import { Packr } from "msgpackr";
import type { Entry, LogIndex, Snapshot } from "../consensus/types.js";
import { MvccStore } from "../kv/index.js";
import type { KvRequest, KvResponse, MvccOptions , KvError} from "../kv/index.js";
import type { StateMachinePort } from "../replica/ports.js";
import type { Storage, Table } from "../storage/storage.js";
import { LmdbOrderedStore } from "./lmdb-ordered-store.js";

/** MemberAttributes are what a member publishes about itself through the log (etcd's "publish"). */
export interface MemberAttributes {
  readonly nodeId: number;
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** KvCommand is what a log entry carries: a KV request or a member's attributes, and the id its origin waits on. */
export type KvCommand =
  | { readonly id: string; readonly request: KvRequest }
  | { readonly id: string; readonly publish: MemberAttributes };

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
    if (isMemberAttributes(publish)) return { id, publish };
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

/** Member attributes live in the state machine's table under their own prefix, beside the MVCC keyspaces, so snapshots carry them. */
const memberPrefix = Buffer.from("s/member/");

function memberKey(nodeId: number): Buffer {
  const key = Buffer.alloc(memberPrefix.length + 4);
  memberPrefix.copy(key);
  key.writeUInt32BE(nodeId, memberPrefix.length);
  return key;
}

/** AppliedResult is the outcome of one applied command, for the member that waits on it. */
export type AppliedResult =
  | { readonly ok: true; readonly response: KvResponse | null; readonly revision: number }
  | { readonly ok: false; readonly error: KvError };

interface Pending {
  resolve(result: AppliedResult): void;
}

/**
 * KvStateMachine is the MVCC store applied from the log, on an LMDB table of
 * the server's storage. Applied changes and the applied index commit in the
 * same group commit as the consensus writes of the same Ready.
 */
export class KvStateMachine implements StateMachinePort {
  private readonly table: Table;
  private mvccStore: MvccStore;
  private readonly waiting = new Map<string, Pending>();

  constructor(
    private readonly storage: Storage,
    private readonly options: MvccOptions = {},
  ) {
    this.table = storage.table("mvcc");
    this.mvccStore = new MvccStore(new LmdbOrderedStore(this.table), options);
  }

  /** mvcc is the store, for reads served outside the log (Range, HashKV). */
  get mvcc(): MvccStore {
    return this.mvccStore;
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
    return this.storage
      .transaction(() => {
        let applied = this.mvccStore.consistentIndex();
        for (const entry of entries) {
          if (entry.index <= applied) continue;
          if (entry.type === "normal" && entry.data.length > 0) {
            const command = decodeCommand(entry.data);
            if (command !== undefined && "publish" in command) {
              this.table.putSync(memberKey(command.publish.nodeId), Buffer.from(packr.pack(command.publish)));
              if (this.waiting.has(command.id)) results.push({ id: command.id, result: { ok: true, response: null, revision: this.mvccStore.revision } });
            } else if (command !== undefined) {
              const outcome = this.mvccStore.apply(command.request);
              if (this.waiting.has(command.id)) {
                results.push({
                  id: command.id,
                  result: outcome.ok ? { ok: true, response: outcome.value.response, revision: this.mvccStore.revision } : { ok: false, error: outcome.error },
                });
              }
            }
          }
          applied = entry.index;
        }
        this.mvccStore.setConsistentIndex(applied);
      })
      .then(() => {
        for (const { id, result } of results) {
          const pending = this.waiting.get(id);
          this.waiting.delete(id);
          pending?.resolve(result);
        }
      });
  }

  /** publishedMembers lists the attributes every member published, by node id. */
  publishedMembers(): Map<number, MemberAttributes> {
    const out = new Map<number, MemberAttributes>();
    const end = Buffer.from(memberPrefix);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    for (const { value } of this.table.getRange({ start: memberPrefix, end })) {
      const attributes: unknown = packr.unpack(value);
      if (isMemberAttributes(attributes)) out.set(attributes.nodeId, attributes);
    }
    return out;
  }

  restore(snapshot: Snapshot): Promise<void> {
    const pairs = packr.unpack(snapshot.data) as [Uint8Array, Uint8Array][];
    return this.storage.transaction(() => {
      this.table.clearSync();
      for (const [key, value] of pairs) this.table.putSync(Buffer.from(key), Buffer.from(value));
      // Cached revisions must be re-read from the restored tables.
      this.mvccStore = new MvccStore(new LmdbOrderedStore(this.table), this.options);
    });
  }

  snapshotData(): Uint8Array {
    const pairs: [Buffer, Buffer][] = [];
    for (const { key, value } of this.table.getRange({})) pairs.push([key, value]);
    return packr.pack(pairs);
  }
}
