import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { etcdctl, TestCluster } from "./cluster.js";

/** Bad input at both doors of a real cluster: each gets a clear error and the cluster keeps serving. */
let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start();
});
after(async () => {
  await cluster.stop();
});

function sendRaw(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(bytes);
      // Half-finished frames are left dangling for a moment, then the socket goes away.
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 200);
    });
    socket.on("error", () => resolve());
  });
}

test("garbage, truncated and oversized frames on the peer port close only that connection", async () => {
  const ep = cluster.endpoints();
  assert.equal(etcdctl(ep, ["put", "before", "1"]).stdout, "OK\n");
  for (const m of cluster.members) {
    await sendRaw(m.peerPort, Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await sendRaw(m.peerPort, Buffer.from([0, 0, 0, 50, 1, 2, 3])); // a frame cut short
    await sendRaw(m.peerPort, Buffer.from([0xff, 0xff, 0xff, 0xff, 0])); // a 4 GiB length
    await sendRaw(m.peerPort, Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])); // not msgpack
  }
  assert.equal(etcdctl(ep, ["put", "after", "2"]).stdout, "OK\n");
  for (const e of ep) assert.equal(etcdctl([e], ["get", "after", "--print-value-only"]).stdout, "2\n");
  for (const m of cluster.members) assert.equal(m.child?.exitCode, null, `${m.name} still runs`);
});

test("a txn with too many operations is refused with etcd's error and applies nothing", () => {
  const ep = cluster.endpoints();
  const puts = Array.from({ length: 129 }, (_, i) => `put many/${i} v`).join("\n");
  const r = etcdctl(ep, ["txn"], `\n${puts}\n\n\n`);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /etcdserver: too many operations in txn request/);
  assert.equal(etcdctl(ep, ["get", "many/", "--prefix", "--keys-only"]).stdout, "");
});

test("a txn that writes one key twice is refused with etcd's error", () => {
  const r = etcdctl(cluster.endpoints(), ["txn"], "\nput dup 1\nput dup 2\n\n\n");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /etcdserver: duplicate key given in txn request/);
  assert.equal(etcdctl(cluster.endpoints(), ["get", "dup"]).stdout, "");
});
