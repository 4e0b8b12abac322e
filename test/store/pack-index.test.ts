// The file store's object index on disk (engine/node/pack-index.ts, docs/design.md "Local state"):
// golden bytes, a round-trip property (every entry found, nothing else), the merge of new packs into
// it, and what FsStore does with a missing, torn or stale index file (rebuilds it; every object
// stays readable).
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtemp, readdir, rm, truncate, writeFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FormatError, compareBytes, concatBytes, fromHex, toHex } from "../../engine/core/bytes.ts";
import { sha256, addressOf } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { HOLD_AFTER, PACK_INDEX_FILE, PackIndexFile, TAG_AFTER_FINDS, encodePackIndex, mergeEntries, mergePackIndexPieces, type Location } from "../../engine/node/pack-index.ts";
import { FsStore } from "../../engine/node/fs-store.ts";
import { Codec } from "../../engine/core/pack.ts";

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "penumbra-pnix-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const P1 = "a1".repeat(32);
const P2 = "b2".repeat(32);

describe("pack index: golden vector", () => {
  it("has this exact layout", async () => {
    const e1 = { addr: fromHex("0001" + "00".repeat(30)), loc: { pack: P2, frameOffset: 80, storedLength: 5, rawLength: 5, codec: Codec.Stored, offset: 0, length: 5 } };
    const e2 = { addr: fromHex("ffff" + "11".repeat(30)), loc: { pack: P1, frameOffset: 0x01020304, storedLength: 300, rawLength: 4096, codec: Codec.Shuffle4Gzip, offset: 1536, length: 1536 } };
    const bytes = encodePackIndex([P1, P2], [e1, e2], 5);
    expect(bytes.length).toBe(13 + 64 + 4 * 65536 + 2 * 57);
    expect(toHex(bytes.subarray(0, 13 + 64))).toBe("504e4958" + "01" + "02000000" + "02000000" + P1 + P2);
    const fan = new DataView(bytes.buffer, bytes.byteOffset + 77, 4 * 65536);
    expect([fan.getUint32(0, true), fan.getUint32(4, true), fan.getUint32(4 * 65534, true), fan.getUint32(4 * 65535, true)]).toEqual([0, 1, 1, 2]);
    expect(toHex(bytes.subarray(77 + 4 * 65536))).toBe(
      "0001" + "00".repeat(30) + "01000000" + "50000000" + "05000000" + "05000000" + "00000000" + "05000000" + "00" +
        "ffff" + "11".repeat(30) + "00000000" + "04030201" + "2c010000" + "00100000" + "00060000" + "00060000" + "02",
    );
    // The whole file, locked: SHA-256 computed independently (Python struct + hashlib).
    expect(toHex(sha256(bytes))).toBe(GOLDEN_SHA256);
    const file = path.join(await tmp(), PACK_INDEX_FILE);
    await writeFile(file, bytes);
    const f = PackIndexFile.open(file);
    expect(f.find(toHex(e2.addr))).toEqual(e2.loc);
    expect(f.find(toHex(e1.addr))).toEqual(e1.loc);
    expect(f.find("0001" + "00".repeat(29) + "01")).toBeUndefined();
    f.close();
  });
});

const GOLDEN_SHA256 = "0fb1c96dce013fc008ac28e77d24818727150316ab871deb0a0108b5344fa1cc";

const locArb = (packs: string[]) =>
  fc.record({
    pack: fc.constantFrom(...packs),
    frameOffset: fc.nat(),
    storedLength: fc.nat(),
    rawLength: fc.nat(),
    codec: fc.constantFrom(Codec.Stored, Codec.Gzip, Codec.Shuffle4Gzip),
    offset: fc.nat(),
    length: fc.nat(),
  }) as fc.Arbitrary<Location>;
// Addresses crowded into a few fan-out buckets, so that buckets hold many entries and neighbours.
const addrArb = fc.tuple(fc.constantFrom(0x00, 0x7f, 0xff), fc.constantFrom(0x00, 0x01, 0xff), fc.uint8Array({ minLength: 30, maxLength: 30 })).map(([a, b, rest]) => toHex(new Uint8Array([a, b, ...rest])));

