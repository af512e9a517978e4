import { defaultRaftLimits } from "../../src/consensus/raft/config.js";
import type { RaftFaults } from "../../src/consensus/raft/config.js";
import type { RaftHardState, RaftMessage } from "../../src/consensus/raft/messages.js";
import { RaftEngine } from "../../src/consensus/raft/raft.js";
import { assertNever, groupId, logIndex, noNode, term } from "../../src/consensus/types.js";
import type { Membership } from "../../src/consensus/types.js";
import { durableLastIndex, persistReady, persistSnapshot, snapshotIndex } from "./disk.js";
import type { SimDisk } from "./disk.js";
import type { EngineAdapter } from "./engines.js";

const raftFaultNames = [
  "commitOldTermByCounting",
  "forgetVotePersist",
  "acceptMismatchedAppend",
  "readWithoutQuorumCheck",
  "applyBeforeCommit",
  "ignoreJointQuorum",
] as const satisfies readonly (keyof RaftFaults)[];

/** Message type codes for the trace; pre-vote traffic gets its own codes. */
const code = {
  vote: 1,
  voteResponse: 2,
  append: 3,
  appendResponse: 4,
  heartbeat: 5,
  heartbeatResponse: 6,
  snapshot: 7,
  timeoutNow: 8,
  readIndex: 9,
  readIndexResponse: 10,
  preVote: 11,
  preVoteResponse: 12,
} as const;

const typeNames: string[] = [];
for (const [name, value] of Object.entries(code)) typeNames[value] = name;

function raftFaults(faults: Readonly<Record<string, boolean>>): RaftFaults {
  const out: { -readonly [K in keyof RaftFaults]: boolean } = {};
  for (const name of raftFaultNames) if (faults[name] === true) out[name] = true;
  return out;
}

/**
 * raftAdapter runs `RaftEngine` in the simulator. Its send check is Raft's
 * persist-before-acknowledge rule: a granted (real) vote needs the vote on
 * disk, a successful append acknowledgement needs the acknowledged log on disk,
 * and no message may carry a term the sender has not made durable.
 */
export const raftAdapter: EngineAdapter<RaftMessage, RaftHardState> = {
  name: "raft",
  faultNames: raftFaultNames,
  messageTypeNames: typeNames,
  termsMatchPrefixes: true,

  createChecker() {
    return null;
  },

  initialDisk(bootstrap: Membership): SimDisk<RaftHardState> {
    return { hardState: { term: term(0), vote: noNode, commit: logIndex(0) }, snapshot: null, entries: [], bootstrap };
  },

  create(options) {
    const { params } = options;
    return new RaftEngine(
      {
        ...defaultRaftLimits,
        id: options.id,
        groupId: groupId(1),
        electionTimeoutTicks: params.electionTimeoutTicks,
        heartbeatTicks: params.heartbeatTicks,
        preVote: params.preVote,
        checkQuorum: params.checkQuorum,
        appendEntriesMax: params.appendEntriesMax,
        inflightMessagesMax: params.inflightMessagesMax,
        uncommittedBytesMax: params.uncommittedBytesMax,
        random: options.random,
        faults: raftFaults(options.faults),
      },
      {
        hardState: options.disk.hardState,
        snapshot: options.disk.snapshot,
        entries: options.disk.entries,
        bootstrap: options.disk.bootstrap,
      },
    );
  },

  persist: persistReady,

  persistCompaction(engine, disk) {
    if (!(engine instanceof RaftEngine)) throw new Error("raft adapter given another engine");
    const snapshot = engine.latestSnapshot();
    if (snapshot !== null && snapshot.meta.index > snapshotIndex(disk)) persistSnapshot(disk, snapshot);
  },

  hardStateWords(hardState) {
    return [hardState.term, hardState.vote, hardState.commit];
  },

  messageCode(msg) {
    if (msg.type === "vote") return msg.preVote ? code.preVote : code.vote;
    if (msg.type === "voteResponse") return msg.preVote ? code.preVoteResponse : code.voteResponse;
    return code[msg.type];
  },

  messageTerm(msg) {
    return msg.term;
  },

  messageIndex(msg) {
    switch (msg.type) {
      case "vote":
        return msg.lastLogIndex;
      case "append":
        return msg.prevLogIndex;
      case "appendResponse":
        return msg.index;
      case "heartbeat":
        return msg.commit;
      case "snapshot":
        return msg.snapshot.meta.index;
      case "readIndexResponse":
        return msg.index;
      case "voteResponse":
      case "heartbeatResponse":
      case "timeoutNow":
      case "readIndex":
        return 0;
      default:
        return assertNever(msg);
    }
  },

  messageCount(msg) {
    switch (msg.type) {
      case "append":
        return msg.entries.length;
      case "voteResponse":
        return msg.granted ? 1 : 0;
      case "appendResponse":
        return msg.reject ? 0 : 1;
      case "readIndex":
      case "readIndexResponse":
        return msg.requestId;
      case "heartbeat":
      case "heartbeatResponse":
        return msg.readContext;
      case "vote":
      case "snapshot":
      case "timeoutNow":
        return 0;
      default:
        return assertNever(msg);
    }
  },

  leaderOnlyTerm(msg) {
    switch (msg.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
      case "timeoutNow":
        return msg.term;
      case "appendResponse":
      case "heartbeatResponse":
      case "readIndex":
      case "readIndexResponse":
      case "vote":
      case "voteResponse":
        return -1;
      default:
        return assertNever(msg);
    }
  },

  checkSend(msg, disk) {
    const durable = disk.hardState;
    const preVote = (msg.type === "vote" || msg.type === "voteResponse") && msg.preVote;
    if (!preVote && msg.term > durable.term) {
      return `node ${msg.from} sent ${msg.type} of term ${msg.term} while its durable term is ${durable.term}`;
    }
    // A node whose durable term has moved past the message's term can never act in that term
    // again, even after a crash: what it acknowledged there no longer needs to be on disk.
    if (msg.term !== durable.term) return null;
    if (msg.type === "voteResponse" && msg.granted && !msg.preVote && durable.vote !== msg.to) {
      return `node ${msg.from} granted its vote in term ${msg.term} to ${msg.to} but its durable vote is ${durable.vote}`;
    }
    if (msg.type === "appendResponse" && !msg.reject) {
      const last = durableLastIndex(disk);
      if (last < msg.index) {
        return `node ${msg.from} acknowledged the log up to ${msg.index} in term ${msg.term} but its durable log ends at ${last}`;
      }
    }
    return null;
  },
};
