// The predecessor's API and the engine's protocol on one vault, in the Workers pool: what engine
// pushes is what legacy reads, what legacy writes is a well-formed engine snapshot, pull-since
// across mixed writers, and the vault quota on both write paths.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fromUtf8 } from "../../engine/core/bytes.ts";
import { decodeChunkList, joinChunks } from "../../engine/core/chunklist.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { decodePackHeader } from "../../engine/core/pack.ts";
import { decodeEmbedding, encodeEmbedding, encodeJsonPart } from "../../engine/core/parts.ts";
import { decodeSnapshot, encodeSnapshot } from "../../engine/core/snapshot.ts";
import { buildTree, iterateTree, type Entry } from "../../engine/core/tree.ts";
import {
  api,
  buildVault,
  createVault,
  noteSpecs,
  packOf,
  postJson,
  pull,
  push,
  pushBody,
  pushVault,
  r2Keys,
  readPull,
  withVars,
  vaultInfo,
  type StoredObject,
} from "./helpers.ts";

const q = (vault: string) => `?vault=${vault}`;

async function ok(r: Response): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return JSON.parse(text);
}

async function expectError(r: Response, status: number, code: string): Promise<any> {
  const text = await r.text();
  expect(r.status, text).toBe(status);
  const body = JSON.parse(text);
  expect(body.error).toBe(code);
  return body;
}

/** What an engine client sees: the vault's head and its entries, read through the engine's pull. */
async function engineView(vault: string) {
  const p = await readPull(await pull(vault, { since: null }));
  const load = async (a: string) => {
    const o = p.objects.get(a);
    if (!o) throw new Error(`pull did not deliver ${a}`);
    return o.bytes;
  };
  const head = p.meta.head.snapshot as string;
  const snap = decodeSnapshot(await load(head));
  const entries = new Map<string, Entry>();
  for await (const e of iterateTree(snap.root, load)) entries.set(e.id, e);
  const note = async (e: Entry) => {
    let bytes = await load(e.note!);
    if (e.chunked) {
      const list = decodeChunkList(bytes);
      bytes = joinChunks(list, await Promise.all(list.chunks.map((c) => load(c.addr))));
    }
    return JSON.parse(fromUtf8(bytes));
  };
  return { head, snap, entries, load, note, log: p.meta.snapshots };
}

/** The Worker with other variables (a small quota). */
const direct = withVars;

