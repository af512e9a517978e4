import { explainStuck } from "./explain.js";
import { encodeKey, splitByKey, validateHistory } from "./key-history.js";
import { searchKey } from "./search.js";
import type { CheckOptions, CheckResult, HistoryOp } from "./types.js";

export type { CheckOptions, CheckResult, HistoryOp, KvOp } from "./types.js";
export { MalformedHistoryError } from "./key-history.js";

/**
 * checkLinearizable decides whether a key-value history is linearizable. Each
 * key is an independent register, checked on its own: the verdict is
 * `violation` if any key has one (the first found, with an explanation), else
 * `unknown` if any key ran out of `stepBudget` steps, else `ok`. It never says
 * `ok` without a proof. Throws MalformedHistoryError for a malformed history.
 *
 * Real-time order: A precedes B when A.completeTime < B.invokeTime; equal times
 * are concurrent. An indeterminate op may take effect once at any time after
 * its invokeTime, or never.
 */
export function checkLinearizable(history: readonly HistoryOp[], options: CheckOptions): CheckResult {
  if (!(options.stepBudget >= 0)) throw new RangeError(`stepBudget must be a non-negative number, got ${options.stepBudget}`);
  validateHistory(history);
  let steps = 0;
  let unknownKey: string | undefined;
  for (const [key, keyOps] of splitByKey(history)) {
    const h = encodeKey(key, keyOps);
    if (h.impossible !== null) {
      const explanation = `key ${JSON.stringify(key)}: ${h.impossible}.`;
      return { verdict: "violation", key, explanation, steps };
    }
    const outcome = searchKey(h, options.stepBudget);
    steps += outcome.steps;
    switch (outcome.kind) {
      case "ok":
        break;
      case "budget":
        unknownKey ??= key;
        break;
      case "stuck":
        return { verdict: "violation", key, explanation: explainStuck(h, outcome.prefix), steps };
    }
  }
  return unknownKey === undefined ? { verdict: "ok", steps } : { verdict: "unknown", key: unknownKey, steps };
}
