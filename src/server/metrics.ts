import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * ServerMetrics are one member's Prometheus metrics. Names follow etcd's
 * (`etcd_server_proposals_committed_total` → `synod_server_proposals_committed_total`),
 * so an operator who knows etcd's dashboards finds the same series.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly proposalsCommitted = new Gauge({ name: "synod_server_proposals_committed_total", help: "The total number of consensus proposals committed.", registers: [this.registry] });
  readonly proposalsApplied = new Gauge({ name: "synod_server_proposals_applied_total", help: "The total number of consensus proposals applied.", registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: "synod_server_proposals_pending", help: "The current number of pending proposals to commit.", registers: [this.registry] });
  readonly proposalsFailed = new Counter({ name: "synod_server_proposals_failed_total", help: "The total number of failed proposals seen.", registers: [this.registry] });
  readonly hasLeader = new Gauge({ name: "synod_server_has_leader", help: "Whether or not a leader exists. 1 is existence, 0 is not.", registers: [this.registry] });
  readonly isLeader = new Gauge({ name: "synod_server_is_leader", help: "Whether or not this member is the leader. 1 if is, 0 otherwise.", registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: "synod_server_leader_changes_seen_total", help: "The number of leader changes seen.", registers: [this.registry] });
  readonly snapshotBytesSent = new Counter({ name: "synod_snapshot_sent_bytes_total", help: "Key and value bytes of snapshot chunks sent to followers.", registers: [this.registry] });
  readonly snapshotBytesReceived = new Counter({ name: "synod_snapshot_received_bytes_total", help: "Key and value bytes of snapshot chunks received and staged.", registers: [this.registry] });
  readonly snapshotTransfersResumed = new Counter({
    name: "synod_snapshot_transfers_resumed_total",
    help: "Snapshot transfers continued from staged progress (after a restart, or a pull that went unanswered).",
    registers: [this.registry],
  });
  readonly commitDuration = new Histogram({
    name: "synod_disk_backend_commit_duration_seconds",
    help: "The latency distributions of durable commits (fsync) of one Ready.",
    buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024],
    registers: [this.registry],
  });
  readonly peerRoundTrip = new Histogram({
    name: "synod_network_peer_round_trip_time_seconds",
    help: "Round-trip time distributions of heartbeats to each peer.",
    labelNames: ["to"],
    buckets: [0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048],
    registers: [this.registry],
  });
  readonly grpcRequests = new Counter({
    name: "synod_grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: ["grpc_service", "grpc_method", "grpc_code"],
    registers: [this.registry],
  });
  readonly grpcDuration = new Histogram({
    name: "synod_grpc_server_handling_seconds",
    help: "Histogram of response latency of RPCs handled by the server.",
    labelNames: ["grpc_service", "grpc_method"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  contentType(): string {
    return this.registry.contentType;
  }
}
