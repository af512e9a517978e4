/**
 * KvOp is one client request against the key-value store. Every op touches
 * exactly one key; each key is an independent register that starts absent.
 *
 * Outputs of a completed op: `put` and `delete` return null, `get` returns the
 * value read (null when absent), `cas` returns whether it swapped. A `cas` with
 * `expected: null` swaps only when the key is absent.
 */
export type KvOp =
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "cas"; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly kind: "delete"; readonly key: string };

/**
 * HistoryOp is one op as a client saw it. `completeTime` and `output` are both
 * undefined when the outcome is indeterminate (the request timed out): it may
 * have taken effect at any time after `invokeTime`, or never.
 */
export interface HistoryOp {
  /** id is unique within a history. */
  readonly id: number;
  readonly client: number;
  readonly op: KvOp;
  /** invokeTime is when the client sent the request. */
  readonly invokeTime: number;
  /** completeTime is when the client received the reply; it is at least `invokeTime`. */
  readonly completeTime?: number;
  readonly output?: string | null | boolean;
}

/**
 * CheckResult is the verdict on a history. `steps` counts search steps over all
 * keys checked. `unknown` means the search for `key` ran out of its step budget:
 * the history was neither proven linearizable nor refuted.
 */
export type CheckResult =
  | { readonly verdict: "ok"; readonly steps: number }
  | { readonly verdict: "violation"; readonly key: string; readonly explanation: string; readonly steps: number }
  | { readonly verdict: "unknown"; readonly key: string; readonly steps: number };

/** CheckOptions bounds the work done per key. */
export interface CheckOptions {
  /** stepBudget is the most search steps spent on one key before giving up with `unknown`. */
  readonly stepBudget: number;
}
