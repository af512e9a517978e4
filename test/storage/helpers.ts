import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RaftHardState } from "../../src/consensus/raft/messages.js";
import type { Entry, Membership, Snapshot } from "../../src/consensus/types.js";
import { logIndex, nodeId, term } from "../../src/consensus/types.js";

/** repoRoot is the repository's root directory (child processes run there so `--import tsx` resolves). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** tempDir makes a fresh directory under the OS temp dir; `cleanup` removes it. */
export function tempDir(prefix: string): { readonly path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `synod-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** dataOf is the deterministic payload of a normal entry at (index, term), `bytes` long. */
export function dataOf(index: number, t: number, bytes = 16): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + t * 7 + i) & 0xff;
  return data;
}

/** normal builds a normal entry with deterministic data. */
export function normal(index: number, t: number, bytes = 16): Entry {
  return { index: logIndex(index), term: term(t), type: "normal", data: dataOf(index, t, bytes) };
}

/** run builds normal entries [lo, hi) of one term. */
export function run(lo: number, hi: number, t: number, bytes = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(normal(i, t, bytes));
  return out;
}

export function hardState(t: number, vote: number, commit: number): RaftHardState {
  return { term: term(t), vote: nodeId(vote), commit: logIndex(commit) };
}

export const threeVoters: Membership = { voters: [nodeId(1), nodeId(2), nodeId(3)], votersOutgoing: [], learners: [] };

export function snapshotAt(index: number, t: number, bytes: number): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 13 + index) & 0xff;
  return { meta: { index: logIndex(index), term: term(t), membership: threeVoters }, data };
}
