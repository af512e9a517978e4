import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nodeId } from "../consensus/types.js";
import type { NodeId } from "../consensus/types.js";
import { writeFileDurably } from "../storage/durable-files.js";

/** identityFileName is the file in a data directory that records who its member is. */
export const identityFileName = "synod.member";

/** MemberIdentity is a member's etcd id and engine node id. */
export interface MemberIdentity {
  readonly memberId: bigint;
  readonly nodeId: NodeId;
}

/**
 * memberIdentityOf returns the ids the member of `dataDir` was created with,
 * recording `derived` on first use. As with etcd, a member's identity belongs
 * to its data: flags that would derive other ids on a later start (peer URLs
 * changed by MemberUpdate, an --initial-cluster written afresh) do not change
 * who it is, so its log and votes stay its own.
 */
export function memberIdentityOf(dataDir: string, derived: MemberIdentity, log: (line: string) => void): MemberIdentity {
  const path = join(dataDir, identityFileName);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileDurably(path, `${JSON.stringify({ memberId: derived.memberId.toString(), nodeId: derived.nodeId })}\n`);
    return derived;
  }
  const stored = parseIdentity(readFileSync(path, "utf8"));
  if (stored === undefined) throw new Error(`${path} is not a member identity; restore it or start on a new data dir`);
  if (stored.memberId !== derived.memberId || stored.nodeId !== derived.nodeId) {
    log(`data dir belongs to member ${stored.memberId.toString(16)}; keeping its ids (the flags would make it ${derived.memberId.toString(16)})`);
  }
  return stored;
}

function parseIdentity(text: string): MemberIdentity | undefined {
  try {
    const value = JSON.parse(text) as { memberId?: unknown; nodeId?: unknown };
    if (typeof value.memberId !== "string" || !/^\d+$/.test(value.memberId)) return undefined;
    if (typeof value.nodeId !== "number" || !Number.isSafeInteger(value.nodeId) || value.nodeId <= 0) return undefined;
    return { memberId: BigInt(value.memberId), nodeId: nodeId(value.nodeId) };
  } catch {
    return undefined;
  }
}