describe("legacy and engine clients on one vault", () => {
  it("legacy reads what the engine pushed: notes (chunked too), embeddings, positions", async () => {
    const v = "li-engine-first";
    await createVault(v);
    const specs = noteSpecs(40);
    specs[5].large = true;
    const v1 = buildVault(specs);
    expect((await pushVault(v, v1, null)).res.status).toBe(200);
    const all = await ok(await postJson(`/sync/pull${q(v)}`, {}));
    expect(all.snapshot).toBe(v1.snapshot);
    expect(Object.keys(all.notes)).toHaveLength(40);
    for (const e of v1.entries) {
      const noteObj = v1.objects.get(e.note!)!;
      if (!e.chunked) expect(all.notes[e.id]).toEqual(JSON.parse(fromUtf8(noteObj.bytes)));
      // Embeddings: the engine's float32 bits, exactly.
      const emb = decodeEmbedding(v1.objects.get(e.embedding!)!.bytes);
      expect(new Uint32Array(Float32Array.from(all.embeddings[e.id]).buffer)).toEqual(new Uint32Array(emb.buffer));
      expect(all.positions[e.id]).toEqual(JSON.parse(fromUtf8(v1.objects.get(e.position!)!.bytes)));
    }
    const big = await ok(await api(`/notes/${specs[5].id}${q(v)}`));
    expect(big.body.length).toBeGreaterThan(100_000);
    expect(all.notes[specs[5].id]).toEqual(big);
    expect(await ok(await api(`/sync/status${q(v)}`))).toMatchObject({ notes: 40, embeddings: 40, positions: 40, snapshot: v1.snapshot });
  });

  it("the engine reads what legacy wrote, as a snapshot on top of its head", async () => {
    const v = "li-legacy-second";
    await createVault(v);
    const v1 = buildVault(noteSpecs(30));
    expect((await pushVault(v, v1, null)).res.status).toBe(200);
    const big = { title: "big", body: "word ".repeat(30_000) };
    const w = await ok(
      await postJson(`/sync/push${q(v)}`, {
        notes: { "note-00003": { title: "edited by legacy" }, "legacy-new": { title: "new" }, "legacy-big": big },
        embeddings: { "legacy-new": Array.from({ length: 16 }, (_, i) => i / 7) },
        positions: { "legacy-new": { x: 1, y: 2, z: 3 } },
        deleted: ["note-00007"],
      }),
    );
    const view = await engineView(v);
    expect(view.head).toBe(w.snapshot);
    expect(view.snap.parents).toEqual([v1.snapshot]);
    expect(view.snap.device).toBe("legacy-api");
    expect(view.snap.stats).toEqual({ notes: 31, embeddings: 30, positions: 30 });
    expect(view.log.map((s: any) => s.snapshot)).toEqual([v1.snapshot, w.snapshot]);
    // The tree is buildTree's tree of the new entry set (history-independent).
    expect(view.snap.root).toBe(buildTree(view.entries.values()).root);
    expect(view.entries.size).toBe(31);
    expect(view.entries.has("note-00007")).toBe(false);
    expect(await view.note(view.entries.get("note-00003")!)).toEqual({ title: "edited by legacy" });
    // Encoded as the engine encodes: canonical JSON blobs, LE float32 with dims, chunked large notes.
    const nw = view.entries.get("legacy-new")!;
    expect(nw.note).toBe(addressOf(encodeJsonPart({ title: "new" })));
    expect(nw.position).toBe(addressOf(encodeJsonPart({ x: 1, y: 2, z: 3 })));
    expect(nw.embedding).toBe(addressOf(encodeEmbedding(Array.from({ length: 16 }, (_, i) => i / 7))));
    expect(nw.dims).toBe(16);
    const b = view.entries.get("legacy-big")!;
    expect(b.chunked).toBe(true);
    expect((await view.load(b.note!))[0]).toBe(0x50); // "PNC"
    expect(await view.note(b)).toEqual(big);
    // Untouched engine entries keep their addresses.
    expect(view.entries.get("note-00010")).toEqual(v1.entries[10]);
    // An engine pull since its own head gets exactly the legacy snapshot's new objects.
    const inc = await readPull(await pull(v, { since: v1.snapshot }));
    expect(inc.meta.snapshots.map((s: any) => [s.snapshot, s.device])).toEqual([[w.snapshot, "legacy-api"]]);
    for (const e of [nw, b]) expect(inc.objects.has(e.note!)).toBe(true);
    expect(inc.objects.has(v1.entries[10].note!)).toBe(false);
  });

  it("dedupes against a pending (uncommitted) engine pack and stamps it, so engine pulls deliver the object", async () => {
    const v = "li-pending";
    const s1 = await ok(await postJson(`/sync/push${q(v)}`, { notes: { a: { t: "a" } } }));
    // An engine upload without a commit holds the blob of {t: "shared"}.
    const bytes = encodeJsonPart({ t: "shared" });
    const blob: StoredObject = { type: ObjectType.Blob, addr: addressOf(bytes), bytes, compressible: true };
    const pending = await packOf([blob]);
    expect((await push(v, pushBody([pending.bytes]))).status).toBe(200);
    const keys = await r2Keys(v);
    const s2 = await ok(await api(`/notes/b${q(v)}`, { method: "PUT", body: JSON.stringify({ t: "shared" }), headers: { "content-type": "application/json" } }));
    // The legacy pack did not carry the blob again...
    const added = (await r2Keys(v)).filter((k) => !keys.includes(k));
    expect(added).toHaveLength(1);
    const packBytes = new Uint8Array(await (await env.BUCKET.get(added[0]))!.arrayBuffer());
    expect(decodePackHeader(packBytes).objects.map((o) => o.type)).not.toContain(ObjectType.Blob);
    // ...and an engine pull since s1 still gets it: the commit stamped the pending pack.
    const inc = await readPull(await pull(v, { since: s1.snapshot }));
    expect(inc.meta.head.snapshot).toBe(s2.snapshot);
    expect(inc.objects.has(blob.addr)).toBe(true);
    expect(await ok(await api(`/notes/b${q(v)}`))).toEqual({ t: "shared" });
  });

  it("pulls since across mixed writers: legacy, engine, legacy", async () => {
    const v = "li-mixed";
    const s1 = await ok(await postJson(`/sync/push${q(v)}`, { notes: { a: { v: 1 }, b: { v: 1 }, c: { v: 1 } }, embeddings: { a: [1, 2, 3, 4] } }));
    // An engine client on top of s1: reads the legacy tree, edits b, deletes c, adds e1/e2, commits with parent s1.
    const view = await engineView(v);
    const objects = new Map<string, StoredObject>();
    const add = (type: ObjectType, bytes: Uint8Array, compressible: boolean) => {
      const addr = addressOf(bytes);
      objects.set(addr, { type, addr, bytes, compressible });
      return addr;
    };
    const entries = new Map(view.entries);
    entries.set("b", { id: "b", note: add(ObjectType.Blob, encodeJsonPart({ v: 2, by: "engine" }), true) });
    entries.delete("c");
    for (const id of ["e1", "e2"]) entries.set(id, { id, note: add(ObjectType.Blob, encodeJsonPart({ id }), true), embedding: add(ObjectType.Blob, encodeEmbedding([4, 3, 2, 1]), false), dims: 4 });
    const tree = buildTree(entries.values());
    for (const [addr, bytes] of tree.nodes) objects.set(addr, { type: ObjectType.Tree, addr, bytes, compressible: false });
    const snap = encodeSnapshot({ parents: [s1.snapshot], root: tree.root, device: "engine-dev", time: "2026-01-02T00:00:00.000Z", stats: { notes: 4, embeddings: 3, positions: 0 } });
    add(ObjectType.Snapshot, snap.bytes, true);
    const pack = await packOf(objects.values());
    const pr = await push(v, pushBody([pack.bytes], { snapshot: snap.addr, parents: [s1.snapshot], expect: s1.snapshot, packs: [pack.id] }));
    expect(pr.status, await pr.clone().text()).toBe(200);
    // Legacy since s1 sees the engine's changes.
    const d1 = await ok(await postJson(`/sync/pull${q(v)}`, { since: s1.snapshot }));
    expect(d1.snapshot).toBe(snap.addr);
    expect(d1.notes).toEqual({ b: { v: 2, by: "engine" }, e1: { id: "e1" }, e2: { id: "e2" } });
    expect(d1.embeddings).toEqual({ e1: [4, 3, 2, 1], e2: [4, 3, 2, 1] });
    expect(d1.deleted).toEqual(["c"]);
    // Legacy writes again on top of the engine's head.
    const s3 = await ok(await postJson(`/sync/push${q(v)}`, { notes: { a: { v: 3 } }, deleted: ["e2"] }));
    const log: any = await ok(await api(`/v1/vaults/${v}/log`));
    expect(log.snapshots.map((s: any) => [s.snapshot, s.parents])).toEqual([
      [s3.snapshot, [snap.addr]],
      [snap.addr, [s1.snapshot]],
      [s1.snapshot, []],
    ]);
    const d2 = await ok(await postJson(`/sync/pull${q(v)}`, { since: snap.addr }));
    expect(d2).toMatchObject({ snapshot: s3.snapshot, notes: { a: { v: 3 } }, embeddings: {}, deleted: ["e2"] });
    const d3 = await ok(await postJson(`/sync/pull${q(v)}`, { since: s1.snapshot }));
    expect(d3.notes).toEqual({ a: { v: 3 }, b: { v: 2, by: "engine" }, e1: { id: "e1" } });
    expect(d3.deleted.sort()).toEqual(["c"]);
    expect(await ok(await api(`/sync/status${q(v)}`))).toMatchObject({ notes: 3, embeddings: 2, positions: 0, snapshot: s3.snapshot });
  });
});

