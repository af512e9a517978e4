import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { initialPaxosHardState, defaultPaxosLimits } from "../consensus/paxos/config.js";
import type { PaxosHardState, PaxosMessage } from "../consensus/paxos/messages.js";
import { PaxosEngine } from "../consensus/paxos/paxos.js";
import { defaultRaftLimits } from "../consensus/raft/config.js";
import type { RaftHardState, RaftMessage } from "../consensus/raft/messages.js";
import { RaftEngine } from "../consensus/raft/raft.js";
import type { Engine, GroupId, Membership, NodeId, Random } from "../consensus/types.js";
import type { DurableState } from "../storage/group-storage.js";
import { writeFileDurably } from "../storage/durable-files.js";
import { raftDurableState } from "../storage/raft-state.js";

/** EngineKind names a consensus engine; a cluster's is chosen when it is created. */
export type EngineKind = "raft" | "paxos";

/** ConsensusMessage is any engine's peer message. */
export type ConsensusMessage = RaftMessage | PaxosMessage;

/** AnyEngine is either engine behind the shared surface. */
export type AnyEngine = Engine<ConsensusMessage, RaftHardState | PaxosHardState>;

const engineFileName = "synod.engine";

/**
 * engineKindOf returns the engine a data directory was created with, recording
 * `requested` on first use: a cluster keeps the engine it was created with, so
 * a restart with another --consensus keeps the stored one (and says so).
 */
export function engineKindOf(dataDir: string, requested: EngineKind, log: (line: string) => void): EngineKind {
  const path = join(dataDir, engineFileName);
  if (!existsSync(path)) {
    writeFileDurably(path, `${requested}\n`);
    return requested;
  }
  const stored = readFileSync(path, "utf8").trim();
  if (stored !== "raft" && stored !== "paxos") throw new Error(`${path} names an unknown engine "${stored}"`);
  if (stored !== requested) log(`data dir was created with --consensus ${stored}; keeping it (requested ${requested})`);
  return stored;
}

/** createEngine builds the engine of `kind` from what its group storage loaded. */
export function createEngine(
  kind: EngineKind,
  options: { id: NodeId; groupId: GroupId; electionTimeoutTicks: number; random: Random },
  stored: DurableState<unknown>,
  bootstrap: Membership,
): AnyEngine {
  switch (kind) {
    case "raft": {
      const durable = raftDurableState({ ...(stored as DurableState<RaftHardState>), bootstrap: stored.bootstrap ?? bootstrap });
      // The union of message types is narrowed by each engine's step; peers run the same engine.
      return new RaftEngine({ ...defaultRaftLimits, ...options }, durable);
    }
    case "paxos": {
      const hardState = (stored.hardState as PaxosHardState | null) ?? initialPaxosHardState;
      const engine = new PaxosEngine(
        { ...defaultPaxosLimits, ...options },
        { hardState, snapshot: stored.snapshot, entries: stored.entries, bootstrap: stored.bootstrap ?? bootstrap },
      );
      return engine;
    }
  }
}
