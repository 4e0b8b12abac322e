import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { constants, gzipSync } from "node:zlib";
import { concatBytes, FormatError, fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { fflateCompressor, streamCompressor, type Compressor } from "../../engine/core/compress.ts";
import { nodeCompressor } from "../../engine/node/native.ts";
import { encodeEmbedding } from "../../engine/core/parts.ts";
import { ObjectType, type StoredObject } from "../../engine/core/object.ts";
import {
  Codec,
  HashMismatchError,
  MAX_FRAME_RAW,
  MAX_PACK_RAW,
  PACK_PREFIX_BYTES,
  PACK_RAW_TARGET,
  PackBuilder,
  decodeFrame,
  decodePackHeader,
  encodePackHeader,
  packLength,
  readPack,
  shuffle4,
  unshuffle4,
  type BuiltPack,
  type PackObjectInfo,
} from "../../engine/core/pack.ts";
import { randomBytes, textBytes } from "./util.ts";

const COMPRESSORS: [string, Compressor][] = [
  ["fflate", fflateCompressor],
  ["node", nodeCompressor],
  ["stream", streamCompressor],
];
const VERIFY = { verifyAddresses: true };

interface Obj {
  type: ObjectType;
  bytes: Uint8Array;
  /** As PackBuilder.add: true = gzip, false = stored, or a Codec. */
  compressible: boolean | Codec;
}

async function build(objs: Obj[], c: Compressor, frameTarget?: number): Promise<BuiltPack> {
  const b = new PackBuilder(frameTarget);
  for (const o of objs) b.add(o.type, addressOf(o.bytes), o.bytes, o.compressible);
  return b.finish(c);
}

/** The objects a pack must hold: one per address, first occurrence wins (as PackBuilder.add). */
function expected(objs: Obj[]): Map<string, { type: ObjectType; hex: string }> {
  const m = new Map<string, { type: ObjectType; hex: string }>();
  for (const o of objs) {
    const a = addressOf(o.bytes);
    if (!m.has(a)) m.set(a, { type: o.type, hex: toHex(o.bytes) });
  }
  return m;
}

function asMap(objs: StoredObject[]): Map<string, { type: ObjectType; hex: string }> {
  return new Map(objs.map((o) => [o.addr, { type: o.type, hex: toHex(o.bytes) }]));
}

/** Replaces a pack's header (the frame data stays as it is). */
function withHeader(pack: Uint8Array, frames: { codec: number; storedLength: number; rawLength: number }[], objects: PackObjectInfo[]): Uint8Array {
  const h = decodePackHeader(pack);
  const header = encodePackHeader(frames as never, objects);
  const out = new Uint8Array(header.length + pack.length - h.headerEnd);
  out.set(header);
  out.set(pack.subarray(h.headerEnd), header.length);
  return out;
}

const hello = utf8("hello");
const emb = encodeEmbedding([1, -2.5, 0.1]);
const note = textBytes(3000, 1);
const position = utf8('{"x":1,"y":2,"z":3}');

describe("golden: a stored-only pack", () => {
  // PackBuilder(frameTarget 16): "hello" (5 B) opens frame 0; the embedding (12 B) would make it 17 B,
  // so it opens frame 1. Stored frames involve no gzip, so the bytes are the same for every writer.
  const GOLDEN_PACK =
    "504e504b01" + // "PNPK", version 1
    "50000000" + // header length 80 (u32le)
    "02" + "000505" + "000c0c" + // 2 frames: stored 5/5, stored 12/12
    "02" + // 2 objects
    "01" + "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" + "00" + "00" + "05" + // blob "hello": frame 0, offset 0, length 5
    "01" + "2f9cc761bc2594fa578868daeedc59b0fc115513fae3e5dc09c4e86e50b8aaf6" + "01" + "00" + "0c" + // blob embedding: frame 1, offset 0, length 12
    "68656c6c6f" + // frame 0: "hello"
    "0000803f000020c0cdcccc3d"; // frame 1: float32le [1, -2.5, 0.1]
  const GOLDEN_ID = "5c060a51b12f341ff6eeeddd59202050cd415e94845f3e9a1dd826572c4b72d8";

  for (const [name, c] of COMPRESSORS) {
    it(`is byte-identical when written with ${name}`, async () => {
      const p = await build(
        [
          { type: ObjectType.Blob, bytes: hello, compressible: false },
          { type: ObjectType.Blob, bytes: emb, compressible: false },
        ],
        c,
        16,
      );
      expect(toHex(p.bytes)).toBe(GOLDEN_PACK);
      expect(p.id).toBe(GOLDEN_ID);
      expect(p.bytes.length).toBe(106);
      expect(p.rawBytes).toBe(17);
    });
  }

  it("decodes to the documented header", () => {
    const h = decodePackHeader(fromHex(GOLDEN_PACK));
    expect(h).toEqual({
      headerEnd: 89,
      frames: [
        { codec: Codec.Stored, storedLength: 5, rawLength: 5, offset: 89 },
        { codec: Codec.Stored, storedLength: 12, rawLength: 12, offset: 94 },
      ],
      objects: [
        { type: 1, addr: addressOf(hello), frame: 0, offset: 0, length: 5 },
        { type: 1, addr: addressOf(emb), frame: 1, offset: 0, length: 12 },
      ],
    });
    expect(packLength(h)).toBe(106);
  });

  it("reads back with every reader", async () => {
    for (const [, c] of COMPRESSORS) {
      const objs = await readPack(fromHex(GOLDEN_PACK), c, VERIFY);
      expect(objs.map((o) => toHex(o.bytes))).toEqual([toHex(hello), toHex(emb)]);
    }
  });

  it("the empty pack is a prefix and an empty header", async () => {
    const p = await new PackBuilder().finish(fflateCompressor);
    expect(toHex(p.bytes)).toBe("504e504b01020000000000");
    expect(await readPack(p.bytes, nodeCompressor, VERIFY)).toEqual([]);
  });
});

describe("gzip frames: structure (bytes differ between gzip writers, so no golden)", () => {
  for (const [name, c] of COMPRESSORS) {
    it(`${name}: compressible objects share one gzip frame, stored ones another`, async () => {
      const p = await build(
        [
          { type: ObjectType.Blob, bytes: note, compressible: true },
          { type: ObjectType.Blob, bytes: emb, compressible: false },
          { type: ObjectType.Blob, bytes: position, compressible: true },
          { type: ObjectType.Tree, bytes: randomBytes(200, 3), compressible: false },
        ],
        c,
      );
      const h = decodePackHeader(p.bytes);
      expect(h.frames.map((f) => f.codec)).toEqual([Codec.Gzip, Codec.Stored]);
      const gz = h.frames[0];
      expect(gz.rawLength).toBe(note.length + position.length);
      expect(gz.storedLength).toBeLessThan(gz.rawLength / 2);
      expect(toHex(p.bytes.subarray(gz.offset, gz.offset + 3))).toBe("1f8b08"); // gzip member, deflate
      expect(h.objects.map((o) => [o.frame, o.offset, o.length])).toEqual([
        [0, 0, note.length],
        [0, note.length, position.length],
        [1, 0, emb.length],
        [1, emb.length, 200],
      ]);
      expect(p.id).toBe(addressOf(p.bytes));
      expect(packLength(h)).toBe(p.bytes.length);
    });
  }
});

/** Generated object: bytes come from (kind, size, seed) so fast-check stays fast and shrinks well. */
const objArb = fc
  .record({
    type: fc.constantFrom(ObjectType.Blob, ObjectType.ChunkList, ObjectType.Tree, ObjectType.Snapshot),
    kind: fc.constantFrom("text", "random", "zeros"),
    size: fc.oneof(fc.integer({ min: 0, max: 2048 }), fc.integer({ min: 0, max: 200 * 1024 })),
    seed: fc.integer({ min: 1, max: 1000 }),
    compressible: fc.constantFrom<boolean | Codec>(true, false, Codec.Shuffle4Gzip),
  })
  .map(({ type, kind, size, seed, compressible }): Obj => ({
    type,
    compressible,
    bytes: kind === "text" ? textBytes(size, seed) : kind === "random" ? randomBytes(size, seed) : new Uint8Array(size),
  }));

describe("round trip", () => {
  it("every writer's packs read back identically with every reader (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(objArb, { maxLength: 8 }), fc.constantFrom(1024, 16 * 1024, 64 * 1024, 256 * 1024), async (objs, frameTarget) => {
        const want = expected(objs);
        for (const [, writer] of COMPRESSORS) {
          const p = await build(objs, writer, frameTarget);
          expect(p.id).toBe(addressOf(p.bytes));
          expect(p.objects.length).toBe(want.size);
          expect(p.rawBytes).toBe([...want.values()].reduce((n, o) => n + o.hex.length / 2, 0));
          const h = decodePackHeader(p.bytes);
          for (const f of h.frames) {
            const inFrame = h.objects.filter((o) => h.frames[o.frame] === f);
            // A frame holds objects up to frameTarget raw bytes, or a single larger object (empty
            // objects aside: one opened an empty frame, a large object may still join it).
            expect(f.rawLength <= frameTarget || inFrame.filter((o) => o.length > 0).length === 1).toBe(true);
            if (f.codec !== Codec.Stored) expect(f.storedLength).toBeLessThan(f.rawLength);
            else expect(f.storedLength).toBe(f.rawLength);
          }
          for (const [, reader] of COMPRESSORS) {
            expect(asMap(await readPack(p.bytes, reader, VERIFY))).toEqual(want);
          }
        }
      }),
      { numRuns: 8 },
    );
  });

  it("cross-compressor matrix on a fixed mixed pack", async () => {
    const objs: Obj[] = [
      { type: ObjectType.Blob, bytes: textBytes(150_000, 5), compressible: true },
      { type: ObjectType.Blob, bytes: randomBytes(1536, 6), compressible: false },
      { type: ObjectType.Snapshot, bytes: textBytes(400, 7), compressible: true },
      { type: ObjectType.Tree, bytes: randomBytes(2000, 8), compressible: false },
      { type: ObjectType.ChunkList, bytes: randomBytes(70_000, 9), compressible: true },
    ];
    const want = expected(objs);
    for (const [wn, writer] of COMPRESSORS) {
      const p = await build(objs, writer);
      for (const [rn, reader] of COMPRESSORS) {
        expect(asMap(await readPack(p.bytes, reader, VERIFY)), `${wn} -> ${rn}`).toEqual(want);
      }
    }
  });

  it("gzip from any other writer (node:zlib, level 9) is a valid frame", async () => {
    const raw = textBytes(5000, 11);
    const gz = new Uint8Array(gzipSync(raw, { level: 9 }));
    for (const [, c] of COMPRESSORS) expect(toHex(await decodeFrame(Codec.Gzip, gz, raw.length, c))).toBe(toHex(raw));
  });
});

