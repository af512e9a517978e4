import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CheckResult, HistoryOp, KvOp } from "./sim/linearizability/checker.js";
import { checkLinearizable, MalformedHistoryError } from "./sim/linearizability/checker.js";

const budget = { stepBudget: 1_000_000 };

const put = (key: string, value: string): KvOp => ({ kind: "put", key, value });
const get = (key: string): KvOp => ({ kind: "get", key });
const cas = (key: string, expected: string | null, value: string): KvOp => ({ kind: "cas", key, expected, value });
const del = (key: string): KvOp => ({ kind: "delete", key });

/** HistoryBuilder numbers ops in the order they are added. */
class HistoryBuilder {
  private readonly ops: HistoryOp[] = [];

  /** done adds an op the client saw complete in [invokeTime, completeTime]. */
  done(client: number, op: KvOp, invokeTime: number, completeTime: number, output: string | null | boolean): this {
    this.ops.push({ id: this.ops.length + 1, client, op, invokeTime, completeTime, output });
    return this;
  }

  /** pending adds an op whose outcome the client never learned. */
  pending(client: number, op: KvOp, invokeTime: number): this {
    this.ops.push({ id: this.ops.length + 1, client, op, invokeTime });
    return this;
  }

  build(): HistoryOp[] {
    return [...this.ops];
  }
}

function assertVerdict(result: CheckResult, verdict: CheckResult["verdict"]): void {
  const detail = result.verdict === "violation" ? `\n${result.explanation}` : "";
  assert.equal(result.verdict, verdict, `expected ${verdict}, got ${result.verdict}${detail}`);
}

function assertViolation(history: HistoryOp[], key: string): string {
  const result = checkLinearizable(history, budget);
  assertVerdict(result, "violation");
  assert.ok(result.verdict === "violation");
  assert.equal(result.key, key);
  assert.ok(result.explanation.length > 0);
  return result.explanation;
}

function assertOk(history: HistoryOp[]): void {
  assertVerdict(checkLinearizable(history, budget), "ok");
}

void describe("checkLinearizable rejects", () => {
  void it("a stale read after a completed write", () => {
    const h = new HistoryBuilder().done(0, put("x", "a"), 0, 1, null).done(1, get("x"), 2, 3, null).build();
    const explanation = assertViolation(h, "x");
    assert.match(explanation, /Longest linearizable prefix/);
    assert.match(explanation, /#2 client 1 get\("x"\)/);
  });

  void it("two sequential puts then a read of the first", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .done(0, put("x", "b"), 2, 3, null)
      .done(1, get("x"), 4, 5, "a")
      .build();
    assertViolation(h, "x");
  });

  void it("a cas that swaps from a value overwritten before it started", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .done(0, put("x", "b"), 2, 3, null)
      .done(1, cas("x", "a", "c"), 4, 5, true)
      .build();
    assertViolation(h, "x");
  });

  void it("a read of a value never written", () => {
    const h = new HistoryBuilder().done(0, put("x", "a"), 0, 1, null).done(1, get("x"), 0, 5, "zzz").build();
    assert.match(assertViolation(h, "x"), /"zzz"/);
  });

  void it("a read that sees a write that started after the read completed", () => {
    const h = new HistoryBuilder().done(0, get("x"), 0, 1, "a").done(1, put("x", "a"), 2, 3, null).build();
    assertViolation(h, "x");
  });

  void it("a lost update: two cas ops swapping from the same expected value", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .done(1, cas("x", "a", "b"), 2, 5, true)
      .done(2, cas("x", "a", "c"), 3, 6, true)
      .build();
    assertViolation(h, "x");
  });

  void it("a get after a completed delete returning the old value", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .done(0, del("x"), 2, 3, null)
      .done(1, get("x"), 4, 5, "a")
      .build();
    assertViolation(h, "x");
  });

  void it("a read explained only by an indeterminate put invoked after the read completed", () => {
    const h = new HistoryBuilder().done(0, get("x"), 0, 1, "a").pending(1, put("x", "a"), 2).build();
    assertViolation(h, "x");
  });

  void it("an indeterminate cas taking effect twice", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .pending(1, cas("x", "a", "b"), 2)
      .done(0, get("x"), 3, 4, "b")
      .done(0, put("x", "a"), 5, 6, null)
      .done(0, get("x"), 7, 8, "b")
      .build();
    assertViolation(h, "x");
  });

  void it("a read that strictly follows a write's completion yet misses it, among many keys", () => {
    const b = new HistoryBuilder();
    for (let k = 0; k < 20; k++) b.done(k, put(`k${k}`, "v"), 0, 1, null).done(k, get(`k${k}`), 2, 3, "v");
    b.done(99, get("k7"), 4, 5, null);
    assertViolation(b.build(), "k7");
  });
});

