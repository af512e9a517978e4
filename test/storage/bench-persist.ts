/**
 * Persist throughput of the storage layer, 256-byte entries.
 *
 *   node --import tsx test/storage/bench-persist.ts [seconds]
 *
 * "1 / commit" and "64 / commit": one group, one persist per commit, waiting
 * for each before the next (like a replica's persist step). "8 groups x 1":
 * eight groups each persisting one entry per event-loop turn, which group
 * commit merges into one commit. "raw lmdb" is the baseline: bare
 * `transactionSync` puts of the same sizes, same environment settings.
 */
import { join } from "node:path";
import { open } from "lmdb";
import type { RaftHardState } from "../../src/consensus/raft/messages.js";
import { groupId } from "../../src/consensus/types.js";
import { Storage } from "../../src/storage/storage.js";
import { hardState, run, tempDir } from "./helpers.js";

const seconds = Number(process.argv[2] ?? "3");
const entryBytes = 256;

async function measure(name: string, groups: number, perPersist: number): Promise<void> {
  const dir = tempDir("bench");
  const storage = Storage.open({ dataDir: dir.path });
  try {
    const next = new Array<number>(groups).fill(1);
    const stores = Array.from({ length: groups }, (_, i) => storage.group<RaftHardState>(groupId(i + 1)));
    const commitsBefore = storage.stats().commits;
    let persists = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      await Promise.all(
        stores.map((g, i) => {
          const lo = next[i] ?? 1;
          next[i] = lo + perPersist;
          return g.persist({ hardState: hardState(1, 1, lo - 1), entries: run(lo, lo + perPersist, 1, entryBytes), snapshot: null });
        }),
      );
      persists += groups;
    }
    const elapsedS = (performance.now() - start) / 1000;
    const commits = storage.stats().commits - commitsBefore;
    const line = [
      name.padEnd(16),
      `${Math.round(persists / elapsedS)} persists/s`.padEnd(20),
      `${Math.round((persists * perPersist) / elapsedS)} entries/s`.padEnd(22),
      `${Math.round(commits / elapsedS)} commits/s`,
    ].join(" ");
    process.stdout.write(`${line}\n`);
  } finally {
    await storage.close();
    dir.cleanup();
  }
}

async function measureRaw(name: string, perCommit: number): Promise<void> {
  const dir = tempDir("bench-raw");
  const env = open<Buffer, Buffer>({
    path: join(dir.path, "raw.mdb"),
    noSubdir: true,
    mapSize: 8 * 1024 ** 3,
    compression: false,
    overlappingSync: false,
    keyEncoding: "binary",
    encoding: "binary",
  });
  const value = Buffer.alloc(entryBytes, 7);
  let next = 0;
  let commits = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    env.transactionSync(() => {
      for (let i = 0; i < perCommit; i++) {
        const key = Buffer.alloc(8);
        key.writeUInt32BE(next++, 4);
        env.putSync(key, value);
      }
    });
    commits++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsedS = (performance.now() - start) / 1000;
  process.stdout.write(`${name.padEnd(16)} ${`${Math.round((commits * perCommit) / elapsedS)} entries/s`.padEnd(43)}${Math.round(commits / elapsedS)} commits/s\n`);
  await env.close();
  dir.cleanup();
}

await measureRaw("raw lmdb 1", 1);
await measureRaw("raw lmdb 64", 64);
await measure("1 / commit", 1, 1);
await measure("64 / commit", 1, 64);
await measure("8 groups x 1", 8, 1);
await measure("8 groups x 64", 8, 64);
