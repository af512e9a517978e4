import type { KeyHistory } from "./key-history.js";
import { absentValue, describe, showValue } from "./key-history.js";
import { applyOp, applyOpChecked } from "./search.js";

/** prefixShownMax bounds how many ops of the prefix an explanation lists. */
const prefixShownMax = 20;
/** candidatesShownMax bounds how many unplaceable ops an explanation lists. */
const candidatesShownMax = 12;

/**
 * explainStuck tells why one key's history is not linearizable: the longest
 * linearizable prefix the search found, the op that must take effect next, and
 * why no op can be placed after the prefix.
 */
export function explainStuck(h: KeyHistory, prefix: Int32Array): string {
  const n = h.ops.length;
  const placed = new Uint8Array(n);
  let value = absentValue;
  // The register as a string: interned values merge the values no op reads.
  let shown: string | null = null;
  for (const j of prefix) {
    placed[j] = 1;
    const op = h.ops[j]!.op;
    const swaps = op.kind === "cas" && h.expected[j] === value;
    value = applyOp(h, j, value);
    if (op.kind === "put" || (op.kind === "cas" && swaps)) shown = op.value;
    if (op.kind === "delete") shown = null;
  }
  const lines = [
    `key ${JSON.stringify(h.key)}: no linearization exists (${h.determinateCount} completed ops, ` +
      `${n - h.determinateCount} indeterminate ops that may have taken effect).`,
    `Longest linearizable prefix found: ${prefix.length} ops, leaving the register ${showValue(shown)}:`,
  ];
  const shownFrom = Math.max(0, prefix.length - prefixShownMax);
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier ops`);
  for (let i = shownFrom; i < prefix.length; i++) lines.push(`  ${i + 1}. ${describe(h.ops[prefix[i]!]!)}`);

  const due = firstDue(h, placed);
  const dueOp = h.ops[due]!;
  lines.push(
    `Then ${describe(dueOp)} must take effect by time ${dueOp.completeTime}, ` +
      `but none of the ops that may go next can be placed:`,
  );
  const candidates: number[] = [];
  for (let j = 0; j < n; j++) {
    if (placed[j] === 0 && h.ops[j]!.invokeTime <= dueOp.completeTime!) candidates.push(j);
  }
  for (const j of candidates.slice(0, candidatesShownMax)) {
    lines.push(`  ${describe(h.ops[j]!)}: ${whyNot(h, j, value, showValue(shown))}`);
  }
  if (candidates.length > candidatesShownMax) lines.push(`  ... ${candidates.length - candidatesShownMax} more`);
  return lines.join("\n");
}

/** firstDue returns the unplaced determinate op that completed first (ties: lowest index, as the search orders them). */
function firstDue(h: KeyHistory, placed: Uint8Array): number {
  let due = -1;
  for (let j = 0; j < h.ops.length; j++) {
    if (placed[j] === 1 || h.determinate[j] === 0) continue;
    if (due < 0 || h.ops[j]!.completeTime! < h.ops[due]!.completeTime!) due = j;
  }
  if (due < 0) throw new Error("unreachable: a stuck search leaves a determinate op unplaced");
  return due;
}

function whyNot(h: KeyHistory, j: number, value: number, shown: string): string {
  if (applyOpChecked(h, j, value) !== undefined) return "could go here, but no linearization of the rest follows";
  const op = h.ops[j]!;
  if (op.op.kind === "get") return `read ${showValue(typeof op.output === "string" ? op.output : null)} but the register is ${shown}`;
  return `${op.output === true ? "swapped" : "did not swap"} but the register is ${shown}`;
}
