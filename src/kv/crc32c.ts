/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven and
 * incremental: the checksum etcd uses for its KV hash. Pure.
 */
const table = buildTable();

function buildTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Crc32c accumulates a CRC-32C over a sequence of byte strings. */
export class Crc32c {
  private state = 0xffffffff;

  /** update folds `bytes` into the checksum. */
  update(bytes: Uint8Array): void {
    let c = this.state;
    for (let i = 0; i < bytes.length; i++) c = (table[(c ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
    this.state = c;
  }

  /** digest returns the checksum of everything folded so far, as an unsigned 32-bit number. */
  digest(): number {
    return (this.state ^ 0xffffffff) >>> 0;
  }
}

/** crc32c returns the CRC-32C of one byte string. */
export function crc32c(bytes: Uint8Array): number {
  const c = new Crc32c();
  c.update(bytes);
  return c.digest();
}
