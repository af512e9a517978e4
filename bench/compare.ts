/**
 * Synod against etcd, same machine, same run:
 *
 *   npm run prepare && node --import tsx bench/compare.ts [--scale 1] [--rss-keys 100000]
 *
 * Starts a 3-member etcd cluster and a 3-member Synod cluster on 127.0.0.1
 * (temp data dirs), runs each workload against both in turn (alternating which
 * goes first), then starts both afresh, loads `--rss-keys` keys of 256 bytes
 * into each and reads every member's RSS. Prints markdown tables on stdout;
 * progress goes to stderr. Everything it starts, it stops (by PID).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { Cluster } from "./cluster.js";
import type { ClusterKind, ClusterSpec } from "./cluster.js";
import { ChannelPool } from "./kv-client.js";
import type { BenchOptions, Consistency, WorkloadName } from "./options.js";
import type { BenchResult } from "./runner.js";
import { connectTimeoutMs, runBench } from "./runner.js";
import { loadAttemptsMax, loadKeys } from "./workloads.js";

/** repoRoot is the checkout: this file runs from bench/ under tsx, or from dist/bench/ once compiled. */
const repoRoot = ((): string => {
  const parent = resolve(fileURLToPath(new URL("..", import.meta.url)));
  return basename(parent) === "dist" ? dirname(parent) : parent;
})();

/** Step is one workload of the comparison. */
interface Step {
  readonly label: string;
  readonly workload: WorkloadName;
  readonly clients: number;
  readonly conns: number;
  readonly total: number;
  readonly consistency: Consistency;
  readonly preload: boolean;
}

/** Measured is one step's result on one cluster, with the servers' CPU spent during it. */
interface Measured {
  readonly result: BenchResult;
  /** serverCpuMsPerRequest sums the three members' CPU per finished request. */
  readonly serverCpuMsPerRequest: number;
}

interface CompareFlags {
  scale: string;
  rssKeys: string;
  etcd: string;
  etcdPort: string;
  synodPort: string;
  synodNodeArgs: string;
  jsonOut?: string;
  keep: boolean;
}

/** workloadKeySpace and workloadValBytes match the project's earlier etcd measurements (10,000 keys, 256-byte values). */
const workloadKeySpace = 10_000;
const workloadValBytes = 256;
const workloadKeyBytes = 8;
const rssValBytes = 256;
const rssLoadClients = 64;
const rssLoadConns = 3;
/** rssSettleMs lets the members finish applying and collecting garbage before RSS is read. */
const rssSettleMs = 3_000;

function steps(scale: number): Step[] {
  const n = (total: number): number => Math.max(1, Math.round(total * scale));
  const put = (clients: number, total: number): Step => ({
    label: "put",
    workload: "put",
    clients,
    conns: Math.min(clients, 3),
    total: n(total),
    consistency: "l",
    preload: false,
  });
  return [
    put(1, 600),
    put(16, 3_000),
    put(64, 6_000),
    put(256, 8_000),
    // The first range writes the key space; the second reads the same keys.
    { label: "range (linearizable)", workload: "range", clients: 64, conns: 3, total: n(8_000), consistency: "l", preload: true },
    { label: "range (serializable)", workload: "range", clients: 64, conns: 3, total: n(8_000), consistency: "s", preload: false },
    { label: "txn compare-and-swap", workload: "txn-cas", clients: 64, conns: 3, total: n(4_000), consistency: "l", preload: true },
  ];
}

function optionsFor(step: Step, endpoints: readonly string[]): BenchOptions {
  return {
    workload: step.workload,
    endpoints,
    clients: step.clients,
    conns: step.conns,
    limit: { kind: "total", requests: step.total },
    keySpace: workloadKeySpace,
    keySize: workloadKeyBytes,
    valSize: workloadValBytes,
    keyPrefix: "",
    consistency: step.consistency,
    preload: step.preload,
    sequentialKeys: false,
    seed: 1,
    timeoutMs: 30_000,
    json: false,
    progress: true,
  };
}