/** The merged index file's bytes whole: its pieces joined (each is valid only until the next). */
function mergePackIndex(file: PackIndexFile | null, newPacks: readonly string[], extra: ReadonlyMap<string, Location>): Uint8Array {
  return concatBytes(Array.from(mergePackIndexPieces(file, newPacks, extra), (p) => p.slice()));
}

describe("pack index: properties", () => {
  it("round trip: every entry is found with its location, absent addresses are not; merging new entries keeps the file's", async () => {
    const dir = await tmp();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(addrArb, { maxLength: 120 }).chain((addrs) => fc.tuple(fc.constant(addrs), fc.array(locArb([P1, P2]), { minLength: addrs.length, maxLength: addrs.length }))),
        fc.uniqueArray(addrArb, { maxLength: 40 }),
        fc.array(addrArb, { maxLength: 20 }),
        async ([addrs, locs], more, probes) => {
          const model = new Map(addrs.map((a, i) => [a, locs[i]]));
          const sorted = [...model].map(([a, loc]) => ({ addr: fromHex(a), loc })).sort((x, y) => compareBytes(x.addr, y.addr));
          const file = path.join(dir, `${run++}.pnix`);
          await writeFile(file, encodePackIndex([P1, P2], sorted, sorted.length + 3));
          const f = PackIndexFile.open(file);
          expect(f.count).toBe(model.size);
          // The same answers whether lookups read the file or the entries are held in memory.
          for (const held of [false, true]) {
            if (held) f.hold();
            expect(f.held).toBe(held);
            for (const [a, loc] of model) expect(f.find(a)).toEqual(loc);
            for (const a of probes) expect(f.find(a)).toEqual(model.get(a));
            expect([...f.entries()].map((e) => toHex(e.addr))).toEqual(sorted.map((e) => toHex(e.addr)));
          }
          // New packs' objects merged in: the union, in order; an address already in the file keeps its location.
          const extra = new Map(more.map((a) => [a, { pack: "c3".repeat(32), frameOffset: 1, storedLength: 2, rawLength: 3, codec: Codec.Gzip, offset: 4, length: 5 } as Location]));
          const merged = [...mergeEntries(f, extra)].map((e) => [toHex(e.addr), e.loc] as const);
          const union = new Map([...extra, ...model]);
          expect(merged.map((m) => m[0])).toEqual([...union.keys()].sort());
          for (const [a, loc] of merged) expect(loc).toEqual(union.get(a));
          f.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the store's merge crosses its 1 MiB read chunks: 45,000 entries in the file, 7,000 new, some already there", async () => {
    const dir = await tmp();
    let x = 12345;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    const addr = () => {
      const a = new Uint8Array(32);
      for (let i = 0; i < 32; i += 4) new DataView(a.buffer).setUint32(i, next());
      return toHex(a);
    };
    const loc = (pack: string, i: number): Location => ({ pack, frameOffset: i, storedLength: i + 1, rawLength: i + 2, codec: Codec.Gzip, offset: i + 3, length: i + 4 });
    const inFile = Array.from({ length: 45_000 }, (_, i) => [addr(), loc(P1, i)] as const);
    const sorted = inFile.map(([a, l]) => ({ addr: fromHex(a), loc: l })).sort((p, q) => compareBytes(p.addr, q.addr));
    const file = path.join(dir, PACK_INDEX_FILE);
    await writeFile(file, encodePackIndex([P1], sorted, sorted.length));
    const f = PackIndexFile.open(file);
    const extra = new Map<string, Location>();
    for (let i = 0; i < 7_000; i++) extra.set(i % 10 === 0 ? inFile[i * 5][0] : addr(), loc(P2, i));
    const packs = [P1, P2];
    const merged = mergePackIndex(f, [P2], extra);
    expect(toHex(merged)).toBe(toHex(encodePackIndex(packs, mergeEntries(f, extra), 52_000)));
    expect(new DataView(merged.buffer, merged.byteOffset).getUint32(9, true)).toBe(45_000 + 6_300);
    // Written in pieces: the header, then the entries ~1 MiB at a time, all in one reused buffer.
    const buffers = new Set<ArrayBufferLike>();
    let pieces = 0;
    for (const piece of mergePackIndexPieces(f, [P2], extra)) if (pieces++ > 0) buffers.add(piece.buffer);
    expect([pieces, buffers.size]).toEqual([1 + Math.ceil(51_300 / Math.floor(2 ** 20 / 57)), 1]);
    f.hold(); // lookups from memory change nothing in the merge: the same bytes
    expect(toHex(mergePackIndex(f, [P2], extra))).toBe(toHex(merged));
    f.close();
  });

  it("holds its entries after many lookups found by reading (lookups of absent addresses do not count)", async () => {
    const n = 5000;
    const entries = Array.from({ length: n }, (_, i) => ({ addr: sha256(new Uint8Array([i & 255, i >> 8])), loc: { pack: P1, frameOffset: i, storedLength: 1, rawLength: 1, codec: Codec.Stored, offset: 0, length: 1 } as Location }));
    entries.sort((x, y) => compareBytes(x.addr, y.addr));
    const file = path.join(await tmp(), PACK_INDEX_FILE);
    await writeFile(file, encodePackIndex([P1], entries, n));
    const f = PackIndexFile.open(file);
    // Absent, in a bucket that holds entries (a lookup in an empty bucket reads nothing anyway).
    const absent = (i: number) => {
      const a = entries[i % n].addr.slice();
      a[3] ^= 0x80;
      return toHex(a);
    };
    for (let i = 0; i < HOLD_AFTER; i++) {
      expect(f.find(absent(i))).toBeUndefined();
      const e = entries[i % n];
      expect(f.find(toHex(e.addr))).toEqual(e.loc);
      expect(f.held).toBe(i === HOLD_AFTER - 1);
    }
    expect(f.tagged).toBe(true); // read on the way, after TAG_AFTER_FINDS lookups
    for (const e of entries) expect(f.find(toHex(e.addr))).toEqual(e.loc);
    for (let i = 0; i < n; i++) expect(f.find(absent(i))).toBeUndefined();
    f.release(); // after a big checkout: back to reading the file (its tags kept)
    expect([f.held, f.tagged]).toEqual([false, true]);
    for (const e of entries.slice(0, 100)) expect(f.find(toHex(e.addr))).toEqual(e.loc);
    for (let i = 0; i < 100; i++) expect(f.find(absent(i))).toBeUndefined();
    f.close();
  });

  it("held entries take 26 bytes each, a frame's objects sharing one record of it, and know an address by its first 16 bytes", async () => {
    const n = 5000;
    const frameOf = (i: number) => i % 50;
    const entries = Array.from({ length: n }, (_, i) => ({ addr: sha256(new Uint8Array([i & 255, i >> 8, 7])), loc: { pack: i % 3 ? P1 : P2, frameOffset: 1000 * frameOf(i), storedLength: 900 + frameOf(i), rawLength: 2000, codec: Codec.Gzip, offset: i, length: 10 + i } as Location }));
    entries.sort((x, y) => compareBytes(x.addr, y.addr));
    const file = path.join(await tmp(), PACK_INDEX_FILE);
    await writeFile(file, encodePackIndex([P1, P2], entries, n));
    const f = PackIndexFile.open(file);
    f.hold();
    // 100 frames (50 offsets in each of 2 packs) in records with room for 128 (17 bytes each).
    expect(f.heldBytes).toBe(26 * n + 17 * 128);
    for (const e of entries) expect(f.find(toHex(e.addr))).toEqual(e.loc);
    const changedAt = (i: number) => {
      const a = entries[42].addr.slice();
      a[i] ^= 1;
      return toHex(a);
    };
    for (const i of [0, 1, 2, 9, 15]) expect(f.find(changedAt(i))).toBeUndefined();
    // Past byte 16 the held entries cannot tell (docs/design.md: 128 bits, and reads check the whole hash).
    expect(f.find(changedAt(16))).toEqual(entries[42].loc);
    f.release();
    expect(f.find(changedAt(16))).toBeUndefined();
    f.close();
  });

  // Addresses that often share their first 6 bytes (fan-out prefix and tag) and differ only later.
  const collidingArb = fc.tuple(fc.constantFrom(0x00, 0xff), fc.constantFrom(0x00, 0x01), fc.constantFrom(0x00, 0x7f), fc.uint8Array({ minLength: 26, maxLength: 26 })).map(([a, b, c, rest]) => toHex(new Uint8Array([a, b, c, c, c, c, ...rest])));
  const anyAddr = fc.oneof(addrArb, collidingArb);

  it("mergePackIndex writes the bytes encodePackIndex of mergeEntries writes; tagged lookups answer as untagged ones", async () => {
    const dir = await tmp();
    let run = 0;
    const P3 = "c3".repeat(32);
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.uniqueArray(anyAddr, { maxLength: 120 }).chain((addrs) => fc.tuple(fc.constant(addrs), fc.array(locArb([P1, P2]), { minLength: addrs.length, maxLength: addrs.length }))),
        fc.uniqueArray(anyAddr, { maxLength: 60 }).chain((addrs) => fc.tuple(fc.constant(addrs), fc.array(locArb([P3]), { minLength: addrs.length, maxLength: addrs.length }))),
        fc.array(anyAddr, { maxLength: 30 }),
        async (withFile, [addrs, locs], [moreAddrs, moreLocs], probes) => {
          const model = new Map(addrs.map((a, i) => [a, locs[i]]));
          const sorted = [...model].map(([a, loc]) => ({ addr: fromHex(a), loc })).sort((x, y) => compareBytes(x.addr, y.addr));
          const file = path.join(dir, `${run++}.pnix`);
          await writeFile(file, encodePackIndex([P1, P2], sorted, sorted.length));
          const f = withFile ? PackIndexFile.open(file) : null;
          const extra = new Map(moreAddrs.map((a, i) => [a, moreLocs[i]]));
          const expected = encodePackIndex([...(f?.packs ?? []), P3], mergeEntries(f, extra), (f?.count ?? 0) + extra.size);
          const got = mergePackIndex(f, [P3], extra);
          expect(toHex(sha256(got))).toBe(toHex(sha256(expected)));
          let tags: Uint32Array | undefined;
          for (const _ of mergePackIndexPieces(f, [P3], extra, (t) => (tags = t)));
          f?.close();
          // The merged file, opened three ways: untagged, tagged from its bytes, tagged after many lookups.
          const mergedPath = path.join(dir, `${run++}.pnix`);
          await writeFile(mergedPath, got);
          const union = new Map([...extra, ...(withFile ? model : [])]);
          const plain = PackIndexFile.open(mergedPath);
          const tagged = PackIndexFile.open(mergedPath, tags);
          const lazy = PackIndexFile.open(mergedPath);
          for (let i = 0; i < TAG_AFTER_FINDS && lazy.count > 0; i++) lazy.find(toHex(got.subarray(got.length - 57, got.length - 25)));
          expect([plain.tagged, tagged.tagged, lazy.tagged]).toEqual([false, true, lazy.count > 0]);
          for (const a of [...union.keys(), ...probes]) {
            const want = union.get(a);
            expect(plain.find(a)).toEqual(want);
            expect(tagged.find(a)).toEqual(want);
            expect(lazy.find(a)).toEqual(want);
          }
          for (const x of [plain, tagged, lazy]) x.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a torn or foreign file is refused at open", async () => {
    const dir = await tmp();
    const file = path.join(dir, PACK_INDEX_FILE);
    const bytes = encodePackIndex([P1], [{ addr: new Uint8Array(32), loc: { pack: P1, frameOffset: 0, storedLength: 1, rawLength: 1, codec: Codec.Stored, offset: 0, length: 1 } }], 1);
    for (const cut of [0, 5, 13, 100, bytes.length - 1]) {
      await writeFile(file, bytes.subarray(0, cut));
      expect(() => PackIndexFile.open(file), `cut at ${cut}`).toThrow(FormatError);
    }
    const bad = bytes.slice();
    bad[4] = 9;
    await writeFile(file, bad);
    expect(() => PackIndexFile.open(file)).toThrow(FormatError);
  });
});

describe("FsStore with its index file", () => {
  const objects = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => {
      const bytes = new TextEncoder().encode(`${tag} object ${i} ${"x".repeat(i % 50)}`);
      return { type: ObjectType.Blob, addr: addressOf(bytes), bytes };
    });

  it("writes the index once new packs are many, reads from it after reopening, and rebuilds it when torn, stale or missing", async () => {
    const root = await tmp();
    let store = await FsStore.open(root);
    const all: ReturnType<typeof objects> = [];
    // 20 packs of 300 objects: past both thresholds, so close() writes the index file.
    for (let p = 0; p < 20; p++) {
      const batch = objects(300, `p${p}`);
      all.push(...batch);
      await store.putObjects(batch);
    }
    await store.close();
    const indexPath = path.join(root, PACK_INDEX_FILE);
    expect((await stat(indexPath)).size).toBe(13 + 32 * 20 + 4 * 65536 + 57 * all.length);
    const check = async (what: string) => {
      store = await FsStore.open(root);
      expect(store.objectCount, what).toBe(all.length);
      for (const o of all.filter((_, i) => i % 37 === 0)) expect(await store.getObject(o.addr), what).toEqual(o.bytes);
      expect((await store.hasObjects(all.map((o) => o.addr))).size, what).toBe(all.length);
      expect(await store.getObject(addressOf(new Uint8Array([1, 2, 3]))), what).toBeUndefined();
      await store.close();
    };
    await check("from the index file");

    // One more small pack: not in the file until more come; readable meanwhile; a forced flush lists it.
    store = await FsStore.open(root);
    const late = objects(5, "late");
    all.push(...late);
    await store.putObjects(late);
    await store.close();
    expect((await stat(indexPath)).size).toBe(13 + 32 * 20 + 4 * 65536 + 57 * (all.length - 5));
    await check("one pack outside the index file");
    store = await FsStore.open(root);
    await store.flushIndex(true);
    await store.close();
    expect((await stat(indexPath)).size).toBe(13 + 32 * 21 + 4 * 65536 + 57 * all.length);

    // Torn (a crash mid-write cannot leave this, a damaged disk can): ignored and rebuilt.
    await truncate(indexPath, 1000);
    await check("torn index file");
    expect((await stat(indexPath)).size).toBe(13 + 32 * 21 + 4 * 65536 + 57 * all.length);
    // Stale: it lists a pack that is gone (removed by hand): rebuilt from the packs there are.
    const packs = await readdir(path.join(root, "packs"));
    const gone = packs.find((p) => p.endsWith(".pack"))!;
    await rm(path.join(root, "packs", gone));
    store = await FsStore.open(root);
    const held = await store.hasObjects(all.map((o) => o.addr));
    expect(held.size).toBeLessThan(all.length);
    for (const o of all.filter((x) => held.has(x.addr)).slice(0, 50)) expect(await store.getObject(o.addr)).toEqual(o.bytes);
    await store.close();
    // Missing: rebuilt.
    await rm(indexPath);
    store = await FsStore.open(root);
    expect((await store.hasObjects(all.map((o) => o.addr))).size).toBe(held.size);
    await store.close();
    expect((await stat(indexPath)).size).toBe(13 + 32 * 20 + 4 * 65536 + 57 * held.size);
  });

  it("rewrites the index file during a run once the packs it does not list hold many objects, also with stores running meanwhile", async () => {
    const root = await tmp();
    const store = await FsStore.open(root, undefined, { looseObjectsMax: 500 });
    const indexPath = path.join(root, PACK_INDEX_FILE);
    const all: ReturnType<typeof objects> = [];
    const put = async (tag: string) => {
      const batch = objects(300, tag);
      all.push(...batch);
      await store.putObjects(batch);
    };
    await put("a");
    await expect(stat(indexPath)).rejects.toThrow(); // 300 loose objects: no file yet
    await put("b"); // 600: the file is written now, not at close
    expect((await stat(indexPath)).size).toBe(13 + 32 * 2 + 4 * 65536 + 57 * 600);
    // Two stores at once, one of them starting the rewrite while the other is indexed: nothing is lost.
    await Promise.all([put("c"), put("d"), put("e")]);
    for (const o of all) expect(await store.getObject(o.addr)).toEqual(o.bytes);
    await store.close();
    const again = await FsStore.open(root);
    expect(again.objectCount).toBe(all.length);
    expect((await again.hasObjects(all.map((o) => o.addr))).size).toBe(all.length);
    await again.close();
    expect((await stat(indexPath)).size).toBe(13 + 32 * 5 + 4 * 65536 + 57 * all.length);
  });
});
