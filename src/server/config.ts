import { createHash } from "node:crypto";

/** HostPort is a parsed listen or advertise address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** InitialMember is one entry of `--initial-cluster name=url,…`. */
export interface InitialMember {
  readonly name: string;
  readonly peerUrls: readonly string[];
}

/** ServerConfig is everything one member needs to start; flag names follow etcd's. */
export interface ServerConfig {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrls: readonly HostPort[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly HostPort[];
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly initialCluster: readonly InitialMember[];
  readonly initialClusterState: "new" | "existing";
  readonly initialClusterToken: string;
  readonly listenMetricsUrls: readonly HostPort[];
  readonly consensus: "raft" | "paxos";
  /** tickMs is one consensus tick (etcd's --heartbeat-interval). */
  readonly tickMs: number;
  /** electionTimeoutTicks is the election timeout in ticks (etcd's --election-timeout / --heartbeat-interval). */
  readonly electionTimeoutTicks: number;
  /** requestTimeoutMs bounds how long a client request waits to be committed and applied. */
  readonly requestTimeoutMs: number;
  readonly requestBytesMax: number;
  readonly txnOpsMax: number;
  readonly snapshotEntries: number;
  /** snapshotChunkBytes bounds the rows of one snapshot chunk sent to a follower (default 1 MiB). */
  readonly snapshotChunkBytes?: number;
  /** autoCompaction: none, or etcd's periodic (keep `retentionMs` of history) or revision (keep `retention` revisions). */
  readonly autoCompaction: AutoCompaction;
  /**
   * quotaBackendBytes is etcd's --quota-backend-bytes: once the data file
   * would grow past it, writes fail and the member raises a NOSPACE alarm.
   * Infinity: no quota.
   */
  readonly quotaBackendBytes: number;
  /** autoPromote: the leader promotes a learner to voter once it is in sync (etcd's 90% rule). */
  readonly autoPromote: boolean;
}

/** snapshotChunkBytesMax keeps every snapshot chunk well inside one 16 MiB peer frame, its largest row included. */
export const snapshotChunkBytesMax = 8 * 1024 * 1024;

/** quotaBackendBytesDefault is etcd's default backend quota, 2 GiB. */
export const quotaBackendBytesDefault = 2 * 1024 * 1024 * 1024;

/** parseQuotaBackendBytes reads etcd's flag: 0 is the default (2 GiB), a negative value turns the quota off. */
export function parseQuotaBackendBytes(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ConfigError(`--quota-backend-bytes: "${value}" is not an integer`);
  if (n === 0) return quotaBackendBytesDefault;
  return n < 0 ? Number.POSITIVE_INFINITY : n;
}

/** AutoCompaction is `--auto-compaction-mode` with its `--auto-compaction-retention`. */
export type AutoCompaction =
  | { readonly mode: "none" }
  | { readonly mode: "periodic"; readonly retentionMs: number }
  | { readonly mode: "revision"; readonly retention: number };

/**
 * parseAutoCompaction reads etcd's flags: periodic retention is a duration
 * ("30m", "1h", "90s") or a plain number of hours; revision retention is a
 * count of revisions; a retention of 0 turns compaction off.
 */
export function parseAutoCompaction(mode: string, retention: string): AutoCompaction {
  if (mode !== "periodic" && mode !== "revision") throw new ConfigError(`--auto-compaction-mode must be periodic or revision, not "${mode}"`);
  if (mode === "revision") {
    const n = Number(retention);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--auto-compaction-retention: "${retention}" is not a number of revisions`);
    return n === 0 ? { mode: "none" } : { mode, retention: n };
  }
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(retention.trim());
  if (match === null) throw new ConfigError(`--auto-compaction-retention: "${retention}" is not a duration (e.g. 30m, 1h) or a number of hours`);
  const retentionMs = Number(match[1]) * (units[match[2] ?? "h"] ?? 3_600_000);
  return retentionMs === 0 ? { mode: "none" } : { mode, retentionMs };
}

/** ConfigError is a bad flag or flag combination; the message says which and why. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** parseUrl reads `http://host:port` (the scheme is required, as etcd requires it). */
export function parseUrl(url: string, flag: string): HostPort {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${flag}: "${url}" is not a URL (expected http://host:port)`);
  }
  if (parsed.protocol !== "http:") throw new ConfigError(`${flag}: "${url}" must use http:// (TLS is not supported yet)`);
  const port = Number(parsed.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError(`${flag}: "${url}" needs a port`);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  return { host, port };
}

export function parseUrlList(value: string, flag: string): HostPort[] {
  return splitList(value).map((u) => parseUrl(u, flag));
}

export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** parseInitialCluster reads `name=url,name=url,…`; a name may appear several times for several URLs. */
export function parseInitialCluster(value: string): InitialMember[] {
  const byName = new Map<string, string[]>();
  for (const item of splitList(value)) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--initial-cluster: "${item}" is not name=url`);
    const name = item.slice(0, eq);
    const url = item.slice(eq + 1);
    parseUrl(url, "--initial-cluster");
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  if (byName.size === 0) throw new ConfigError("--initial-cluster is empty");
  return [...byName.entries()].map(([name, peerUrls]) => ({ name, peerUrls }));
}

/**
 * memberIdOf derives a member's 64-bit id from its peer URLs and the cluster
 * token, the way etcd derives it (SHA-1, first 8 bytes, big-endian), so the
 * same flags give the same ids on every member.
 */
export function memberIdOf(peerUrls: readonly string[], clusterToken: string): bigint {
  const hash = createHash("sha1");
  hash.update([...peerUrls].sort().join(""));
  hash.update(clusterToken);
  return hash.digest().readBigUInt64BE(0);
}

/** clusterIdOf derives the cluster id from the sorted member ids, like etcd. */
export function clusterIdOf(memberIds: readonly bigint[]): bigint {
  const buf = Buffer.alloc(8 * memberIds.length);
  [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).forEach((id, i) => buf.writeBigUInt64BE(id, i * 8));
  return createHash("sha1").update(buf).digest().readBigUInt64BE(0);
}

/** defaultServerConfig holds etcd's defaults where Synod shares a concept with etcd. */
export const defaultServerConfig = {
  name: "default",
  initialClusterState: "new",
  initialClusterToken: "etcd-cluster",
  consensus: "raft",
  tickMs: 100,
  electionTimeoutTicks: 10,
  requestTimeoutMs: 7_000,
  requestBytesMax: 1.5 * 1024 * 1024,
  txnOpsMax: 128,
  snapshotEntries: 100_000,
  snapshotChunkBytes: 1024 * 1024,
  autoCompactionMode: "periodic",
  autoCompactionRetention: "0",
  quotaBackendBytes: "0",
} as const;
