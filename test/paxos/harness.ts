import assert from "node:assert/strict";
import { SeededRandom } from "../../src/consensus/random.js";
import { defaultPaxosLimits, initialPaxosHardState } from "../../src/consensus/paxos/config.js";
import type { PaxosConfig, PaxosDurableState, PaxosFaults } from "../../src/consensus/paxos/config.js";
import type { PaxosHardState, PaxosMessage } from "../../src/consensus/paxos/messages.js";
import { PaxosEngine } from "../../src/consensus/paxos/paxos.js";
import { emptyMembership } from "../../src/consensus/membership.js";
import { groupId, nodeId } from "../../src/consensus/types.js";
import type { Entry, Membership, NodeId, ReadState, Snapshot } from "../../src/consensus/types.js";

/** Disk is what one node made durable, written exactly as the Ready contract says. */
export interface Disk {
  hardState: PaxosHardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  bootstrap: Membership;
}

/** Options tune a test cluster. */
export interface ClusterOptions {
  readonly config?: Partial<Omit<PaxosConfig, "id" | "groupId" | "random" | "faults">>;
  readonly faults?: PaxosFaults;
  readonly seed?: number;
}

/**
 * Cluster is the tiny in-test router: it runs each node's Ready (persist to its
 * Disk, queue messages, record applied entries and reads, advance) and delivers
 * queued messages, except those a test cuts or filters out.
 */
export class Cluster {
  readonly engines = new Map<NodeId, PaxosEngine>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly snapshots = new Map<NodeId, Snapshot[]>();
  readonly reads = new Map<NodeId, ReadState[]>();
  readonly dropped = new Map<NodeId, number[]>();
  /** sent records every message handed out, for assertions about traffic. */
  readonly sent: PaxosMessage[] = [];
  readonly cut = new Set<string>();
  /** filter, when set, decides per message whether it is delivered (false = lost). */
  filter: ((m: PaxosMessage) => boolean) | null = null;
  inbox: PaxosMessage[] = [];
  private seed: number;

  constructor(
    ids: readonly number[],
    private readonly options: ClusterOptions = {},
  ) {
    this.seed = options.seed ?? 1;
    const bootstrap: Membership = { voters: ids.map(nodeId), votersOutgoing: [], learners: [] };
    for (const id of ids) this.addNode(id, bootstrap);
  }

  addNode(id: number, bootstrap: Membership = emptyMembership): void {
    const n = nodeId(id);
    this.disks.set(n, { hardState: initialPaxosHardState, snapshot: null, entries: [], bootstrap });
    this.applied.set(n, []);
    this.snapshots.set(n, []);
    this.reads.set(n, []);
    this.dropped.set(n, []);
    this.start(id);
  }

  /** start (re)creates a node's engine from exactly what its disk holds. */
  start(id: number, faults: PaxosFaults | undefined = this.options.faults): void {
    const n = nodeId(id);
    const disk = this.disks.get(n);
    assert.ok(disk !== undefined, `no node ${id}`);
    const config: PaxosConfig = {
      ...defaultPaxosLimits,
      ...this.options.config,
      id: n,
      groupId: groupId(1),
      random: new SeededRandom(this.seed++ * 7919 + id),
      ...(faults === undefined ? {} : { faults }),
    };
    const durable: PaxosDurableState = { ...disk, entries: [...disk.entries] };
    this.engines.set(n, new PaxosEngine(config, durable));
    // A restarted state machine starts from the snapshot and re-applies the rest.
    this.applied.set(n, []);
  }

  crash(id: number): void {
    this.engines.delete(nodeId(id));
    this.inbox = this.inbox.filter((m) => m.to !== id && m.from !== id);
  }

  engine(id: number): PaxosEngine {
    const e = this.engines.get(nodeId(id));
    assert.ok(e !== undefined, `node ${id} is down`);
    return e;
  }

