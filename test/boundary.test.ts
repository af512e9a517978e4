import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

/**
 * The cores are pure: no I/O, no clock, no global randomness, no asynchrony.
 * Every file under the core folders is scanned for the constructs that would
 * break that: the consensus engines and the MVCC state machine.
 */
const coreFolders = ["consensus", "kv"] as const;
const forbidden: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /\bfrom\s+["'](?!\.{1,2}\/)[^"']+["']/, why: "imports a package (only relative imports are allowed)" },
  { pattern: /\bimport\s*\(/, why: "dynamic import" },
  { pattern: /\brequire\s*\(/, why: "require" },
  { pattern: /\bDate\b/, why: "reads the clock" },
  { pattern: /\bperformance\b/, why: "reads the clock" },
  { pattern: /\bMath\.random\b/, why: "global randomness" },
  { pattern: /\bset(Timeout|Interval|Immediate)\b/, why: "timers" },
  { pattern: /\bqueueMicrotask\b/, why: "asynchrony" },
  { pattern: /\bprocess\b/, why: "process access" },
  { pattern: /\bawait\b/, why: "await" },
  { pattern: /\basync\b/, why: "async" },
  { pattern: /\bPromise\b/, why: "promises" },
  { pattern: /\bglobalThis\b/, why: "global access" },
];

/** violations lists the forbidden constructs in one source text, ignoring comments. */
function violations(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const found: string[] = [];
  for (const { pattern, why } of forbidden) {
    const m = pattern.exec(code);
    if (m !== null) found.push(`${why}: "${m[0]}"`);
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

test("the scanner recognises every forbidden construct", () => {
  const samples = [
    `import { readFileSync } from "node:fs";`,
    `import x from "lmdb";`,
    `const m = await import("./x.js");`,
    `const t = Date.now();`,
    `const r = Math.random();`,
    `setTimeout(() => {}, 1);`,
    `const e = process.env;`,
    `async function f() { await g(); }`,
    `new Promise(() => {});`,
  ];
  for (const sample of samples) assert.notDeepEqual(violations(sample), [], sample);
  assert.deepEqual(violations(`import type { A } from "./types.js"; // Date in a comment\nconst a = 1;`), []);
});

for (const folder of coreFolders) {
  test(`nothing under src/${folder}/ does I/O, reads the clock, uses global randomness or awaits`, () => {
    const root = join(import.meta.dirname, "..", "src", folder);
    const files = sourceFiles(root);
    assert.ok(files.length > 0);
    const problems = files.flatMap((file) =>
      violations(readFileSync(file, "utf8")).map((v) => `${relative(root, file)}: ${v}`),
    );
    assert.deepEqual(problems, []);
  });
}
