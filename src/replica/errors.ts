/** ReplicaErrorCode names why a replica could not serve a request. */
export type ReplicaErrorCode = "noLeader" | "leaderChanged" | "timeout" | "stopped" | "overloaded" | "notLeader";

/**
 * ReplicaError is a failure at the replica boundary. The API layer maps each
 * code to etcd's status and message ("etcdserver: no leader", …).
 */
export class ReplicaError extends Error {
  override readonly name = "ReplicaError";
  constructor(
    readonly code: ReplicaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