void describe("checkLinearizable accepts", () => {
  void it("the empty history", () => {
    assert.deepEqual(checkLinearizable([], budget), { verdict: "ok", steps: 0 });
  });

  void it("concurrent puts read in either order", () => {
    for (const last of ["a", "b"]) {
      const h = new HistoryBuilder()
        .done(0, put("x", "a"), 0, 5, null)
        .done(1, put("x", "b"), 1, 6, null)
        .done(2, get("x"), 7, 8, last)
        .build();
      assertOk(h);
    }
  });

  void it("a read concurrent with a write seeing either the old or the new value", () => {
    for (const seen of [null, "a"]) {
      assertOk(new HistoryBuilder().done(0, put("x", "a"), 0, 10, null).done(1, get("x"), 2, 3, seen).build());
    }
  });

  void it("touching intervals as concurrent", () => {
    assertOk(new HistoryBuilder().done(0, put("x", "a"), 0, 5, null).done(1, get("x"), 5, 6, null).build());
  });

  void it("an indeterminate put that took effect", () => {
    assertOk(new HistoryBuilder().pending(0, put("x", "a"), 0).done(1, get("x"), 5, 6, "a").build());
  });

  void it("an indeterminate put that never took effect", () => {
    assertOk(new HistoryBuilder().pending(0, put("x", "a"), 0).done(1, get("x"), 5, 6, null).build());
  });

  void it("an indeterminate put taking effect late, between two reads", () => {
    const h = new HistoryBuilder()
      .done(0, put("x", "a"), 0, 1, null)
      .pending(1, put("x", "b"), 2)
      .done(0, get("x"), 10, 11, "a")
      .done(0, get("x"), 20, 21, "b")
      .build();
    assertOk(h);
  });

  void it("an indeterminate cas that did or did not take effect", () => {
    for (const seen of ["a", "b"]) {
      const h = new HistoryBuilder()
        .done(0, put("x", "a"), 0, 1, null)
        .pending(1, cas("x", "a", "b"), 2)
        .done(0, get("x"), 3, 4, seen)
        .build();
      assertOk(h);
    }
  });

  void it("indeterminate gets with any outcome", () => {
    assertOk(new HistoryBuilder().pending(0, get("x"), 0).done(1, get("x"), 1, 2, null).build());
  });

  void it("a cas from absent and a delete", () => {
    const h = new HistoryBuilder()
      .done(0, cas("x", null, "a"), 0, 1, true)
      .done(0, cas("x", null, "b"), 2, 3, false)
      .done(0, del("x"), 4, 5, null)
      .done(0, cas("x", null, "b"), 6, 7, true)
      .done(0, get("x"), 8, 9, "b")
      .build();
    assertOk(h);
  });

  void it("many keys", () => {
    const b = new HistoryBuilder();
    for (let k = 0; k < 50; k++) {
      const key = `key-${k}`;
      b.done(k, put(key, `v${k}`), k, k + 3, null)
        .done(k + 1, get(key), k + 1, k + 2, null)
        .pending(k + 2, put(key, "w"), k + 4)
        .done(k, get(key), k + 5, k + 6, k % 2 === 0 ? "w" : `v${k}`);
    }
    assertOk(b.build());
  });
});

void describe("checkLinearizable input and budget", () => {
  void it("returns unknown, never ok, when the step budget runs out", () => {
    // Twelve overlapping puts and four indeterminate ones, then two sequential reads of
    // different values with no write between them: refuting it means trying the puts'
    // orders (about 10^5 steps).
    const b = new HistoryBuilder();
    for (let i = 0; i < 12; i++) b.done(i, put("x", `v${i}`), 0, 100, null);
    for (let i = 0; i < 4; i++) b.pending(20 + i, put("x", `w${i}`), 0);
    b.done(40, get("x"), 200, 201, "v0").done(40, get("x"), 202, 203, "v1");
    const history = b.build();
    const small = checkLinearizable(history, { stepBudget: 50 });
    assert.equal(small.verdict, "unknown");
    assert.ok(small.verdict === "unknown");
    assert.equal(small.key, "x");
    assert.ok(small.steps <= 50);
    assertVerdict(checkLinearizable(history, budget), "violation");
  });

  void it("never reports ok for a linearizable history it has no budget to prove", () => {
    const h = new HistoryBuilder().done(0, put("x", "a"), 0, 1, null).done(1, get("x"), 2, 3, "a").build();
    assert.equal(checkLinearizable(h, { stepBudget: 0 }).verdict, "unknown");
    assert.equal(checkLinearizable(h, { stepBudget: 10 }).verdict, "ok");
  });

  void it("rejects a malformed history", () => {
    const dup = new HistoryBuilder().done(0, put("x", "a"), 0, 1, null).build();
    assert.throws(() => checkLinearizable([...dup, ...dup], budget), MalformedHistoryError);
    const early: HistoryOp = { id: 1, client: 0, op: get("x"), invokeTime: 5, completeTime: 4, output: null };
    assert.throws(() => checkLinearizable([early], budget), MalformedHistoryError);
    const wrongType: HistoryOp = { id: 1, client: 0, op: cas("x", null, "a"), invokeTime: 0, completeTime: 1, output: null };
    assert.throws(() => checkLinearizable([wrongType], budget), MalformedHistoryError);
  });
});

