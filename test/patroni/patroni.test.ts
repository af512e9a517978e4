/**
 * Patroni 3.0 keeps a two-node PostgreSQL 15 with a real three-member Synod
 * cluster as its etcd3 store: one node bootstraps and leads, the other
 * joins as a streaming replica, the leader's Patroni stops and the replica
 * is promoted, and the old leader comes back as a replica of the new one.
 *
 * How Patroni reaches Synod: its etcd3 store speaks etcd's HTTP/JSON
 * gateway, not gRPC. etcd serves both on its client port; Synod's client
 * port is gRPC only (HTTP/2), and the gateway is served on the member's
 * HTTP port (`--listen-metrics-urls`). Patroni is therefore given the HTTP
 * ports as `hosts`, with `use_proxies: true` so that it keeps to them and
 * does not switch to the client URLs that member list reports.
 *
 * Everything listens on 127.0.0.1; processes are stopped by PID. PostgreSQL
 * refuses to run as root, so as root Patroni runs as the `postgres` user.
 * Without the packages the test is skipped, naming them.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { TestCluster, freePorts } from "../compat/cluster.js";

const patroniBin = "/usr/bin/patroni";
const pgBinDir = "/usr/lib/postgresql/15/bin";
const psqlBin = join(pgBinDir, "psql");
const pythonEtcdModule = "/usr/lib/python3/dist-packages/etcd/__init__.py";
const scope = "synod-patroni";
const namespace = "/service/";
/** stepTimeoutMs bounds each wait (bootstrap, replica start, promotion, rejoin). */
const stepTimeoutMs = 60_000;

/** missingPackages names the Debian packages whose files are absent. */
function missingPackages(): string[] {
  const missing: string[] = [];
  if (!existsSync(patroniBin)) missing.push("patroni");
  if (!existsSync(pythonEtcdModule)) missing.push("python3-etcd");
  if (!existsSync(join(pgBinDir, "postgres")) || !existsSync(psqlBin)) missing.push("postgresql-15");
  return missing;
}

/** RunAs is the user PostgreSQL runs as: ourselves, or `postgres` when we are root. */
interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) throw new Error("running as root needs the postgres user (created by the postgresql-15 package)");
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const missing = missingPackages();
const skip = missing.length > 0 ? `needs ${missing.join(", ")}: apt-get install -y patroni python3-etcd postgresql-15` : false;

/** PatroniNode is one Patroni process with its PostgreSQL. */
interface PatroniNode {
  readonly name: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly restPort: number;
  readonly pgPort: number;
  child: ChildProcess | undefined;
  output: string;
}

/** PatroniState is what Patroni's REST API tells of its node (`GET /patroni`). */
interface PatroniState {
  readonly state?: string;
  readonly role?: string;
}

let cluster: TestCluster | undefined;
let root: string | undefined;
const nodes: PatroniNode[] = [];

