import type { KvOp } from "./linearizability/types.js";

/** KvOutput is what an applied op returns: null for put/delete, the value (or null) for get, success for cas. */
export type KvOutput = string | null | boolean;

/** KvCommand is one client write as it travels in a log entry: (client, seq) identifies it for deduplication. */
export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly op: KvOp;
}

/** KvApplyResult is an applied command's output, or `stale` for a command its client has already moved past. */
export type KvApplyResult = { readonly stale: false; readonly output: KvOutput } | { readonly stale: true };

interface Session {
  readonly seq: number;
  readonly output: KvOutput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** decoded caches parsed commands by the entry's byte array; entries are shared by reference between nodes. */
const decoded = new WeakMap<Uint8Array, KvCommand>();

/** encodeCommand serialises a command for a log entry. */
export function encodeCommand(command: KvCommand): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(command));
  decoded.set(bytes, command);
  return bytes;
}

/** decodeCommand parses a log entry's data back into a command. */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  const cached = decoded.get(bytes);
  if (cached !== undefined) return cached;
  const command = JSON.parse(decoder.decode(bytes)) as KvCommand;
  decoded.set(bytes, command);
  return command;
}

interface KvSnapshotJson {
  readonly data: [string, string][];
  readonly sessions: [number, number, KvOutput][];
}

/**
 * KvStateMachine is the replicated key-value store of one simulated node: string
 * keys and values, plus a session table (client → last seq and its output) so a
 * retried command takes effect at most once (Raft thesis §6.3).
 */
export class KvStateMachine {
  private readonly data = new Map<string, string>();
  private readonly sessions = new Map<number, Session>();

  /** apply executes a command unless it is a duplicate, whose first output it returns. */
  apply(command: KvCommand): KvApplyResult {
    const session = this.sessions.get(command.client);
    if (session !== undefined) {
      if (command.seq === session.seq) return { stale: false, output: session.output };
      if (command.seq < session.seq) return { stale: true };
    }
    const output = this.execute(command.op);
    this.sessions.set(command.client, { seq: command.seq, output });
    return { stale: false, output };
  }

  /** get reads a key locally; the caller has made sure the read is linearizable. */
  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** snapshot serialises the whole state canonically (sorted), so equal states give equal bytes. */
  snapshot(): Uint8Array {
    const json: KvSnapshotJson = {
      data: [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      sessions: [...this.sessions.entries()].sort((a, b) => a[0] - b[0]).map(([c, s]) => [c, s.seq, s.output]),
    };
    return encoder.encode(JSON.stringify(json));
  }

  /** restore replaces the whole state with a snapshot's. */
  restore(bytes: Uint8Array): void {
    this.data.clear();
    this.sessions.clear();
    if (bytes.length === 0) return;
    const json = JSON.parse(decoder.decode(bytes)) as KvSnapshotJson;
    for (const [key, value] of json.data) this.data.set(key, value);
    for (const [client, seq, output] of json.sessions) this.sessions.set(client, { seq, output });
  }

  private execute(op: KvOp): KvOutput {
    switch (op.kind) {
      case "put":
        this.data.set(op.key, op.value);
        return null;
      case "delete":
        this.data.delete(op.key);
        return null;
      case "cas": {
        const current = this.data.get(op.key) ?? null;
        if (current !== op.expected) return false;
        this.data.set(op.key, op.value);
        return true;
      }
      case "get":
        return this.data.get(op.key) ?? null;
    }
  }
}
