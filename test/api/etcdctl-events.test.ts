/**
 * The real etcdctl (3.4) against the Watch, Lease, Lock and Election
 * machinery served by the events test backend (real clock, leases expired
 * by a timer). etcdctl's `lock` and `elect` are built on leases, txns,
 * ranges and watches (its concurrency package), so these runs exercise the
 * services together, as etcd's own clients use them.
 *
 * etcdctl must be installed (apt-get install etcd-client); without it these
 * tests fail rather than skip.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EventsTestBackend } from "./events-test-backend.js";
import { startApiWith } from "./harness.js";
import type { ApiFixture } from "./harness.js";

const env = { ...process.env, ETCDCTL_API: "3" };

/** Spawned is a long-running etcdctl whose stdout lines are read as they come. */
class Spawned {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private partial = "";
  private wake: (() => void) | undefined;
  readonly exited: Promise<number | null>;
  stderr = "";

  constructor(endpoint: string, args: readonly string[]) {
    this.child = spawn("etcdctl", [`--endpoints=${endpoint}`, "--dial-timeout=3s", ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.notify();
    });
    this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** line resolves to the next stdout line. */
  async line(timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = this.lines.shift();
      if (next !== undefined) return next;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`etcdctl printed no line within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async lineCount(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.line());
    return out;
  }

  get unread(): number {
    return this.lines.length;
  }

  /** stop sends SIGTERM to this process (by its PID) and waits for it to exit. */
  async stop(): Promise<number | null> {
    const running = this.child.exitCode === null && this.child.signalCode === null;
    if (running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, "SIGTERM");
      } catch (error) {
        if (!(error instanceof Error && "code" in error && error.code === "ESRCH")) throw error; // exited meanwhile
      }
    }
    return this.exited;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function requireEtcdctl(): void {
  const probe = spawnSync("etcdctl", ["version"], { env, encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) assert.fail("etcdctl is not installed: apt-get install etcd-client");
}

describe("etcdctl 3.4: watch, lease, lock, elect", () => {
  let api: ApiFixture<EventsTestBackend>;
  let backend: EventsTestBackend;
  const running: Spawned[] = [];

  const run = (args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const spawned = new Spawned(api.endpoint, ["--command-timeout=5s", ...args]);
    let stdout = "";
    spawned.child.stdout.on("data", (chunk: string) => (stdout += chunk));
    return spawned.exited.then((code) => ({ code, stdout, stderr: spawned.stderr }));
  };
  const ok = async (args: readonly string[]): Promise<string> => {
    const result = await run(args);
    assert.equal(result.code, 0, `etcdctl ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const start = (args: readonly string[]): Spawned => {
    const spawned = new Spawned(api.endpoint, args);
    running.push(spawned);
    return spawned;
  };

  before(async () => {
    requireEtcdctl();
    backend = new EventsTestBackend({ tickMs: 100 });
    api = await startApiWith(backend);
  });
  after(async () => {
    await Promise.all(running.map((s) => s.stop()));
    backend.close();
    await api.close();
  });

  test("watch --prefix --rev --prev-kv: history, then live changes with previous values", async () => {
    await ok(["put", "wp/a", "1"]);
    const from = backend.mvcc.revision;
    await ok(["put", "wp/a", "2"]);
    await ok(["put", "other", "x"]);
    const watch = start(["watch", "--prefix", "wp/", `--rev=${from}`, "--prev-kv"]);
    assert.deepEqual(await watch.lineCount(3), ["PUT", "wp/a", "1"]);
    assert.deepEqual(await watch.lineCount(5), ["PUT", "wp/a", "1", "wp/a", "2"]);
    await ok(["del", "wp/a"]);
    assert.deepEqual(await watch.lineCount(5), ["DELETE", "wp/a", "2", "wp/a", ""]);
    await ok(["put", "wp/b", "3"]);
    assert.deepEqual(await watch.lineCount(3), ["PUT", "wp/b", "3"]);
    await watch.stop();
  });

  test("lease grant, keep-alive --once, timetolive --keys, list, revoke", async () => {
    const granted = await ok(["lease", "grant", "60"]);
    const match = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(granted);
    assert.ok(match !== null, granted);
    const id = match[1] ?? "";
    await ok(["put", "lk", "v", `--lease=${id}`]);
    assert.equal(await ok(["lease", "keep-alive", "--once", id]), `lease ${id} keepalived with TTL(60)\n`);
    assert.match(await ok(["lease", "timetolive", "--keys", id]), new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(5[89]s\\), attached keys\\(\\[lk\\]\\)\n$`));
    const list = await ok(["lease", "list"]);
    assert.match(list, /^found \d+ leases\n/);
    assert.ok(list.split("\n").includes(id));
    assert.equal(await ok(["lease", "revoke", id]), `lease ${id} revoked\n`);
    assert.equal(await ok(["get", "lk"]), "");
    assert.equal(await ok(["lease", "timetolive", id]), `lease ${id} already expired\n`);
    const again = await run(["lease", "revoke", id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error: failed to revoke lease \(etcdserver: requested lease not found\)\n$/);
  });

  test("lock NAME -- CMD: concurrent processes take turns (enter/exit never interleave)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "synod-lock-"));
    const file = join(dir, "log");
    try {
      const processes = 4;
      const script = `echo "enter $$ $ETCD_LOCK_KEY" >> ${file}; sleep 0.2; echo "exit $$" >> ${file}`;
      const results = await Promise.all(Array.from({ length: processes }, () => run(["lock", "ctl-lock", "--", "sh", "-c", script])));
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      const lines = readFileSync(file, "utf8").trimEnd().split("\n");
      assert.equal(lines.length, 2 * processes);
      const keys = new Set<string>();
      for (let i = 0; i < lines.length; i += 2) {
        const [enter, pid, key] = (lines[i] ?? "").split(" ");
        assert.equal(enter, "enter", lines.join("\n"));
        assert.equal(lines[i + 1], `exit ${pid ?? ""}`, `the holder left before anyone entered:\n${lines.join("\n")}`);
        assert.match(key ?? "", /^ctl-lock\/[0-9a-f]+$/);
        keys.add(key ?? "");
      }
      assert.equal(keys.size, processes);
      assert.equal(await ok(["get", "--prefix", "ctl-lock/"]), "", "every lock key is gone");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lock NAME without a command prints the key and holds it until killed", async () => {
    const holder = start(["lock", "held"]);
    const key = await holder.line();
    assert.match(key, /^held\/[0-9a-f]+$/);
    const waiter = start(["lock", "held"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(waiter.unread, 0, "the second process waits");
    await holder.stop();
    assert.match(await waiter.line(), /^held\/[0-9a-f]+$/);
    await waiter.stop();
  });

  test("elect: campaigns take turns; elect -l observes each leader", async () => {
    const first = start(["elect", "ctl-elect", "p1"]);
    const firstKey = await first.line();
    assert.match(firstKey, /^ctl-elect\/[0-9a-f]+$/);
    assert.equal(await first.line(), "p1");
    const second = start(["elect", "ctl-elect", "p2"]);
    const observer = start(["elect", "-l", "ctl-elect"]);
    assert.deepEqual(await observer.lineCount(2), [firstKey, "p1"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(second.unread, 0, "the second candidate waits");
    assert.equal(await first.stop(), 0, "the leader resigns on SIGTERM");
    const secondKey = await second.line();
    assert.equal(await second.line(), "p2");
    assert.notEqual(secondKey, firstKey);
    assert.deepEqual(await observer.lineCount(2), [secondKey, "p2"]);
    await second.stop();
    await observer.stop();
  });
});
