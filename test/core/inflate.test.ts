// The bounded gzip decoder (engine/core/inflate.ts) against node:zlib, fflate and hostile input.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { constants, gzipSync, crc32 as zlibCrc32 } from "node:zlib";
import { gzipSync as fflateGzip } from "fflate";
import { crc32, gunzipExact, InflateError } from "../../engine/core/inflate.ts";

/** Bytes with runs and a small alphabet now and then, so every block type and match length shows up. */
const data = fc
  .tuple(fc.uint8Array({ maxLength: 6000 }), fc.integer({ min: 1, max: 256 }), fc.double({ min: 0, max: 0.95, noNaN: true }))
  .map(([seed, alphabet, runs]) => {
    const out = new Uint8Array(seed.length * 3);
    for (let i = 0; i < out.length; i++) {
      const s = seed[i % Math.max(1, seed.length)] ?? 0;
      out[i] = i > 0 && (s / 255) < runs ? out[i - 1 - (s % Math.min(i, 40))] : s % alphabet;
    }
    return out;
  });

const WRITERS: [string, (d: Uint8Array) => Uint8Array][] = [
  ["zlib level 1", (d) => gzipSync(d, { level: 1 })],
  ["zlib level 4", (d) => gzipSync(d, { level: 4, memLevel: 9 })],
  ["zlib level 9", (d) => gzipSync(d, { level: 9 })],
  ["zlib Huffman only", (d) => gzipSync(d, { strategy: constants.Z_HUFFMAN_ONLY })],
  ["zlib fixed codes", (d) => gzipSync(d, { strategy: constants.Z_FIXED })],
  ["zlib run-length", (d) => gzipSync(d, { strategy: constants.Z_RLE })],
  ["zlib stored", (d) => gzipSync(d, { level: 0 })],
  ["fflate level 4", (d) => fflateGzip(d, { level: 4 })],
];

function gzipWithHeader(flags: number, extra: Uint8Array, body: Uint8Array): Uint8Array {
  const gz = gzipSync(body);
  const head = [0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3];
  return new Uint8Array([...head, ...extra, ...gz.subarray(10)]);
}

/** A DEFLATE bit writer (LSB first), for hand-made streams. */
class Bits {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(value: number, count: number): this {
    for (let i = 0; i < count; i++) this.bit((value >>> i) & 1);
    return this;
  }
  /** A Huffman code, most significant bit first. */
  code(code: number, len: number): this {
    for (let i = len - 1; i >= 0; i--) this.bit((code >>> i) & 1);
    return this;
  }
  private bit(b: number): void {
    this.acc |= b << this.n;
    if (++this.n === 8) {
      this.bytes.push(this.acc);
      this.acc = 0;
      this.n = 0;
    }
  }
  finish(): Uint8Array {
    if (this.n) this.bytes.push(this.acc);
    return new Uint8Array(this.bytes);
  }
}

