/**
 * ConfigSet remembers the search configurations already reached: the set of
 * linearized ops (a bitset over local op indices) and the register value.
 *
 * Lowe's memoisation skips a configuration seen before. This set skips one
 * that a remembered configuration dominates: same value, same determinate ops
 * linearized, a subset of its indeterminate ops, and no stricter `mustRead`
 * (see searchKey). Indeterminate ops are optional and which ops may go next
 * depends only on the determinate ones, so every completion of the dominated
 * configuration is a completion of the dominating one, which was or is being
 * explored.
 *
 * Open addressing with linear probing; entries are never removed. Indices into
 * the typed arrays are in bounds by construction, hence the `!` reads.
 */
export class ConfigSet {
  private readonly words: number;
  private readonly determinateMask: Uint32Array;
  /** slots holds entry index + 1, or 0 when empty; its length is a power of two. */
  private slots: Int32Array;
  private hashes: Int32Array;
  /** states holds value * 2 + mustRead. */
  private states: Int32Array;
  private bits: Uint32Array;
  private count = 0;

  /** determinateMask has a bit set for every determinate op; its length fixes the bitset width. */
  constructor(determinateMask: Uint32Array) {
    this.words = determinateMask.length;
    this.determinateMask = determinateMask;
    const entriesInitial = 256;
    this.slots = new Int32Array(entriesInitial * 2);
    this.hashes = new Int32Array(entriesInitial);
    this.states = new Int32Array(entriesInitial);
    this.bits = new Uint32Array(entriesInitial * this.words);
  }

  /** size is the number of configurations stored. */
  get size(): number {
    return this.count;
  }

  /**
   * addUnlessDominated returns false when a stored configuration dominates
   * (bits, value, mustRead); otherwise it stores a copy and returns true.
   * `hash` must depend only on the value and the determinate bits.
   */
  addUnlessDominated(hash: number, value: number, mustRead: number, bits: Uint32Array): boolean {
    const state = value * 2 + mustRead;
    const slotMask = this.slots.length - 1;
    let slot = hash & slotMask;
    for (let entry = this.slots[slot]!; entry !== 0; entry = this.slots[slot]!) {
      const e = entry - 1;
      const stored = this.states[e]!;
      // Same value, and the stored configuration's mustRead is 0 or equal to ours.
      if (this.hashes[e] === hash && (stored === state || stored === state - mustRead) && this.dominates(e, bits)) {
        return false;
      }
      slot = (slot + 1) & slotMask;
    }
    if (this.count === this.hashes.length) this.growEntries();
    const e = this.count++;
    this.hashes[e] = hash;
    this.states[e] = state;
    this.bits.set(bits, e * this.words);
    this.slots[slot] = e + 1;
    if (this.count * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    return true;
  }

  /** dominates: entry e has the same determinate bits as `bits` and a subset of its indeterminate bits. */
  private dominates(e: number, bits: Uint32Array): boolean {
    const base = e * this.words;
    for (let w = 0; w < this.words; w++) {
      const stored = this.bits[base + w]!;
      const current = bits[w]!;
      if (((stored & ~current) | (current & ~stored & this.determinateMask[w]!)) !== 0) return false;
    }
    return true;
  }

  private growEntries(): void {
    const capacity = this.hashes.length * 2;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const states = new Int32Array(capacity);
    states.set(this.states);
    this.states = states;
    const bits = new Uint32Array(capacity * this.words);
    bits.set(this.bits);
    this.bits = bits;
  }

  private rehash(slotCount: number): void {
    const slots = new Int32Array(slotCount);
    const slotMask = slotCount - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = this.hashes[e]! & slotMask;
      while (slots[slot] !== 0) slot = (slot + 1) & slotMask;
      slots[slot] = e + 1;
    }
    this.slots = slots;
  }
}
