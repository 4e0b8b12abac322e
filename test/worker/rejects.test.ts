// Pushes that must be refused, and what a refused push leaves behind: nothing.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { addressOf } from "../../engine/core/hash.ts";
import { gzipSync } from "fflate";
import { Codec, decodePackHeader, encodePackHeader, PACK_OBJECT_LIMIT } from "../../engine/core/pack.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { encodeSection, jsonSection, Section, STREAM_MAGIC } from "../../engine/core/stream.ts";
import { FaultyBucket } from "../../worker/faulty-bucket.ts";
import {
  api,
  buildVault,
  commitOf,
  createVault,
  direct,
  expectError,
  expectUntouched,
  newObjects,
  noteSpecs,
  packOf,
  postJson,
  push,
  pushBody,
  pushVault,
  r2Keys,
  r2Ops,
  TOKEN,
  vaultInfo,
  type BuiltVault,
} from "./helpers.ts";

/** A copy of the pack with one byte flipped inside an object stored in an uncompressed frame. */
function corrupt(pack: Uint8Array): Uint8Array {
  const h = decodePackHeader(pack);
  const o = h.objects.find((x) => h.frames[x.frame].codec === Codec.Stored && x.length > 0)!;
  const bad = pack.slice();
  bad[h.frames[o.frame].offset + o.offset] ^= 0x01;
  return bad;
}

