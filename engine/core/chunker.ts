/**
 * Content-defined chunking (FastCDC-style, with normalized chunking).
 *
 * FORMAT-CRITICAL: the cut points produced here decide chunk identities on
 * disk and on the wire. Changing ANY constant or rule below changes every
 * chunk hash and breaks dedup against existing data. Do not edit; add a new
 * versioned chunker instead.
 *
 * Definition (version 1):
 *   GEAR[i]  = big-endian uint32 of the first 4 bytes of
 *              SHA-256([0x67, 0x65, 0x61, 0x72, i])   ("gear" || byte i),
 *              for i = 0..255.
 *   Hash     h = ((h << 1) + GEAR[byte]) mod 2^32, reset to 0 per chunk.
 *   Sizes    CHUNK_MIN = 8192, CHUNK_AVG = 16384, CHUNK_MAX = 65536.
 *   Masks    MASK_S = 0xFFFF0000 (16 bits), MASK_L = 0xFFF00000 (12 bits).
 *            High bits are tested because bit k of h depends on the last
 *            k+1 bytes only; the top bits mix the widest window.
 *
 *   For a chunk starting at offset s in data of length n:
 *     - if n - s <= CHUNK_MIN, the chunk is [s, n).
 *     - otherwise, with h = 0, for each offset i from s + CHUNK_MIN up to
 *       min(s + CHUNK_MAX, n) - 1: fold data[i] into h, then test
 *       (h & mask) === 0 with mask = MASK_S if i - s < CHUNK_AVG, else
 *       MASK_L. On a hit the chunk is [s, i + 1) (byte i included).
 *     - if no hit, the chunk is [s, min(s + CHUNK_MAX, n)).
 *   The first CHUNK_MIN bytes of a chunk are never hashed (cut-point
 *   skipping). Empty input has zero chunks. Only the final chunk may be
 *   shorter than CHUNK_MIN.
 *
 * Portable: Uint8Array only, no Node built-ins, so it runs in browsers,
 * Workers and Node alike.
 */
import { sha256 } from "@noble/hashes/sha2.js";

export const CHUNK_MIN = 8192;
export const CHUNK_AVG = 16384;
export const CHUNK_MAX = 65536;

// Stored as signed int32 (`| 0`) so V8 keeps the hot loop in small-integer
// arithmetic; the bit pattern, and therefore every cut, equals the uint32
// definition above.
const MASK_S = 0xffff0000 | 0;
const MASK_L = 0xfff00000 | 0;

const GEAR: Int32Array = buildGear();

function buildGear(): Int32Array {
  const table = new Int32Array(256);
  const seed = new Uint8Array([0x67, 0x65, 0x61, 0x72, 0]); // "gear" + i
  for (let i = 0; i < 256; i++) {
    seed[4] = i;
    const d = sha256(seed);
    table[i] = (d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3];
  }
  return table;
}

/** Copy of the gear table as uint32 values (for tests and other implementations). */
export function gearTable(): Uint32Array {
  return new Uint32Array(GEAR);
}

/** Returns the end offsets (exclusive) of each chunk; last === data.length for non-empty input. */
export function chunkBoundaries(data: Uint8Array): number[] {
  const n = data.length;
  const out: number[] = [];
  let start = 0;
  while (start < n) {
    start = cutPoint(data, start, n);
    out.push(start);
  }
  return out;
}

/** End offset of the chunk that begins at `start` (see header for the rule). */
function cutPoint(data: Uint8Array, start: number, n: number): number {
  if (n - start <= CHUNK_MIN) return n;
  const gear = GEAR;
  const end = Math.min(start + CHUNK_MAX, n);
  const normal = Math.min(start + CHUNK_AVG, end);
  let h = 0;
  let i = start + CHUNK_MIN;
  // Below the average size: strict mask, so chunks rarely end early.
  for (; i < normal; i++) {
    h = ((h << 1) + gear[data[i]]) | 0;
    if ((h & MASK_S) === 0) return i + 1;
  }
  // At/after the average size: loose mask, so chunks converge before MAX.
  for (; i < end; i++) {
    h = ((h << 1) + gear[data[i]]) | 0;
    if ((h & MASK_L) === 0) return i + 1;
  }
  return end;
}

/** Convenience: slices (subarray views, no copies). */
export function chunk(data: Uint8Array): Uint8Array[] {
  const ends = chunkBoundaries(data);
  const parts: Uint8Array[] = new Array(ends.length);
  let prev = 0;
  for (let k = 0; k < ends.length; k++) {
    parts[k] = data.subarray(prev, ends[k]);
    prev = ends[k];
  }
  return parts;
}
