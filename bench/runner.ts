/**
 * The closed-loop runner: `clients` request loops, each sending its next
 * request as soon as the previous one finished, spread over `conns` channels,
 * until `total` requests were sent or `duration` passed.
 */
import { ChannelPool, errorMessage } from "./kv-client.js";
import type { BenchOptions, WorkloadName } from "./options.js";
import { ProgressBar } from "./progress.js";
import type { LatencySummary } from "./stats.js";
import { LatencyRecorder, summarize } from "./stats.js";
import { createWorkload, loadAttemptsMax, loadKeys } from "./workloads.js";

/** connectTimeoutMs bounds the wait for every channel to connect before a run. */
export const connectTimeoutMs = 10_000;

/** BenchResult is the outcome of one run; every duration is in milliseconds. */
export interface BenchResult {
  readonly workload: WorkloadName;
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly conns: number;
  readonly keySpace: number;
  readonly keySize: number;
  readonly valSize: number;
  readonly consistency: BenchOptions["consistency"];
  /** preloadMs is the time the preload took, 0 when there was none. */
  readonly preloadMs: number;
  readonly totalMs: number;
  /** requests counts finished requests, successful or not. */
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  /** requestsPerSec counts successful requests only, as etcd's benchmark does. */
  readonly requestsPerSec: number;
  readonly latency: LatencySummary;
  /** errors counts failures by message. */
  readonly errors: Readonly<Record<string, number>>;
  readonly counters: Readonly<Record<string, number>>;
  /** clientCpuMsPerRequest is the generator's own CPU (user + system) per finished request. */
  readonly clientCpuMsPerRequest: number;
}

async function preload(options: BenchOptions, pool: ChannelPool): Promise<{ revisions: Map<number, string>; preloadMs: number }> {
  if (!options.preload || options.workload === "put") return { revisions: new Map(), preloadMs: 0 };
  let done = 0;
  const bar = new ProgressBar(
    { label: "preload", target: options.keySpace, unit: "requests", done: () => done, completed: () => done },
    options.progress,
  );
  const started = performance.now();
  try {
    const revisions = await loadKeys(
      pool,
      { ...options, keyCount: options.keySpace, concurrency: options.clients, attemptsMax: loadAttemptsMax },
      (n) => {
        done = n;
      },
    );
    return { revisions, preloadMs: performance.now() - started };
  } finally {
    bar.stop();
  }
}

/** TimedPhaseHooks let a caller bracket the timed phase alone (after connecting and preloading), e.g. to read server CPU. */
export interface TimedPhaseHooks {
  readonly onTimedStart?: () => void;
  readonly onTimedEnd?: () => void;
}

/** runBench connects, preloads when the workload reads, runs the request loops and summarizes. */
export async function runBench(options: BenchOptions, hooks: TimedPhaseHooks = {}): Promise<BenchResult> {
  const pool = new ChannelPool(options.endpoints, options.conns);
  try {
    await pool.waitForReady(connectTimeoutMs);
    const { revisions, preloadMs } = await preload(options, pool);
    const workload = createWorkload(options, revisions);
    const limit = options.limit;
    const recorder = new LatencyRecorder(limit.kind === "total" ? limit.requests : 100_000);
    const errors: Record<string, number> = {};
    let issued = 0;
    let finished = 0;
    let failed = 0;

    hooks.onTimedStart?.();
    const startedMs = performance.now();
    const deadlineMs = limit.kind === "duration" ? startedMs + limit.durationMs : Number.POSITIVE_INFINITY;
    const more = limit.kind === "total" ? () => issued < limit.requests : () => performance.now() < deadlineMs;
    const bar = new ProgressBar(
      limit.kind === "total"
        ? { label: options.workload, target: limit.requests, unit: "requests", done: () => finished, completed: () => finished }
        : { label: options.workload, target: limit.durationMs, unit: "ms", done: () => performance.now() - startedMs, completed: () => finished },
      options.progress,
    );
    const cpuBefore = process.cpuUsage();

    const loop = async (client: number): Promise<void> => {
      const channel = pool.channelFor(client);
      while (more()) {
        issued++;
        const sentMs = performance.now();
        try {
          await workload.issue(channel, client);
          recorder.record(performance.now() - sentMs);
        } catch (error) {
          failed++;
          const message = errorMessage(error);
          errors[message] = (errors[message] ?? 0) + 1;
        }
        finished++;
      }
    };
    const loops: Promise<void>[] = [];
    for (let c = 0; c < options.clients; c++) loops.push(loop(c));
    await Promise.all(loops);
    const totalMs = performance.now() - startedMs;
    const cpu = process.cpuUsage(cpuBefore);
    hooks.onTimedEnd?.();
    bar.stop();

    return {
      workload: options.workload,
      endpoints: options.endpoints,
      clients: options.clients,
      conns: options.conns,
      keySpace: options.keySpace,
      keySize: options.keySize,
      valSize: options.valSize,
      consistency: options.consistency,
      preloadMs,
      totalMs,
      requests: finished,
      succeeded: recorder.count,
      failed,
      requestsPerSec: totalMs > 0 ? (recorder.count / totalMs) * 1000 : 0,
      latency: summarize(recorder.sorted()),
      errors,
      counters: workload.counters(),
      clientCpuMsPerRequest: finished === 0 ? 0 : (cpu.user + cpu.system) / 1000 / finished,
    };
  } finally {
    pool.close();
  }
}
