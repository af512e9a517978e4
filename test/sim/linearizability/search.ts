import { ConfigSet } from "./config-set.js";
import type { KeyHistory } from "./key-history.js";
import { absentValue, opCode } from "./key-history.js";

/**
 * SearchOutcome is the result of searching one key. `stuck` carries the longest
 * linearizable prefix found (local op indices, in linearization order).
 */
export type SearchOutcome =
  | { readonly kind: "ok"; readonly steps: number }
  | { readonly kind: "stuck"; readonly steps: number; readonly prefix: Int32Array }
  | { readonly kind: "budget"; readonly steps: number };

/** noValue is what applyOp returns when an op's output contradicts the register. */
const noValue = -1;

/**
 * EventLists holds the Wing & Gong event list as dancing links. Node ids are
 * ranks in the event order, so an earlier node has a smaller id. Determinate
 * ops put a call and a return node in the main list; indeterminate ops return
 * at infinity, so they put only a call node in a separate list and never block.
 */
interface EventLists {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly eventOp: Int32Array;
  /** isReturn is 1 for return nodes; sentinels are 0. */
  readonly isReturn: Uint8Array;
  readonly callNode: Int32Array;
  /** returnNode is -1 for indeterminate ops. */
  readonly returnNode: Int32Array;
  readonly mainHead: number;
  readonly indeterminateHead: number;
}

/**
 * searchKey decides whether one key's history is linearizable: Wing & Gong's
 * search with Lowe's improvements (memoised configurations, and a stack of the
 * just-linearized ops to backtrack through). It succeeds once every determinate
 * op is linearized; the indeterminate ops left over never took effect. After
 * `stepBudget` steps it gives up with `budget`, never with `ok`.
 *
 * Orders that cannot matter are not searched (each rule maps any linearization
 * to one the search does try):
 * - a completed read-only op (a get, or a cas that did not swap) that may go
 *   now and agrees with the register goes now, and nothing else is tried in
 *   its place: moving it earlier changes no value and blocks no op;
 * - an indeterminate op must be followed by an op that reads the register
 *   (`mustRead`); if it is overwritten unseen, leaving it out is the same;
 * - indeterminate ops with the same effect are used in invocation order;
 * - a configuration dominated by one already reached is skipped (ConfigSet).
 */
export function searchKey(h: KeyHistory, stepBudget: number): SearchOutcome {
  if (h.determinateCount === 0) return { kind: "ok", steps: 0 };
  return new KeySearch(h, stepBudget).run();
}

/** mode is what the search loop does next. */
const mode = { arrive: 0, walkMain: 1, walkIndeterminate: 2, backtrack: 3 } as const;
type Mode = (typeof mode)[keyof typeof mode];

/** KeySearch is the state of one key's search; indices into its typed arrays are in bounds by construction. */
class KeySearch {
  private readonly lists: EventLists;
  private readonly linearized: Uint32Array;
  private readonly zobrist: Int32Array;
  private readonly seen: ConfigSet;
  // The stack of linearized ops, with what to restore when each is undone.
  private readonly stackOp: Int32Array;
  private readonly stackValue: Int32Array;
  private readonly stackMustRead: Uint8Array;
  private readonly stackLimit: Int32Array;
  /** stackForced is 1 for a read-only op taken with no alternative tried. */
  private readonly stackForced: Uint8Array;
  /** bestPrefix holds the longest prefix found once the stack has dropped below it (bestSaved). */
  private readonly bestPrefix: Int32Array;
  private bestLength = 0;
  private bestSaved = true;
  private bestDeterminate = 0;
  private depth = 0;
  private determinateLeft: number;
  private value = absentValue;
  /** mustRead is 1 when the last op linearized is indeterminate: the next must read the register. */
  private mustRead = 0;
  private hash = 0;
  private steps = 0;
  /** limit is the first pending return while walking the indeterminate list: calls ranked before it may go. */
  private limit = 0;
  private node = 0;

  constructor(
    private readonly h: KeyHistory,
    private readonly stepBudget: number,
  ) {
    const n = h.ops.length;
    this.lists = buildEventLists(h);
    const words = (n + 31) >>> 5;
    this.linearized = new Uint32Array(words);
    this.zobrist = new Int32Array(n);
    const determinateMask = new Uint32Array(words);
    for (let j = 0; j < n; j++) {
      if (h.determinate[j] === 0) continue;
      this.zobrist[j] = mix32(j + 1);
      determinateMask[j >>> 5]! |= 1 << (j & 31);
    }
    this.seen = new ConfigSet(determinateMask);
    this.seen.addUnlessDominated(configHash(0, absentValue), absentValue, 0, this.linearized);
    this.stackOp = new Int32Array(n);
    this.stackValue = new Int32Array(n);
    this.stackMustRead = new Uint8Array(n);
    this.stackLimit = new Int32Array(n);
    this.stackForced = new Uint8Array(n);
    this.bestPrefix = new Int32Array(n);
    this.determinateLeft = h.determinateCount;
  }

