import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { FormatError, ByteWriter, fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { CHUNK_MAX, CHUNK_MIN } from "../../engine/core/chunker.ts";
import { LARGE_BLOB, decodeChunkList, encodeChunkList, joinChunks, splitLargeBlob } from "../../engine/core/chunklist.ts";
import { randomBytes, textBytes } from "./util.ts";

const A = (s: string) => addressOf(utf8(s));
const MiB = 1 << 20;

function roundTrip(data: Uint8Array) {
  const split = splitLargeBlob(data);
  expect(split.listAddr).toBe(addressOf(split.list));
  const list = decodeChunkList(split.list);
  expect(list.total).toBe(data.length);
  expect(list.chunks.map((c) => c.addr)).toEqual(split.chunks.map((c) => addressOf(c.bytes)));
  expect(toHex(joinChunks(list, split.chunks.map((c) => c.bytes)))).toBe(toHex(data));
  return { split, list };
}

describe("split / join", () => {
  it("LARGE_BLOB is 64 KiB: notes above it are chunked", () => {
    expect(LARGE_BLOB).toBe(64 * 1024);
  });

  it("round-trips a 1 MiB blob (random and text-like), chunks within the chunker's bounds", () => {
    for (const data of [randomBytes(MiB, 1), textBytes(MiB, 1)]) {
      const { list } = roundTrip(data);
      const lengths = list.chunks.map((c) => c.length);
      lengths.slice(0, -1).forEach((n) => {
        expect(n).toBeGreaterThanOrEqual(CHUNK_MIN);
        expect(n).toBeLessThanOrEqual(CHUNK_MAX);
      });
      expect(lengths.reduce((a, b) => a + b, 0)).toBe(MiB);
    }
  });

  it("golden: the chunk list of 1 MiB of seeded random bytes (locks chunker + list format)", () => {
    const { split, list } = roundTrip(randomBytes(MiB, 1));
    expect(split.listAddr).toBe("5dfc45d872189e7ab0f7b8ed5c0ad1189060e5f9edcd4a9dca9fe11ae38ea85d");
    expect(list.chunks.length).toBe(56);
    expect(split.list.length).toBe(1959);
    expect(list.chunks.slice(0, 4).map((c) => c.length)).toEqual([17390, 17710, 17122, 15762]);
  });

  it("round-trips random sizes around the chunk bounds (fast-check)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 1, max: 1000 }), (n, seed) => {
        roundTrip(randomBytes(n, seed));
      }),
      { numRuns: 20 },
    );
  });

  it("an edit in the middle of 1 MiB changes only a few chunk refs", () => {
    const a = textBytes(MiB, 2);
    const b = a.slice();
    b.set(utf8("an edit in the middle of the note"), MiB / 2);
    const before = new Set(decodeChunkList(splitLargeBlob(a).list).chunks.map((c) => c.addr));
    const after = decodeChunkList(splitLargeBlob(b).list).chunks;
    expect(after.filter((c) => !before.has(c.addr)).length).toBeLessThanOrEqual(2);
  });

  it("the empty blob is an empty list", () => {
    const split = splitLargeBlob(new Uint8Array(0));
    expect(toHex(split.list)).toBe("504e43010000");
    expect(decodeChunkList(split.list)).toEqual({ total: 0, chunks: [] });
  });

  it("joinChunks rejects a part of the wrong length", () => {
    const { split, list } = roundTrip(randomBytes(100_000, 3));
    const parts = split.chunks.map((c) => c.bytes);
    parts[1] = parts[1].subarray(1);
    expect(() => joinChunks(list, parts)).toThrow(FormatError);
  });
});

describe("golden chunk list bytes", () => {
  const refs = [
    { addr: A("chunk:0"), length: 10000 },
    { addr: A("chunk:1"), length: 300 },
  ];
  const GOLDEN =
    "504e4301" + // "PNC", version 1
    "bc50" + // total 10300 (varint)
    "02" + // 2 chunks
    "904e" + "17e92aa61b0c1109c16bee581efd685d9c43a88913800482a576c0309555e5e2" + // 10000, SHA-256("chunk:0")
    "ac02" + "66981ef13d3adc56936288941af592c27c3174778c37de9b7f80fa4b2e0bb236"; // 300, SHA-256("chunk:1")

  it("encodes to the locked bytes and address, and decodes back", () => {
    expect(toHex(encodeChunkList(refs))).toBe(GOLDEN);
    expect(addressOf(fromHex(GOLDEN))).toBe("f0f4f77f9c097fa4563473dd3d0c47621f1398749f492a4535ca4cad107439e3");
    expect(decodeChunkList(fromHex(GOLDEN))).toEqual({ total: 10300, chunks: refs });
  });

  const golden = fromHex(GOLDEN);
  const patch = (i: number, v: number) => {
    const b = golden.slice();
    b[i] = v;
    return b;
  };

  it("decode rejects a sum mismatch", () => {
    expect(() => decodeChunkList(patch(4, 0xbd))).toThrow(/add up/); // total 10301
    expect(() => decodeChunkList(encodeChunkListWithTotal(refs, 0))).toThrow(/add up/);
  });

  it("decode rejects truncation at every length and trailing bytes", () => {
    for (let n = 0; n < golden.length; n++) expect(() => decodeChunkList(golden.subarray(0, n))).toThrow(FormatError);
    expect(() => decodeChunkList(new Uint8Array([...golden, 0]))).toThrow(/trailing/);
  });

  it("decode rejects huge totals (> 1 GiB) and counts larger than the list", () => {
    expect(() => decodeChunkList(encodeChunkListWithTotal([], 2 ** 30 + 1))).toThrow(/chunked blob of/);
    expect(() => decodeChunkList(encodeChunkList([{ addr: A("x"), length: 2 ** 30 }, { addr: A("y"), length: 1 }]))).toThrow(FormatError);
    expect(() => decodeChunkList(encodeChunkListWithTotal([], Number.MAX_SAFE_INTEGER))).toThrow(FormatError);
    expect(() => decodeChunkList(fromHex("504e430100" + "ffff03"))).toThrow(/count/); // 0 bytes, 65535 chunks
    expect(() => decodeChunkList(encodeChunkList([{ addr: A("x"), length: 2 ** 30 }]))).not.toThrow();
  });

  it("decode rejects bad magic and unknown version", () => {
    expect(() => decodeChunkList(patch(2, 0x54))).toThrow(/not a chunk list/);
    expect(() => decodeChunkList(patch(3, 2))).toThrow(/version/);
  });
});

/** A chunk list whose total field says `total`, whatever its chunks add up to. */
function encodeChunkListWithTotal(refs: { addr: string; length: number }[], total: number): Uint8Array {
  const w = new ByteWriter();
  w.bytes(utf8("PNC")).byte(1).varint(total).varint(refs.length);
  for (const r of refs) w.varint(r.length).bytes(fromHex(r.addr));
  return w.finish();
}
