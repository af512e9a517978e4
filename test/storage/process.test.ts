import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import type { RaftHardState } from "../../src/consensus/raft/messages.js";
import { groupId } from "../../src/consensus/types.js";
import { Storage } from "../../src/storage/storage.js";
import { dataOf, repoRoot, tempDir } from "./helpers.js";

const fixtures = join(repoRoot, "test", "storage", "fixtures");

function spawnFixture(name: string, args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(fixtures, name), ...args], {
    cwd: repoRoot,
    stdio: ["pipe", "pipe", "inherit"],
  });
}

/** lines yields the child's stdout lines to `onLine` and resolves with its exit. */
function watch(child: ChildProcess, onLine: (line: string) => void): Promise<{ code: number | null; signal: string | null }> {
  assert.ok(child.stdout !== null);
  createInterface({ input: child.stdout }).on("line", onLine);
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
}

test("a second process cannot open a data directory in use, and can once it is released", async () => {
  const dir = tempDir("second");
  try {
    const holder = spawnFixture("open-storage.ts", [dir.path, "hold"]);
    let held!: () => void;
    const isHeld = new Promise<void>((resolve) => (held = resolve));
    const holderExit = watch(holder, (line) => {
      assert.equal((JSON.parse(line) as { ok: boolean }).ok, true);
      held();
    });
    await isHeld;

    const lines: string[] = [];
    const refused = await watch(spawnFixture("open-storage.ts", [dir.path]), (line) => lines.push(line));
    assert.equal(refused.code, 3);
    const report = JSON.parse(lines[0] ?? "{}") as { ok: boolean; code: string; message: string };
    assert.equal(report.ok, false);
    assert.equal(report.code, "locked");
    assert.match(report.message, new RegExp(`in use by process ${holder.pid}`));
    assert.throws(() => Storage.open({ dataDir: dir.path }), { code: "locked" });

    holder.stdin?.end();
    assert.equal((await holderExit).code, 0);
    const again = await watch(spawnFixture("open-storage.ts", [dir.path]), () => {});
    assert.equal(again.code, 0);
  } finally {
    dir.cleanup();
  }
});

test("a writer killed at a random moment loses nothing it reported durable", async (t) => {
  const dir = tempDir("crash");
  const durable = new Map<number, number>([
    [1, 0],
    [2, 0],
  ]);
  try {
    for (let round = 0; round < 3; round++) {
      const child = spawnFixture("crash-writer.ts", [dir.path]);
      let started!: () => void;
      const isStarted = new Promise<void>((resolve) => (started = resolve));
      const exit = watch(child, (line) => {
        if (line === "ready") return started();
        const [group, index] = line.split(" ").map(Number);
        assert.ok(group !== undefined && index !== undefined);
        durable.set(group, index);
      });
      await isStarted;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 400)));
      child.kill("SIGKILL");
      assert.equal((await exit).signal, "SIGKILL");

      // The killed process's lock is stale: reopening takes it over.
      const storage = Storage.open({ dataDir: dir.path });
      for (const [id, reported] of durable) {
        const state = storage.group<RaftHardState>(groupId(id)).load();
        assert.ok(reported > 0, `round ${round}: group ${id} reported progress`);
        assert.ok(state.entries.length >= reported, `round ${round}: group ${id} has ${state.entries.length} of ${reported}`);
        state.entries.forEach((entry, i) => {
          assert.equal(entry.index, i + 1);
          assert.ok(entry.type === "normal");
          assert.deepEqual(entry.data, dataOf(i + 1, 1, 256));
        });
        assert.ok(state.hardState !== null && state.hardState.commit >= reported - (id === 1 ? 1 : 7));
      }
      await storage.close();
      t.diagnostic(`round ${round}: durable ${JSON.stringify([...durable])}`);
    }
  } finally {
    dir.cleanup();
  }
});