after(async () => {
  for (const node of nodes) await stopNode(node);
  for (const node of nodes) stopLeftoverPostmaster(node);
  await cluster?.stop();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

test("Patroni runs a two-node PostgreSQL on Synod: leader, replica, failover on SIGTERM, rejoin", { skip, timeout: 240_000 }, async () => {
  const user = runAs();
  cluster = await TestCluster.start();
  const hosts = cluster.members.map((m) => `127.0.0.1:${m.metricsPort}`);
  const gateway = `http://${hosts[0] ?? ""}`;
  root = mkdtempSync(join(tmpdir(), "synod-patroni-"));
  if (user !== undefined) chownSync(root, user.uid, user.gid);
  const base = await freePorts(4);
  for (const [i, name] of ["pg1", "pg2"].entries()) nodes.push(makeNode(root, name, base + i * 2, hosts, user));
  const [pg1, pg2] = nodes;
  assert.ok(pg1 !== undefined && pg2 !== undefined);

  // pg1 bootstraps the cluster and takes the leader key.
  startNode(pg1, user);
  await waitRole(pg1, isPrimary, "pg1 to bootstrap and lead");
  // Patroni may report its PostgreSQL as primary a loop before it writes the leader key.
  await waitLeaderKey(gateway, "pg1", pg1);

  // pg2 clones pg1 and streams from it.
  startNode(pg2, user);
  await waitRole(pg2, isReplica, "pg2 to run as a replica");
  psql(pg1, user, "CREATE TABLE synod_check (v text); INSERT INTO synod_check VALUES ('before failover');");
  await waitFor(() => psqlTry(pg2, user, "SELECT v FROM synod_check") === "before failover", "the row to reach the replica", pg2);

  // The leader's Patroni stops (it stops PostgreSQL and gives up the key); the replica takes over.
  await stopNode(pg1);
  await waitRole(pg2, isPrimary, "pg2 to be promoted");
  await waitLeaderKey(gateway, "pg2", pg2);
  psql(pg2, user, "INSERT INTO synod_check VALUES ('after failover');");

  // The old leader comes back and follows the new one.
  startNode(pg1, user);
  await waitRole(pg1, isReplica, "pg1 to rejoin as a replica");
  await waitFor(() => psqlTry(pg1, user, "SELECT count(*) FROM synod_check") === "2", "pg1 to replay the new leader's writes", pg1);
  assert.equal(await leaderKey(gateway), "pg2");
});

function makeNode(dir: string, name: string, port: number, hosts: readonly string[], user: RunAs | undefined): PatroniNode {
  const restPort = port;
  const pgPort = port + 1;
  const dataDir = join(dir, name);
  const socketDir = join(dir, `${name}-socket`);
  mkdirSync(socketDir, { mode: 0o700 });
  if (user !== undefined) chownSync(socketDir, user.uid, user.gid);
  // JSON is YAML, so the config needs no YAML writer.
  const config = {
    scope,
    namespace,
    name,
    log: { level: "INFO" },
    restapi: { listen: `127.0.0.1:${restPort}`, connect_address: `127.0.0.1:${restPort}` },
    etcd3: { hosts: [...hosts], protocol: "http", use_proxies: true },
    bootstrap: {
      dcs: {
        ttl: 10,
        loop_wait: 1,
        retry_timeout: 3,
        maximum_lag_on_failover: 16 * 1024 * 1024,
        postgresql: {
          use_pg_rewind: true,
          parameters: { wal_level: "replica", hot_standby: "on", max_wal_senders: 5, max_replication_slots: 5, wal_log_hints: "on" },
        },
      },
      initdb: [{ encoding: "UTF8" }, "data-checksums"],
      pg_hba: ["local all all trust", "host replication replicator 127.0.0.1/32 trust", "host all all 127.0.0.1/32 trust"],
    },
    postgresql: {
      listen: `127.0.0.1:${pgPort}`,
      connect_address: `127.0.0.1:${pgPort}`,
      data_dir: dataDir,
      bin_dir: pgBinDir,
      pgpass: join(dir, `${name}.pgpass`),
      authentication: {
        superuser: { username: "postgres", password: "synod-super" },
        replication: { username: "replicator", password: "synod-repl" },
        rewind: { username: "rewinder", password: "synod-rewind" },
      },
      parameters: { unix_socket_directories: socketDir, shared_buffers: "16MB", max_connections: 20 },
    },
  };
  const configPath = join(dir, `${name}.yml`);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  if (user !== undefined) chownSync(configPath, user.uid, user.gid);
  return { name, configPath, dataDir, restPort, pgPort, child: undefined, output: "" };
}

function startNode(node: PatroniNode, user: RunAs | undefined): void {
  const child = spawn(patroniBin, [node.configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: join(node.configPath, ".."), LANG: "C.UTF-8" },
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
  });
  node.output = "";
  const append = (chunk: Buffer): void => {
    node.output = (node.output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  node.child = child;
}

/** stopNode sends SIGTERM to Patroni's PID (it stops PostgreSQL first) and waits for it to exit; SIGKILL after 30 s. */
async function stopNode(node: PatroniNode): Promise<void> {
  const child = node.child;
  node.child = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

/** stopLeftoverPostmaster stops, by the PID in postmaster.pid, a PostgreSQL whose Patroni did not stop it. */
function stopLeftoverPostmaster(node: PatroniNode): void {
  const pidFile = join(node.dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isSafeInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, "SIGQUIT");
  } catch {
    // already gone
  }
}

function isPrimary(state: PatroniState): boolean {
  return state.state === "running" && (state.role === "master" || state.role === "primary");
}

function isReplica(state: PatroniState): boolean {
  return state.state === "running" && state.role === "replica";
}

async function patroniState(node: PatroniNode): Promise<PatroniState | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${node.restPort}/patroni`, { signal: AbortSignal.timeout(2_000) });
    return (await res.json()) as PatroniState;
  } catch {
    return undefined;
  }
}

async function waitRole(node: PatroniNode, check: (state: PatroniState) => boolean, what: string): Promise<void> {
  let last: PatroniState | undefined;
  await waitForAsync(
    async () => {
      last = await patroniState(node);
      return last !== undefined && check(last);
    },
    () => `${what} (last state ${JSON.stringify(last)})`,
    node,
  );
}

async function waitForAsync(done: () => Promise<boolean>, what: () => string, node: PatroniNode): Promise<void> {
  const deadline = Date.now() + stepTimeoutMs;
  while (!(await done())) {
    if (node.child !== undefined && node.child.exitCode !== null) throw new Error(`${node.name}'s Patroni exited while waiting for ${what()}:\n${node.output}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}; ${node.name}'s Patroni said:\n${node.output}\n${clusterOutput()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function waitFor(done: () => boolean, what: string, node: PatroniNode): Promise<void> {
  return waitForAsync(() => Promise.resolve(done()), () => what, node);
}

function clusterOutput(): string {
  return (cluster?.members ?? []).map((m) => `--- ${m.name}:\n${m.output.slice(-2_000)}`).join("\n");
}

/** leaderKey reads Patroni's leader key through the gateway, as Patroni does. */
async function leaderKey(gateway: string): Promise<string | undefined> {
  const key = Buffer.from(`${namespace}${scope}/leader`).toString("base64");
  const res = await fetch(`${gateway}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }) });
  const body = (await res.json()) as { kvs?: { value?: string }[] };
  const value = body.kvs?.[0]?.value;
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/** waitLeaderKey waits until the leader key names `name`. */
async function waitLeaderKey(gateway: string, name: string, node: PatroniNode): Promise<void> {
  let last: string | undefined;
  await waitForAsync(
    async () => {
      last = await leaderKey(gateway);
      return last === name;
    },
    () => `the leader key to name ${name} (last ${String(last)})`,
    node,
  );
}

function psqlRun(node: PatroniNode, user: RunAs | undefined, sql: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(psqlBin, ["-h", "127.0.0.1", "-p", String(node.pgPort), "-U", "postgres", "-d", "postgres", "-Atqc", sql], {
    encoding: "utf8",
    timeout: 10_000,
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", PGCONNECT_TIMEOUT: "3" },
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
  });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

function psql(node: PatroniNode, user: RunAs | undefined, sql: string): string {
  const result = psqlRun(node, user, sql);
  if (result.status !== 0) throw new Error(`psql on ${node.name} failed: ${result.stderr}`);
  return result.stdout;
}

function psqlTry(node: PatroniNode, user: RunAs | undefined, sql: string): string | undefined {
  const result = psqlRun(node, user, sql);
  return result.status === 0 ? result.stdout : undefined;
}