  run(): SearchOutcome {
    const { next, eventOp, isReturn } = this.lists;
    let now: Mode = mode.arrive;
    for (;;) {
      if (++this.steps > this.stepBudget) return { kind: "budget", steps: this.steps - 1 };
      switch (now) {
        case mode.arrive: {
          const j = this.findReadOnly();
          if (j < 0) {
            now = mode.walkMain;
            this.node = next[this.lists.mainHead]!;
          } else {
            now = this.maybeDescend(j, this.value, 1) ? mode.arrive : mode.backtrack;
          }
          break;
        }
        case mode.walkMain:
          if (isReturn[this.node] === 1) {
            // An op that must already have taken effect is not linearized: try the indeterminate ops.
            now = mode.walkIndeterminate;
            this.limit = this.node;
            this.node = next[this.lists.indeterminateHead]!;
          } else {
            now = this.tryAt(eventOp[this.node]!) ? mode.arrive : mode.walkMain;
          }
          break;
        case mode.walkIndeterminate:
          if (this.node >= this.limit) now = mode.backtrack;
          else if (this.isTwinPending(eventOp[this.node]!)) this.node = next[this.node]!;
          else now = this.tryAt(eventOp[this.node]!) ? mode.arrive : mode.walkIndeterminate;
          break;
        case mode.backtrack:
          if (this.depth === 0) return { kind: "stuck", steps: this.steps, prefix: this.bestPrefix.slice(0, this.bestLength) };
          if (this.depth === this.bestLength && !this.bestSaved) {
            this.bestPrefix.set(this.stackOp.subarray(0, this.bestLength));
            this.bestSaved = true;
          }
          now = this.undo();
          break;
      }
      if (this.determinateLeft === 0) return { kind: "ok", steps: this.steps };
    }
  }

  /** findReadOnly returns a completed read-only op that may go now and agrees with the register, or -1. */
  private findReadOnly(): number {
    const { next, eventOp, isReturn } = this.lists;
    const h = this.h;
    for (let node = next[this.lists.mainHead]!; isReturn[node] === 0; node = next[node]!) {
      const j = eventOp[node]!;
      const code = h.code[j];
      if (code === opCode.get && h.observed[j] === this.value) return j;
      if (code === opCode.cas && h.observed[j] === 0 && h.expected[j] !== this.value) return j;
    }
    return -1;
  }

  /** tryAt tries op j at the walk's node; on failure it moves the walk on. */
  private tryAt(j: number): boolean {
    const after = this.mustRead === 1 && !readsRegister(this.h, j) ? noValue : applyOp(this.h, j, this.value);
    if (after !== noValue && this.maybeDescend(j, after, 0)) return true;
    this.node = this.lists.next[this.node]!;
    return false;
  }

  /** maybeDescend linearizes op j (leaving `after` in the register) unless the configuration is dominated. */
  private maybeDescend(j: number, after: number, forced: number): boolean {
    const h = this.h;
    const word = j >>> 5;
    const bit = 1 << (j & 31);
    this.linearized[word]! |= bit;
    const hashAfter = this.hash ^ this.zobrist[j]!;
    const mustReadAfter = 1 - h.determinate[j]!;
    if (!this.seen.addUnlessDominated(configHash(hashAfter, after), after, mustReadAfter, this.linearized)) {
      this.linearized[word]! &= ~bit;
      return false;
    }
    const d = this.depth++;
    this.stackOp[d] = j;
    this.stackValue[d] = this.value;
    this.stackMustRead[d] = this.mustRead;
    this.stackLimit[d] = this.limit;
    this.stackForced[d] = forced;
    lift(this.lists, j);
    this.hash = hashAfter;
    this.value = after;
    this.mustRead = mustReadAfter;
    if (h.determinate[j] === 1) {
      this.determinateLeft--;
      this.maybeRecordBest();
    }
    return true;
  }

  /** undo takes back the last linearized op and says where the walk resumes. */
  private undo(): Mode {
    const d = --this.depth;
    const j = this.stackOp[d]!;
    unlift(this.lists, j);
    this.linearized[j >>> 5]! &= ~(1 << (j & 31));
    this.hash ^= this.zobrist[j]!;
    this.value = this.stackValue[d]!;
    this.mustRead = this.stackMustRead[d]!;
    this.limit = this.stackLimit[d]!;
    if (this.h.determinate[j] === 1) this.determinateLeft++;
    // A forced op had no alternatives, so its configuration has failed too.
    if (this.stackForced[d] === 1) return mode.backtrack;
    this.node = this.lists.next[this.lists.callNode[j]!]!;
    return this.h.determinate[j] === 1 ? mode.walkMain : mode.walkIndeterminate;
  }

