import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

/** DevOptions configures `synod dev`: a local three-member cluster on loopback. */
export interface DevOptions {
  readonly dataDir: string;
  readonly consensus: string;
  readonly basePort: number;
}

interface DevMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly metricsPort: number;
}

/**
 * runDev starts three members as child processes of this one, each with its data
 * under `dataDir/<name>`, prints how to reach them, and stops them all on
 * Ctrl-C (SIGINT) or SIGTERM. It resolves with the exit code.
 */
export function runDev(options: DevOptions, mainScript: string): Promise<number> {
  const members: DevMember[] = [0, 1, 2].map((i) => ({
    name: `synod${i + 1}`,
    clientPort: options.basePort + i * 10,
    peerPort: options.basePort + i * 10 + 1,
    metricsPort: options.basePort + i * 10 + 2,
  }));
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(",");
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const children: ChildProcess[] = members.map((m) =>
    spawn(
      process.execPath,
      [
        ...process.execArgv,
        mainScript,
        "start",
        "--name", m.name,
        "--data-dir", join(dataDir, m.name),
        "--listen-client-urls", `http://127.0.0.1:${m.clientPort}`,
        "--advertise-client-urls", `http://127.0.0.1:${m.clientPort}`,
        "--listen-peer-urls", `http://127.0.0.1:${m.peerPort}`,
        "--initial-advertise-peer-urls", `http://127.0.0.1:${m.peerPort}`,
        "--listen-metrics-urls", `http://127.0.0.1:${m.metricsPort}`,
        "--initial-cluster", initialCluster,
        "--initial-cluster-token", "synod-dev",
        "--consensus", options.consensus,
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    ),
  );
  const endpoints = members.map((m) => `127.0.0.1:${m.clientPort}`).join(",");
  process.stdout.write(
    [
      `synod dev: 3 members (${options.consensus}), data under ${dataDir}`,
      ...members.map((m) => `  ${m.name}: client http://127.0.0.1:${m.clientPort}  peer :${m.peerPort}  metrics http://127.0.0.1:${m.metricsPort}/metrics`),
      "try:",
      `  ETCDCTL_API=3 etcdctl --endpoints=${endpoints} put greeting hello`,
      `  ETCDCTL_API=3 etcdctl --endpoints=${endpoints} get greeting`,
      `  ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint status -w table`,
      "Ctrl-C stops all three.",
      "",
    ].join("\n"),
  );
  return new Promise((resolveExit) => {
    let stopping = false;
    let alive = children.length;
    const stopAll = (): void => {
      if (stopping) return;
      stopping = true;
      for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    };
    process.on("SIGINT", stopAll);
    process.on("SIGTERM", stopAll);
    for (const child of children) {
      child.on("exit", (code) => {
        if (!stopping && code !== 0) {
          process.stderr.write(`synod dev: a member exited with code ${code}; stopping the others\n`);
          stopAll();
        }
        if (--alive === 0) resolveExit(stopping ? 0 : 1);
      });
    }
  });
}
