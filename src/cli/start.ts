import type { Command } from "commander";
import { ConfigError, defaultServerConfig, snapshotChunkBytesMax, parseAutoCompaction, parseInitialCluster, parseQuotaBackendBytes, parseUrlList, splitList } from "../server/config.js";
import type { ServerConfig } from "../server/config.js";

/** StartFlags are `synod start`'s flags, named as etcd names them. */
export interface StartFlags {
  name: string;
  dataDir?: string;
  listenClientUrls: string;
  advertiseClientUrls?: string;
  listenPeerUrls: string;
  initialAdvertisePeerUrls?: string;
  initialCluster?: string;
  initialClusterState: string;
  initialClusterToken: string;
  listenMetricsUrls?: string;
  consensus: string;
  heartbeatInterval: string;
  electionTimeout: string;
  maxRequestBytes: string;
  maxTxnOps: string;
  snapshotCount: string;
  snapshotChunkBytes?: string;
  autoCompactionMode: string;
  autoCompactionRetention: string;
  quotaBackendBytes: string;
  autoPromote?: boolean;
}

/** addStartFlags declares the flags on a command. */
export function addStartFlags(command: Command): Command {
  return command
    .option("--name <name>", "human-readable name of this member", defaultServerConfig.name)
    .option("--data-dir <path>", "where this member keeps its data (default: ./<name>.synod)")
    .option("--listen-client-urls <urls>", "URLs to serve clients on", "http://127.0.0.1:2379")
    .option("--advertise-client-urls <urls>", "client URLs to tell others about (default: the listen URLs)")
    .option("--listen-peer-urls <urls>", "URLs to talk to peers on", "http://127.0.0.1:2380")
    .option("--initial-advertise-peer-urls <urls>", "peer URLs to tell others about (default: the listen URLs)")
    .option("--initial-cluster <list>", "name=peerURL,… of the initial members (default: this member alone)")
    .option("--initial-cluster-state <state>", "new or existing", defaultServerConfig.initialClusterState)
    .option("--initial-cluster-token <token>", "shared token of one cluster", defaultServerConfig.initialClusterToken)
    .option("--listen-metrics-urls <urls>", "URLs for /metrics and /health")
    .option("--consensus <engine>", "raft or paxos (chosen when the cluster is created)", defaultServerConfig.consensus)
    .option("--heartbeat-interval <ms>", "one consensus tick, in milliseconds", String(defaultServerConfig.tickMs))
    .option("--election-timeout <ms>", "election timeout, in milliseconds", String(defaultServerConfig.tickMs * defaultServerConfig.electionTimeoutTicks))
    .option("--max-request-bytes <n>", "largest client request", String(defaultServerConfig.requestBytesMax))
    .option("--max-txn-ops <n>", "most operations in one txn", String(defaultServerConfig.txnOpsMax))
    .option("--snapshot-count <n>", "applied entries between snapshots", String(defaultServerConfig.snapshotEntries))
    .option("--snapshot-chunk-bytes <n>", "most key and value bytes in one chunk of a snapshot sent to a follower", String(defaultServerConfig.snapshotChunkBytes))
    .option("--auto-compaction-mode <mode>", "periodic or revision", defaultServerConfig.autoCompactionMode)
    .option("--auto-compaction-retention <value>", "periodic: a duration (30m, 1h) or hours; revision: a count; 0 turns it off", defaultServerConfig.autoCompactionRetention)
    .option("--auto-promote", "the leader promotes a learner to voter once it is in sync with the leader")
    .option("--quota-backend-bytes <n>", "raise a NOSPACE alarm and refuse writes once the data file would exceed this size; 0: 2 GiB, negative: no quota", defaultServerConfig.quotaBackendBytes);
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag}: "${value}" is not a positive integer`);
  return n;
}

function snapshotChunkBytes(value: string): number {
  const n = positiveInt(value, "--snapshot-chunk-bytes");
  if (n > snapshotChunkBytesMax) throw new ConfigError(`--snapshot-chunk-bytes: ${n} exceeds ${snapshotChunkBytesMax} (a chunk must fit a peer frame)`);
  return n;
}

/** configFromFlags validates the flags and builds a ServerConfig; bad flags throw ConfigError. */
export function configFromFlags(flags: StartFlags): ServerConfig {
  const listenPeer = parseUrlList(flags.listenPeerUrls, "--listen-peer-urls");
  const advertisePeer = splitList(flags.initialAdvertisePeerUrls ?? flags.listenPeerUrls);
  const initialCluster = parseInitialCluster(flags.initialCluster ?? `${flags.name}=${advertisePeer.join(`,${flags.name}=`)}`);
  if (!initialCluster.some((m) => m.name === flags.name)) {
    throw new ConfigError(`--initial-cluster has no member named "${flags.name}" (--name)`);
  }
  if (flags.initialClusterState !== "new" && flags.initialClusterState !== "existing") {
    throw new ConfigError(`--initial-cluster-state must be new or existing, not "${flags.initialClusterState}"`);
  }
  if (flags.consensus !== "raft" && flags.consensus !== "paxos") {
    throw new ConfigError(`--consensus must be raft or paxos, not "${flags.consensus}"`);
  }
  const tickMs = positiveInt(flags.heartbeatInterval, "--heartbeat-interval");
  const electionMs = positiveInt(flags.electionTimeout, "--election-timeout");
  if (electionMs < 5 * tickMs) throw new ConfigError("--election-timeout must be at least 5 × --heartbeat-interval");
  return {
    name: flags.name,
    dataDir: flags.dataDir ?? `${flags.name}.synod`,
    listenClientUrls: parseUrlList(flags.listenClientUrls, "--listen-client-urls"),
    advertiseClientUrls: splitList(flags.advertiseClientUrls ?? flags.listenClientUrls),
    listenPeerUrls: listenPeer,
    initialAdvertisePeerUrls: advertisePeer,
    initialCluster,
    initialClusterState: flags.initialClusterState,
    initialClusterToken: flags.initialClusterToken,
    listenMetricsUrls: flags.listenMetricsUrls === undefined ? [] : parseUrlList(flags.listenMetricsUrls, "--listen-metrics-urls"),
    consensus: flags.consensus,
    tickMs,
    electionTimeoutTicks: Math.round(electionMs / tickMs),
    requestTimeoutMs: defaultServerConfig.requestTimeoutMs,
    requestBytesMax: positiveInt(flags.maxRequestBytes, "--max-request-bytes"),
    txnOpsMax: positiveInt(flags.maxTxnOps, "--max-txn-ops"),
    snapshotEntries: positiveInt(flags.snapshotCount, "--snapshot-count"),
    snapshotChunkBytes: snapshotChunkBytes(flags.snapshotChunkBytes ?? String(defaultServerConfig.snapshotChunkBytes)),
    autoCompaction: parseAutoCompaction(flags.autoCompactionMode, flags.autoCompactionRetention),
    quotaBackendBytes: parseQuotaBackendBytes(flags.quotaBackendBytes),
    autoPromote: flags.autoPromote === true,
  };
}
