/** nodeIdsMax bounds the node ids the simulator uses: 1..nodeIdsMax. */
export const nodeIdsMax = 5;
const width = nodeIdsMax + 1;

/** PartitionShape names how a partition cut the network, for the trace. */
export const PartitionShape = {
  symmetric: 1,
  isolateLeader: 2,
  oneWayOut: 3,
  oneWayIn: 4,
  bridge: 5,
  configLine: 6,
  randomLinks: 7,
  figure8: 8,
} as const;
export type PartitionShape = (typeof PartitionShape)[keyof typeof PartitionShape];

/**
 * Links is the peer network's connectivity: a directed matrix of blocked links.
 * Client connections do not go through it (see the simulator's module comment).
 */
export class Links {
  private readonly blocked = new Uint8Array(width * width);
  /** active says whether any link is blocked now. */
  active = false;

  isBlocked(from: number, to: number): boolean {
    return this.active && this.blocked[from * width + to] === 1;
  }

  clear(): void {
    this.blocked.fill(0);
    this.active = false;
  }

  /** blockOneWay blocks every link from a node of `from` to a node of `to`. */
  blockOneWay(from: readonly number[], to: readonly number[]): void {
    for (const a of from) for (const b of to) if (a !== b) this.blocked[a * width + b] = 1;
    this.active = true;
  }

  /** blockBoth blocks both directions between the two sides. */
  blockBoth(a: readonly number[], b: readonly number[]): void {
    this.blockOneWay(a, b);
    this.blockOneWay(b, a);
  }

  /** blockLink blocks one directed link. */
  blockLink(from: number, to: number): void {
    this.blocked[from * width + to] = 1;
    this.active = true;
  }
}

/** mask packs a set of node ids into a bit mask, for the trace. */
export function mask(ids: readonly number[]): number {
  let m = 0;
  for (const id of ids) m |= 1 << id;
  return m;
}
