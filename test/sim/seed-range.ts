import { runSeed } from "./run.js";

/** SeedRangeSummary is what a range of seeds found. */
export interface SeedRangeSummary {
  readonly seeds: number;
  readonly opsChecked: number;
  /** failures describes each seed with a violation or an unknown verdict, with its replay command. */
  readonly failures: readonly string[];
}

/** runSeedRange runs seeds [first, first + count) of `engine` with no planted fault. */
export function runSeedRange(engine: string, first: number, count: number): SeedRangeSummary {
  const failures: string[] = [];
  let opsChecked = 0;
  for (let seed = first; seed < first + count; seed++) {
    const result = runSeed({ engine, seed });
    opsChecked += result.opsChecked;
    const problems = result.violations.map((v) => `${v.invariant}: ${v.detail.split("\n")[0] ?? ""}`);
    if (result.unknown) problems.push("linearizability unknown (step budget exhausted)");
    if (problems.length > 0) failures.push(`seed ${seed}: ${problems.join("; ")} (replay: npm run sim -- --engine ${engine} --seed ${seed})`);
  }
  return { seeds: count, opsChecked, failures };
}

/** firstSeedCatching runs seeds from 1 up with `fault` planted and returns the first that finds a safety violation. */
export function firstSeedCatching(
  engine: string,
  fault: string,
  seedsMax: number,
): { readonly seed: number; readonly invariant: string; readonly detail: string } | null {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const result = runSeed({ engine, seed, faults: { [fault]: true }, stepBudget: 300_000 });
    const found = result.violations.find((v) => v.invariant !== "liveness");
    if (found !== undefined) return { seed, invariant: found.invariant, detail: found.detail };
  }
  return null;
}
