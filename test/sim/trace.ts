import { Fnv64 } from "./hash.js";

/**
 * TraceKind names every kind of trace event. Events are numbers only, so that
 * recording one costs a few word hashes and no string building; they are
 * formatted only when a trace tail is printed.
 */
export const TraceKind = {
  tick: 1,
  send: 2,
  deliver: 3,
  drop: 4,
  duplicate: 5,
  crash: 6,
  restart: 7,
  persist: 8,
  apply: 9,
  propose: 10,
  proposeRejected: 11,
  readIndex: 12,
  readServed: 13,
  readDropped: 14,
  clientInvoke: 15,
  clientRequest: 16,
  clientResponse: 17,
  clientTimeout: 18,
  clientGiveUp: 19,
  clientComplete: 20,
  partition: 21,
  heal: 22,
  confChange: 23,
  transfer: 24,
  compact: 25,
  snapshotInstall: 26,
  becomeLeader: 27,
  decommission: 28,
  phase: 29,
  nodeCreated: 30,
} as const;
export type TraceKind = (typeof TraceKind)[keyof typeof TraceKind];

const kindNames: ReadonlyMap<number, string> = new Map(Object.entries(TraceKind).map(([name, code]) => [code, name]));

/** fieldNames says what the numeric fields of each kind mean, for the printed tail. */
const fieldNames: Partial<Record<TraceKind, readonly string[]>> = {
  [TraceKind.tick]: ["node"],
  [TraceKind.send]: ["from", "to", "type", "term", "index", "n"],
  [TraceKind.deliver]: ["from", "to", "type", "term", "index", "n"],
  [TraceKind.drop]: ["from", "to", "type", "term", "index", "n"],
  [TraceKind.duplicate]: ["from", "to", "type", "term", "index", "n"],
  [TraceKind.crash]: ["node", "lostReady"],
  [TraceKind.restart]: ["node", "term", "lastIndex", "snapshotIndex"],
  [TraceKind.persist]: ["node", "term", "vote", "commit", "firstEntry", "entries"],
  [TraceKind.apply]: ["node", "index", "term", "hash"],
  [TraceKind.propose]: ["node", "client", "seq", "index", "term"],
  [TraceKind.proposeRejected]: ["node", "client", "seq", "reason", "leader"],
  [TraceKind.readIndex]: ["node", "client", "requestId", "ok"],
  [TraceKind.readServed]: ["node", "client", "requestId", "index"],
  [TraceKind.readDropped]: ["node", "requestId"],
  [TraceKind.clientInvoke]: ["client", "opId", "kind", "key"],
  [TraceKind.clientRequest]: ["client", "opId", "node", "attempt"],
  [TraceKind.clientResponse]: ["client", "opId", "node", "outcome"],
  [TraceKind.clientTimeout]: ["client", "opId", "node", "attempt"],
  [TraceKind.clientGiveUp]: ["client", "opId"],
  [TraceKind.clientComplete]: ["client", "opId", "output"],
  [TraceKind.partition]: ["shape", "maskA", "maskB", "maskBridge"],
  [TraceKind.heal]: [],
  [TraceKind.confChange]: ["leader", "ok", "opsCode", "index"],
  [TraceKind.transfer]: ["leader", "to", "ok"],
  [TraceKind.compact]: ["node", "index", "ok"],
  [TraceKind.snapshotInstall]: ["node", "index", "term"],
  [TraceKind.becomeLeader]: ["node", "term", "lastIndex"],
  [TraceKind.decommission]: ["node"],
  [TraceKind.phase]: ["phase"],
  [TraceKind.nodeCreated]: ["node"],
};

const fieldCount = 6;
const slotWidth = 2 + fieldCount;

/**
 * Trace folds events into a running digest and keeps only the last
 * `tailLength` of them in a ring buffer, for the tail printed on a violation.
 */
export class Trace {
  private readonly hash = new Fnv64();
  private readonly ring: Float64Array;
  private next = 0;
  private count = 0;
  /** events counts every event recorded. */
  events = 0;
  /** now is the simulated time stamped on each event; the simulator sets it. */
  now = 0;

  constructor(private readonly tailLength: number) {
    this.ring = new Float64Array(tailLength * slotWidth);
  }

  /** record folds one event; unused fields must be passed as 0. */
  record(kind: TraceKind, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0): void {
    const h = this.hash;
    h.mixWord(this.now);
    h.mixWord(kind);
    h.mixWord(a);
    h.mixWord(b);
    h.mixWord(c);
    h.mixWord(d);
    h.mixWord(e);
    h.mixWord(f);
    const base = this.next * slotWidth;
    const ring = this.ring;
    ring[base] = this.now;
    ring[base + 1] = kind;
    ring[base + 2] = a;
    ring[base + 3] = b;
    ring[base + 4] = c;
    ring[base + 5] = d;
    ring[base + 6] = e;
    ring[base + 7] = f;
    this.next = (this.next + 1) % this.tailLength;
    if (this.count < this.tailLength) this.count++;
    this.events++;
  }

  /** digest returns the hex digest of every event so far. */
  digest(): string {
    return this.hash.hex();
  }

  /** tail formats the last `n` events, oldest first, using `decode` for message type codes. */
  tail(n: number, decode: (field: string, value: number) => string | undefined): string[] {
    const lines: string[] = [];
    const shown = Math.min(n, this.count);
    for (let i = shown; i > 0; i--) {
      const slot = (this.next - i + this.tailLength) % this.tailLength;
      const base = slot * slotWidth;
      const time = this.ring[base] ?? 0;
      const kind = this.ring[base + 1] ?? 0;
      const names = fieldNames[kind as TraceKind] ?? [];
      const parts: string[] = [];
      for (let f = 0; f < names.length; f++) {
        const name = names[f] ?? "";
        const value = this.ring[base + 2 + f] ?? 0;
        parts.push(`${name}=${decode(name, value) ?? String(value)}`);
      }
      lines.push(`  t=${time} ${kindNames.get(kind) ?? String(kind)} ${parts.join(" ")}`);
    }
    return lines;
  }
}
