import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { toHex, fromHex, utf8 } from "../../engine/core/bytes.ts";
import { CanonicalJsonError } from "../../engine/core/canonical.ts";
import { assertNoteId, decodeEmbedding, decodeJsonPart, encodeEmbedding, encodeJsonPart, isNoteId, NOTE_ID_RE } from "../../engine/core/parts.ts";

const bits = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

/** A Float32Array holding exactly these bit patterns (NaN payloads survive only this way). */
const fromBits = (patterns: number[]) => new Float32Array(new Uint32Array(patterns).buffer);

describe("embedding encoding", () => {
  it("golden: [1, -2.5, 0.1] is little-endian float32", () => {
    expect(toHex(encodeEmbedding([1, -2.5, 0.1]))).toBe("0000803f000020c0cdcccc3d");
    expect(toHex(encodeEmbedding(new Float32Array([1, -2.5, 0.1])))).toBe("0000803f000020c0cdcccc3d");
    expect(Array.from(decodeEmbedding(fromHex("0000803f000020c0cdcccc3d")))).toEqual([1, -2.5, Math.fround(0.1)]);
  });

  it("round-trips special values bit for bit: -0, subnormals, NaN payloads, infinities", () => {
    const patterns = [
      0x00000000, // +0
      0x80000000, // -0
      0x00000001, // smallest subnormal
      0x807fffff, // largest negative subnormal
      0x00800000, // smallest normal
      0x7f800000, // +Infinity
      0xff800000, // -Infinity
      0x7fc00000, // canonical quiet NaN
      0x7fc00001, // quiet NaN with payload
      0xffc12345, // negative quiet NaN with payload
      0x7f800001, // signalling NaN
      0x7fbfffff, // signalling NaN, all payload bits
      0x7f7fffff, // max finite
    ];
    const f = fromBits(patterns);
    const bytes = encodeEmbedding(f);
    expect(bytes.length).toBe(patterns.length * 4);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    patterns.forEach((p, i) => expect(dv.getUint32(i * 4, true) >>> 0).toBe(p >>> 0));
    expect(bits(decodeEmbedding(bytes))).toEqual(patterns.map((p) => p >>> 0));
  });

  it("round-trips any bit pattern (fast-check, Uint32Array views)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 512 }), (patterns) => {
        const out = decodeEmbedding(encodeEmbedding(fromBits(patterns)));
        expect(bits(out)).toEqual(patterns);
      }),
      { numRuns: 300 },
    );
  });

  it("encodes a view (non-zero byteOffset) and decodes from an unaligned view", () => {
    const whole = fromBits([0x3f800000, 0x7fc00001, 0xc0200000]);
    const view = whole.subarray(1, 3);
    const bytes = encodeEmbedding(view);
    expect(toHex(bytes)).toBe("0100c07f000020c0");
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(bits(decodeEmbedding(padded.subarray(3)))).toEqual([0x7fc00001, 0xc0200000]);
  });

  it("does not alias its input or output", () => {
    const f = new Float32Array([1, 2]);
    const bytes = encodeEmbedding(f);
    f[0] = 9;
    expect(toHex(bytes)).toBe("0000803f00000040");
    const out = decodeEmbedding(bytes);
    bytes[3] = 0;
    expect(out[0]).toBe(1);
  });

  it("384 dims are 1,536 bytes", () => {
    const f = new Float32Array(384).map((_, i) => Math.sin(i));
    const bytes = encodeEmbedding(f);
    expect(bytes.length).toBe(1536);
    expect(bits(decodeEmbedding(bytes))).toEqual(bits(f));
  });

  it("empty embedding is empty bytes", () => {
    expect(encodeEmbedding([]).length).toBe(0);
    expect(decodeEmbedding(new Uint8Array(0)).length).toBe(0);
  });

  it("decode rejects a length that is not a multiple of 4", () => {
    for (const n of [1, 2, 3, 5, 1537]) expect(() => decodeEmbedding(new Uint8Array(n))).toThrow(RangeError);
  });
});

describe("JSON parts", () => {
  it("encodes a note as canonical JSON and decodes it back", () => {
    const bytes = encodeJsonPart({ y: 2, x: 1, z: -0 });
    expect(new TextDecoder().decode(bytes)).toBe('{"x":1,"y":2,"z":0}');
    expect(decodeJsonPart(bytes, "position")).toEqual({ x: 1, y: 2, z: 0 });
  });

  it("rejects parts that are not JSON objects", () => {
    expect(() => encodeJsonPart([] as never)).toThrow(TypeError);
    expect(() => encodeJsonPart(null as never)).toThrow(TypeError);
    expect(() => decodeJsonPart(utf8("[1]"), "note")).toThrow(CanonicalJsonError);
    expect(() => decodeJsonPart(new Uint8Array([0xff]), "note")).toThrow(CanonicalJsonError);
  });
});

describe("note ids", () => {
  it("accepts [A-Za-z0-9._-]{1,128} except . and ..", () => {
    for (const id of ["a", "Note_1", "x.y-z", "...", ".hidden", "-", "_", "a".repeat(128), "2024-11-25.md"]) {
      expect(isNoteId(id), id).toBe(true);
      expect(() => assertNoteId(id)).not.toThrow();
    }
  });

  it("rejects ., .., empty, 129 chars, slashes, spaces, unicode, control characters, non-strings", () => {
    const bad: unknown[] = [".", "..", "", "a".repeat(129), "a/b", "/a", "a\\b", "a b", "caf\u00e9", "\u{1F600}", "a\n", "a\u0000", "a:b", 42, null, undefined, ["a"]];
    for (const id of bad) {
      expect(isNoteId(id), JSON.stringify(id)).toBe(false);
      expect(() => assertNoteId(id)).toThrow(RangeError);
    }
  });

  it("agrees with the regex for any short ASCII string (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii", maxLength: 140 }), (s) => {
        expect(isNoteId(s)).toBe(NOTE_ID_RE.test(s) && s !== "." && s !== ".." && s.length >= 1 && s.length <= 128);
      }),
      { numRuns: 500 },
    );
  });
});
