import type { Envelope } from "../consensus/types.js";
import type { ConsensusMessage, EngineKind } from "./engines.js";

/** Server-level peer messages, carried on the same connections as the engine's. */
export type ForwardMessage =
  | (Envelope & { readonly type: "forwardProposal"; readonly id: string; readonly data: Uint8Array })
  | (Envelope & { readonly type: "forwardRejected"; readonly id: string; readonly reason: string })
  /** A follower asks the leader, which alone keeps lease deadlines, to renew a lease or tell its remaining time. */
  | (Envelope & { readonly type: "leaseQuery"; readonly id: string; readonly leaseId: number; readonly renew: boolean })
  /** The leader's answer: `found` false when the lease is unknown or expired; `ttlMs` the TTL granted or remaining. */
  | (Envelope & { readonly type: "leaseAnswer"; readonly id: string; readonly found: boolean; readonly ttlMs: number; readonly leader: boolean })
  /** A member asks the leader to carry out a Cluster service change (member-admin.ts); `body` is the encoded request. */
  | (Envelope & { readonly type: "memberRequest"; readonly id: string; readonly body: Uint8Array })
  /** The leader's answer to a memberRequest: the encoded outcome. */
  | (Envelope & { readonly type: "memberAnswer"; readonly id: string; readonly body: Uint8Array });

/**
 * Snapshot transfer, pulled by the receiver in chunks (src/server/snapshot-transfer.ts).
 * `snapshotPull` asks for the rows of snapshot (index, term) after `afterKey`
 * (null: from the first); `snapshotChunk` answers with rows in key order, `done`
 * on the last; `snapshotGone` says the sender no longer holds that snapshot.
 */
export type SnapshotTransferMessage =
  | (Envelope & { readonly type: "snapshotPull"; readonly index: number; readonly term: number; readonly afterKey: Uint8Array | null })
  | (Envelope & {
      readonly type: "snapshotChunk";
      readonly index: number;
      readonly term: number;
      readonly rows: readonly (readonly [Uint8Array, Uint8Array])[];
      readonly done: boolean;
    })
  | (Envelope & { readonly type: "snapshotGone"; readonly index: number });

export type PeerMessage = ConsensusMessage | ForwardMessage | SnapshotTransferMessage;

type FieldKind = "int" | "bool" | "string" | "bytes" | "bytesOrNull" | "rows" | "entries" | "snapshot";
type Shape = Readonly<Record<string, FieldKind>>;

const raftShapes: Readonly<Record<string, Shape>> = {
  vote: { term: "int", preVote: "bool", lastLogIndex: "int", lastLogTerm: "int", transfer: "bool" },
  voteResponse: { term: "int", preVote: "bool", granted: "bool" },
  append: { term: "int", prevLogIndex: "int", prevLogTerm: "int", entries: "entries", commit: "int" },
  appendResponse: { term: "int", reject: "bool", index: "int", hintIndex: "int", hintTerm: "int" },
  heartbeat: { term: "int", commit: "int", readContext: "int" },
  heartbeatResponse: { term: "int", readContext: "int" },
  snapshot: { term: "int", snapshot: "snapshot" },
  timeoutNow: { term: "int" },
  readIndex: { term: "int", requestId: "int" },
  readIndexResponse: { term: "int", requestId: "int", index: "int", rejected: "bool" },
};

const paxosShapes: Readonly<Record<string, Shape>> = {
  prepare: { ballot: "int", fromSlot: "int" },
  promise: { ballot: "int", fromSlot: "int", entries: "entries", commit: "int", complete: "bool" },
  nack: { ballot: "int", promised: "int" },
  accept: { ballot: "int", entries: "entries", commit: "int" },
  accepted: { ballot: "int", reject: "bool", batchFirst: "int", prefix: "int", needSnapshot: "bool" },
  heartbeat: { ballot: "int", commit: "int", readContext: "int" },
  heartbeatResponse: { ballot: "int", readContext: "int", prefix: "int", needSnapshot: "bool" },
  snapshot: { ballot: "int", snapshot: "snapshot" },
  timeoutNow: { ballot: "int" },
  readIndex: { ballot: "int", requestId: "int" },
  readIndexResponse: { ballot: "int", requestId: "int", index: "int", rejected: "bool" },
};

const forwardShapes: Readonly<Record<string, Shape>> = {
  forwardProposal: { id: "string", data: "bytes" },
  forwardRejected: { id: "string", reason: "string" },
  leaseQuery: { id: "string", leaseId: "int", renew: "bool" },
  leaseAnswer: { id: "string", found: "bool", ttlMs: "int", leader: "bool" },
  memberRequest: { id: "string", body: "bytes" },
  memberAnswer: { id: "string", body: "bytes" },
  snapshotPull: { index: "int", term: "int", afterKey: "bytesOrNull" },
  snapshotChunk: { index: "int", term: "int", rows: "rows", done: "bool" },
  snapshotGone: { index: "int" },
};

/**
 * peerMessageValidator returns the check the transport applies to every
 * arriving frame: a message of this cluster's engine, field by field. A frame
 * that fails it closes that connection only; nothing malformed reaches the engine.
 */
export function peerMessageValidator(kind: EngineKind): (value: unknown) => value is PeerMessage {
  const engineShapes = kind === "raft" ? raftShapes : paxosShapes;
  return (value: unknown): value is PeerMessage => {
    if (!isRecord(value) || typeof value["type"] !== "string") return false;
    if (!isInt(value["groupId"]) || !isInt(value["from"]) || !isInt(value["to"])) return false;
    const shape = engineShapes[value["type"]] ?? forwardShapes[value["type"]];
    if (shape === undefined) return false;
    for (const [field, fieldKind] of Object.entries(shape)) if (!hasKind(value[field], fieldKind)) return false;
    return true;
  };
}

function hasKind(v: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case "int":
      return isInt(v);
    case "bool":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "bytes":
      return v instanceof Uint8Array;
    case "bytesOrNull":
      return v === null || v instanceof Uint8Array;
    case "rows":
      return Array.isArray(v) && v.every(isRow);
    case "entries":
      return Array.isArray(v) && v.every(isEntry);
    case "snapshot":
      return isSnapshot(v);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isIntArray(v: unknown): boolean {
  return Array.isArray(v) && v.every(isInt);
}

function isRow(v: unknown): boolean {
  return Array.isArray(v) && v.length === 2 && v[0] instanceof Uint8Array && v[1] instanceof Uint8Array;
}

function isEntry(v: unknown): boolean {
  if (!isRecord(v) || !isInt(v["index"]) || !isInt(v["term"])) return false;
  if (v["type"] === "normal") return v["data"] instanceof Uint8Array;
  if (v["type"] !== "config" || !isRecord(v["change"]) || !Array.isArray(v["change"]["ops"])) return false;
  return v["change"]["ops"].every(
    (op: unknown) => isRecord(op) && isInt(op["node"]) && (op["type"] === "addVoter" || op["type"] === "addLearner" || op["type"] === "removeNode"),
  );
}

function isSnapshot(v: unknown): boolean {
  if (!isRecord(v) || !(v["data"] instanceof Uint8Array) || !isRecord(v["meta"])) return false;
  const meta = v["meta"];
  const m = meta["membership"];
  return isInt(meta["index"]) && isInt(meta["term"]) && isRecord(m) && isIntArray(m["voters"]) && isIntArray(m["votersOutgoing"]) && isIntArray(m["learners"]);
}