describe("frame layout", () => {
  const blob = (n: number, seed = n) => textBytes(n, seed);

  it("starts a new frame when the next object would pass frameTarget", async () => {
    const objs = [blob(60), blob(30), blob(20), blob(250), blob(10)].map((bytes) => ({ type: ObjectType.Blob, bytes, compressible: false }));
    const p = await build(objs, fflateCompressor, 100);
    const h = decodePackHeader(p.bytes);
    expect(h.frames.map((f) => f.rawLength)).toEqual([90, 20, 250, 10]);
    expect(h.objects.map((o) => [o.frame, o.offset])).toEqual([
      [0, 0],
      [0, 60],
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it("exactly frameTarget fits; one byte more does not", async () => {
    const p = await build([blob(40), blob(60), blob(1, 9)].map((bytes) => ({ type: ObjectType.Blob, bytes, compressible: false })), fflateCompressor, 100);
    expect(decodePackHeader(p.bytes).frames.map((f) => f.rawLength)).toEqual([100, 1]);
  });

  it("keeps compressible and stored objects in separate frames, in the order they were opened", async () => {
    const p = await build(
      [
        { type: ObjectType.Tree, bytes: randomBytes(80, 1), compressible: false },
        { type: ObjectType.Blob, bytes: new Uint8Array(80).fill(2), compressible: true },
        { type: ObjectType.Tree, bytes: randomBytes(80, 3), compressible: false },
        { type: ObjectType.Blob, bytes: new Uint8Array(80).fill(4), compressible: true },
      ],
      nodeCompressor,
      100,
    );
    const h = decodePackHeader(p.bytes);
    // Header lists objects frame by frame; frames are numbered in the order they were opened.
    const frameOf = (seed: number, text: boolean) => h.objects.find((o) => o.addr === addressOf(text ? new Uint8Array(80).fill(seed) : randomBytes(80, seed)))!.frame;
    expect([frameOf(1, false), frameOf(2, true), frameOf(3, false), frameOf(4, true)]).toEqual([0, 1, 2, 3]);
    expect(h.frames.map((f) => f.codec)).toEqual([Codec.Stored, Codec.Gzip, Codec.Stored, Codec.Gzip]);
    expect(h.frames.map((f) => f.rawLength)).toEqual([80, 80, 80, 80]);
  });

  it("stores a gzip frame that does not shrink (random bytes, tiny and empty objects)", async () => {
    for (const [, c] of COMPRESSORS) {
      for (const bytes of [randomBytes(4000, 1), utf8("x"), new Uint8Array(0)]) {
        const p = await build([{ type: ObjectType.Blob, bytes, compressible: true }], c);
        const [f] = decodePackHeader(p.bytes).frames;
        expect(f.codec).toBe(Codec.Stored);
        expect(f.storedLength).toBe(bytes.length);
        expect((await readPack(p.bytes, c, VERIFY))[0].bytes.length).toBe(bytes.length);
      }
    }
  });

  it("an empty object opens a frame of 0 bytes that a large object may still join", async () => {
    const big = textBytes(5000, 3);
    const p = await build(
      [
        { type: ObjectType.Blob, bytes: new Uint8Array(0), compressible: false },
        { type: ObjectType.Blob, bytes: big, compressible: false },
        { type: ObjectType.Blob, bytes: hello, compressible: false },
      ],
      nodeCompressor,
      1024,
    );
    expect(decodePackHeader(p.bytes).frames.map((f) => f.rawLength)).toEqual([5000, 5]);
  });

  it("refuses an object its own reader would refuse (> MAX_FRAME_RAW)", () => {
    const big = new Uint8Array(MAX_FRAME_RAW + 1);
    expect(() => new PackBuilder().add(ObjectType.Blob, addressOf(big), big, false)).toThrow(RangeError);
  });

  it("adds an address once", async () => {
    const b = new PackBuilder();
    b.add(ObjectType.Blob, addressOf(hello), hello, true);
    b.add(ObjectType.Blob, addressOf(hello), hello, false);
    expect(b.objectCount).toBe(1);
    expect(b.has(addressOf(hello))).toBe(true);
    const p = await b.finish(nodeCompressor);
    expect(p.objects.length).toBe(1);
    expect(p.rawBytes).toBe(5);
  });
});

/** Deterministic unit-length float32 vectors (Box-Muller normals), like sentence embeddings. */
function embeddingLike(count: number, dims: number, seed: number): Uint8Array {
  const r = randomBytes(count * dims * 8, seed);
  const u = (i: number) => (new DataView(r.buffer).getUint32(i * 4, true) + 1) / 4294967297;
  const out = new Float32Array(count * dims);
  for (let v = 0; v < count; v++) {
    let norm = 0;
    for (let d = 0; d < dims; d++) {
      const i = v * dims + d;
      const x = Math.sqrt(-2 * Math.log(u(2 * i))) * Math.cos(2 * Math.PI * u(2 * i + 1));
      out[i] = x;
      norm += x * x;
    }
    for (let d = 0; d < dims; d++) out[v * dims + d] /= Math.sqrt(norm);
  }
  return new Uint8Array(out.buffer);
}

describe("shuffle4 frames (codec 2)", () => {
  it("golden: byte i of every 4-byte word goes to plane i; a trailing partial word stays", () => {
    const data = Uint8Array.from({ length: 11 }, (_, i) => i);
    expect(toHex(shuffle4(data))).toBe("0004010502060307" + "08090a");
    expect(toHex(unshuffle4(fromHex("0004010502060307" + "08090a")))).toBe(toHex(data));
    expect(toHex(shuffle4(fromHex("0000803f000020c0cdcccc3d")))).toBe("0000cd0000cc8020cc3fc03d");
  });

  it("unshuffle4 inverts shuffle4 for every length (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (d) => {
        expect(toHex(unshuffle4(shuffle4(d)))).toBe(toHex(d));
        expect(shuffle4(d).length).toBe(d.length);
      }),
      { numRuns: 300 },
    );
  });

  for (const [name, c] of COMPRESSORS) {
    it(`${name}: embeddings go to a shuffle4+gzip frame whose data is gzip(shuffle4(raw))`, async () => {
      const embs = [embeddingLike(1, 384, 1), embeddingLike(1, 384, 2), embeddingLike(1, 384, 3)];
      const p = await build(
        [
          ...embs.map((bytes) => ({ type: ObjectType.Blob, bytes, compressible: Codec.Shuffle4Gzip as Codec })),
          { type: ObjectType.Blob, bytes: note, compressible: true },
          { type: ObjectType.Tree, bytes: randomBytes(100, 4), compressible: false },
        ],
        c,
      );
      const h = decodePackHeader(p.bytes);
      expect(h.frames.map((f) => f.codec)).toEqual([Codec.Shuffle4Gzip, Codec.Gzip, Codec.Stored]);
      const f = h.frames[0];
      expect(f.rawLength).toBe(3 * 1536);
      expect(f.storedLength).toBeLessThan(f.rawLength);
      const inflated = await nodeCompressor.gunzip(p.bytes.subarray(f.offset, f.offset + f.storedLength), f.rawLength);
      let raw = new Uint8Array(0);
      for (const e of embs) raw = new Uint8Array([...raw, ...e]);
      expect(toHex(inflated)).toBe(toHex(shuffle4(raw)));
      for (const [, reader] of COMPRESSORS) {
        const got = await readPack(p.bytes, reader, VERIFY);
        expect(got.slice(0, 3).map((o) => toHex(o.bytes))).toEqual(embs.map(toHex));
      }
    });
  }

  it("node: a shuffle4 frame is coded Huffman-only (no match search)", async () => {
    const embs = [embeddingLike(1, 384, 11), embeddingLike(1, 384, 12), embeddingLike(1, 384, 13)];
    const p = await build(embs.map((bytes) => ({ type: ObjectType.Blob, bytes, compressible: Codec.Shuffle4Gzip as Codec })), nodeCompressor);
    const f = decodePackHeader(p.bytes).frames[0];
    const shuffled = shuffle4(concatBytes(embs));
    const huffman = gzipSync(shuffled, { level: 4, memLevel: 9, strategy: constants.Z_HUFFMAN_ONLY });
    expect(f.codec).toBe(Codec.Shuffle4Gzip);
    expect(toHex(p.bytes.subarray(f.offset, f.offset + f.storedLength))).toBe(toHex(huffman));
    // On a frame's worth of embeddings it is also no bigger than the match search's output.
    const many = shuffle4(embeddingLike(160, 384, 14));
    expect(gzipSync(many, { level: 4, memLevel: 9, strategy: constants.Z_HUFFMAN_ONLY }).length).toBeLessThanOrEqual(gzipSync(many, { level: 4, memLevel: 9 }).length);
    for (const [, reader] of COMPRESSORS) expect((await readPack(p.bytes, reader, VERIFY)).map((o) => toHex(o.bytes))).toEqual(embs.map(toHex));
  });

  it("shuffle4 beats plain gzip on float32 embeddings (384 dims, unit vectors)", async () => {
    const raw = embeddingLike(100, 384, 9);
    const plain = (await nodeCompressor.gzip(raw)).length / raw.length;
    const shuffled = (await nodeCompressor.gzip(shuffle4(raw))).length / raw.length;
    expect(plain).toBeGreaterThan(0.88); // float noise: gzip alone saves little
    expect(shuffled).toBeLessThan(plain - 0.03);
  });

  it("a shuffle4 frame that does not shrink is stored", async () => {
    const p = await build([{ type: ObjectType.Blob, bytes: randomBytes(4000, 5), compressible: Codec.Shuffle4Gzip }], nodeCompressor);
    expect(decodePackHeader(p.bytes).frames[0].codec).toBe(Codec.Stored);
  });

  it("a flipped byte in a shuffle4 frame's deflate data (every third byte): FormatError or HashMismatchError", async () => {
    const p = await build([{ type: ObjectType.Blob, bytes: embeddingLike(1, 384, 6), compressible: Codec.Shuffle4Gzip }], nodeCompressor);
    const f = decodePackHeader(p.bytes).frames[0];
    expect(f.codec).toBe(Codec.Shuffle4Gzip);
    for (const [, c] of COMPRESSORS.filter(([n]) => n !== "stream")) {
      for (let i = f.offset + 10; i < f.offset + f.storedLength - 8; i += 3) {
        const bad = p.bytes.slice();
        bad[i] ^= 0xff;
        const err = await readPack(bad, c, VERIFY).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err instanceof FormatError || err instanceof HashMismatchError).toBe(true);
      }
    }
  });
});

