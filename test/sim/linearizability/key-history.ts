import type { HistoryOp } from "./types.js";

/** opCode numbers the op kinds for the search's typed arrays. */
export const opCode = { put: 0, get: 1, cas: 2, delete: 3 } as const;
export type OpCode = (typeof opCode)[keyof typeof opCode];

/** absentValue is the interned value of "key absent"; real values are 1, 2, ... */
export const absentValue = 0;
/** noObservation marks `observed` for ops whose output constrains nothing. */
export const noObservation = -1;

/**
 * KeyHistory is one key's ops encoded for the search. Values are interned per
 * key as small integers so the search never touches a string; values no op
 * reads share one number. Indeterminate
 * gets (no effect, any output) and indeterminate cas ops that can never change
 * the register are already dropped.
 */
export interface KeyHistory {
  readonly key: string;
  /** ops maps a local op index to the op, sorted by (invokeTime, id). */
  readonly ops: readonly HistoryOp[];
  readonly code: Uint8Array;
  /** written is the value a put or cas writes. */
  readonly written: Int32Array;
  /** expected is the value a cas compares against (absentValue for null). */
  readonly expected: Int32Array;
  /** observed is the value a get read, or 1 / 0 for a cas that swapped / did not; noObservation otherwise. */
  readonly observed: Int32Array;
  /** determinate is 1 for ops with a completeTime. */
  readonly determinate: Uint8Array;
  readonly determinateCount: number;
  /** previousTwin is, for an indeterminate op, the previous indeterminate op with the same effect, else -1. */
  readonly previousTwin: Int32Array;
  /** impossible explains an op that no ordering can satisfy (it reads a value nobody wrote), if any. */
  readonly impossible: string | null;
}

/** MalformedHistoryError is thrown for a history that breaks the HistoryOp contract. */
export class MalformedHistoryError extends Error {
  readonly code = "MALFORMED_HISTORY";
  constructor(message: string) {
    super(message);
    this.name = "MalformedHistoryError";
  }
}

/** isDeterminate reports whether the client saw the op's outcome. */
export function isDeterminate(op: HistoryOp): boolean {
  return op.completeTime !== undefined;
}

/** validateHistory throws MalformedHistoryError unless every op keeps the HistoryOp contract. */
export function validateHistory(history: readonly HistoryOp[]): void {
  const ids = new Set<number>();
  for (const h of history) {
    if (ids.has(h.id)) throw new MalformedHistoryError(`op #${h.id}: duplicate id`);
    ids.add(h.id);
    if (!Number.isFinite(h.invokeTime)) throw new MalformedHistoryError(`op #${h.id}: invokeTime must be finite`);
    if (h.completeTime === undefined) {
      if (h.output !== undefined) throw new MalformedHistoryError(`op #${h.id}: output without completeTime`);
      continue;
    }
    if (!Number.isFinite(h.completeTime) || h.completeTime < h.invokeTime) {
      throw new MalformedHistoryError(`op #${h.id}: completeTime must be finite and at least invokeTime`);
    }
    if (!outputFits(h)) throw new MalformedHistoryError(`op #${h.id}: output ${String(h.output)} does not fit a ${h.op.kind}`);
  }
}

function outputFits(h: HistoryOp): boolean {
  switch (h.op.kind) {
    case "put":
    case "delete":
      return h.output === null;
    case "get":
      return h.output === null || typeof h.output === "string";
    case "cas":
      return typeof h.output === "boolean";
  }
}

/**
 * splitByKey groups ops per key, keys in order of first appearance. Indeterminate
 * gets are dropped: they change nothing and accept any output.
 */
export function splitByKey(history: readonly HistoryOp[]): Map<string, HistoryOp[]> {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    if (h.op.kind === "get" && !isDeterminate(h)) continue;
    const list = byKey.get(h.op.key);
    if (list === undefined) byKey.set(h.op.key, [h]);
    else list.push(h);
  }
  return byKey;
}

/**
 * encodeKey lays one key's ops out in typed arrays, with values interned as
 * small integers. Values that no op reads (no get returned them, no cas
 * expects them) behave alike, so they share one interned value, `unread`.
 */
