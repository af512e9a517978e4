import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noop } from "cockatiel";
import { Etcd3, isRecoverableError } from "etcd3";
import { TestCluster } from "./cluster.js";

/** The `etcd3` npm client against a real 3-process Synod cluster. */
let cluster: TestCluster;
let client: Etcd3;

before(async () => {
  cluster = await TestCluster.start();
  client = new Etcd3({
    hosts: cluster.endpoints().map((e) => `http://${e}`),
    // Count errors as they happen: no retries, no circuit breaker.
    faultHandling: { global: noop, host: () => noop },
  });
});
after(async () => {
  client.close();
  await cluster.stop();
});

test("put and get strings, buffers and JSON", async () => {
  await client.put("s").value("hello");
  assert.equal(await client.get("s").string(), "hello");
  await client.put("b").value(Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(await client.get("b").buffer(), Buffer.from([0, 1, 2, 255]));
  await client.put("j").value(JSON.stringify({ a: 1 }));
  assert.deepEqual(await client.get("j").json(), { a: 1 });
  assert.equal(await client.get("missing").string(), null);
});

test("prefix reads, counts and deletes", async () => {
  for (let i = 0; i < 5; i++) await client.put(`dir/${i}`).value(String(i));
  assert.deepEqual(await client.getAll().prefix("dir/").keys(), ["dir/0", "dir/1", "dir/2", "dir/3", "dir/4"]);
  assert.equal(await client.getAll().prefix("dir/").count(), 5);
  assert.deepEqual(await client.getAll().prefix("dir/").limit(2).sort("Key", "Descend").keys(), ["dir/4", "dir/3"]);
  const deleted = await client.delete().prefix("dir/").exec();
  assert.equal(deleted.deleted, "5");
});

test("transactions: compare-and-swap", async () => {
  await client.put("counter").value("1");
  const swapped = await client.if("counter", "Value", "==", "1").then(client.put("counter").value("2")).else(client.get("counter")).commit();
  assert.equal(swapped.succeeded, true);
  const refused = await client.if("counter", "Value", "==", "1").then(client.put("counter").value("3")).else(client.get("counter")).commit();
  assert.equal(refused.succeeded, false);
  assert.equal(await client.get("counter").string(), "2");
});

test("history: reading an old revision, then compaction", async () => {
  const first = await client.put("hist").value("a").exec();
  const rev = Number(first.header.revision);
  await client.put("hist").value("b");
  assert.equal(await client.get("hist").revision(rev).string(), "a");
  await client.kv.compact({ revision: String(rev + 1), physical: true });
  await assert.rejects(client.get("hist").revision(rev).string(), (error: Error) => {
    assert.match(error.message, /required revision has been compacted/);
    assert.equal(isRecoverableError(error), false);
    return true;
  });
});

test("maintenance status names the cluster's leader", async () => {
  const status = await client.maintenance.status();
  assert.equal(status.version, "3.4.0");
  assert.notEqual(status.leader, "0");
  const members = await client.cluster.memberList({});
  assert.equal(members.members.length, 3);
  assert.ok(members.members.some((m) => m.ID === status.leader));
});