describe("decodePackHeader rejects malformed headers", () => {
  const frames = [
    { codec: Codec.Stored, storedLength: 5, rawLength: 5 },
    { codec: Codec.Stored, storedLength: 12, rawLength: 12 },
  ];
  const objects: PackObjectInfo[] = [
    { type: ObjectType.Blob, addr: addressOf(hello), frame: 0, offset: 0, length: 5 },
    { type: ObjectType.Blob, addr: addressOf(emb), frame: 1, offset: 0, length: 12 },
  ];
  const good = encodePackHeader(frames, objects);
  const rejects = (bytes: Uint8Array, msg?: RegExp) => {
    expect(() => decodePackHeader(bytes)).toThrow(FormatError);
    if (msg) expect(() => decodePackHeader(bytes)).toThrow(msg);
  };

  it("accepts the unmodified header", () => {
    expect(decodePackHeader(good).objects.length).toBe(2);
  });

  it("bad magic", () => {
    for (let i = 0; i < 4; i++) {
      const b = good.slice();
      b[i] ^= 0x20;
      rejects(b, /magic/);
    }
  });

  it("unknown version", () => {
    for (const v of [0, 2, 255]) {
      const b = good.slice();
      b[4] = v;
      rejects(b, /version/);
    }
  });

  it("truncated header, at every length", () => {
    for (let n = 0; n < good.length; n++) rejects(good.subarray(0, n));
  });

  it("trailing bytes inside the header", () => {
    const h = good.subarray(PACK_PREFIX_BYTES);
    const b = new Uint8Array(good.length + 1);
    b.set(good.subarray(0, 5));
    new DataView(b.buffer).setUint32(5, h.length + 1, true);
    b.set(h, PACK_PREFIX_BYTES);
    rejects(b, /trailing/);
  });

  it("frame index out of range", () => {
    rejects(encodePackHeader(frames, [{ ...objects[0], frame: 2 }]), /frame 2 of 2/);
    rejects(encodePackHeader([], [objects[0]]), /frame 0 of 0/);
  });

  it("object overrunning its frame", () => {
    rejects(encodePackHeader(frames, [{ ...objects[0], length: 6 }]), /overruns/);
    rejects(encodePackHeader(frames, [{ ...objects[1], offset: 1 }]), /overruns/);
    expect(() => decodePackHeader(encodePackHeader(frames, [{ ...objects[1], offset: 12, length: 0 }]))).not.toThrow();
  });

  it("unknown codec", () => {
    for (const codec of [3, 4, 255]) rejects(encodePackHeader([{ codec: codec as Codec, storedLength: 5, rawLength: 5 }], []), /codec/);
  });

  it("unknown object type", () => {
    for (const t of [0, 5, 255]) rejects(encodePackHeader(frames, [{ ...objects[0], type: t as ObjectType }]), /object type/);
  });

  it("stored frame whose two lengths differ", () => {
    rejects(encodePackHeader([{ codec: Codec.Stored, storedLength: 5, rawLength: 6 }], []), /two lengths/);
  });

  it("a frame larger than MAX_FRAME_RAW (a hostile pack cannot make a reader allocate more)", () => {
    rejects(encodePackHeader([{ codec: Codec.Gzip, storedLength: 8192, rawLength: MAX_FRAME_RAW + 1 }], []), /exceeds/);
    expect(() => decodePackHeader(encodePackHeader([{ codec: Codec.Gzip, storedLength: 8192, rawLength: MAX_FRAME_RAW }], []))).not.toThrow();
  });

  it("gzip frame lengths no DEFLATE stream can have (issue 18: a bomb declared small, or absurd ratios)", () => {
    const frame = (storedLength: number, rawLength: number) => encodePackHeader([{ codec: Codec.Gzip, storedLength, rawLength }], []);
    rejects(frame(1_000_000, 100), /cannot inflate to only 100/); // 1 MB of gzip for 100 bytes
    rejects(frame(10, 100_000), /cannot inflate to 100000/); // more than 1,032:1
    rejects(encodePackHeader([{ codec: Codec.Shuffle4Gzip, storedLength: 5000, rawLength: 1000 }], []), /cannot inflate/);
    for (const [stored, raw] of [[20, 10], [1000 + 1024, 1000], [100, 100 * 1032 + 1024]]) expect(() => decodePackHeader(frame(stored, raw))).not.toThrow();
  });

  it("too many frames or objects", () => {
    const prefix = (header: number[]) => {
      const b = new Uint8Array(PACK_PREFIX_BYTES + header.length);
      b.set([0x50, 0x4e, 0x50, 0x4b, 1]);
      new DataView(b.buffer).setUint32(5, header.length, true);
      b.set(header, PACK_PREFIX_BYTES);
      return b;
    };
    rejects(prefix([0xa1, 0x8d, 0x06]), /too many frames/); // 100,001
    rejects(prefix([0x00, 0xc1, 0x9a, 0x0c]), /too many objects/); // 200,001
  });

  it("a non-minimal varint", () => {
    const b = good.slice();
    const h = good.subarray(PACK_PREFIX_BYTES);
    const patched = new Uint8Array(good.length + 1);
    patched.set(b.subarray(0, 5));
    new DataView(patched.buffer).setUint32(5, h.length + 1, true);
    patched.set([0x82, 0x00], PACK_PREFIX_BYTES); // frameCount 2 written in two bytes
    patched.set(h.subarray(1), PACK_PREFIX_BYTES + 2);
    rejects(patched, /non-minimal/);
  });
});