describe("the vault quota (VAULT_LIMIT_BYTES)", () => {
  it("refuses legacy writes and engine pushes past it with 413 quota_exceeded, changing nothing; clear still works", async () => {
    const v = "li-quota";
    await ok(await postJson(`/sync/push${q(v)}`, { notes: { a: { t: "small" } } }));
    const used = (await vaultInfo(v)).stats.bytes;
    const limit = used + 600;
    const vars = { VAULT_LIMIT_BYTES: String(limit) };
    const json = { "content-type": "application/json" };
    const st = await ok(await direct(`/sync/status${q(v)}`, {}, vars));
    expect(st).toMatchObject({ bytes: used, limitBytes: limit });

    const before = { info: await vaultInfo(v), keys: await r2Keys(v) };
    const unchanged = async () => {
      const info = await vaultInfo(v);
      expect(info.stats).toEqual(before.info.stats);
      expect(info.head).toEqual(before.info.head);
      expect(await r2Keys(v)).toEqual(before.keys);
    };
    // Random text does not compress: ~4 KB more than the quota allows.
    const noise = Array.from(crypto.getRandomValues(new Uint8Array(4000)), (b) => String.fromCharCode(35 + (b % 89))).join("");
    const r1 = await direct(`/sync/push${q(v)}`, { method: "POST", body: JSON.stringify({ notes: { b: { t: noise } } }), headers: json }, vars);
    const e1 = await expectError(r1, 413, "quota_exceeded");
    expect(e1).toMatchObject({ bytes: used, limitBytes: limit });
    await unchanged();
    await expectError(await direct(`/notes/b${q(v)}`, { method: "PUT", body: JSON.stringify({ t: noise }), headers: json }, vars), 413, "quota_exceeded");
    await unchanged();
    // An engine push past the quota: refused, its packs rolled back.
    const head = before.info.head.snapshot;
    const v2 = buildVault(noteSpecs(40), [head]);
    const pack = await packOf(v2.objects.values());
    const body = pushBody([pack.bytes], { snapshot: v2.snapshot, parents: [head], expect: head, packs: [pack.id] });
    await expectError(await direct(`/v1/vaults/${v}/push`, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/vnd.penumbra.stream" } }, vars), 413, "quota_exceeded");
    await unchanged();
    // Within the quota: fine.
    await ok(await direct(`/notes/c${q(v)}`, { method: "PUT", body: JSON.stringify({ t: "tiny" }), headers: json }, vars));
    // Over it, a clear still goes through (it is how a full vault is emptied; storage is reclaimed by GC).
    const c = await ok(await direct(`/sync/clear${q(v)}`, { method: "POST" }, { VAULT_LIMIT_BYTES: "1" }));
    expect(c.cleared).toBeGreaterThan(0);
    expect((await vaultInfo(v)).head.snapshot).toBe(c.snapshot);
  });
});
