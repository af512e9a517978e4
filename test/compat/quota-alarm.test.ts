import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseQuotaBackendBytes, quotaBackendBytesDefault } from "../../src/server/config.js";
import { etcdctl, TestCluster } from "./cluster.js";

/** --quota-backend-bytes, the NOSPACE alarm and Maintenance.Alarm/Defragment, with etcdctl on a real member. */
let cluster: TestCluster;
let ep: string[];
const quotaBytes = 300_000;
const noSpace = /etcdserver: mvcc: database space exceeded/;

before(async () => {
  cluster = await TestCluster.start({ size: 1, extraArgs: ["--quota-backend-bytes", String(quotaBytes)] });
  ep = cluster.endpoints();
});
after(async () => {
  await cluster.stop();
});

test("the quota flag reads etcd's forms", () => {
  assert.equal(parseQuotaBackendBytes("0"), quotaBackendBytesDefault);
  assert.equal(parseQuotaBackendBytes("-1"), Number.POSITIVE_INFINITY);
  assert.equal(parseQuotaBackendBytes("300000"), 300_000);
  assert.throws(() => parseQuotaBackendBytes("2GB"), /--quota-backend-bytes/);
});

test("past the quota writes fail with NOSPACE, reads go on, and disarm clears the alarm", () => {
  assert.equal(etcdctl(ep, ["alarm", "list"]).stdout, "");
  const value = "x".repeat(1000);
  let failure = "";
  for (let i = 0; i < 1000 && failure === ""; i++) {
    const r = etcdctl(ep, ["put", `q${i % 10}`, value]);
    if (r.status !== 0) failure = r.stderr;
  }
  assert.match(failure, noSpace);
  const memberId = BigInt((JSON.parse(etcdctl(ep, ["endpoint", "status", "-w", "json"]).stdout.replace(/"member_id":(\d+)/, '"member_id":"$1"')) as {
    Status: { header: { member_id: string } };
  }[])[0]?.Status.header.member_id ?? "0");
  assert.equal(etcdctl(ep, ["alarm", "list"]).stdout, `memberID:${memberId} alarm:NOSPACE \n`);

  // Every write is refused while the alarm is raised; reads, deletes and compaction are not.
  assert.match(etcdctl(ep, ["put", "small", "v"]).stderr, noSpace);
  assert.match(etcdctl(ep, ["lease", "grant", "60"]).stderr, noSpace);
  assert.equal(etcdctl(ep, ["get", "q1", "--print-value-only"]).stdout, `${value}\n`);
  assert.equal(etcdctl(ep, ["del", "q9"]).stdout, "1\n");
  const revision = (JSON.parse(etcdctl(ep, ["get", "q1", "-w", "json"]).stdout) as { header: { revision: number } }).header.revision;
  assert.match(etcdctl(ep, ["compact", String(revision)]).stdout, /compacted revision/);
  assert.match(etcdctl(ep, ["defrag"]).stdout, /Finished defragmenting etcd member/);

  assert.equal(etcdctl(ep, ["alarm", "disarm"]).stdout, `memberID:${memberId} alarm:NOSPACE \n`);
  assert.equal(etcdctl(ep, ["alarm", "list"]).stdout, "");
  // Compaction freed the history's pages: once disarmed, writes fit again, as with etcd.
  assert.equal(etcdctl(ep, ["put", "small", "v"]).stdout, "OK\n");
  assert.equal(etcdctl(ep, ["alarm", "list"]).stdout, "");
});