function gzipOf(deflate: Uint8Array, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(10 + deflate.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  out.set(deflate, 10);
  const dv = new DataView(out.buffer, 10 + deflate.length);
  dv.setUint32(0, zlibCrc32(raw), true);
  dv.setUint32(4, raw.length, true);
  return out;
}

/**
 * An empty dynamic block whose literal code is 15 bits deep (symbols 0..14 get lengths 1..15, the
 * end-of-block code 15): ~25 bytes that make a decoder build a 32,768-entry table.
 */
function deepEmptyBlock(w: Bits, final: number): void {
  w.put(final, 1).put(2, 2);
  w.put(0, 5).put(0, 5).put(15, 4); // 257 literal/length codes, 1 distance code, 19 code-length codes
  for (let i = 0; i < 19; i++) w.put(5, 3); // every code-length code 5 bits: symbol s has code s
  const len = (s: number) => w.code(s, 5);
  for (let s = 1; s <= 15; s++) len(s); // symbols 0..14: lengths 1..15
  len(18).put(138 - 11, 7); // symbols 15..152: unused
  len(18).put(103 - 11, 7); // symbols 153..255: unused
  len(15); // 256 (end of block): 15
  len(0); // the one distance code: unused
  w.code(0x7fff, 15); // end of block
}

describe("gunzipExact", () => {
  for (const [name, write] of WRITERS) {
    it(`${name}: inflates exactly what node:zlib wrote, bit for bit`, () => {
      fc.assert(
        fc.property(data, (d) => {
          expect(Buffer.from(gunzipExact(write(d), d.length)).equals(Buffer.from(d))).toBe(true);
        }),
        { numRuns: 60 },
      );
    });
  }

  it("a frame of 256 KiB with long matches and the largest distances", () => {
    const d = new Uint8Array(256 * 1024);
    for (let i = 0; i < d.length; i++) d[i] = i < 40000 ? (i * 7919) % 251 : d[i - 32768 + (i % 3)];
    expect(Buffer.from(gunzipExact(gzipSync(d, { level: 9 }), d.length)).equals(Buffer.from(d))).toBe(true);
  });

  it("reads gzip headers with a name, a comment, an extra field and a header CRC, and members back to back", () => {
    const body = new TextEncoder().encode("hello, header fields");
    const withAll = gzipWithHeader(4 | 8 | 16 | 2, new Uint8Array([3, 0, 1, 2, 3, 0x61, 0, 0x62, 0, 0xaa, 0xbb]), body);
    expect(new TextDecoder().decode(gunzipExact(withAll, body.length))).toBe("hello, header fields");
    const two = new Uint8Array([...gzipSync(body.subarray(0, 5)), ...gzipSync(body.subarray(5))]);
    expect(new TextDecoder().decode(gunzipExact(two, body.length))).toBe("hello, header fields");
  });

  it("a bomb stops at the declared length: 1 GiB of zeros declared as 4 MiB, and as 100 bytes", () => {
    const bomb = gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    expect(() => gunzipExact(bomb, 4 * 1024 * 1024)).toThrow(/inflates past the 4194304 bytes its header declares/);
    expect(() => gunzipExact(bomb, 100)).toThrow(InflateError);
  });

  it("a stream that inflates to less than declared, or whose trailer lies, is refused", () => {
    const d = new TextEncoder().encode("some text, some text, some text");
    const gz = gzipSync(d);
    expect(() => gunzipExact(gz, d.length + 1)).toThrow(/inflated to/);
    const badCrc = gz.slice();
    badCrc[badCrc.length - 8] ^= 1;
    expect(() => gunzipExact(badCrc, d.length)).toThrow(/CRC-32/);
    const badSize = gz.slice();
    badSize[badSize.length - 4] ^= 1;
    expect(() => gunzipExact(badSize, d.length)).toThrow(/length field/);
    expect(() => gunzipExact(new Uint8Array([0x1f, 0x8c, ...gz.subarray(2)]), d.length)).toThrow(/not a gzip member/);
  });

  it("every truncation is refused", () => {
    const d = new TextEncoder().encode("truncate me ".repeat(200));
    for (const write of [(x: Uint8Array) => gzipSync(x), (x: Uint8Array) => gzipSync(x, { level: 0 }), (x: Uint8Array) => gzipSync(x, { strategy: constants.Z_FIXED })]) {
      const gz = write(d);
      for (let n = 0; n < gz.length; n++) expect(() => gunzipExact(gz.subarray(0, n), d.length)).toThrow(InflateError);
    }
  });

  it("a flipped byte anywhere either is refused or changes nothing (never other bytes)", () => {
    fc.assert(
      fc.property(data, fc.nat(), fc.integer({ min: 1, max: 255 }), (d, at, x) => {
        const gz = gzipSync(d);
        const bad = gz.slice();
        bad[at % bad.length] ^= x;
        let out: Uint8Array | null = null;
        try {
          out = gunzipExact(bad, d.length);
        } catch (e) {
          expect(e).toBeInstanceOf(InflateError);
        }
        if (out) expect(Buffer.from(out).equals(Buffer.from(d))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("hand-made streams: fixed codes with an overlapping match; a distance before the start is refused", () => {
    // Fixed codes: 'a' (0x61: code 0x30 + 0x61, 8 bits), then length 10 (symbol 264: 7 bits 0001000) at distance 1 (5 bits 0).
    const ok = new Bits().put(1, 1).put(1, 2).code(0x30 + 0x61, 8).code(8, 7).code(0, 5).code(0, 7).finish();
    const raw = new TextEncoder().encode("a".repeat(11));
    expect(new TextDecoder().decode(gunzipExact(gzipOf(ok, raw), 11))).toBe("a".repeat(11));
    const far = new Bits().put(1, 1).put(1, 2).code(0x30 + 0x61, 8).code(8, 7).code(1, 5).code(0, 7).finish();
    expect(() => gunzipExact(gzipOf(far, raw), 11)).toThrow(/distance too far back/);
  });

  it("many tiny blocks with 15-bit codes cannot make it build tables without end", () => {
    const one = new Bits();
    deepEmptyBlock(one, 1);
    // One such block is legal and decodes to nothing.
    expect(gunzipExact(gzipOf(one.finish(), new Uint8Array(0)), 0).length).toBe(0);
    const many = new Bits();
    for (let i = 0; i < 2000; i++) deepEmptyBlock(many, i === 1999 ? 1 : 0);
    expect(() => gunzipExact(gzipOf(many.finish(), new Uint8Array(0)), 0)).toThrow(/too many Huffman tables/);
  });

  it("crc32 matches node:zlib", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (d) => {
        expect(crc32(d)).toBe(zlibCrc32(d));
      }),
    );
  });
});