describe("refused pushes change nothing", () => {
  it("refuses an object whose bytes do not hash to its address, storing nothing", async () => {
    const vault = "mismatch";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(40));
    const good = await packOf([...v1.objects.values()].slice(0, 60));
    const rest = await packOf([...v1.objects.values()].slice(60));
    const bad = corrupt(rest.bytes);
    // The good pack is stored first, then rolled back when the bad one is found.
    const r = await push(vault, pushBody([good.bytes, bad], commitOf(v1, null, [good, rest])));
    const body = await expectError(r, 400, "hash_mismatch");
    expect(body.addr).toMatch(/^[0-9a-f]{64}$/);
    expect(r2Ops(r)).toEqual({ A: 2, B: 0 }); // the good pack's put, then its delete
    await expectUntouched(vault);
    // Without a commit too.
    await expectError(await push(vault, pushBody([bad])), 400, "hash_mismatch");
    await expectUntouched(vault);
  });

  it("refuses a commit whose tree references a blob never uploaded", async () => {
    const vault = "dangling";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(40));
    const lost = v1.entries[17].embedding!;
    const pack = await packOf([...v1.objects.values()].filter((o) => o.addr !== lost));
    const body = await expectError(await push(vault, pushBody([pack.bytes], commitOf(v1, null, [pack]))), 400, "missing_objects");
    expect(body.missing).toEqual([lost]);
    await expectUntouched(vault);

    // Same on top of an existing head: the head stays.
    const full = await pushVault(vault, v1, null);
    expect(full.res.status).toBe(200);
    const before = await vaultInfo(vault);
    const v2 = buildVault(noteSpecs(45), [v1.snapshot]);
    const fresh = newObjects(v2, v1);
    const gone = v2.entries[44].note!;
    const p2 = await packOf(fresh.filter((o) => o.addr !== gone));
    const b2 = await expectError(await push(vault, pushBody([p2.bytes], commitOf(v2, v1.snapshot, [p2]))), 400, "missing_objects");
    expect(b2.missing).toEqual([gone]);
    await expectUntouched(vault, before.stats, v1.snapshot, 1);
  });

  it("refuses a commit missing a chunk of a large note or a tree node", async () => {
    const vault = "dangling2";
    await createVault(vault);
    const specs = noteSpecs(60);
    specs[3].large = true;
    const v1 = buildVault(specs);
    const list = v1.entries[3].note!;
    const chunk = [...v1.objects.values()].find((o) => o.type === 1 && o.bytes.length > 1000 && o.addr !== list && !v1.entries.some((e) => e.note === o.addr))!;
    const p1 = await packOf([...v1.objects.values()].filter((o) => o.addr !== chunk.addr));
    const b1 = await expectError(await push(vault, pushBody([p1.bytes], commitOf(v1, null, [p1]))), 400, "missing_objects");
    expect(b1.missing).toEqual([chunk.addr]);
    const node = [...v1.objects.values()].find((o) => o.type === 3 && o.addr !== v1.root)!;
    const p2 = await packOf([...v1.objects.values()].filter((o) => o.addr !== node.addr));
    const b2 = await expectError(await push(vault, pushBody([p2.bytes], commitOf(v1, null, [p2]))), 400, "missing_objects");
    expect(b2.missing).toEqual([node.addr]);
    await expectUntouched(vault);
  });

  it("refuses a stream cut short (no end section)", async () => {
    const vault = "truncated";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(30));
    const pack = await packOf(v1.objects.values());
    await expectError(await push(vault, pushBody([pack.bytes], commitOf(v1, null, [pack]), false)), 400, "bad_stream");
    await expectUntouched(vault);
    const full = pushBody([pack.bytes], commitOf(v1, null, [pack]));
    await expectError(await push(vault, full.subarray(0, 4 + 5 + 100)), 400, "bad_stream"); // inside the pack
    await expectError(await push(vault, full.subarray(0, full.length - 3)), 400, "bad_stream"); // inside E
    await expectError(await push(vault, new Uint8Array([1, 2, 3, 4, 5, 6])), 400, "bad_stream"); // bad magic
    await expectError(await push(vault, new Uint8Array(0)), 400, "bad_stream");
    await expectUntouched(vault);
  });

  it("refuses malformed packs and commits with 4xx", async () => {
    const vault = "malformed";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(20));
    const pack = await packOf(v1.objects.values());
    const garbage = new Uint8Array(100).fill(7);
    await expectError(await push(vault, pushBody([garbage])), 400, "bad_pack");
    const short = pack.bytes.subarray(0, pack.bytes.length - 1);
    await expectError(await push(vault, pushBody([short])), 400, "bad_pack");
    const j = (payload: string) => {
      const parts = [STREAM_MAGIC, encodeSection(Section.Pack, pack.bytes), encodeSection(Section.Json, new TextEncoder().encode(payload)), jsonSection(Section.End, {})];
      return new Uint8Array(parts.flatMap((p) => [...p]));
    };
    await expectError(await push(vault, j("{not json")), 400, "bad_commit");
    await expectError(await push(vault, j("[]")), 400, "bad_commit");
    const c = commitOf(v1, null, [pack]);
    await expectError(await push(vault, j(JSON.stringify({ ...c, snapshot: "nope" }))), 400, "bad_commit");
    await expectError(await push(vault, j(JSON.stringify({ ...c, parents: "x" }))), 400, "bad_commit");
    // expect must be one of the parents.
    await expectError(await push(vault, j(JSON.stringify({ ...c, expect: "a".repeat(64) }))), 400, "bad_commit");
    // parents differ from the snapshot's own.
    await expectError(await push(vault, j(JSON.stringify({ ...c, parents: ["b".repeat(64)] }))), 400, "bad_commit");
    // The "snapshot" is a note blob.
    await expectError(await push(vault, j(JSON.stringify({ ...c, snapshot: v1.entries[0].note }))), 400, "bad_commit");
    // A pack after the commit, two commits.
    await expectError(await push(vault, concat(STREAM_MAGIC, jsonSection(Section.Json, c), encodeSection(Section.Pack, pack.bytes), jsonSection(Section.End, {}))), 400, "bad_stream");
    await expectError(await push(vault, concat(STREAM_MAGIC, jsonSection(Section.Json, c), jsonSection(Section.Json, c), jsonSection(Section.End, {}))), 400, "bad_stream");
    // A frame that inflates far past the raw length its header declares (a gzip bomb).
    const bomb = gzipSync(new Uint8Array(1024 * 1024));
    const bombHeader = encodePackHeader([{ codec: Codec.Gzip, storedLength: bomb.length, rawLength: 10 }], [{ type: 1, addr: "c".repeat(64), frame: 0, offset: 0, length: 10 }]);
    await expectError(await push(vault, pushBody([concat(bombHeader, bomb)])), 400, "bad_pack");
    // A listed pack that is not stored.
    const other = await packOf(buildVault(noteSpecs(3, "other")).objects.values());
    const b = await expectError(await push(vault, pushBody([pack.bytes], { ...c, packs: [pack.id, other.id] })), 400, "missing_objects");
    expect(b.packs).toEqual([other.id]);
    await expectUntouched(vault);
  });

  it("refuses oversized bodies (413) before reading them, and while streaming when the length is unknown", async () => {
    const vault = "oversized";
    await createVault(vault);
    const big = new Uint8Array(8 * 1024 * 1024 + 1);
    await expectError(await push(vault, big), 413, "too_large");
    // No Content-Length: counted as it streams. Two valid packs (2.1 MiB each) are stored, then the
    // limit is crossed inside a third section of 4 MiB, and the two are rolled back.
    const packs = await Promise.all([1, 2].map((k) => randomPack(2.1 * 1024 * 1024, k)));
    const third = concat(new Uint8Array([Section.Pack, 0, 0, 0x40, 0]), new Uint8Array(4 * 1024 * 1024));
    const whole = concat(STREAM_MAGIC, ...packs.map((p) => encodeSection(Section.Pack, p.bytes)), third);
    expect(whole.length).toBeGreaterThan(8 * 1024 * 1024);
    const r = await api(`/v1/vaults/${vault}/push`, { method: "POST", body: chunked(whole), duplex: "half" } as RequestInit);
    await expectError(r, 413, "too_large");
    expect(r2Ops(r).A).toBe(3); // two puts, one delete
    await expectUntouched(vault);
    const j = await api(`/v1/vaults/${vault}/missing`, { method: "POST", body: chunked(new Uint8Array(2 * 1024 * 1024).fill(32)), duplex: "half" } as RequestInit);
    await expectError(j, 413, "too_large");
    // A pack section over MAX_PACK_BYTES (4 MiB) is refused from its header.
    const header = concat(STREAM_MAGIC, new Uint8Array([Section.Pack, 0, 0, 0x50, 0]));
    await expectError(await push(vault, header), 413, "too_large");
    // JSON routes too.
    await expectError(await api(`/v1/vaults/${vault}/pull`, { method: "POST", body: new Uint8Array(2 * 1024 * 1024) }), 413, "too_large");
    await expectUntouched(vault);
  });

  it("refuses more objects than MAX_OBJECTS_PER_REQUEST", async () => {
    const vault = "toomany";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(10));
    const pack = await packOf(v1.objects.values());
    const r = await direct(`/v1/vaults/${vault}/push`, pushBody([pack.bytes]), { MAX_OBJECTS_PER_REQUEST: "10" });
    await expectError(r, 413, "too_large");
    await expectUntouched(vault);
  });

  it("takes a pack of PACK_OBJECT_LIMIT objects and refuses one more (413), storing nothing", async () => {
    const vault = "packobjects";
    await createVault(vault);
    const tiny = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const bytes = new TextEncoder().encode(`{"x":${i},"y":${n}}`);
        return { type: ObjectType.Blob, addr: addressOf(bytes), bytes, compressible: true as const };
      });
    const over = await packOf(tiny(PACK_OBJECT_LIMIT + 1));
    await expectError(await api(`/v1/vaults/${vault}/push`, { method: "POST", body: pushBody([over.bytes]) as Uint8Array<ArrayBuffer> }), 413, "too_large");
    await expectUntouched(vault);
    const atLimit = await packOf(tiny(PACK_OBJECT_LIMIT));
    const r = await api(`/v1/vaults/${vault}/push`, { method: "POST", body: pushBody([atLimit.bytes]) as Uint8Array<ArrayBuffer> });
    expect(r.status).toBe(200);
    expect((await vaultInfo(vault)).stats.objects).toBe(PACK_OBJECT_LIMIT);
  });

  it("rolls back every pack when R2 fails half-way (fault injection)", async () => {
    const vault = "faults";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(40));
    const objs = [...v1.objects.values()];
    const packs = await Promise.all([0, 1, 2].map((k) => packOf(objs.filter((_, i) => i % 3 === k))));
    const body = pushBody(packs.map((p) => p.bytes), commitOf(v1, null, packs));
    const r = await direct(`/v1/vaults/${vault}/push`, body, { BUCKET: new FaultyBucket(env.BUCKET, { failPut: 2 }) as unknown as R2Bucket });
    await expectError(r, 503, "storage_unavailable");
    await expectUntouched(vault);

    // The packs arrive (no commit), then the commit's walk fails to read the snapshot from R2.
    expect((await push(vault, pushBody(packs.map((p) => p.bytes)))).status).toBe(200);
    const stats = (await vaultInfo(vault)).stats;
    const c = pushBody([], commitOf(v1, null, packs));
    const r2 = await direct(`/v1/vaults/${vault}/push`, c, { BUCKET: new FaultyBucket(env.BUCKET, { failGet: 1 }) as unknown as R2Bucket });
    await expectError(r2, 503, "storage_unavailable");
    await expectUntouched(vault, stats, null, 3);
    // Unharmed, the same commit goes through.
    expect((await push(vault, c)).status).toBe(200);
  });

  it("keeps a pack stored by an earlier push when a later push re-sending it fails", async () => {
    const vault = "shared";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(30));
    const pack = await packOf(v1.objects.values());
    expect((await push(vault, pushBody([pack.bytes]))).status).toBe(200);
    const stats = (await vaultInfo(vault)).stats;
    const other = await packOf(buildVault(noteSpecs(5, "x")).objects.values());
    await expectError(await push(vault, pushBody([pack.bytes, corrupt(other.bytes)])), 400, "hash_mismatch");
    await expectUntouched(vault, stats, null, 1);
    expect((await push(vault, pushBody([], commitOf(v1, null, [pack])))).status).toBe(200);
  });

  it("keeps the invariant when two pushes of the same pack race and one fails", async () => {
    const vault = "samepack";
    await createVault(vault);
    const v1: BuiltVault = buildVault(noteSpecs(30));
    const pack = await packOf(v1.objects.values());
    const bad = corrupt((await packOf(buildVault(noteSpecs(4, "y")).objects.values())).bytes);
    const [ok, failed] = await Promise.all([push(vault, pushBody([pack.bytes])), push(vault, pushBody([pack.bytes, bad]))]);
    expect(ok.status).toBe(200);
    await expectError(failed, 400, "hash_mismatch");
    expect(await r2Keys(vault)).toHaveLength(1);
    const m: any = await (await postJson(`/v1/vaults/${vault}/missing`, { addrs: [...v1.objects.keys()] })).json();
    expect(m.missing).toEqual([]);
    expect((await push(vault, pushBody([], commitOf(v1, null, [pack])))).status).toBe(200);
  });
});

/** A body stream without a known length. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (o >= bytes.length) return c.close();
      c.enqueue(bytes.slice(o, o + 256 * 1024));
      o += 256 * 1024;
    },
  });
}

/** A valid pack of incompressible blobs of about `size` bytes. */
async function randomPack(size: number, seed: number) {
  const objs = [];
  for (let i = 0; i * 60_000 < size; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(60_000));
    bytes[0] = seed;
    objs.push({ type: 1 as const, addr: addressOf(bytes), bytes, compressible: false });
  }
  return packOf(objs);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
