/**
 * Three-member clusters on loopback for the comparison: etcd and Synod started
 * as child processes with etcd-style flags, each member's PID kept so its
 * memory and CPU can be read from /proc and so it can be stopped by PID.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { KvChannel } from "./kv-client.js";

/** Member is one running server process. */
export interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly process: ChildProcess;
}

/** ClusterKind names the server a cluster runs. */
export type ClusterKind = "etcd" | "synod";

/** ClusterSpec says where a cluster lives: members use client port base + 10·i and peer port base + 10·i + 1. */
export interface ClusterSpec {
  readonly kind: ClusterKind;
  readonly basePort: number;
  /** dir holds the members' data and log files. */
  readonly dir: string;
  /** command and args start one member; the member flags are appended. */
  readonly command: string;
  readonly args: readonly string[];
}

/** stopGraceMs is how long a member gets to exit after SIGTERM before SIGKILL. */
export const stopGraceMs = 10_000;

/** readyTimeoutMs bounds the wait for a new cluster to serve linearizable reads on every member. */
export const readyTimeoutMs = 60_000;

const clockTicksPerSec = 100;

function memberFlags(spec: ClusterSpec, i: number, initialCluster: string): { member: Omit<Member, "process" | "logFile">; flags: string[] } {
  const name = `${spec.kind}${i + 1}`;
  const clientPort = spec.basePort + 10 * i;
  const peerPort = clientPort + 1;
  const dataDir = join(spec.dir, name);
  const flags = [
    "--name", name,
    "--data-dir", dataDir,
    "--listen-client-urls", `http://127.0.0.1:${clientPort}`,
    "--advertise-client-urls", `http://127.0.0.1:${clientPort}`,
    "--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
    "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
    "--initial-cluster", initialCluster,
    "--initial-cluster-token", `bench-${spec.kind}`,
    "--initial-cluster-state", "new",
  ];
  return { member: { name, clientPort, peerPort, dataDir }, flags };
}

/** Cluster is three running members. */
export class Cluster {
  private constructor(
    readonly kind: ClusterKind,
    readonly members: readonly Member[],
  ) {}

  /** start spawns the three members; call {@link Cluster.waitReady} before use. */
  static start(spec: ClusterSpec): Cluster {
    mkdirSync(spec.dir, { recursive: true });
    const initialCluster = [0, 1, 2].map((i) => `${spec.kind}${i + 1}=http://127.0.0.1:${spec.basePort + 10 * i + 1}`).join(",");
    const members = [0, 1, 2].map((i): Member => {
      const { member, flags } = memberFlags(spec, i, initialCluster);
      const logFile = join(spec.dir, `${member.name}.log`);
      const log = openSync(logFile, "a");
      const child = spawn(spec.command, [...spec.args, ...flags], { stdio: ["ignore", log, log] });
      closeSync(log);
      return { ...member, logFile, process: child };
    });
    return new Cluster(spec.kind, members);
  }

  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  /** waitReady resolves once every member answers a linearizable range. */
  async waitReady(timeoutMs: number = readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const endpoint of this.endpoints) {
      const channel = new KvChannel(endpoint);
      try {
        for (;;) {
          this.assertAlive();
          try {
            await channel.range({ key: Buffer.from("bench/ready"), serializable: false }, 1_000);
            break;
          } catch (error) {
            if (Date.now() > deadline) throw new Error(`${this.kind}: ${endpoint} not ready after ${timeoutMs} ms`, { cause: error });
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      } finally {
        channel.close();
      }
    }
  }

  /** assertAlive throws when a member has exited. */
  assertAlive(): void {
    for (const m of this.members) {
      if (m.process.exitCode !== null || m.process.signalCode !== null) {
        throw new Error(`${m.name} exited (${m.process.exitCode ?? m.process.signalCode}); see ${m.logFile}`);
      }
    }
  }

  /** rssKiB reads each member's resident set (VmRSS) from /proc. */
  rssKiB(): number[] {
    return this.members.map((m) => {
      const status = readFileSync(`/proc/${pidOf(m)}/status`, "utf8");
      const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
      if (match === null) throw new Error(`${m.name}: no VmRSS in /proc/${pidOf(m)}/status`);
      return Number(match[1]);
    });
  }

  /** cpuMs reads each member's CPU time so far (user + system) from /proc. */
  cpuMs(): number[] {
    return this.members.map((m) => {
      const stat = readFileSync(`/proc/${pidOf(m)}/stat`, "utf8");
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSec;
    });
  }

  /** dataBytes sums the disk space allocated to the files under each member's data dir (like `du`). */
  dataBytes(): number[] {
    return this.members.map((m) => directoryBytes(m.dataDir));
  }

  /** stop sends SIGTERM to each member by PID, then SIGKILL to any still running after the grace period. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => stopMember(m)));
  }

  /** killNow sends SIGKILL to every member still running (for exit handlers, which cannot wait). */
  killNow(): void {
    for (const m of this.members) {
      if (m.process.exitCode !== null || m.process.signalCode !== null) continue;
      try {
        process.kill(pidOf(m), "SIGKILL");
      } catch {
        // Already gone between the check and the signal.
      }
    }
  }
}

function pidOf(m: Member): number {
  if (m.process.pid === undefined) throw new Error(`${m.name}: not started`);
  return m.process.pid;
}

function stopMember(m: Member): Promise<void> {
  const child = m.process;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const timer = setTimeout(() => process.kill(pid, "SIGKILL"), stopGraceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    process.kill(pid, "SIGTERM");
  });
}

function directoryBytes(dir: string): number {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += directoryBytes(path);
    else if (entry.isFile()) bytes += statSync(path).blocks * 512;
  }
  return bytes;
}