// ---------------------------------------------------------------------------
// Generated histories: a sequential execution against a reference map, with
// each op's interval stretched around its linearization point.

type Fate = "done" | "indeterminate" | "lost";

interface Step {
  readonly kind: KvOp["kind"];
  readonly key: string;
  readonly value: string;
  /** expectCurrent makes a cas expect the key's current value (so it swaps). */
  readonly expectCurrent: boolean;
  readonly expected: string | null;
  readonly client: number;
  /** before and after stretch the interval around the linearization point. */
  readonly before: number;
  readonly after: number;
  /** fate: done, indeterminate (took effect, reply lost), lost (never took effect, no reply). */
  readonly fate: Fate;
  readonly order: number;
}

const pointSpacing = 10;

/** execute runs the steps in order against a reference map and returns the history in `order` order. */
function execute(steps: readonly Step[]): HistoryOp[] {
  const register = new Map<string, string>();
  const history: { op: HistoryOp; order: number }[] = [];
  steps.forEach((s, i) => {
    const point = i * pointSpacing;
    const current = register.get(s.key) ?? null;
    let op: KvOp;
    let output: string | null | boolean = null;
    switch (s.kind) {
      case "put":
        op = put(s.key, s.value);
        if (s.fate !== "lost") register.set(s.key, s.value);
        break;
      case "get":
        op = get(s.key);
        output = current;
        break;
      case "cas": {
        const expected = s.expectCurrent ? current : s.expected;
        op = cas(s.key, expected, s.value);
        output = expected === current;
        if (output && s.fate !== "lost") register.set(s.key, s.value);
        break;
      }
      case "delete":
        op = del(s.key);
        if (s.fate !== "lost") register.delete(s.key);
        break;
    }
    const base = { id: i + 1, client: s.client, op, invokeTime: point - s.before };
    const entry: HistoryOp = s.fate === "done" ? { ...base, completeTime: point + s.after, output } : base;
    history.push({ op: entry, order: s.order });
  });
  return history.sort((a, b) => a.order - b.order || a.op.id - b.op.id).map((e) => e.op);
}

function stepArbitrary(keys: readonly string[], stretchMax: number): fc.Arbitrary<Step> {
  return fc.record({
    kind: fc.constantFrom<KvOp["kind"]>("put", "get", "get", "cas", "delete"),
    key: fc.constantFrom(...keys),
    value: fc.constantFrom("1", "2", "3"),
    expectCurrent: fc.boolean(),
    expected: fc.constantFrom(null, "1", "2", "3"),
    client: fc.nat(7),
    before: fc.nat(stretchMax),
    after: fc.nat(stretchMax),
    fate: fc.constantFrom<Fate>("done", "done", "done", "done", "indeterminate", "lost"),
    order: fc.nat(),
  });
}

const historyArbitrary = fc.array(stepArbitrary(["a", "b", "c"], 4 * pointSpacing), { maxLength: 80 }).map(execute);

function isCompletedGet(h: HistoryOp): boolean {
  return h.op.kind === "get" && h.completeTime !== undefined;
}

