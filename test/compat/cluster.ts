import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const mainScript = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");

/** testClusterToken is the --initial-cluster-token of every test cluster. */
export const testClusterToken = "synod-test";

/** synodCli runs the `synod` command (under tsx) to completion and returns its output and exit code. */
export function synodCli(args: readonly string[]): { stdout: string; stderr: string; status: number } {
  const result = spawnSync(process.execPath, ["--import", "tsx", mainScript, ...args], { encoding: "utf8", timeout: 120_000 });
  if (result.error !== undefined) throw result.error;
  return { stdout: result.stdout, stderr: result.stderr, status: result.status ?? -1 };
}

/** MemberProcess is one real `synod start` process of a test cluster. */
export interface MemberProcess {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  output: string;
  /** joinArgs, for a member added after the start, are its --initial-cluster and --initial-cluster-state (as `etcdctl member add` prints them). */
  joinArgs?: readonly string[];
}

/** portFree tells whether a loopback port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** freePorts finds `count` consecutive free ports in [20000, 32000). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error("no free port block found");
}

/**
 * TestCluster runs real Synod member processes on 127.0.0.1 with data in a
 * temp dir, and stops them by PID. Members can be killed (SIGKILL) and
 * restarted on the same data.
 */
export class TestCluster {
  readonly members: MemberProcess[];
  readonly root: string;

  private constructor(
    base: number,
    size: number,
    private readonly consensus: string,
    private readonly extraArgs: readonly string[],
  ) {
    this.root = mkdtempSync(join(tmpdir(), "synod-cluster-"));
    this.members = Array.from({ length: size }, (_, i) => ({
      name: `m${i + 1}`,
      clientPort: base + i * 3,
      peerPort: base + i * 3 + 1,
      metricsPort: base + i * 3 + 2,
      dataDir: join(this.root, `m${i + 1}`),
      child: undefined,
      output: "",
    }));
  }

  /**
   * start spawns the members and waits until each is healthy. `prepare` runs
   * first, with the ports and data dirs chosen (e.g. to restore a backup into
   * each data dir); if it throws, the cluster's temp dir is removed.
   */
  static async start(
    options: { size?: number; consensus?: string; extraArgs?: readonly string[]; prepare?: (cluster: TestCluster) => void } = {},
  ): Promise<TestCluster> {
    const size = options.size ?? 3;
    const cluster = new TestCluster(await freePorts(size * 3), size, options.consensus ?? "raft", options.extraArgs ?? []);
    try {
      options.prepare?.(cluster);
    } catch (error) {
      rmSync(cluster.root, { recursive: true, force: true });
      throw error;
    }
    for (let i = 0; i < size; i++) cluster.spawn(i);
    await cluster.waitHealthy();
    return cluster;
  }

  endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  /** initialCluster is the --initial-cluster value of the members the cluster started with. */
  initialCluster(): string {
    return this.members.filter((x) => x.joinArgs === undefined).map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(",");
  }

  /**
   * addMemberProcess starts a member that joins later, on ports [base, base+3)
   * (client, peer, metrics; see reservePorts) with `initialCluster` and `--initial-cluster-state
   * existing` (what `etcdctl member add` prints); it returns its index.
   */
  addMemberProcess(name: string, base: number, initialCluster: string, extraArgs: readonly string[] = []): number {
    this.members.push({ name, clientPort: base, peerPort: base + 1, metricsPort: base + 2, dataDir: join(this.root, name), child: undefined, output: "", joinArgs: ["--initial-cluster", initialCluster, "--initial-cluster-state", "existing", ...extraArgs] });
    const i = this.members.length - 1;
    this.spawn(i);
    return i;
  }

  /** reservePeerPort returns a free port block [p, p+3) for a member to be added: client p, peer p+1, metrics p+2. */
  static reservePorts(): Promise<number> {
    return freePorts(3);
  }

  spawn(i: number): void {
    const m = this.member(i);
    const initialCluster = this.initialCluster();
    const child = spawn(
      process.execPath,
      [
        "--import", "tsx", mainScript, "start",
        "--name", m.name,
        "--data-dir", m.dataDir,
        "--listen-client-urls", `http://127.0.0.1:${m.clientPort}`,
        "--listen-peer-urls", `http://127.0.0.1:${m.peerPort}`,
        "--listen-metrics-urls", `http://127.0.0.1:${m.metricsPort}`,
        ...(m.joinArgs ?? ["--initial-cluster", initialCluster]),
        "--initial-cluster-token", testClusterToken,
        "--consensus", this.consensus,
        "--heartbeat-interval", "50",
        "--election-timeout", "500",
        ...this.extraArgs,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    m.output = "";
    const append = (chunk: Buffer): void => {
      m.output = (m.output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    m.child = child;
  }

  member(i: number): MemberProcess {
    const m = this.members[i];
    if (m === undefined) throw new Error(`no member ${i}`);
    return m;
  }

  /** kill sends a signal to member i's process and waits for it to exit. */
  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.member(i).child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
    this.member(i).child = undefined;
  }

  async restart(i: number): Promise<void> {
    await this.kill(i);
    this.spawn(i);
    await this.waitHealthy([i]);
  }

  /** waitHealthy polls /health until every given member answers healthy (a linearizable read works). */
  async waitHealthy(indexes: readonly number[] = this.members.map((_, i) => i), timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const i of indexes) {
      const m = this.member(i);
      for (;;) {
        try {
          const res = await fetch(`http://127.0.0.1:${m.metricsPort}/health`);
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        if (m.child === undefined || m.child.exitCode !== null) throw new Error(`member ${m.name} exited:\n${m.output}`);
        if (Date.now() > deadline) throw new Error(`member ${m.name} not healthy in time:\n${m.output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i, "SIGTERM")));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** etcdctl runs the real etcdctl (v3 API) against the given endpoints and returns stdout, or throws with stderr. */
export function etcdctl(endpoints: readonly string[], args: readonly string[], input?: string): { stdout: string; stderr: string; status: number } {
  const result = spawnSync("etcdctl", [`--endpoints=${endpoints.join(",")}`, ...args], {
    env: { ...process.env, ETCDCTL_API: "3" },
    input: input ?? "",
    encoding: "utf8",
    timeout: 30_000,
  });
  if (result.error !== undefined) {
    throw new Error(`etcdctl could not run (${result.error.message}); install it with: apt-get install -y etcd-client`);
  }
  return { stdout: result.stdout, stderr: result.stderr, status: result.status ?? -1 };
}
