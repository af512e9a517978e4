/**
 * Byte-string helpers for the MVCC core: unsigned lexicographic comparison,
 * concatenation, prefix ends and fixed-width big-endian integers. Pure.
 */

/** compareBytes orders two byte strings as unsigned bytes, lexicographically; a prefix sorts first. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** equalBytes reports whether two byte strings hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** concatBytes joins byte strings into a new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * prefixEnd returns the smallest byte string greater than every string that
 * starts with `prefix` (the `range_end` etcd clients send for a prefix), or
 * undefined when no such string exists (the prefix is empty or all 0xff).
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i] ?? 0;
    if (b < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = b + 1;
      return end;
    }
  }
  return undefined;
}

const TWO_POW_32 = 0x1_0000_0000;

/** writeUint64 stores a non-negative safe integer as 8 big-endian bytes at `offset`. */
export function writeUint64(view: DataView, offset: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`);
  view.setUint32(offset, Math.floor(n / TWO_POW_32));
  view.setUint32(offset + 4, n >>> 0);
}

/** readUint64 reads 8 big-endian bytes at `offset` as a number (exact below 2^53). */
export function readUint64(view: DataView, offset: number): number {
  return view.getUint32(offset) * TWO_POW_32 + view.getUint32(offset + 4);
}

/** viewOf returns a DataView over exactly the bytes of `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * binaryString maps each byte to one UTF-16 unit (0–255), so the strings
 * compare with `<` exactly as the bytes do and can key a Map or Set.
 */
export function binaryString(bytes: Uint8Array): string {
  let s = "";
  const chunk = 0x2000;
  for (let i = 0; i < bytes.length; i += chunk) {
    s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return s;
}

const encoder = new TextEncoder();

/** utf8 encodes a string as UTF-8 bytes (a convenience for constants and tests). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