function note(line: string): void {
  process.stderr.write(`compare: ${line}\n`);
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

async function measure(cluster: Cluster, step: Step): Promise<Measured> {
  cluster.assertAlive();
  let cpuBefore: number[] = [];
  let cpuAfter: number[] = [];
  const result = await runBench(optionsFor(step, cluster.endpoints), {
    onTimedStart: () => {
      cpuBefore = cluster.cpuMs();
    },
    onTimedEnd: () => {
      cpuAfter = cluster.cpuMs();
    },
  });
  const cpuMs = sum(cpuAfter) - sum(cpuBefore);
  note(
    `${cluster.kind} ${step.label} ×${step.clients}: ${result.requestsPerSec.toFixed(0)} req/s, p50 ${ms(result.latency.percentilesMs["50"])}, ` +
      `p99 ${ms(result.latency.percentilesMs["99"])} ms, ${result.failed} failed`,
  );
  return { result, serverCpuMsPerRequest: result.requests === 0 ? 0 : cpuMs / result.requests };
}

function ms(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "n/a" : value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(0);
}

function startClusters(dir: string, flags: CompareFlags): { etcd: Cluster; synod: Cluster } {
  const synodScript = join(repoRoot, "bin", "synod.js");
  const nodeArgs = flags.synodNodeArgs.split(" ").filter((a) => a.length > 0);
  const etcdSpec: ClusterSpec = { kind: "etcd", basePort: Number(flags.etcdPort), dir: join(dir, "etcd"), command: flags.etcd, args: ["--log-level", "warn"] };
  const synodSpec: ClusterSpec = {
    kind: "synod",
    basePort: Number(flags.synodPort),
    dir: join(dir, "synod"),
    command: process.execPath,
    args: [...nodeArgs, synodScript, "start"],
  };
  return { etcd: Cluster.start(etcdSpec), synod: Cluster.start(synodSpec) };
}

async function runWorkloads(etcd: Cluster, synod: Cluster, scale: number): Promise<{ step: Step; etcd: Measured; synod: Measured }[]> {
  const rows: { step: Step; etcd: Measured; synod: Measured }[] = [];
  let index = 0;
  for (const step of steps(scale)) {
    // Alternate which server goes first, so drift of the machine spreads over both.
    const order: Cluster[] = index++ % 2 === 0 ? [etcd, synod] : [synod, etcd];
    const measured = new Map<ClusterKind, Measured>();
    for (const cluster of order) measured.set(cluster.kind, await measure(cluster, step));
    const e = measured.get("etcd");
    const s = measured.get("synod");
    if (e === undefined || s === undefined) throw new Error("compare: a measurement is missing");
    rows.push({ step, etcd: e, synod: s });
  }
  return rows;
}

interface RssRow {
  readonly kind: ClusterKind;
  readonly idleKiB: readonly number[];
  readonly loadedKiB: readonly number[];
  readonly dataBytes: readonly number[];
  readonly loadMs: number;
}

async function measureRss(cluster: Cluster, keys: number): Promise<RssRow> {
  const idleKiB = cluster.rssKiB();
  const pool = new ChannelPool(cluster.endpoints, rssLoadConns);
  const started = performance.now();
  try {
    await pool.waitForReady(connectTimeoutMs);
    await loadKeys(pool, {
      keyPrefix: "rss/",
      keySize: 4 + String(keys - 1).length,
      keyCount: keys,
      valSize: rssValBytes,
      seed: 2,
      concurrency: rssLoadClients,
      timeoutMs: 30_000,
      attemptsMax: loadAttemptsMax,
    });
  } finally {
    pool.close();
  }
  const loadMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, rssSettleMs));
  cluster.assertAlive();
  const row = { kind: cluster.kind, idleKiB, loadedKiB: cluster.rssKiB(), dataBytes: cluster.dataBytes(), loadMs };
  note(`${cluster.kind}: ${keys} keys loaded in ${(loadMs / 1000).toFixed(1)} s; RSS ${row.loadedKiB.map(mib).join(", ")} MiB`);
  return row;
}

function loadNote(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" / ");
}

function machineNotes(etcdBin: string, loadAtStart: string): string[] {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const etcdVersion = execFileSync(etcdBin, ["--version"], { encoding: "utf8" }).split("\n")[0] ?? "";
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
  } catch {
    // Not a git checkout: the commit stays unknown.
  }
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  return [
    `- date: ${new Date().toISOString()}; Synod commit ${commit}; ${etcdVersion}; Node ${process.version}; Linux ${kernel}`,
    `- machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; generator and all six members share it`,
    `- load average (1 / 5 / 15 min) at start ${loadAtStart}, at end ${loadNote()}`,
  ];
}

function workloadTable(rows: readonly { step: Step; etcd: Measured; synod: Measured }[]): string[] {
  const lines = [
    "| workload | clients | requests | etcd req/s | etcd p50 / p99 / p99.9 ms | Synod req/s | Synod p50 / p99 / p99.9 ms | Synod ÷ etcd | server CPU ms/req etcd / Synod | failed etcd / Synod |",
    "|---|---:|---:|---:|---|---:|---|---:|---|---|",
  ];
  const lat = (r: BenchResult): string =>
    `${ms(r.latency.percentilesMs["50"])} / ${ms(r.latency.percentilesMs["99"])} / ${ms(r.latency.percentilesMs["99.9"])}`;
  for (const { step, etcd, synod } of rows) {
    const ratio = etcd.result.requestsPerSec > 0 ? synod.result.requestsPerSec / etcd.result.requestsPerSec : Number.NaN;
    lines.push(
      `| ${step.label} | ${step.clients} | ${step.total} | ${etcd.result.requestsPerSec.toFixed(0)} | ${lat(etcd.result)} | ` +
        `${synod.result.requestsPerSec.toFixed(0)} | ${lat(synod.result)} | ${ratio.toFixed(2)}× | ` +
        `${etcd.serverCpuMsPerRequest.toFixed(2)} / ${synod.serverCpuMsPerRequest.toFixed(2)} | ${etcd.result.failed} / ${synod.result.failed} |`,
    );
  }
  return lines;
}

