import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { violations } from "../boundary.test.js";

test("nothing under src/kv/ does I/O, reads the clock, uses global randomness or awaits", () => {
  const root = join(import.meta.dirname, "..", "..", "src", "kv");
  const files = readdirSync(root).filter((name) => name.endsWith(".ts"));
  assert.ok(files.length > 0);
  const problems = files.flatMap((name) => violations(readFileSync(join(root, name), "utf8")).map((v) => `${name}: ${v}`));
  assert.deepEqual(problems, []);
});
