import { ballotNode } from "../../src/consensus/paxos/ballot.js";
import { defaultPaxosLimits, initialPaxosHardState } from "../../src/consensus/paxos/config.js";
import type { PaxosFaults } from "../../src/consensus/paxos/config.js";
import type { PaxosHardState, PaxosMessage } from "../../src/consensus/paxos/messages.js";
import { PaxosEngine } from "../../src/consensus/paxos/paxos.js";
import { assertNever, groupId } from "../../src/consensus/types.js";
import type { Membership, Ready } from "../../src/consensus/types.js";
import { persistEntries, snapshotIndex } from "./disk.js";
import type { PersistProblem, SimDisk } from "./disk.js";
import type { EngineAdapter } from "./engines.js";
import { PaxosChecker } from "./paxos-invariants.js";

const paxosFaultNames = [
  "skipRecoveryOfAcceptedValues",
  "acceptBelowPromise",
  "forgetPromisePersist",
  "minorityQuorum",
  "readWithoutBallotCheck",
] as const satisfies readonly (keyof PaxosFaults)[];

/** Message type codes for the trace. */
const code = {
  prepare: 1,
  promise: 2,
  nack: 3,
  accept: 4,
  accepted: 5,
  heartbeat: 6,
  heartbeatResponse: 7,
  snapshot: 8,
  timeoutNow: 9,
  readIndex: 10,
  readIndexResponse: 11,
} as const;

const typeNames: string[] = [];
for (const [name, value] of Object.entries(code)) typeNames[value] = name;

function paxosFaults(faults: Readonly<Record<string, boolean>>): PaxosFaults {
  const out: { -readonly [K in keyof PaxosFaults]: boolean } = {};
  for (const name of paxosFaultNames) if (faults[name] === true) out[name] = true;
  return out;
}

/**
 * persistPaxosReady writes a Ready exactly as the engine contract says: a
 * snapshot replaces the WHOLE stored log (the engine re-sends, in the same
 * Ready's `entries`, any accepted values it keeps above the snapshot), then the
 * entries replace the stored suffix from their first slot, then the hard state.
 * The write is atomic, like one LMDB transaction.
 */
function persistPaxosReady(disk: SimDisk<PaxosHardState>, ready: Ready<PaxosMessage, PaxosHardState>): PersistProblem {
  if (ready.snapshot !== null) {
    if (ready.snapshot.meta.index < snapshotIndex(disk)) {
      return `ready snapshot at ${ready.snapshot.meta.index} is older than the durable one at ${snapshotIndex(disk)}`;
    }
    disk.snapshot = ready.snapshot;
    disk.entries = [];
  }
  const problem = persistEntries(disk, ready.entries);
  if (problem !== null) return problem;
  if (ready.hardState !== null) {
    if (ready.hardState.promised < disk.hardState.promised) {
      return `ready hard state lowers the durable promise from ${disk.hardState.promised} to ${ready.hardState.promised}`;
    }
    disk.hardState = ready.hardState;
  }
  return null;
}

/**
 * paxosAdapter runs `PaxosEngine` in the simulator. Beyond the generic checks
 * (which compare only content where Raft compares terms: a recovered value is
 * re-proposed under a new ballot), `PaxosChecker` checks the Paxos properties
 * on every persisted Ready: one value chosen per slot, chosen values never
 * change, acceptors keep their promises, and persist before acknowledge.
 */
export const paxosAdapter: EngineAdapter<PaxosMessage, PaxosHardState> = {
  name: "paxos",
  faultNames: paxosFaultNames,
  messageTypeNames: typeNames,
  termsMatchPrefixes: false,

  createChecker(bootstrap: Membership) {
    return new PaxosChecker(bootstrap);
  },

  initialDisk(bootstrap: Membership): SimDisk<PaxosHardState> {
    return { hardState: initialPaxosHardState, snapshot: null, entries: [], bootstrap };
  },

  create(options) {
    const { params } = options;
    return new PaxosEngine(
      {
        ...defaultPaxosLimits,
        id: options.id,
        groupId: groupId(1),
        electionTimeoutTicks: params.electionTimeoutTicks,
        heartbeatTicks: params.heartbeatTicks,
        appendEntriesMax: params.appendEntriesMax,
        inflightMessagesMax: params.inflightMessagesMax,
        uncommittedBytesMax: params.uncommittedBytesMax,
        random: options.random,
        faults: paxosFaults(options.faults),
      },
      {
        hardState: options.disk.hardState,
        snapshot: options.disk.snapshot,
        entries: options.disk.entries,
        bootstrap: options.disk.bootstrap,
      },
    );
  },

  persist: persistPaxosReady,

  persistCompaction(engine, disk) {
    if (!(engine instanceof PaxosEngine)) throw new Error("paxos adapter given another engine");
    const snapshot = engine.latestSnapshot();
    const base = snapshotIndex(disk);
    if (snapshot === null || snapshot.meta.index <= base) return;
    // The log after a compaction point is the engine's own: keep it whatever its ballots.
    disk.entries = disk.entries.slice(Math.min(disk.entries.length, snapshot.meta.index - base));
    disk.snapshot = snapshot;
  },

  hardStateWords(hardState) {
    return [hardState.promised, hardState.commit, 0];
  },

  messageCode(msg) {
    return code[msg.type];
  },

  messageTerm(msg) {
    return msg.ballot;
  },

  messageIndex(msg) {
    switch (msg.type) {
      case "prepare":
      case "promise":
        return msg.fromSlot;
      case "accept":
        return msg.entries[0]?.index ?? 0;
      case "accepted":
      case "heartbeatResponse":
        return msg.prefix;
      case "heartbeat":
        return msg.commit;
      case "snapshot":
        return msg.snapshot.meta.index;
      case "readIndexResponse":
        return msg.index;
      case "nack":
      case "timeoutNow":
      case "readIndex":
        return 0;
      default:
        return assertNever(msg);
    }
  },

  messageCount(msg) {
    switch (msg.type) {
      case "promise":
      case "accept":
        return msg.entries.length;
      case "accepted":
        return msg.reject ? 0 : 1;
      case "readIndex":
      case "readIndexResponse":
        return msg.requestId;
      case "heartbeat":
      case "heartbeatResponse":
        return msg.readContext;
      case "nack":
        return msg.promised;
      case "prepare":
      case "snapshot":
      case "timeoutNow":
        return 0;
      default:
        return assertNever(msg);
    }
  },

  leaderOnlyTerm(msg) {
    switch (msg.type) {
      case "accept":
      case "heartbeat":
      case "timeoutNow":
        return msg.ballot;
      case "snapshot":
        // Also sent by an acceptor to a lagging candidate, under the candidate's ballot.
        return ballotNode(msg.ballot) === msg.from ? msg.ballot : -1;
      case "prepare":
      case "promise":
      case "nack":
      case "accepted":
      case "heartbeatResponse":
      case "readIndex":
      case "readIndexResponse":
        return -1;
      default:
        return assertNever(msg);
    }
  },

  checkSend(msg) {
    // A ballot is owned by one node: only its owner may act as that ballot's proposer.
    if ((msg.type === "prepare" || msg.type === "accept" || msg.type === "heartbeat") && ballotNode(msg.ballot) !== msg.from) {
      return `node ${msg.from} sent ${msg.type} under ballot ${msg.ballot}, which belongs to node ${ballotNode(msg.ballot)}`;
    }
    return null;
  },
};
