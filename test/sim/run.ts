import { engines } from "./engines.js";
import { Simulation } from "./simulator.js";
import type { SeedResult } from "./simulator.js";

export type { SeedMeasures, SeedResult, SeedStats } from "./simulator.js";
export type { Violation } from "./invariants.js";

/** RunSeedOptions names the engine, the seed and any planted faults. */
export interface RunSeedOptions {
  readonly engine: string;
  readonly seed: number;
  readonly faults?: Readonly<Record<string, boolean>>;
  /** stepBudget bounds the linearizability search per key (default 2e6). */
  readonly stepBudget?: number;
  /** tailLength is how many last events a violation report shows (default 30). */
  readonly tailLength?: number;
}

/** runSeed runs one seed of the simulator to the end: safety, liveness, then linearizability. */
export function runSeed(options: RunSeedOptions): SeedResult {
  const engine = engines.get(options.engine);
  if (engine === undefined) throw new Error(`unknown engine ${JSON.stringify(options.engine)}; known: ${[...engines.keys()].join(", ")}`);
  for (const [name, on] of Object.entries(options.faults ?? {})) {
    if (on && !engine.faultNames.includes(name)) throw new Error(`engine ${engine.name} has no planted fault ${JSON.stringify(name)}`);
  }
  return engine.use(
    (adapter) =>
      new Simulation(adapter, {
        seed: options.seed,
        ...(options.faults === undefined ? {} : { faults: options.faults }),
        ...(options.stepBudget === undefined ? {} : { stepBudget: options.stepBudget }),
        ...(options.tailLength === undefined ? {} : { tailLength: options.tailLength }),
      }).run(),
  );
}