  isolate(id: number): void {
    for (const other of this.disks.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
    this.filter = null;
  }

  /** process runs every node's Ready until none has any: persist, queue messages, apply, advance. */
  process(): void {
    for (const [id, engine] of this.engines) {
      while (engine.hasReady()) {
        const rd = engine.ready();
        const disk = this.disks.get(id);
        assert.ok(disk !== undefined);
        if (rd.snapshot !== null) {
          const at = rd.snapshot.meta.index;
          // The contract: a Ready's snapshot replaces the whole stored log; kept entries come back in rd.entries.
          disk.snapshot = rd.snapshot;
          disk.entries = [];
          this.snapshots.get(id)?.push(rd.snapshot);
          // The state machine is replaced by the snapshot: forget what was applied below it.
          this.applied.set(id, (this.applied.get(id) ?? []).filter((e) => e.index > at));
        }
        const first = rd.entries[0];
        if (first !== undefined) {
          const base = disk.snapshot?.meta.index ?? 0;
          const top = disk.entries[disk.entries.length - 1]?.index ?? base;
          assert.ok(first.index > base && first.index <= top + 1, `node ${id} persisted slot ${first.index} outside (${base}, ${top + 1}]`);
          disk.entries = [...disk.entries.filter((e) => e.index < first.index), ...rd.entries];
        }
        if (rd.hardState !== null) disk.hardState = rd.hardState;
        assert.ok(rd.messages.length < 10_000, `node ${id} sent ${rd.messages.length} messages in one Ready`);
        for (const m of rd.messages) {
          checkDurable(m, disk);
          this.sent.push(m);
          this.inbox.push(m);
        }
        this.applied.get(id)?.push(...rd.committedEntries);
        this.reads.get(id)?.push(...rd.readStates);
        this.dropped.get(id)?.push(...rd.droppedReads);
        engine.advance(rd);
      }
    }
  }

  /** deliverOnce hands every queued message to its target once; returns how many were queued. */
  deliverOnce(): number {
    this.process();
    const batch = this.inbox;
    this.inbox = [];
    for (const msg of batch) {
      if (this.cut.has(`${msg.from}>${msg.to}`)) continue;
      if (this.filter !== null && !this.filter(msg)) continue;
      this.engines.get(msg.to)?.step(msg);
    }
    this.process();
    return batch.length;
  }

  /** stabilize delivers until the network is quiet. */
  stabilize(rounds = 200): void {
    for (let i = 0; i < rounds; i++) if (this.deliverOnce() === 0) return;
  }

  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const engine of this.engines.values()) engine.tick();
      this.stabilize();
    }
  }

  /** campaign ticks only `id` until it starts phase 1, then lets the network settle. */
  campaign(id: number): void {
    const e = this.engine(id);
    for (let i = 0; i < 100 && e.status().role === "follower"; i++) {
      e.tick();
      this.process();
    }
    assert.notEqual(e.status().role, "follower", `node ${id} did not campaign`);
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.engines].filter(([, e]) => e.status().role === "leader").map(([id]) => id);
  }

  /** appliedData lists a node's applied client values, "" for no-ops, "#config" for config entries. */
  appliedData(id: number): string[] {
    return (this.applied.get(nodeId(id)) ?? []).map((e) => (e.type === "normal" ? text(e.data) : "#config"));
  }

  /** appliedValues lists only the non-empty client values a node applied. */
  values(id: number): string[] {
    return this.appliedData(id).filter((v) => v !== "" && v !== "#config");
  }

  /**
   * checkAgreement asserts state machine safety: no two nodes applied different
   * entries at the same slot, and each applied in slot order without gaps.
   */
  checkAgreement(): void {
    const bySlot = new Map<number, string>();
    for (const [id, entries] of this.applied) {
      let prev = -1;
      for (const e of entries) {
        assert.ok(prev === -1 || e.index === prev + 1, `node ${id} applied slot ${e.index} after ${prev}`);
        prev = e.index;
        const v = e.type === "normal" ? `n:${text(e.data)}` : `c:${JSON.stringify(e.change)}`;
        const seen = bySlot.get(e.index);
        if (seen === undefined) bySlot.set(e.index, v);
        else assert.equal(v, seen, `slot ${e.index}: node ${id} applied ${v}, another node ${seen}`);
      }
    }
  }
}

/**
 * checkDurable asserts the Ready contract as a message leaves: a promise or an
 * accept acknowledgement only acknowledges what is already on the sender's disk.
 */
export function checkDurable(m: PaxosMessage, disk: Disk): void {
  if (m.type === "promise" || m.type === "accepted" || m.type === "heartbeatResponse") {
    assert.ok(disk.hardState.promised >= m.ballot || m.type !== "promise", `node ${m.from} sent a promise of ${m.ballot} not on disk (${disk.hardState.promised})`);
  }
  if (m.type === "accepted" && !m.reject) {
    const top = disk.entries[disk.entries.length - 1]?.index ?? disk.snapshot?.meta.index ?? 0;
    assert.ok(top >= m.prefix || (disk.snapshot?.meta.index ?? 0) >= m.prefix, `node ${m.from} acknowledged slot ${m.prefix} not on disk`);
  }
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