function casNotes(rows: readonly { step: Step; etcd: Measured; synod: Measured }[]): string[] {
  const lines: string[] = [];
  for (const { step, etcd, synod } of rows) {
    if (step.workload !== "txn-cas") continue;
    const c = (m: Measured): string => `${m.result.counters["swapped"] ?? 0} swapped, ${m.result.counters["conflicted"] ?? 0} conflicted`;
    lines.push(`- ${step.label}: etcd ${c(etcd)}; Synod ${c(synod)}`);
  }
  for (const { step, etcd, synod } of rows) {
    for (const [kind, m] of [["etcd", etcd], ["Synod", synod]] as const) {
      for (const [message, count] of Object.entries(m.result.errors)) lines.push(`- ${step.label} ×${step.clients} on ${kind}: ${count} × ${message}`);
    }
  }
  return lines;
}

function rssTable(rows: readonly RssRow[], keys: number): string[] {
  const lines = [
    `| server | member | RSS idle MiB | RSS after ${keys} keys MiB | data dir on disk MiB | load time s (${rssLoadClients} clients) |`,
    "|---|---|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    row.loadedKiB.forEach((kib, i) => {
      lines.push(
        `| ${row.kind} | ${i + 1} | ${mib(row.idleKiB[i] ?? Number.NaN)} | ${mib(kib)} | ${((row.dataBytes[i] ?? 0) / 2 ** 20).toFixed(0)} | ${(row.loadMs / 1000).toFixed(1)} |`,
      );
    });
  }
  return lines;
}

async function compare(flags: CompareFlags): Promise<void> {
  if (!existsSync(join(repoRoot, "dist", "src", "cli", "main.js"))) throw new Error("compare: dist/ is missing; run `npm run prepare` first");
  const scale = Number(flags.scale);
  const rssKeys = Number(flags.rssKeys);
  const dir = mkdtempSync(join(tmpdir(), "synod-compare-"));
  const running: Cluster[] = [];
  const killAll = (): void => {
    for (const c of running) c.killNow();
  };
  process.on("exit", killAll);
  const onSignal = (): void => {
    killAll();
    if (!flags.keep) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const loadAtStart = loadNote();
  note(`data under ${dir}; load average ${loadAtStart}`);
  try {
    const first = startClusters(join(dir, "workloads"), flags);
    running.push(first.etcd, first.synod);
    await Promise.all([first.etcd.waitReady(), first.synod.waitReady()]);
    const rows = await runWorkloads(first.etcd, first.synod, scale);
    await Promise.all([first.etcd.stop(), first.synod.stop()]);

    const second = startClusters(join(dir, "rss"), flags);
    running.push(second.etcd, second.synod);
    await Promise.all([second.etcd.waitReady(), second.synod.waitReady()]);
    const rss = [await measureRss(second.etcd, rssKeys), await measureRss(second.synod, rssKeys)];
    await Promise.all([second.etcd.stop(), second.synod.stop()]);

    const put64 = rows.find((r) => r.step.workload === "put" && r.step.clients === 64);
    const floor = put64 === undefined ? Number.NaN : put64.synod.result.requestsPerSec / put64.etcd.result.requestsPerSec;
    const out = [
      ...machineNotes(flags.etcd, loadAtStart),
      `- workloads: ${workloadKeySpace} keys of ${workloadKeyBytes} bytes, ${workloadValBytes}-byte values, scale ${scale}`,
      "",
      ...workloadTable(rows),
      "",
      ...casNotes(rows),
      `- floor (put, 64 clients, Synod ≥ 0.5 × etcd): ${floor.toFixed(2)}× — ${floor >= 0.5 ? "met" : "NOT met"}`,
      "",
      ...rssTable(rss, rssKeys),
      "",
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    if (flags.jsonOut !== undefined) writeFileSync(flags.jsonOut, `${JSON.stringify({ rows, rss, floor }, null, 2)}\n`);
  } finally {
    await Promise.all(running.map((c) => c.stop()));
    if (!flags.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const program = new Command("compare")
  .description("benchmark Synod and etcd side by side on this machine")
  .option("--scale <x>", "multiply every workload's request total", "1")
  .option("--rss-keys <n>", "keys of 256 bytes loaded before reading RSS", "100000")
  .option("--etcd <path>", "etcd binary", "/usr/bin/etcd")
  .option("--etcd-port <port>", "etcd members' first client port (then +10, +20; peers +1)", "21379")
  .option("--synod-port <port>", "Synod members' first client port (then +10, +20; peers +1)", "22379")
  .option("--synod-node-args <args>", "extra node flags for the Synod members, e.g. \"--cpu-prof --cpu-prof-dir=/tmp/prof\"", "")
  .option("--json-out <file>", "also write every result as JSON")
  .option("--keep", "keep the data dirs and logs", false)
  .action(compare);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`compare: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
