/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * stored record. Pure JavaScript, slicing-by-8: eight 256-entry tables let the
 * main loop consume eight bytes per iteration.
 *
 * `crc32c(bytes, seed)` chains: crc32c(b, crc32c(a)) === crc32c(a ‖ b).
 */

const polynomial = 0x82f63b78;

function buildTables(): readonly Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polynomial : c >>> 1;
    first[n] = c >>> 0;
  }
  tables.push(first);
  for (let t = 1; t < 8; t++) {
    const previous = tables[t - 1] as Uint32Array;
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = previous[n] as number;
      table[n] = ((p >>> 8) ^ (first[p & 0xff] as number)) >>> 0;
    }
    tables.push(table);
  }
  return tables;
}

const [t0, t1, t2, t3, t4, t5, t6, t7] = buildTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/** crc32c returns the CRC-32C of `bytes`, continuing from `seed` (the CRC of what came before). */
export function crc32c(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  const length = bytes.length;
  let i = 0;
  // Indexing a Uint8Array/Uint32Array inside bounds always yields a number; the
  // non-null assertions below are proven by the loop bounds.
  for (; i + 8 <= length; i += 8) {
    const lo = (crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < length; i++) crc = t0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