  /** isTwinPending: an earlier indeterminate op with the same effect as j is unused, so it goes first. */
  private isTwinPending(j: number): boolean {
    const twin = this.h.previousTwin[j]!;
    return twin >= 0 && (this.linearized[twin >>> 5]! & (1 << (twin & 31))) === 0;
  }

  private maybeRecordBest(): void {
    const placed = this.h.determinateCount - this.determinateLeft;
    if (placed <= this.bestDeterminate) return;
    // Saved lazily: the stack holds the prefix until it backtracks below it.
    this.bestDeterminate = placed;
    this.bestLength = this.depth;
    this.bestSaved = false;
  }
}

/** applyOp returns the register value after op j runs on `value`, or noValue if j's output rules that out. */
export function applyOp(h: KeyHistory, j: number, value: number): number {
  switch (h.code[j]!) {
    case opCode.put:
      return h.written[j]!;
    case opCode.delete:
      return absentValue;
    case opCode.get:
      return h.observed[j] === value ? value : noValue;
    case opCode.cas: {
      const swaps = h.expected[j] === value;
      if (h.determinate[j] === 1 && h.observed[j] !== (swaps ? 1 : 0)) return noValue;
      return swaps ? h.written[j]! : value;
    }
    default:
      throw new Error(`unreachable: op code ${String(h.code[j])}`);
  }
}

/** readsRegister: op j's output or effect depends on the register's value (a get or a cas). */
function readsRegister(h: KeyHistory, j: number): boolean {
  const code = h.code[j];
  return code === opCode.get || code === opCode.cas;
}

/** applyOpChecked is applyOp reporting a rejected op as undefined. */
export function applyOpChecked(h: KeyHistory, j: number, value: number): number | undefined {
  const after = applyOp(h, j, value);
  return after === noValue ? undefined : after;
}

function buildEventLists(h: KeyHistory): EventLists {
  const n = h.ops.length;
  // Event e < n is op e's call; e >= n is op (e - n)'s return.
  const events: number[] = [];
  for (let j = 0; j < n; j++) {
    events.push(j);
    if (h.determinate[j] === 1) events.push(n + j);
  }
  const time = new Float64Array(2 * n);
  for (let j = 0; j < n; j++) {
    const op = h.ops[j]!;
    time[j] = op.invokeTime;
    time[n + j] = op.completeTime ?? Infinity;
  }
  // By time; at equal times calls go first, so touching intervals count as concurrent.
  events.sort((a, b) => time[a]! - time[b]! || Number(a >= n) - Number(b >= n) || (a % n) - (b % n));
  const count = events.length;
  const mainHead = count;
  const mainTail = count + 1;
  const indeterminateHead = count + 2;
  const indeterminateTail = count + 3;
  const next = new Int32Array(count + 4);
  const prev = new Int32Array(count + 4);
  const eventOp = new Int32Array(count + 4).fill(-1);
  const isReturn = new Uint8Array(count + 4);
  const callNode = new Int32Array(n);
  const returnNode = new Int32Array(n).fill(-1);
  let mainLast = mainHead;
  let indeterminateLast = indeterminateHead;
  const append = (last: number, node: number): number => {
    next[last] = node;
    prev[node] = last;
    return node;
  };
  for (let node = 0; node < count; node++) {
    const e = events[node]!;
    const j = e % n;
    eventOp[node] = j;
    if (e >= n) {
      isReturn[node] = 1;
      returnNode[j] = node;
      mainLast = append(mainLast, node);
    } else {
      callNode[j] = node;
      if (h.determinate[j] === 1) mainLast = append(mainLast, node);
      else indeterminateLast = append(indeterminateLast, node);
    }
  }
  append(mainLast, mainTail);
  append(indeterminateLast, indeterminateTail);
  return { next, prev, eventOp, isReturn, callNode, returnNode, mainHead, indeterminateHead };
}

/** lift takes op j's nodes out of the lists; unlift must undo lifts in reverse order. */
function lift(lists: EventLists, j: number): void {
  unlink(lists, lists.callNode[j]!);
  const ret = lists.returnNode[j]!;
  if (ret >= 0) unlink(lists, ret);
}

function unlift(lists: EventLists, j: number): void {
  const ret = lists.returnNode[j]!;
  if (ret >= 0) relink(lists, ret);
  relink(lists, lists.callNode[j]!);
}

function unlink(lists: EventLists, node: number): void {
  const { next, prev } = lists;
  next[prev[node]!] = next[node]!;
  prev[next[node]!] = prev[node]!;
}

function relink(lists: EventLists, node: number): void {
  const { next, prev } = lists;
  next[prev[node]!] = node;
  prev[next[node]!] = node;
}

/** mix32 scrambles a 32-bit integer (a murmur3-style finaliser). */
function mix32(x: number): number {
  let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** configHash combines the Zobrist hash of the determinate bits with the register value. */
function configHash(bitsHash: number, value: number): number {
  return mix32(bitsHash ^ Math.imul(value + 1, 0x9e3779b1));
}
