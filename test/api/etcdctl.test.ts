/**
 * The real etcdctl (3.4, gRPC) against the etcd API over the MVCC test
 * backend. Every expected output below was first taken from the same command
 * run against a real etcd 3.4 and differs only where the server differs
 * (member IDs, names, URLs, hashes, version, sizes).
 *
 * etcdctl must be installed (Debian/Ubuntu: `apt-get install etcd-client`);
 * without it these tests fail rather than skip.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { startApi } from "./harness.js";
import type { ApiFixture } from "./harness.js";
import { testClusterId, testMemberId } from "./test-backend.js";

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function requireEtcdctl(): void {
  const probe = spawnSync("etcdctl", ["version"], { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    assert.fail(
      "etcdctl is not installed (or does not run): install etcd-client (apt-get install etcd-client) to run the etcdctl compatibility tests",
    );
  }
}

/** etcdctl runs one etcdctl v3 command against `endpoint`, feeding `input` on stdin. */
function etcdctl(endpoint: string, args: readonly string[], input = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("etcdctl", [`--endpoints=${endpoint}`, "--dial-timeout=3s", "--command-timeout=5s", ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** lastLine is the last non-empty line of a text (etcdctl logs retry warnings before its error line). */
function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

const cluster = testClusterId.toString();
const member = testMemberId.toString();
const memberHex = testMemberId.toString(16);
const header = (revision: number): string =>
  `{"cluster_id":${cluster},"member_id":${member},"revision":${revision},"raft_term":2}`;

describe("etcdctl 3.4 against the etcd API", () => {
  let api: ApiFixture;
  let ctl: (args: readonly string[], input?: string) => Promise<Run>;
  /** ok runs a command that must succeed and returns its stdout. */
  const ok = async (args: readonly string[], input?: string): Promise<string> => {
    const run = await ctl(args, input);
    assert.equal(run.code, 0, `etcdctl ${args.join(" ")} failed: ${run.stderr}`);
    return run.stdout;
  };
  /** fails runs a command that must fail and returns etcdctl's error line. */
  const fails = async (args: readonly string[]): Promise<string> => {
    const run = await ctl(args);
    assert.equal(run.code, 1, `etcdctl ${args.join(" ")} should fail: ${run.stdout}`);
    return lastLine(run.stderr);
  };

  before(async () => {
    requireEtcdctl();
    api = await startApi();
    ctl = (args, input) => etcdctl(api.endpoint, args, input);
  });
  after(async () => {
    await api.close();
  });

  test("put and get: plain, prefix, limit, sort, json", async () => {
    assert.equal(await ok(["put", "foo", "bar"]), "OK\n");
    assert.equal(await ok(["put", "foo2", "baz"]), "OK\n");
    assert.equal(await ok(["put", "a", "1"]), "OK\n");
    assert.equal(await ok(["get", "foo"]), "foo\nbar\n");
    assert.equal(await ok(["get", "foo", "--prefix"]), "foo\nbar\nfoo2\nbaz\n");
    assert.equal(
      await ok(["get", "foo", "--prefix", "-w", "json"]),
      `{"header":${header(4)},"kvs":[` +
        `{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"},` +
        `{"key":"Zm9vMg==","create_revision":3,"mod_revision":3,"version":1,"value":"YmF6"}],"count":2}\n`,
    );
    assert.equal(
      await ok(["get", "foo", "--prefix", "--limit", "1", "-w", "json"]),
      `{"header":${header(4)},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"}],"more":true,"count":2}\n`,
    );
    assert.equal(await ok(["get", "", "--prefix", "--limit", "2", "--sort-by=KEY", "--order=DESCEND"]), "foo2\nbaz\nfoo\nbar\n");
    assert.equal(await ok(["get", "", "--prefix", "--sort-by=MODIFY", "--order=DESCEND"]), "a\n1\nfoo2\nbaz\nfoo\nbar\n");
    assert.equal(await ok(["get", "", "--prefix", "--sort-by=VALUE", "--order=ASCEND", "--keys-only"]), "a\n\nfoo\n\nfoo2\n\n");
  });

  test("get: --rev, --keys-only, --print-value-only, missing keys, serializable, --from-key", async () => {
    assert.equal(await ok(["put", "foo", "qux"]), "OK\n");
    assert.equal(await ok(["get", "foo", "--rev=2"]), "foo\nbar\n");
    assert.equal(await ok(["get", "foo", "--keys-only"]), "foo\n\n");
    assert.equal(await ok(["get", "foo", "--print-value-only"]), "qux\n");
    assert.equal(await ok(["get", "foo", "--prefix", "--print-value-only"]), "qux\nbaz\n");
    assert.equal(await ok(["get", "missing"]), "");
    assert.equal(await ok(["get", "missing", "-w", "json"]), `{"header":${header(5)}}\n`);
    assert.equal(await ok(["get", "foo", "--consistency=s"]), "foo\nqux\n");
    assert.equal(await ok(["get", "foo", "--from-key"]), "foo\nqux\nfoo2\nbaz\n");
    assert.equal(await ok(["put", "-w", "json", "foo", "quux"]), `{"header":${header(6)}}\n`);
    assert.equal(await ok(["put", "--prev-kv", "foo", "quuz"]), "OK\nfoo\nquux\n");
  });

  test("txn from stdin: success branch, failure branch, json", async () => {
    assert.equal(await ok(["txn"], 'value("a") = "1"\n\nput x y\nget a\n\nput z w\n\n'), "SUCCESS\n\nOK\n\na\n1\n");
    assert.equal(await ok(["txn"], 'value("a") = "2"\n\nput x y\n\nput z w\ndel a\n\n'), "FAILURE\n\nOK\n\n1\n");
    assert.equal(
      await ok(["txn", "-w", "json"], 'mod("x") > "0"\nversion("x") = "1"\n\nput x y2\nget x\ndel z\n\n\n'),
      `{"header":${header(10)},"succeeded":true,"responses":[` +
        `{"Response":{"ResponsePut":{"header":{"revision":10}}}},` +
        `{"Response":{"ResponseRange":{"header":{"revision":10},"kvs":[{"key":"eA==","create_revision":8,"mod_revision":10,"version":2,"value":"eTI="}],"count":1}}},` +
        `{"Response":{"ResponseDeleteRange":{"header":{"revision":10},"deleted":1}}}]}\n`,
    );
  });

  test("del: --prefix, --prev-kv, nothing to delete", async () => {
    assert.equal(await ok(["del", "--prefix", "foo"]), "2\n");
    assert.equal(await ok(["del", "--prev-kv", "x"]), "1\nx\ny2\n");
    assert.equal(await ok(["del", "nothing"]), "0\n");
  });

  test("compaction and etcd's errors as etcdctl prints them", async () => {
    assert.equal(await ok(["compaction", "3"]), "compacted revision 3\n");
    assert.equal(await fails(["compaction", "3"]), "Error: etcdserver: mvcc: required revision has been compacted");
    assert.equal(await fails(["get", "foo", "--rev=2"]), "Error: etcdserver: mvcc: required revision has been compacted");
    assert.equal(await fails(["get", "foo", "--rev=100"]), "Error: etcdserver: mvcc: required revision is a future revision");
    assert.equal(await fails(["put", "", "v"]), "Error: etcdserver: key is not provided");
  });

  test("member list, plain and json", async () => {
    assert.equal(
      await ok(["member", "list"]),
      `${memberHex}, started, synod-test, http://127.0.0.1:2380, http://${api.endpoint}, false\n`,
    );
    assert.equal(
      await ok(["member", "list", "-w", "json"]),
      `{"header":{"cluster_id":${cluster},"member_id":${member},"raft_term":2},` +
        `"members":[{"ID":${member},"name":"synod-test","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://${api.endpoint}"]}]}\n`,
    );
  });

  test("endpoint status, plain and json", async () => {
    api.backend.dbSizeBytesFixed = 24_576;
    const index = api.backend.raftIndex;
    const revision = api.backend.mvcc.revision;
    assert.equal(
      await ok(["endpoint", "status", "-w", "json"]),
      `[{"Endpoint":"${api.endpoint}","Status":{"header":${header(revision)},"version":"3.4.0","dbSize":24576,` +
        `"leader":${member},"raftIndex":${index},"raftTerm":2,"raftAppliedIndex":${index},"dbSizeInUse":24576}}]\n`,
    );
    assert.equal(await ok(["endpoint", "status"]), `${api.endpoint}, ${memberHex}, 3.4.0, 25 kB, true, false, 2, ${index}, ${index}, \n`);
  });

  test("endpoint hashkv: current and past revisions, and a future one", async () => {
    const current = api.backend.mvcc.hashKv(0);
    const atFive = api.backend.mvcc.hashKv(5);
    assert.ok(current.ok && atFive.ok);
    assert.equal(await ok(["endpoint", "hashkv"]), `${api.endpoint}, ${current.value.hash}\n`);
    assert.equal(await ok(["endpoint", "hashkv", "--rev=5"]), `${api.endpoint}, ${atFive.value.hash}\n`);
    assert.equal(
      await ok(["endpoint", "hashkv", "-w", "json"]),
      `[{"Endpoint":"${api.endpoint}","HashKV":{"header":${header(api.backend.mvcc.revision)},"hash":${current.value.hash},"compact_revision":3}}]\n`,
    );
    const future = await ctl(["endpoint", "hashkv", "--rev=100"]);
    assert.equal(future.code, 1);
    assert.match(
      future.stderr,
      new RegExp(`Failed to get the hash of endpoint ${api.endpoint.replaceAll(".", "\\.")} \\(etcdserver: mvcc: required revision is a future revision\\)`),
    );
  });
});
