/**
 * Fnv64 is an incremental FNV-1a 64-bit hash over 32-bit words and short
 * strings, kept as two 32-bit halves so it needs no BigInt in the hot path.
 * The simulator folds every trace event into one, so a run's digest proves two
 * runs took the same path without keeping the trace in memory.
 */
export class Fnv64 {
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;

  /** mixWord folds one unsigned 32-bit word (higher bits of `n` are folded too). */
  mixWord(n: number): void {
    if (n >= 0 && n <= 0xffffffff && Number.isInteger(n)) {
      this.step(n >>> 0);
      return;
    }
    // Rare: negative, fractional or wide numbers; fold both halves of a 64-bit view.
    const wide = Math.trunc(n);
    this.step(wide >>> 0);
    this.step(Math.floor(wide / 0x100000000) >>> 0);
  }

  /** mixString folds every UTF-16 unit of `s`, then its length. */
  mixString(s: string): void {
    for (let i = 0; i < s.length; i++) this.step(s.charCodeAt(i));
    this.step(s.length);
  }

  /** mixBytes folds every byte of `bytes`, then its length. */
  mixBytes(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.step(bytes[i] ?? 0);
    this.step(bytes.length);
  }

  /** hex returns the 16-digit hexadecimal digest. */
  hex(): string {
    return this.hi.toString(16).padStart(8, "0") + this.lo.toString(16).padStart(8, "0");
  }

  /** low32 returns the low half of the digest, for use as a cheap content hash. */
  low32(): number {
    return this.lo;
  }

  private step(word: number): void {
    // h ^= word; h *= 0x100000001b3 (mod 2^64), with 0x100000001b3 = 2^40 + 435.
    const lo = (this.lo ^ word) >>> 0;
    const product = lo * 435;
    const carry = Math.floor(product / 0x100000000);
    this.lo = product >>> 0;
    this.hi = (Math.imul(this.hi, 435) + carry + (lo << 8)) >>> 0;
  }
}

/** hashBytes returns a 32-bit FNV-1a hash of `bytes`, for content comparisons. */
export function hashBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] ?? 0;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mixHash32 folds a 32-bit value into a 32-bit FNV-1a state. */
export function mixHash32(h: number, word: number): number {
  return Math.imul((h ^ word) >>> 0, 0x01000193) >>> 0;
}