export function encodeKey(key: string, keyOps: readonly HistoryOp[]): KeyHistory {
  const writes = new Set<string>();
  const reads = new Set<string>();
  for (const h of keyOps) {
    if (h.op.kind === "put" || h.op.kind === "cas") writes.add(h.op.value);
    if (h.op.kind === "cas" && h.op.expected !== null) reads.add(h.op.expected);
    if (h.op.kind === "get" && typeof h.output === "string") reads.add(h.output);
  }
  const ops = keyOps.filter((h) => !isForeverNoOp(h, writes));
  ops.sort((a, b) => a.invokeTime - b.invokeTime || a.id - b.id);
  const n = ops.length;
  const interner = new ValueInterner(reads);
  const code = new Uint8Array(n);
  const written = new Int32Array(n);
  const expected = new Int32Array(n);
  const observed = new Int32Array(n).fill(noObservation);
  const determinate = new Uint8Array(n);
  let determinateCount = 0;
  for (let i = 0; i < n; i++) {
    const h = ops[i]!;
    if (isDeterminate(h)) {
      determinate[i] = 1;
      determinateCount++;
    }
    switch (h.op.kind) {
      case "put":
        code[i] = opCode.put;
        written[i] = interner.intern(h.op.value);
        break;
      case "delete":
        code[i] = opCode.delete;
        break;
      case "get":
        if (!isDeterminate(h)) throw new Error(`unreachable: indeterminate get ${describe(h)} is dropped by splitByKey`);
        code[i] = opCode.get;
        observed[i] = interner.intern(typeof h.output === "string" ? h.output : null);
        break;
      case "cas":
        code[i] = opCode.cas;
        written[i] = interner.intern(h.op.value);
        expected[i] = interner.intern(h.op.expected);
        if (isDeterminate(h)) observed[i] = h.output === true ? 1 : 0;
        break;
    }
  }
  return {
    key,
    ops,
    code,
    written,
    expected,
    observed,
    determinate,
    determinateCount,
    previousTwin: previousTwins(code, written, expected, determinate),
    impossible: findImpossible(keyOps, writes),
  };
}

/**
 * previousTwins links each indeterminate op to the latest earlier indeterminate
 * op with the same effect (same kind and interned values), or -1. Twins are
 * interchangeable once both are invoked, so the search uses them in order.
 */
function previousTwins(code: Uint8Array, written: Int32Array, expected: Int32Array, determinate: Uint8Array): Int32Array {
  const previous = new Int32Array(code.length).fill(-1);
  const latest = new Map<string, number>();
  for (let j = 0; j < code.length; j++) {
    if (determinate[j] === 1) continue;
    const effect = `${code[j]}:${written[j]}:${expected[j]}`;
    previous[j] = latest.get(effect) ?? -1;
    latest.set(effect, j);
  }
  return previous;
}

/** findImpossible explains a completed op that read or swapped from a value no op writes, or returns null. */
function findImpossible(keyOps: readonly HistoryOp[], writes: ReadonlySet<string>): string | null {
  for (const h of keyOps) {
    if (!isDeterminate(h)) continue;
    if (h.op.kind === "get" && typeof h.output === "string" && !writes.has(h.output)) {
      return `${describe(h)} read a value that no op wrote`;
    }
    if (h.op.kind === "cas" && h.output === true && h.op.expected !== null && !writes.has(h.op.expected)) {
      return `${describe(h)} swapped from a value that no op wrote`;
    }
  }
  return null;
}

/**
 * isForeverNoOp reports an indeterminate cas that cannot change the register in
 * any order: it expects a value no op writes, or writes what it expects.
 */
function isForeverNoOp(h: HistoryOp, writes: ReadonlySet<string>): boolean {
  if (isDeterminate(h) || h.op.kind !== "cas") return false;
  if (h.op.expected === h.op.value) return true;
  return h.op.expected !== null && !writes.has(h.op.expected);
}

/** ValueInterner numbers one key's values: absent is absentValue, every unread value shares one number. */
class ValueInterner {
  private readonly ids = new Map<string, number>();
  private count = absentValue + 1;
  private unread = -1;

  constructor(private readonly reads: ReadonlySet<string>) {}

  intern(value: string | null): number {
    if (value === null) return absentValue;
    if (!this.reads.has(value)) {
      if (this.unread < 0) this.unread = this.count++;
      return this.unread;
    }
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.count++;
      this.ids.set(value, id);
    }
    return id;
  }
}

/** describe renders one op for explanations, e.g. `#7 client 2 get("k") -> "v" [10, 12]`. */
export function describe(h: HistoryOp): string {
  const key = JSON.stringify(h.op.key);
  let call: string;
  switch (h.op.kind) {
    case "put":
      call = `put(${key}, ${JSON.stringify(h.op.value)})`;
      break;
    case "get":
      call = `get(${key})`;
      break;
    case "cas":
      call = `cas(${key}, ${showValue(h.op.expected)} => ${JSON.stringify(h.op.value)})`;
      break;
    case "delete":
      call = `delete(${key})`;
      break;
  }
  if (h.completeTime === undefined) return `#${h.id} client ${h.client} ${call} -> ? [${h.invokeTime}, never answered)`;
  const output = h.op.kind === "put" || h.op.kind === "delete" ? "ok" : typeof h.output === "boolean" ? String(h.output) : showValue(h.output ?? null);
  return `#${h.id} client ${h.client} ${call} -> ${output} [${h.invokeTime}, ${h.completeTime}]`;
}

/** showValue renders a register value; null is shown as `absent`. */
export function showValue(value: string | null): string {
  return value === null ? "absent" : JSON.stringify(value);
}