void describe("checkLinearizable on generated histories", () => {
  void it("accepts every history stretched around a sequential execution", () => {
    fc.assert(
      fc.property(historyArbitrary, (history) => {
        assertVerdict(checkLinearizable(history, budget), "ok");
      }),
      { numRuns: 300 },
    );
  });

  void it("rejects such a history once a get returns a value never written", () => {
    fc.assert(
      fc.property(historyArbitrary, fc.nat(), (history, pick) => {
        const gets = history.filter(isCompletedGet);
        fc.pre(gets.length > 0);
        const victim = gets[pick % gets.length]!;
        const corrupted = history.map((h) => (h === victim ? { ...h, output: "never-written" } : h));
        const result = checkLinearizable(corrupted, budget);
        assertVerdict(result, "violation");
        assert.ok(result.verdict === "violation");
        assert.equal(result.key, victim.op.key);
      }),
      { numRuns: 300 },
    );
  });

  void it("rejects such a history once a get returns a value first written after it completed", () => {
    fc.assert(
      fc.property(historyArbitrary, fc.nat(), fc.boolean(), (history, pick, lateIsPending) => {
        const gets = history.filter(isCompletedGet);
        fc.pre(gets.length > 0);
        const victim = gets[pick % gets.length]!;
        const late: HistoryOp = {
          id: history.length + 1,
          client: 99,
          op: put(victim.op.key, "late"),
          invokeTime: victim.completeTime! + 1,
          ...(lateIsPending ? {} : { completeTime: victim.completeTime! + 2, output: null }),
        };
        const corrupted = [...history.map((h) => (h === victim ? { ...h, output: "late" } : h)), late];
        const result = checkLinearizable(corrupted, budget);
        assertVerdict(result, "violation");
        assert.ok(result.verdict === "violation");
        assert.equal(result.key, victim.op.key);
      }),
      { numRuns: 300 },
    );
  });

  void it("agrees with a brute-force search on small histories with mutated outputs", () => {
    const small = fc.array(stepArbitrary(["a", "b"], 2 * pointSpacing), { maxLength: 8 }).map(execute);
    const mutation = fc.record({ index: fc.nat(), output: fc.constantFrom<string | null | boolean>(null, "1", "2", true, false) });
    let violations = 0;
    fc.assert(
      fc.property(small, fc.array(mutation, { maxLength: 2 }), (history, mutations) => {
        const mutated = [...history];
        for (const m of mutations) {
          const target = mutated[m.index % Math.max(1, mutated.length)];
          if (target === undefined || target.completeTime === undefined) continue;
          const fits = target.op.kind === "cas" ? typeof m.output === "boolean" : target.op.kind === "get" && typeof m.output !== "boolean";
          if (fits) mutated[m.index % mutated.length] = { ...target, output: m.output };
        }
        const expected = bruteForceLinearizable(mutated) ? "ok" : "violation";
        if (expected === "violation") violations++;
        assertVerdict(checkLinearizable(mutated, budget), expected);
      }),
      { numRuns: 1000 },
    );
    assert.ok(violations > 50, `only ${violations} violating histories generated`);
  });
});

/**
 * bruteForceLinearizable tries every order of the whole history, with no
 * memoisation or per-key split. An op may go next when no other remaining
 * completed op finished before it was invoked; indeterminate ops may be left out.
 */
function bruteForceLinearizable(history: readonly HistoryOp[]): boolean {
  const remaining = new Set(history);
  const register = new Map<string, string>();
  const search = (): boolean => {
    const pending = [...remaining];
    if (pending.every((h) => h.completeTime === undefined)) return true;
    for (const h of pending) {
      const blocked = pending.some((r) => r !== h && r.completeTime !== undefined && r.completeTime < h.invokeTime);
      if (blocked) continue;
      const before = register.get(h.op.key);
      const current = before ?? null;
      let output: string | null | boolean = null;
      let after: string | null = current;
      switch (h.op.kind) {
        case "put":
          after = h.op.value;
          break;
        case "get":
          output = current;
          break;
        case "cas":
          output = h.op.expected === current;
          if (output) after = h.op.value;
          break;
        case "delete":
          after = null;
          break;
      }
      if (h.completeTime !== undefined && h.output !== output) continue;
      remaining.delete(h);
      if (after === null) register.delete(h.op.key);
      else register.set(h.op.key, after);
      const found = search();
      remaining.add(h);
      if (before === undefined) register.delete(h.op.key);
      else register.set(h.op.key, before);
      if (found) return true;
    }
    return false;
  };
  return search();
}

void describe("checkLinearizable at simulator scale", () => {
  void it("checks a 2000-op, 10-key history with 10% indeterminate ops", () => {
    const random = mulberry32(7);
    const keys = Array.from({ length: 10 }, (_, k) => `key-${k}`);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const steps: Step[] = Array.from({ length: 2000 }, () => {
      const roll = random();
      return {
        kind: pick<KvOp["kind"]>(["put", "get", "get", "cas", "delete"]),
        key: pick(keys),
        value: pick(["1", "2", "3", "4"]),
        expectCurrent: random() < 0.5,
        expected: pick([null, "1", "2"]),
        client: Math.floor(random() * 8),
        before: Math.floor(random() * 60),
        after: Math.floor(random() * 60),
        fate: roll < 0.05 ? "indeterminate" : roll < 0.1 ? "lost" : "done",
        order: Math.floor(random() * 1e9),
      };
    });
    const history = execute(steps);
    const result = checkLinearizable(history, { stepBudget: 200_000 });
    assertVerdict(result, "ok");
  });
});

/** mulberry32 is a tiny seeded generator for building large deterministic histories. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
