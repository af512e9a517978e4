/**
 * SynodClient is a small typed client of the etcd v3 API as Synod serves it:
 * `kv` (get/put/delete/txn), `lease(ttl)` (kept alive until revoked or
 * closed), `watch(key, options)` (an async iterator that resumes across
 * reconnects), and the `Mutex` and `Election` recipes in their own files.
 * Retries follow one rule: only idempotent requests are retried, on
 * UNAVAILABLE, each time on the next endpoint (connection.ts).
 *
 * ```ts
 * const client = new SynodClient({ endpoints: ["127.0.0.1:2379", "127.0.0.1:22379"] });
 * await client.kv.put("greeting", "hello");
 * for await (const event of client.watch("jobs/", { prefix: true })) console.log(event.type, event.kv.key);
 * client.close();
 * ```
 */
import { Connection } from "./connection.js";
import type { ConnectionOptions } from "./connection.js";
import { KvClient } from "./kv.js";
import type { Bytes } from "./kv.js";
import { Lease } from "./lease.js";
import { Watcher } from "./watch.js";
import type { WatchOptions } from "./watch.js";

export type SynodClientOptions = ConnectionOptions;

/** See the file comment. */
export class SynodClient {
  readonly connection: Connection;
  readonly kv: KvClient;
  private readonly leases = new Set<Lease>();
  private readonly watchers = new Set<Watcher>();

  constructor(options: SynodClientOptions) {
    this.connection = new Connection(options);
    this.kv = new KvClient(this.connection);
  }

  /**
   * lease grants a lease of `ttlSeconds` (the server may raise it to its
   * minimum) and keeps it alive unless `keepAlive` is false. LeaseGrant is
   * not retried: a lost answer would leave a second lease behind.
   */
  async lease(ttlSeconds: number, options: { readonly keepAlive?: boolean } = {}): Promise<Lease> {
    const granted = await this.connection.unary<{ ID: string; TTL: string }>("etcdserverpb.Lease", "LeaseGrant", { TTL: ttlSeconds, ID: 0 }, { idempotent: false });
    const lease = new Lease(this.connection, Number(granted.ID), Number(granted.TTL), options.keepAlive !== false);
    this.leases.add(lease);
    void lease.lost.then(() => this.leases.delete(lease));
    return lease;
  }

  /** watch follows `key` (or every key under it with `prefix`); close the watcher or the client to stop. */
  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    const watcher = new Watcher(this.connection, key, options);
    this.watchers.add(watcher);
    return watcher;
  }

  /** close stops every watch and keep-alive (leases are not revoked) and closes the connection. */
  close(): void {
    for (const watcher of this.watchers) watcher.close();
    for (const lease of this.leases) lease.close();
    this.watchers.clear();
    this.leases.clear();
    this.connection.close();
  }
}
