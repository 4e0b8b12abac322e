import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { FormatError, fromHex, toHex, utf8 } from "../../engine/core/bytes.ts";
import { deltaBases, encodeWirePack, hasDeltaFrames, resolveWirePack, type BaseFinder } from "../../engine/core/delta-frame.ts";
import { addressOf, type Address } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { Codec, PackBuilder, decodePackHeader, readPack } from "../../engine/core/pack.ts";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { buildTree, type Entry } from "../../engine/core/tree.ts";
import { treeBaseFinder } from "../../engine/sync/delta-bases.ts";
import { randomBytes } from "./util.ts";

const c = fflateCompressor;
const hexAddr = (seed: number) => toHex(randomBytes(32, seed));

function entries(n: number, version = 0, edited = new Set<number>()): Entry[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `note-${String(i).padStart(5, "0")}`,
    note: hexAddr(1 + i * 7 + (edited.has(i) ? 1_000_003 + version : 0)),
    embedding: hexAddr(2 + i * 7),
    dims: 384,
    position: hexAddr(3 + i * 7),
  }));
}

/** Old tree, new tree with `edited` notes changed, and a pack of the new tree's new nodes plus a blob and a chunk-list-like stored object. */
async function edited(n: number, edits: number[]) {
  const before = buildTree(entries(n));
  const after = buildTree(entries(n, 1, new Set(edits)));
  const b = new PackBuilder();
  b.add(ObjectType.Blob, addressOf(utf8("a note")), utf8("a note"), true);
  for (const [addr, bytes] of after.nodes) if (!before.nodes.has(addr)) b.add(ObjectType.Tree, addr, bytes, false);
  const list = randomBytes(200, 99);
  b.add(ObjectType.ChunkList, addressOf(list), list, false);
  const pack = await b.finish(c);
  const load = async (a: Address) => {
    const bytes = before.nodes.get(a);
    if (!bytes) throw new Error(`no node ${a}`);
    return bytes;
  };
  return { before, after, pack, finder: treeBaseFinder(before.root, load) };
}

describe("delta frames (delta-frame.ts)", () => {
  it("golden: a stored frame of a tree node and a chunk list, as a delta frame", async () => {
    const base = utf8("PNT\x02\x00\x01" + "k".repeat(40) + "old-address");
    const node = utf8("PNT\x02\x00\x01" + "k".repeat(40) + "new-address");
    const list = utf8("chunk-list-bytes");
    const b = new PackBuilder();
    b.add(ObjectType.Tree, addressOf(node), node, false);
    b.add(ObjectType.ChunkList, addressOf(list), list, false);
    const pack = await b.finish(c);
    const wire = await encodeWirePack(pack.bytes, async () => ({ addr: addressOf(base), bytes: base }));
    const h = decodePackHeader(wire, { deltaFrames: true });
    expect(h.frames).toEqual([{ codec: Codec.Delta, storedLength: 63, rawLength: 73, offset: h.headerEnd }]);
    expect(toHex(wire.subarray(h.headerEnd))).toBe(
      "01" + addressOf(base) + // a delta segment on this base
        "39" + "01002e" + "0003" + toHex(utf8("new")) + "013108" + // 57 bytes: copy 46, insert "new", copy base[49, 57) ("-address")
        "0010" + toHex(list), // a literal segment: the chunk list as it is
    );
    expect(deltaBases(wire, h)).toEqual([addressOf(base)]);
    expect(resolveWirePack(wire, h, new Map([[addressOf(base), base]]))).toEqual(pack.bytes);
  });

  it("an edited tree's new nodes travel as deltas and resolve to the client's pack byte for byte", async () => {
    const { pack, finder, before } = await edited(3000, [5, 700, 701, 2500]);
    const wire = await encodeWirePack(pack.bytes, finder);
    expect(() => decodePackHeader(wire)).toThrow(/unknown frame codec 3/); // no ordinary reader takes it
    const h = decodePackHeader(wire, { deltaFrames: true });
    expect(hasDeltaFrames(h)).toBe(true);
    const bases = deltaBases(wire, h);
    expect(bases.length).toBeGreaterThan(0);
    for (const a of bases) expect(before.nodes.has(a)).toBe(true);
    const resolved = resolveWirePack(wire, h, new Map(bases.map((a) => [a, before.nodes.get(a)!])));
    expect(resolved).toEqual(pack.bytes);
    expect(addressOf(resolved)).toBe(pack.id);
    const treeBytes = pack.objects.filter((o) => o.type === ObjectType.Tree).reduce((n, o) => n + o.length, 0);
    console.log(`4 edits in 3,000 entries: pack ${pack.bytes.length} B -> ${wire.length} B on the wire (tree nodes ${treeBytes} B)`);
    expect(pack.bytes.length - wire.length).toBeGreaterThan(treeBytes * 0.8);
    expect((await readPack(resolved, c, { verifyAddresses: true })).length).toBe(pack.objects.length);
  });

  it("packs without tree nodes, or without bases, go as they are", async () => {
    const b = new PackBuilder();
    b.add(ObjectType.Blob, addressOf(utf8("x")), utf8("x"), false);
    const pack = await b.finish(c);
    expect(await encodeWirePack(pack.bytes, async () => ({ addr: addressOf(utf8("x")), bytes: utf8("x") }))).toBe(pack.bytes);
    const { pack: trees } = await edited(500, [3]);
    expect(await encodeWirePack(trees.bytes, async () => null)).toBe(trees.bytes);
  });

  it("refuses unknown bases, bad segments and frames of the wrong length", async () => {
    const { pack, finder } = await edited(1000, [10]);
    const wire = await encodeWirePack(pack.bytes, finder);
    const h = decodePackHeader(wire, { deltaFrames: true });
    expect(() => resolveWirePack(wire, h, new Map())).toThrow(/delta base .* is not available/);
    const f = h.frames.find((x) => x.codec === Codec.Delta)!;
    const damaged = wire.slice();
    damaged[f.offset] = 7; // unknown segment tag
    expect(() => deltaBases(damaged, h)).toThrow(FormatError);
    const short = { ...h, frames: h.frames.map((x) => (x === f ? { ...x, rawLength: x.rawLength + 1 } : x)) };
    expect(() => deltaBases(wire, short)).toThrow(/makes .* bytes; its header says/);
  });

  it("random segments: a FormatError or a frame of its declared length, never anything else (fuzz)", () => {
    const base = randomBytes(64, 5);
    const addr = addressOf(base);
    const seg = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => [0x00, b.length, ...b]),
      fc.tuple(fc.nat({ max: 70 }), fc.nat({ max: 70 })).map(([off, len]) => [0x01, ...fromHex(addr), len, 0x01, off, len]),
      fc.uint8Array({ maxLength: 6 }).map((b) => [...b]),
    );
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 5 }), fc.nat({ max: 200 }), (segs, rawLength) => {
        const stored = Uint8Array.from(segs.flat());
        const b = new PackBuilder();
        b.add(ObjectType.Tree, addr, base, false);
        const header = { headerEnd: 0, frames: [{ codec: Codec.Delta as Codec, storedLength: stored.length, rawLength, offset: 0 }], objects: [] };
        try {
          deltaBases(stored, header);
          const out = resolveWirePack(stored, header, new Map([[addr, base]]));
          expect(decodePackHeader(out).frames[0].rawLength).toBe(rawLength);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
