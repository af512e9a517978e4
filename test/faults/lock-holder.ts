/**
 * A lock holder in its own process, for the fault tests: it takes the lock
 * `faults-lock` with a 3 s lease, prints `held <token>`, then on every line of
 * stdin tries a fenced write of that line and prints `wrote <line>` or
 * `refused <line>`.
 */
import { createInterface } from "node:readline";
import { Mutex, SynodClient, fencedPut } from "../../src/client/index.js";

const endpoints = (process.argv[2] ?? "").split(",");
const client = new SynodClient({ endpoints });
const mutex = new Mutex(client, "faults-lock", { ttlSeconds: 3 });
await mutex.lock();
process.stdout.write(`held ${mutex.fencingToken}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const written = await fencedPut(client, mutex, "faults/resource", line).catch(() => false);
  process.stdout.write(`${written ? "wrote" : "refused"} ${line}\n`);
}
client.close();
