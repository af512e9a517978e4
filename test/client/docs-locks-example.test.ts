/**
 * The examples of docs/locks.md, run against the events test backend so the
 * page cannot drift from the client: every TypeScript block of the page must
 * appear verbatim in this file, the tests below run that code, and the
 * page's etcdctl script runs as written (etcdctl must be installed, as for
 * the other etcdctl tests).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Mutex, SynodClient, fencedPut } from "../../src/client/index.js";
import { EventsTestBackend } from "../api/events-test-backend.js";
import { startApiWith } from "../api/harness.js";
import type { ApiFixture } from "../api/harness.js";

const docPath = join(import.meta.dirname, "../../docs/locks.md");
const text = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? new Uint8Array()).toString();

/** fencedBlocks lists the bodies of the page's code blocks tagged `language`. */
function fencedBlocks(markdown: string, language: string): string[] {
  const pattern = new RegExp("^```" + language + "\\n([\\s\\S]*?)^```$", "gm");
  return [...markdown.matchAll(pattern)].map((match) => match[1] ?? "");
}

// ---- The page's TypeScript, verbatim ----------------------------------------------

/** publishReport builds a report under the lock "locks/report" and stores it only if the lock is still ours. */
async function publishReport(client: SynodClient, build: () => Promise<string>): Promise<boolean> {
  const mutex = new Mutex(client, "locks/report", { ttlSeconds: 10 });
  await mutex.lock();
  try {
    const report = await build(); // slow work: the lease may end meanwhile
    // One txn: put reports/latest only if our lock key still exists with our create revision.
    return await fencedPut(client, mutex, "reports/latest", report);
  } finally {
    await mutex.unlock(); // also fine when the lease has already ended
  }
}

/** FencedStore stands for a resource outside Synod: it refuses a write whose token is below the highest it accepted. */
class FencedStore {
  private tokenMax = 0;
  private readonly values = new Map<string, string>();

  /** write checks and records the token in the same step as the write (here one synchronous call). */
  write(token: number, key: string, value: string): boolean {
    if (token < this.tokenMax) return false; // a newer holder has been here
    this.tokenMax = token;
    this.values.set(key, value);
    return true;
  }

  read(key: string): string | undefined {
    return this.values.get(key);
  }
}

// ---- Running it ----------------------------------------------------------------------

describe("docs/locks.md examples", () => {
  let backend: EventsTestBackend;
  let api: ApiFixture<EventsTestBackend>;
  let client: SynodClient;
  let other: SynodClient;

  before(async () => {
    backend = new EventsTestBackend({ tickMs: 50, leaseTtlMinSeconds: 1 });
    api = await startApiWith(backend);
    client = new SynodClient({ endpoints: [api.endpoint], retryPauseMs: 10 });
    other = new SynodClient({ endpoints: [api.endpoint], retryPauseMs: 10 });
  });
  after(async () => {
    client.close();
    other.close();
    backend.close();
    await api.close();
  });

  test("every TypeScript block of the page is code of this file", () => {
    const blocks = fencedBlocks(readFileSync(docPath, "utf8"), "ts");
    assert.ok(blocks.length >= 2, "the page shows the fenced write and the outside resource");
    const source = readFileSync(import.meta.filename, "utf8");
    for (const block of blocks) assert.ok(source.includes(block), `not in ${import.meta.filename}:\n${block}`);
  });

  test("publishReport: the holder's fenced write succeeds and the lock is released", async () => {
    assert.equal(await publishReport(client, () => Promise.resolve("report 1")), true);
    assert.equal(text((await client.kv.get("reports/latest")).kvs[0]?.value), "report 1");
    assert.equal((await client.kv.get("locks/report/", { prefix: true })).count, 0, "no lock key is left");
  });

  test("publishReport: a holder whose lease ended is refused; the newer holder's write stands", async () => {
    const stale = await publishReport(client, async () => {
      // While the holder works, its lease ends (revoked here, as if it had expired) and another client takes the lock.
      const held = (await other.kv.get("locks/report/", { prefix: true })).kvs[0];
      assert.ok(held !== undefined);
      await other.connection.unary("etcdserverpb.Lease", "LeaseRevoke", { ID: held.lease }, { idempotent: false });
      const newer = new Mutex(other, "locks/report");
      await newer.lock();
      assert.ok((newer.fencingToken ?? 0) > held.createRevision, "the newer holder's token is larger");
      assert.equal(await fencedPut(other, newer, "reports/latest", "newer report"), true);
      await newer.unlock();
      return "stale report";
    });
    assert.equal(stale, false, "the store refused the stale holder");
    assert.equal(text((await client.kv.get("reports/latest")).kvs[0]?.value), "newer report");
  });

  test("FencedStore: the older holder's token is refused once a newer one was accepted", async () => {
    const store = new FencedStore();
    const first = new Mutex(client, "locks/outside");
    await first.lock();
    const firstToken = first.fencingToken;
    await first.unlock();
    const second = new Mutex(other, "locks/outside");
    await second.lock();
    const secondToken = second.fencingToken;
    await second.unlock();
    assert.ok(firstToken !== undefined && secondToken !== undefined && firstToken < secondToken);
    assert.equal(store.write(firstToken, "k", "first"), true, "nothing newer seen yet: accepted");
    assert.equal(store.write(secondToken, "k", "second"), true);
    assert.equal(store.write(secondToken, "k", "second again"), true, "the same holder may write again");
    assert.equal(store.write(firstToken, "k", "late"), false);
    assert.equal(store.read("k"), "second again");
  });

  test("the page's etcdctl lock script takes the lock and makes a fenced write", async () => {
    const script = fencedBlocks(readFileSync(docPath, "utf8"), "sh").find((block) => block.startsWith("etcdctl lock"));
    assert.ok(script !== undefined, "the page shows an etcdctl lock script");
    const child = spawn("sh", ["-c", script], { env: { ...process.env, ETCDCTL_ENDPOINTS: api.endpoint } });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, out);
    assert.match(out, /^SUCCESS$/m);
    assert.match(text((await client.kv.get("reports/latest")).kvs[0]?.value), /^built under token \d+$/);
    assert.equal((await client.kv.get("locks/report/", { prefix: true })).count, 0, "etcdctl released the lock");
  });
});
