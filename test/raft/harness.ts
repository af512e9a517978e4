import { SeededRandom } from "../../src/consensus/random.js";
import { defaultRaftLimits } from "../../src/consensus/raft/config.js";
import type { RaftConfig, RaftDurableState } from "../../src/consensus/raft/config.js";
import type { RaftHardState, RaftMessage } from "../../src/consensus/raft/messages.js";
import { RaftEngine } from "../../src/consensus/raft/raft.js";
import { emptyMembership } from "../../src/consensus/membership.js";
import { groupId, nodeId } from "../../src/consensus/types.js";
import type { Entry, Membership, NodeId, ReadState, Snapshot } from "../../src/consensus/types.js";

/** Disk is what one node made durable. */
interface Disk {
  hardState: RaftHardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  bootstrap: Membership;
}

/**
 * Cluster drives engines by hand for unit tests: every message goes through
 * `deliver`, which can drop traffic between cut-off pairs. Applied entries and
 * read states are recorded per node.
 */
export class Cluster {
  readonly engines = new Map<NodeId, RaftEngine>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly reads = new Map<NodeId, ReadState[]>();
  readonly dropped = new Map<NodeId, number[]>();
  readonly cut = new Set<string>();
  readonly down = new Set<NodeId>();
  inbox: RaftMessage[] = [];
  private seed = 1;

  constructor(
    ids: number[],
    private readonly overrides: Partial<RaftConfig> = {},
  ) {
    const bootstrap: Membership = { voters: ids.map(nodeId), votersOutgoing: [], learners: [] };
    for (const id of ids) this.addNode(nodeId(id), bootstrap);
  }

  addNode(id: NodeId, bootstrap: Membership = emptyMembership): void {
    this.disks.set(id, { hardState: { term: 0, vote: 0, commit: 0 } as unknown as RaftHardState, snapshot: null, entries: [], bootstrap });
    this.applied.set(id, []);
    this.reads.set(id, []);
    this.dropped.set(id, []);
    this.start(id);
  }

  start(id: NodeId): void {
    const disk = this.disks.get(id);
    if (disk === undefined) throw new Error(`no node ${id}`);
    const config: RaftConfig = {
      ...defaultRaftLimits,
      id,
      groupId: groupId(1),
      random: new SeededRandom(this.seed++ * 7919 + id),
      ...this.overrides,
    };
    const durable: RaftDurableState = { ...disk, entries: [...disk.entries] };
    this.engines.set(id, new RaftEngine(config, durable));
    this.down.delete(id);
  }

  crash(id: NodeId): void {
    this.engines.delete(id);
    this.down.add(id);
  }

  engine(id: number): RaftEngine {
    const e = this.engines.get(nodeId(id));
    if (e === undefined) throw new Error(`node ${id} is down`);
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
  }

  /** process runs every node's Ready: persist, queue messages, apply. */
  process(): void {
    for (const [id, engine] of this.engines) {
      while (engine.hasReady()) {
        const rd = engine.ready();
        const disk = this.disks.get(id);
        if (disk === undefined) throw new Error("disk");
        if (rd.snapshot !== null) {
          this.applied.get(id)?.push({ index: rd.snapshot.meta.index, term: rd.snapshot.meta.term, type: "normal", data: bytes(`[snapshot@${rd.snapshot.meta.index}]`) });
          disk.snapshot = rd.snapshot;
          disk.entries = disk.entries.filter((e) => e.index > (rd.snapshot?.meta.index ?? 0));
        }
        const first = rd.entries[0];
        if (first !== undefined) disk.entries = [...disk.entries.filter((e) => e.index < first.index), ...rd.entries];
        if (rd.hardState !== null) disk.hardState = rd.hardState;
        this.inbox.push(...rd.messagesBeforePersist, ...rd.messages);
        this.applied.get(id)?.push(...rd.committedEntries);
        this.reads.get(id)?.push(...rd.readStates);
        this.dropped.get(id)?.push(...rd.droppedReads);
        engine.advance(rd);
      }
    }
  }

  /** deliver hands every queued message to its target until the network is quiet. */
  stabilize(rounds = 100): void {
    for (let i = 0; i < rounds; i++) {
      this.process();
      if (this.inbox.length === 0) return;
      const batch = this.inbox;
      this.inbox = [];
      for (const msg of batch) {
        if (this.cut.has(`${msg.from}>${msg.to}`)) continue;
        this.engines.get(msg.to)?.step(msg);
      }
    }
  }

  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const engine of this.engines.values()) engine.tick();
      this.stabilize();
    }
  }

  /** elect ticks until `id` campaigns... or, simpler, forces it by transfer-free campaigning. */
  campaign(id: number): void {
    // Tick only this node until it campaigns; others hear about it through messages.
    const engine = this.engine(id);
    for (let i = 0; i < 100 && engine.status().role === "follower"; i++) {
      engine.tick();
      this.stabilize();
    }
    this.stabilize();
  }

  leader(): NodeId | undefined {
    let found: NodeId | undefined;
    let term = -1;
    for (const [id, e] of this.engines) {
      const s = e.status();
      if (s.role === "leader" && s.term > term) {
        found = id;
        term = s.term;
      }
    }
    return found;
  }

  appliedData(id: number): string[] {
    return (this.applied.get(nodeId(id)) ?? []).flatMap((e) => (e.type === "normal" && e.data.length > 0 ? [new TextDecoder().decode(e.data)] : []));
  }
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
