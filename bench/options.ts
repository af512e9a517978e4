/**
 * The benchmark's options: the typed form every part of `bench/` works from,
 * the raw flags as commander hands them over, and the checks between the two.
 */

/** workloadNames are the workloads `synod bench` runs. */
export const workloadNames = ["put", "range", "txn-cas"] as const;

/** WorkloadName names one workload. */
export type WorkloadName = (typeof workloadNames)[number];

/** Consistency is a range's read consistency: `l` linearizable, `s` serializable (etcd's letters). */
export type Consistency = "l" | "s";

/** RunLimit ends a run after a number of requests or after a wall-clock duration. */
export type RunLimit =
  | { readonly kind: "total"; readonly requests: number }
  | { readonly kind: "duration"; readonly durationMs: number };

/** BenchOptions configures one benchmark run. */
export interface BenchOptions {
  readonly workload: WorkloadName;
  /** endpoints are `host:port` targets; channels are spread over them round-robin. */
  readonly endpoints: readonly string[];
  /** clients is the number of concurrent closed request loops. */
  readonly clients: number;
  /** conns is the number of gRPC channels (each its own TCP connection) the loops share. */
  readonly conns: number;
  readonly limit: RunLimit;
  /** keySpace is the number of distinct keys: keys are drawn from [0, keySpace). */
  readonly keySpace: number;
  /** keySize is each key's length in bytes (the prefix included). */
  readonly keySize: number;
  /** valSize is each value's length in bytes. */
  readonly valSize: number;
  /** keyPrefix starts every key, so runs can keep to their own keys. */
  readonly keyPrefix: string;
  readonly consistency: Consistency;
  /** preload writes every key of the key space before a range or txn-cas run. */
  readonly preload: boolean;
  /** sequentialKeys walks the key space in order instead of drawing keys at random. */
  readonly sequentialKeys: boolean;
  /** seed makes the key sequence reproducible. */
  readonly seed: number;
  /** timeoutMs is each request's deadline. */
  readonly timeoutMs: number;
  readonly json: boolean;
  /** progress draws a progress bar on stderr (only when stderr is a terminal). */
  readonly progress: boolean;
}

/** BenchOptionError reports a bad flag; the message names the flag. */
export class BenchOptionError extends Error {
  readonly code = "badBenchOption";
  constructor(message: string) {
    super(message);
    this.name = "BenchOptionError";
  }
}

/** BenchFlags are the flags as commander parses them (strings, booleans). */
export interface BenchFlags {
  endpoints: string;
  clients: string;
  conns: string;
  total?: string;
  duration?: string;
  keySpace: string;
  keySize: string;
  valSize: string;
  keyPrefix: string;
  consistency: string;
  preload: boolean;
  sequentialKeys: boolean;
  seed: string;
  timeout: string;
  json: boolean;
  progress: boolean;
}

/** benchDefaults are the flag defaults, etcd's benchmark tool's where it has one. */
export const benchDefaults = {
  endpoints: "127.0.0.1:2379",
  clients: 1,
  conns: 1,
  total: 10_000,
  keySpace: 10_000,
  keySize: 8,
  valSize: 8,
  keyPrefix: "",
  consistency: "l",
  seed: 1,
  timeoutMs: 30_000,
} as const;

/** keySpaceMax bounds the key space: the keys are built up front. */
export const keySpaceMax = 10_000_000;

/** clientsMax bounds the request loops; beyond this a closed loop measures the generator, not the server. */
export const clientsMax = 10_000;

function integerFlag(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BenchOptionError(`${flag}: "${value}" is not an integer in [${min}, ${max}]`);
  }
  return n;
}

/** parseDurationMs reads `30s`, `500ms`, `2m` or a bare number of seconds. */
export function parseDurationMs(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (match === null) throw new BenchOptionError(`${flag}: "${value}" is not a duration (e.g. 30s, 500ms, 2m)`);
  const amount = Number(match[1]);
  const unitMs = match[2] === "ms" ? 1 : match[2] === "m" ? 60_000 : 1_000;
  const ms = Math.round(amount * unitMs);
  if (ms <= 0) throw new BenchOptionError(`${flag}: "${value}" must be longer than zero`);
  return ms;
}

/** parseEndpoints splits a comma list and strips `http://` so grpc-js gets `host:port`. */
export function parseEndpoints(value: string): string[] {
  const endpoints = value
    .split(",")
    .map((e) => e.trim().replace(/^https?:\/\//, "").replace(/\/$/, ""))
    .filter((e) => e.length > 0);
  if (endpoints.length === 0) throw new BenchOptionError("--endpoints: no endpoint given");
  for (const e of endpoints) {
    if (!/^[^\s:]+:\d+$/.test(e) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(e)) {
      throw new BenchOptionError(`--endpoints: "${e}" is not host:port`);
    }
  }
  return endpoints;
}

function parseWorkload(value: string): WorkloadName {
  const found = workloadNames.find((w) => w === value);
  if (found === undefined) throw new BenchOptionError(`workload must be one of ${workloadNames.join(", ")}, not "${value}"`);
  return found;
}

function parseLimit(flags: BenchFlags): RunLimit {
  if (flags.total !== undefined && flags.duration !== undefined) {
    throw new BenchOptionError("--total and --duration exclude each other");
  }
  if (flags.duration !== undefined) return { kind: "duration", durationMs: parseDurationMs(flags.duration, "--duration") };
  return { kind: "total", requests: integerFlag(flags.total ?? String(benchDefaults.total), "--total", 1, Number.MAX_SAFE_INTEGER) };
}

/** optionsFromFlags validates the flags and builds BenchOptions; a bad flag throws BenchOptionError. */
export function optionsFromFlags(workload: string, flags: BenchFlags): BenchOptions {
  const keySpace = integerFlag(flags.keySpace, "--key-space", 1, keySpaceMax);
  const keySize = integerFlag(flags.keySize, "--key-size", 1, 1 << 20);
  const digitsNeeded = String(keySpace - 1).length;
  if (Buffer.byteLength(flags.keyPrefix) + digitsNeeded > keySize) {
    throw new BenchOptionError(
      `--key-size ${keySize} cannot hold --key-prefix "${flags.keyPrefix}" and ${digitsNeeded} digits for --key-space ${keySpace}`,
    );
  }
  if (flags.consistency !== "l" && flags.consistency !== "s") {
    throw new BenchOptionError(`--consistency must be l (linearizable) or s (serializable), not "${flags.consistency}"`);
  }
  return {
    workload: parseWorkload(workload),
    endpoints: parseEndpoints(flags.endpoints),
    clients: integerFlag(flags.clients, "--clients", 1, clientsMax),
    conns: integerFlag(flags.conns, "--conns", 1, clientsMax),
    limit: parseLimit(flags),
    keySpace,
    keySize,
    valSize: integerFlag(flags.valSize, "--val-size", 0, 1 << 24),
    keyPrefix: flags.keyPrefix,
    consistency: flags.consistency,
    preload: flags.preload,
    sequentialKeys: flags.sequentialKeys,
    seed: integerFlag(flags.seed, "--seed", 0, 2 ** 32 - 1),
    timeoutMs: parseDurationMs(flags.timeout, "--timeout"),
    json: flags.json,
    progress: flags.progress,
  };
}