describe("readPack rejects corrupt packs", () => {
  async function mixedPack(c: Compressor): Promise<BuiltPack> {
    return build(
      [
        { type: ObjectType.Blob, bytes: textBytes(600, 21), compressible: true },
        { type: ObjectType.Blob, bytes: textBytes(300, 22), compressible: true },
        { type: ObjectType.Tree, bytes: randomBytes(40, 23), compressible: false },
        { type: ObjectType.Blob, bytes: emb, compressible: false },
      ],
      c,
    );
  }

  it("a flipped byte in a stored frame: HashMismatchError, at every position, for every reader", async () => {
    const p = await mixedPack(nodeCompressor);
    const h = decodePackHeader(p.bytes);
    const f = h.frames.find((x) => x.codec === Codec.Stored)!;
    for (const [, c] of COMPRESSORS) {
      for (let i = f.offset; i < f.offset + f.storedLength; i++) {
        const bad = p.bytes.slice();
        bad[i] ^= 0x01;
        await expect(readPack(bad, c, VERIFY)).rejects.toThrow(HashMismatchError);
      }
    }
  });

  it("without verifyAddresses a stored-frame flip goes through (the option is what catches it)", async () => {
    const p = await mixedPack(nodeCompressor);
    const f = decodePackHeader(p.bytes).frames.find((x) => x.codec === Codec.Stored)!;
    const bad = p.bytes.slice();
    bad[f.offset] ^= 0x01;
    const objs = await readPack(bad, nodeCompressor, { verifyAddresses: false });
    expect(objs.some((o) => addressOf(o.bytes) !== o.addr)).toBe(true);
  });

  // The gzip member is 10 header bytes | deflate data | CRC32 | ISIZE. Deflate data is what holds the
  // objects; every byte of it is checked here, with the in-process readers (see the streamCompressor
  // note at the end of this file for why "stream" is not run on corrupt gzip in-process).
  for (const [name, c] of COMPRESSORS.filter(([n]) => n !== "stream")) {
    it(`${name}: a flipped byte in a gzip frame's deflate data: FormatError or HashMismatchError`, async () => {
      const p = await mixedPack(nodeCompressor);
      const f = decodePackHeader(p.bytes).frames.find((x) => x.codec === Codec.Gzip)!;
      for (let i = f.offset + 10; i < f.offset + f.storedLength - 8; i++) {
        const bad = p.bytes.slice();
        bad[i] ^= 0xff;
        const err = await readPack(bad, c, VERIFY).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err instanceof FormatError || err instanceof HashMismatchError, `byte ${i - f.offset} of the frame`).toBe(true);
      }
    });
  }

  it("node: a flipped byte in a gzip frame's CRC32 or ISIZE trailer: FormatError", async () => {
    const p = await mixedPack(nodeCompressor);
    const f = decodePackHeader(p.bytes).frames.find((x) => x.codec === Codec.Gzip)!;
    for (let i = f.offset + f.storedLength - 8; i < f.offset + f.storedLength; i++) {
      const bad = p.bytes.slice();
      bad[i] ^= 0x01;
      await expect(readPack(bad, nodeCompressor, VERIFY)).rejects.toThrow(FormatError);
    }
  });

  // fflate's gunzipSync checks neither CRC-32 nor ISIZE; compress.ts checks the trailer itself so all readers agree.
  it("fflate: a flipped byte in a gzip frame's CRC32 or ISIZE trailer is rejected", async () => {
    const p = await mixedPack(nodeCompressor);
    const f = decodePackHeader(p.bytes).frames.find((x) => x.codec === Codec.Gzip)!;
    const bad = p.bytes.slice();
    bad[f.offset + f.storedLength - 8] ^= 0x01; // first CRC32 byte
    await expect(readPack(bad, fflateCompressor, VERIFY)).rejects.toThrow(FormatError);
  });

  // fflate writes into a fixed buffer; compress.ts gives it one spare byte to catch oversized frames.
  it("node: a gzip frame that inflates to more than its header's rawLength is corrupt", async () => {
    const bad = await shrunkRawLength();
    await expect(readPack(bad, nodeCompressor, VERIFY)).rejects.toThrow(FormatError);
  });
  it("fflate: a gzip frame that inflates to more than its header's rawLength is corrupt", async () => {
    const bad = await shrunkRawLength();
    await expect(readPack(bad, fflateCompressor, VERIFY)).rejects.toThrow(FormatError);
  });
  it("stream: a gzip frame that inflates to more than its header's rawLength is corrupt", async () => {
    // Valid gzip, wrong length: the stream reader finishes cleanly and then compares lengths (no leak).
    const bad = await shrunkRawLength();
    await expect(readPack(bad, streamCompressor, VERIFY)).rejects.toThrow(FormatError);
  });

  /** A pack with one gzip frame of two objects, re-headed to claim only the first (rawLength = its length). */
  async function shrunkRawLength(): Promise<Uint8Array> {
    const a = textBytes(500, 31);
    const b = textBytes(500, 32);
    const p = await build(
      [
        { type: ObjectType.Blob, bytes: a, compressible: true },
        { type: ObjectType.Blob, bytes: b, compressible: true },
      ],
      nodeCompressor,
    );
    const h = decodePackHeader(p.bytes);
    expect(h.frames[0].codec).toBe(Codec.Gzip);
    return withHeader(p.bytes, [{ ...h.frames[0], rawLength: a.length }], [h.objects[0]]);
  }

  it("the gzip header's MTIME is not covered by any check: the pack id is the caller's to verify", async () => {
    const p = await mixedPack(nodeCompressor);
    const f = decodePackHeader(p.bytes).frames.find((x) => x.codec === Codec.Gzip)!;
    const bad = p.bytes.slice();
    bad[f.offset + 4] ^= 0x01; // MTIME byte 0
    for (const [, c] of COMPRESSORS) expect((await readPack(bad, c, VERIFY)).length).toBe(4);
    expect(addressOf(bad)).not.toBe(p.id);
  });

  it("a truncated pack, at every length, and a pack with a trailing byte", async () => {
    const p = await mixedPack(nodeCompressor);
    for (let n = 0; n < p.bytes.length; n++) {
      await expect(readPack(p.bytes.subarray(0, n), nodeCompressor, VERIFY)).rejects.toThrow(FormatError);
    }
    const longer = new Uint8Array(p.bytes.length + 1);
    longer.set(p.bytes);
    await expect(readPack(longer, nodeCompressor, VERIFY)).rejects.toThrow(/header says/);
  });

  it("readPack refuses a pack declaring more than MAX_PACK_RAW before inflating anything, and inflates one frame at a time", async () => {
    let calls = 0;
    let inFlight = 0;
    let most = 0;
    const counting: Compressor = {
      gzip: nodeCompressor.gzip,
      async gunzip(data, rawLength) {
        calls++;
        most = Math.max(most, ++inFlight);
        try {
          await new Promise((r) => setTimeout(r, 1));
          return await nodeCompressor.gunzip(data, rawLength);
        } finally {
          inFlight--;
        }
      },
    };
    // 17 frames of 4 MiB zeros declared (68 MiB > 64 MiB): a few KB on the wire.
    const zeros = new Uint8Array(gzipSync(new Uint8Array(MAX_FRAME_RAW), { level: 9 }));
    const frames = Array.from({ length: MAX_PACK_RAW / MAX_FRAME_RAW + 1 }, () => ({ codec: Codec.Gzip, storedLength: zeros.length, rawLength: MAX_FRAME_RAW }));
    const objects = frames.map((_, i) => ({ type: ObjectType.Blob, addr: addressOf(new Uint8Array(MAX_FRAME_RAW)), frame: i, offset: 0, length: MAX_FRAME_RAW }));
    const bomb = concatBytes([encodePackHeader(frames, objects), ...frames.map(() => zeros)]);
    await expect(readPack(bomb, counting, VERIFY)).rejects.toThrow(/inflates to 71303168 bytes; at most 67108864/);
    expect(calls).toBe(0);
    // A pack within the cap: every frame inflated, never two at once.
    const b = new PackBuilder(1024);
    for (let i = 0; i < 20; i++) {
      const bytes = utf8(`object ${i}: ${"lorem ipsum ".repeat(75)}`);
      b.add(ObjectType.Blob, addressOf(bytes), bytes, true);
    }
    const p = await b.finish(nodeCompressor);
    expect((await readPack(p.bytes, counting, VERIFY)).length).toBe(20);
    expect(calls).toBeGreaterThan(10);
    expect(most).toBe(1);
  });

  it("PackBuilder is full at PACK_RAW_TARGET raw bytes, so no writer makes a pack readers refuse", () => {
    const b = new PackBuilder();
    let i = 0;
    while (!b.full) {
      const bytes = new Uint8Array(MAX_FRAME_RAW).fill(i % 251);
      bytes[0] = i;
      bytes[1] = i >> 8;
      b.add(ObjectType.Blob, addressOf(bytes), bytes, true);
      i++;
    }
    expect(b.rawBytes).toBe(PACK_RAW_TARGET);
    expect(b.rawBytes).toBeLessThan(MAX_PACK_RAW);
  });

  it("decodeFrame: a stored frame of the wrong length", async () => {
    await expect(decodeFrame(Codec.Stored, new Uint8Array(4), 5, nodeCompressor)).rejects.toThrow(FormatError);
  });

  // A corrupt frame errors the read side first; the write side's rejection must be handled (compress.ts).
  // Run in a child process so a crash could not take the test runner with it.
  it("stream: a corrupt gzip frame is rejected without an unhandled rejection (the process survives)", () => {
    const compressTs = fileURLToPath(new URL("../../engine/core/compress.ts", import.meta.url));
    const code = `
      import { streamCompressor } from ${JSON.stringify(compressTs)};
      import { constants, gzipSync } from "node:zlib";
      const gz = new Uint8Array(gzipSync(new Uint8Array(1000).fill(97)));
      gz[gz.length - 6] ^= 1;
      let caught = false;
      try { await streamCompressor.gunzip(gz, 1000); } catch { caught = true; }
      // A bomb: 64 MiB of zeros in ~64 KB, declared as 1,000 bytes: stopped after a slice or two.
      const bomb = new Uint8Array(gzipSync(new Uint8Array(64 << 20), { level: 9 }));
      let cut = "";
      try { await streamCompressor.gunzip(bomb, 1000); } catch (e) { cut = e.message; }
      await new Promise((r) => setTimeout(r, 100));
      console.log("survived, caught=" + caught + ", bomb: " + cut);`;
    const r = spawnSync(process.execPath, ["--unhandled-rejections=throw", "--import", "tsx", "--input-type=module", "-e", code], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.stdout.trim()).toBe("survived, caught=true, bomb: frame inflates past the 1000 bytes its header declares");
    expect(r.status).toBe(0);
  });
});
