import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  CHUNK_MIN,
  CHUNK_AVG,
  CHUNK_MAX,
  chunk,
  chunkBoundaries,
  gearTable,
} from "../../engine/core/chunker.ts";

/** Deterministic text-like bytes: xorshift32 mapped to printable ASCII plus newlines. */
function textLike(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1; // xorshift32 must not start at 0
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x % 61 === 0 ? 10 : 32 + ((x >>> 8) % 95);
  }
  return out;
}

/** Raw xorshift32 bytes (full 0..255 range). */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x >>> 24;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ids = (data: Uint8Array) => chunk(data).map((c) => bytesToHex(sha256(c)));

/** Chunks of `after` whose content does not appear among the chunks of `before`. */
function newChunkCount(before: Uint8Array, after: Uint8Array): number {
  const old = new Set(ids(before));
  return ids(after).filter((id) => !old.has(id)).length;
}

function checkInvariants(data: Uint8Array): void {
  const ends = chunkBoundaries(data);
  if (data.length === 0) {
    expect(ends).toEqual([]);
    return;
  }
  expect(ends[ends.length - 1]).toBe(data.length);
  let prev = 0;
  for (let k = 0; k < ends.length; k++) {
    const len = ends[k] - prev;
    expect(len).toBeGreaterThan(0);
    expect(len).toBeLessThanOrEqual(CHUNK_MAX);
    if (k < ends.length - 1) expect(len).toBeGreaterThanOrEqual(CHUNK_MIN);
    prev = ends[k];
  }
  const parts = chunk(data);
  expect(parts.length).toBe(ends.length);
  expect(bytesToHex(concat(...parts))).toBe(bytesToHex(data));
}

describe("chunker format (golden vectors: must never change)", () => {
  it("has the documented constants", () => {
    expect([CHUNK_MIN, CHUNK_AVG, CHUNK_MAX]).toEqual([8192, 16384, 65536]);
  });

  it("gear table = BE uint32 prefix of sha256('gear' || i)", () => {
    const g = gearTable();
    expect(g.length).toBe(256);
    expect(Array.from(g.slice(0, 8))).toEqual([
      0xbd3e8854, 0x8a591052, 0xfb3bce88, 0x36fc5bc9, 0xf54cb6b0, 0x9b7f5031, 0x987a59c0,
      0x35e50a2f,
    ]);
    for (let i = 0; i < 256; i++) {
      const d = sha256(new Uint8Array([0x67, 0x65, 0x61, 0x72, i]));
      expect(g[i]).toBe(new DataView(d.buffer, d.byteOffset, 4).getUint32(0, false));
    }
  });

  it("golden boundaries for 300,000 text-like bytes (xorshift32 seed 1)", () => {
    // Cross-checked against an independent Python implementation of the header spec.
    expect(chunkBoundaries(textLike(300_000, 1))).toEqual([
      24624, 46762, 65677, 83440, 100192, 112102, 137060, 160265, 183946, 207746, 225231,
      243118, 269849, 291327, 300000,
    ]);
  });

  it("small and degenerate inputs", () => {
    expect(chunkBoundaries(new Uint8Array(0))).toEqual([]);
    expect(chunk(new Uint8Array(0))).toEqual([]);
    expect(chunkBoundaries(new Uint8Array(1))).toEqual([1]);
    expect(chunkBoundaries(textLike(CHUNK_MIN, 7))).toEqual([CHUNK_MIN]);
    // All-zero input never matches a mask, so only the MAX rule cuts it.
    expect(chunkBoundaries(new Uint8Array(200 * 1024))).toEqual([65536, 131072, 196608, 204800]);
  });

  it("chunk() returns views over the input, not copies", () => {
    const data = textLike(100_000, 3);
    for (const c of chunk(data)) expect(c.buffer).toBe(data.buffer);
  });
});

describe("chunker invariants", () => {
  it("holds for random, text-like and low-entropy inputs up to ~300 KB", () => {
    const len = fc.oneof(
      fc.integer({ min: 0, max: 300_000 }),
      fc.constantFrom(CHUNK_MIN - 1, CHUNK_MIN, CHUNK_MIN + 1, CHUNK_MAX, CHUNK_MAX + 1),
    );
    const kind = fc.constantFrom("random", "text", "zeros", "period");
    fc.assert(
      fc.property(len, fc.integer({ min: 1, max: 0x7fffffff }), kind, (n, seed, k) => {
        let data: Uint8Array;
        if (k === "random") data = randomBytes(n, seed);
        else if (k === "text") data = textLike(n, seed);
        else if (k === "zeros") data = new Uint8Array(n);
        else data = Uint8Array.from({ length: n }, (_, i) => (i * 7 + (seed & 0xff)) % 13);
        checkInvariants(data);
      }),
      { numRuns: 30 },
    );
  });

  it("holds for arbitrary fast-check byte arrays", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40_000 }), (data) => checkInvariants(data)),
      { numRuns: 30 },
    );
  });
});

describe("chunker stability (edits only touch nearby chunks)", () => {
  const MIB = 1 << 20;
  const base = textLike(MIB, 42);
  const mid = MIB >> 1;

  it("insert 10 bytes in the middle: <= 3 new chunks", () => {
    const edited = concat(base.subarray(0, mid), textLike(10, 99), base.subarray(mid));
    expect(newChunkCount(base, edited)).toBeLessThanOrEqual(3);
  });

  it("delete 100 bytes in the middle: <= 3 new chunks", () => {
    const edited = concat(base.subarray(0, mid), base.subarray(mid + 100));
    expect(newChunkCount(base, edited)).toBeLessThanOrEqual(3);
  });

  it("append at the end: <= 2 new chunks", () => {
    const edited = concat(base, textLike(5_000, 123));
    expect(newChunkCount(base, edited)).toBeLessThanOrEqual(2);
  });

  it("1 MiB of text gets a plausible number of chunks", () => {
    const n = chunkBoundaries(base).length;
    // Mean size lands between MIN and MAX (about 19 KiB with these masks).
    expect(n).toBeGreaterThan(MIB / CHUNK_MAX);
    expect(n).toBeLessThan(MIB / CHUNK_MIN);
  });
});

describe("chunker determinism", () => {
  it("same data gives the same boundaries", () => {
    const data = randomBytes(500_000, 2024);
    expect(chunkBoundaries(data)).toEqual(chunkBoundaries(data));
    expect(chunkBoundaries(data.slice())).toEqual(chunkBoundaries(data));
  });
});
