/**
 * The workloads: how one request of each kind is built and checked, how keys
 * are drawn, and the preload that writes a key space before reads or CAS.
 */
import type { ChannelPool, KvChannel } from "./kv-client.js";
import { RequestError, compareResult, compareTarget, errorMessage } from "./kv-client.js";
import type { BenchOptions, WorkloadName } from "./options.js";

/** Rng is a seeded generator of floats in [0, 1). */
export type Rng = () => number;

/** mulberry32 is a small, fast, seeded generator; the benchmark needs reproducible keys, not strong randomness. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** KeyShape says how key i of [0, keySpace) is spelled: the prefix, then i in decimal zero-padded to keySize bytes. */
export interface KeyShape {
  readonly keyPrefix: string;
  readonly keySize: number;
}

/** keyOf spells key i. */
export function keyOf(shape: KeyShape, i: number): Buffer {
  const digits = shape.keySize - Buffer.byteLength(shape.keyPrefix);
  return Buffer.from(shape.keyPrefix + String(i).padStart(digits, "0"));
}

/** valueOf builds the value every request writes: printable, seeded bytes of `size`. */
export function valueOf(size: number, seed: number): Buffer {
  const rng = mulberry32(seed ^ 0x5eed);
  const value = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) value[i] = 97 + Math.floor(rng() * 26);
  return value;
}

/** Workload issues the requests of one kind. */
export interface Workload {
  readonly name: WorkloadName;
  /** issue performs one request for loop `client`; it resolves on success and rejects with the failure. */
  issue(channel: KvChannel, client: number): Promise<void>;
  /** counters are workload-specific counts for the summary (e.g. CAS conflicts). */
  counters(): Readonly<Record<string, number>>;
}

/** KeyPicker draws the next key index for a request loop. */
class KeyPicker {
  private readonly rngs: Rng[] = [];
  private next = 0;

  constructor(private readonly options: Pick<BenchOptions, "keySpace" | "sequentialKeys" | "seed" | "clients">) {
    for (let c = 0; c < options.clients; c++) this.rngs.push(mulberry32(options.seed + Math.imul(c + 1, 0x9e3779b9)));
  }

  pick(client: number): number {
    if (this.options.sequentialKeys) return this.next++ % this.options.keySpace;
    const rng = this.rngs[client];
    if (rng === undefined) throw new Error(`KeyPicker: no generator for client ${client}`);
    return Math.floor(rng() * this.options.keySpace);
  }
}

function putWorkload(options: BenchOptions): Workload {
  const picker = new KeyPicker(options);
  const value = valueOf(options.valSize, options.seed);
  return {
    name: "put",
    async issue(channel, client) {
      await channel.put({ key: keyOf(options, picker.pick(client)), value }, options.timeoutMs);
    },
    counters: () => ({}),
  };
}

function rangeWorkload(options: BenchOptions): Workload {
  const picker = new KeyPicker(options);
  const serializable = options.consistency === "s";
  let missing = 0;
  return {
    name: "range",
    async issue(channel, client) {
      const response = await channel.range({ key: keyOf(options, picker.pick(client)), serializable }, options.timeoutMs);
      if (response.kvs.length === 0) {
        missing++;
        throw new RequestError("range: key not found (was the key space preloaded?)");
      }
    },
    counters: () => ({ missing }),
  };
}

/**
 * txnCasWorkload is a compare-and-swap loop: each request is one Txn
 * `if mod_revision(k) == r then put(k, v) else range(k)`, where r is the key's
 * last mod revision this run saw (from the preload, its own successful swaps,
 * or a failed swap's range). A conflict is a successful request, counted apart.
 */
function txnCasWorkload(options: BenchOptions, knownRevisions: Map<number, string>): Workload {
  const picker = new KeyPicker(options);
  const value = valueOf(options.valSize, options.seed);
  let swapped = 0;
  let conflicted = 0;
  return {
    name: "txn-cas",
    async issue(channel, client) {
      const i = picker.pick(client);
      const key = keyOf(options, i);
      const response = await channel.txn(
        {
          compare: [{ result: compareResult.equal, target: compareTarget.mod, key, mod_revision: knownRevisions.get(i) ?? "0" }],
          success: [{ request_put: { key, value } }],
          failure: [{ request_range: { key, serializable: false } }],
        },
        options.timeoutMs,
      );
      if (response.succeeded) {
        swapped++;
        if (response.header !== null) knownRevisions.set(i, response.header.revision);
        return;
      }
      conflicted++;
      const current = response.responses[0]?.response_range?.kvs[0];
      knownRevisions.set(i, current?.mod_revision ?? "0");
    },
    counters: () => ({ swapped, conflicted }),
  };
}

/** createWorkload builds the workload; `knownRevisions` comes from the preload (txn-cas only). */
export function createWorkload(options: BenchOptions, knownRevisions: Map<number, string>): Workload {
  switch (options.workload) {
    case "put":
      return putWorkload(options);
    case "range":
      return rangeWorkload(options);
    case "txn-cas":
      return txnCasWorkload(options, knownRevisions);
  }
}

/** LoadOptions configures a preload: write keys [0, keyCount) once each. */
export interface LoadOptions extends KeyShape {
  readonly keyCount: number;
  readonly valSize: number;
  readonly seed: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** attemptsMax bounds the tries per key before the load fails. */
  readonly attemptsMax: number;
}

/** loadAttemptsMax is the default bound on tries per key of a preload. */
export const loadAttemptsMax = 5;

/**
 * loadKeys writes keys [0, keyCount) with `concurrency` loops over the pool's
 * channels and returns each key's mod revision. A key that fails
 * `attemptsMax` times fails the load with the last error.
 */
export async function loadKeys(
  pool: ChannelPool,
  options: LoadOptions,
  onProgress?: (done: number) => void,
): Promise<Map<number, string>> {
  const value = valueOf(options.valSize, options.seed);
  const revisions = new Map<number, string>();
  let next = 0;
  let done = 0;
  const loop = async (client: number): Promise<void> => {
    const channel = pool.channelFor(client);
    for (let i = next++; i < options.keyCount; i = next++) {
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await channel.put({ key: keyOf(options, i), value }, options.timeoutMs);
          revisions.set(i, response.header?.revision ?? "0");
          break;
        } catch (error) {
          if (attempt >= options.attemptsMax) throw new RequestError(`preload: key ${i}: ${errorMessage(error)}`, { cause: error });
        }
      }
      onProgress?.(++done);
    }
  };
  const loops: Promise<void>[] = [];
  for (let c = 0; c < Math.min(options.concurrency, options.keyCount); c++) loops.push(loop(c));
  await Promise.all(loops);
  return revisions;
}
