import type { SeededRandom } from "../../src/consensus/random.js";
import type { EngineParams } from "./engines.js";

/** tickMs is how much simulated time one engine tick stands for, nominally. */
export const tickMs = 10;

/**
 * FaultMix is everything drawn per seed (swarm testing): the workload, the
 * engine's timing and limits, and each fault kind on or off with its rate, so
 * some seeds are calm and some brutal. Rates named `...PerStep` are the
 * chance the nemesis acts at each of its steps (one every `nemesisStepMs`).
 */
export interface FaultMix {
  readonly params: EngineParams;
  readonly faultPhaseMs: number;
  readonly nemesisStepMs: number;
  /** tickMsByNode[id] is node id's tick period: clocks drift a little. */
  readonly tickMsByNode: readonly number[];

  readonly clients: number;
  readonly keys: number;
  /** Relative weights of put, get, cas, delete. */
  readonly opWeights: readonly [number, number, number, number];
  readonly thinkMsMax: number;
  readonly attemptTimeoutMs: number;
  /** A client gives up an op after this many attempt timeouts, or once it is giveUpMs old. */
  readonly timeoutsMax: number;
  readonly giveUpMs: number;
  readonly clientDelayMsMax: number;

  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly delayMsMin: number;
  readonly delayMsJitter: number;
  readonly longDelayRate: number;
  readonly longDelayMsMax: number;
  readonly diskLatencyMsMax: number;
  /** slowDiskNode is a node whose disk takes up to slowDiskMsMax per write (0: none). */
  readonly slowDiskNode: number;
  readonly slowDiskMsMax: number;

  readonly partitionPerStep: number;
  readonly partitionMsMax: number;
  readonly crashPerStep: number;
  readonly downMsMax: number;
  readonly downNodesMax: number;
  readonly confChangePerStep: number;
  readonly transferPerStep: number;
  /**
   * churnAfterElection is the chance that a newly elected leader is crashed or cut
   * off a few milliseconds after its election, before it has replicated much:
   * leader churn with partial replication (the Raft paper's Figure 8).
   */
  readonly churnAfterElection: number;
  /** figure8PerStep is the chance the nemesis starts the Figure 8 choreography (see the simulator). */
  readonly figure8PerStep: number;
  /** compactEveryApplies is K: a node compacts after every K applies (0 = never). */
  readonly compactEveryApplies: number;
}

function between(random: SeededRandom, lo: number, hi: number): number {
  return lo + random.nextInt(hi - lo + 1);
}

function rate(random: SeededRandom, onChance: number, lo: number, hi: number): number {
  if (!random.chance(onChance)) return 0;
  return lo + random.nextFloat() * (hi - lo);
}

/** drawFaultMix draws one seed's configuration. */
export function drawFaultMix(random: SeededRandom): FaultMix {
  const electionTimeoutTicks = 10;
  const params: EngineParams = {
    electionTimeoutTicks,
    heartbeatTicks: between(random, 1, 3),
    preVote: random.chance(0.5),
    checkQuorum: random.chance(0.5),
    appendEntriesMax: between(random, 4, 16),
    inflightMessagesMax: between(random, 2, 8),
    uncommittedBytesMax: random.chance(0.5) ? between(random, 200, 2000) : 64 * 1024,
  };
  const drift = random.chance(0.5) ? 1 : 0;
  const tickMsByNode = [0, 1, 2, 3, 4, 5].map(() => tickMs + (drift === 0 ? 0 : between(random, -1, 1)));
  const calm = random.chance(0.1);
  return {
    params,
    faultPhaseMs: between(random, 60, 150) * electionTimeoutTicks * tickMs,
    nemesisStepMs: 5 * tickMs,
    tickMsByNode,
    clients: between(random, 3, 8),
    keys: between(random, 3, 8),
    opWeights: [between(random, 1, 4), between(random, 1, 4), between(random, 0, 3), between(random, 0, 2)],
    thinkMsMax: between(random, 1, 12) * tickMs,
    attemptTimeoutMs: between(random, 8, 25) * tickMs,
    timeoutsMax: between(random, 3, 6),
    giveUpMs: between(random, 150, 400) * tickMs,
    clientDelayMsMax: between(random, 1, 4),

    lossRate: calm ? 0 : rate(random, 0.5, 0.01, 0.25),
    duplicateRate: calm ? 0 : rate(random, 0.4, 0.01, 0.1),
    delayMsMin: between(random, 1, 3),
    delayMsJitter: between(random, 0, 3) * tickMs,
    longDelayRate: calm ? 0 : rate(random, 0.4, 0.001, 0.05),
    longDelayMsMax: between(random, 5, 40) * tickMs,
    diskLatencyMsMax: random.chance(0.3) ? 0 : between(random, 1, 8),

    partitionPerStep: calm ? 0 : rate(random, 0.6, 0.02, 0.25),
    partitionMsMax: between(random, 5, 80) * tickMs,
    crashPerStep: calm ? 0 : rate(random, 0.6, 0.01, 0.15),
    downMsMax: between(random, 2, 60) * tickMs,
    downNodesMax: random.chance(0.5) ? 1 : 2,
    confChangePerStep: calm ? 0 : rate(random, 0.5, 0.02, 0.2),
    transferPerStep: calm ? 0 : rate(random, 0.4, 0.01, 0.1),
    churnAfterElection: calm ? 0 : rate(random, 0.4, 0.1, 0.6),
    figure8PerStep: calm ? 0 : rate(random, 0.4, 0.05, 0.3),
    slowDiskNode: random.chance(0.2) ? between(random, 1, 5) : 0,
    slowDiskMsMax: between(random, 10, 25),
    compactEveryApplies: random.chance(0.15) ? 0 : between(random, 3, 40),
  };
}
