// Push, commit and pull through the real Worker, Durable Object and local R2.
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../engine/core/bytes.ts";
import { decodePackHeader, PACK_OBJECT_LIMIT } from "../../engine/core/pack.ts";
import {
  api,
  buildVault,
  commitOf,
  createVault,
  newObjects,
  noteSpecs,
  packOf,
  postJson,
  pull,
  push,
  pushBody,
  pushVault,
  r2Keys,
  r2Ops,
  readPull,
  vaultInfo,
} from "./helpers.ts";

describe("push and pull", () => {
  it("commits a vault and clones it back, every object verified", async () => {
    const vault = "clone";
    await createVault(vault);
    const specs = noteSpecs(120);
    specs[7].large = true; // one chunked note: the walk must follow its chunk list
    const v1 = buildVault(specs);
    const { res, pack } = await pushVault(vault, v1, null);
    expect(res.status, await res.clone().text()).toBe(200);
    const body: any = await res.json();
    expect(body.commit).toEqual({ snapshot: v1.snapshot, seq: 1 });
    expect(body.head.snapshot).toBe(v1.snapshot);
    expect(body.packs).toEqual([{ id: pack.id, objects: v1.objects.size, bytes: pack.bytes.length }]);
    // One put per pack and nothing else written.
    expect(r2Ops(res).A).toBe(1);
    expect(await r2Keys(vault)).toEqual([`vaults/${vault}/packs/${pack.id.slice(0, 2)}/${pack.id}`]);

    const info = await vaultInfo(vault);
    expect(info.head.snapshot).toBe(v1.snapshot);
    expect(info.stats).toEqual({ packs: 1, objects: v1.objects.size, bytes: pack.bytes.length, snapshots: 1 });

    const pr = await pull(vault, { since: null });
    // The header counts what happened before the body streamed; the E section has the total.
    expect(r2Ops(pr)).toEqual({ A: 0, B: 0 });
    const p = await readPull(pr);
    expect(p.end.r2).toBe("A=0,B=1");
    expect(p.meta.head.snapshot).toBe(v1.snapshot);
    expect(p.meta.snapshots.map((s: any) => s.snapshot)).toEqual([v1.snapshot]);
    expect(p.meta.snapshots[0]).toMatchObject({ seq: 1, parents: [], root: v1.root, device: "test-device", stats: { notes: 120 } });
    expect(p.end).toMatchObject({ packs: 1, objects: v1.objects.size, missing: [] });
    expect(new Set(p.objects.keys())).toEqual(new Set(v1.objects.keys()));
    for (const [addr, o] of v1.objects) expect(bytesEqual(p.objects.get(addr)!.bytes, o.bytes)).toBe(true);
    // A whole pack is sent as stored.
    expect(bytesEqual(p.packs[0], pack.bytes)).toBe(true);
  });

  it("answers a pull since the head with just the J and E sections", async () => {
    const vault = "uptodate";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(30));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const r = await pull(vault, { since: v1.snapshot });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/vnd.penumbra.stream");
    const p = await readPull(r);
    expect(p.bytes).toBeLessThan(400);
    expect(p.packs).toHaveLength(0);
    expect(p.meta).toEqual({ head: expect.objectContaining({ snapshot: v1.snapshot, seq: 1 }), snapshots: [] });
    expect(p.end).toMatchObject({ packs: 0, objects: 0, missing: [] });
  });

  it("pulls only what changed since a snapshot", async () => {
    const vault = "incremental";
    await createVault(vault);
    const specs = noteSpecs(200);
    const v1 = buildVault(specs);
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const changed = specs.map((s, i) => (i % 50 === 3 ? { ...s, version: 1 } : s));
    changed.push({ id: "zz-new-note" });
    const v2 = buildVault(changed, [v1.snapshot]);
    const fresh = newObjects(v2, v1);
    const { res } = await pushVault(vault, v2, v1.snapshot, v1);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as any).commit.seq).toBe(2);

    const p = await readPull(await pull(vault, { since: v1.snapshot }));
    expect(p.meta.snapshots.map((s: any) => [s.snapshot, s.seq, s.parents])).toEqual([[v2.snapshot, 2, [v1.snapshot]]]);
    expect(p.end.objects).toBe(fresh.length);
    expect(new Set(p.objects.keys())).toEqual(new Set(fresh.map((o) => o.addr)));
    // A clone gets both snapshots' objects.
    const all = await readPull(await pull(vault, { since: null }));
    expect(all.meta.snapshots).toHaveLength(2);
    for (const addr of v2.objects.keys()) expect(all.objects.has(addr)).toBe(true);
  });

  it("sends a pack of just the needed frames when a pull needs part of a pack", async () => {
    const vault = "partial";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(150));
    // Small frames so that the pack has many of them.
    const pack = await packOf(v1.objects.values(), 2048);
    const res = await push(vault, pushBody([pack.bytes], commitOf(v1, null, [pack])));
    expect(res.status).toBe(200);
    const frames = decodePackHeader(pack.bytes).frames.length;
    expect(frames).toBeGreaterThan(4);
    const want = [...v1.objects.values()].filter((o) => o.compressible).slice(0, 3).map((o) => o.addr);
    const missingAddr = "f".repeat(64);
    const r = await pull(vault, { since: v1.snapshot, want: [...want, missingAddr] });
    const p = await readPull(r);
    expect(p.end.missing).toEqual([missingAddr]);
    expect(p.end.objects).toBe(want.length);
    expect(new Set(p.objects.keys())).toEqual(new Set(want));
    const sub = decodePackHeader(p.packs[0]);
    expect(sub.frames.length).toBeLessThan(frames);
    expect(p.packs[0].length).toBeLessThan(pack.bytes.length);
  });

  it("serves single objects, the missing list and the log", async () => {
    const vault = "objects";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(40));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    for (const o of [...v1.objects.values()].slice(0, 25)) {
      const r = await api(`/v1/vaults/${vault}/objects/${o.addr}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("x-object-type")).toBe({ 1: "blob", 2: "chunklist", 3: "tree", 4: "snapshot" }[o.type]);
      expect(bytesEqual(new Uint8Array(await r.arrayBuffer()), o.bytes)).toBe(true);
      expect(r2Ops(r)).toEqual({ A: 0, B: 1 });
    }
    const snap = await api(`/v1/vaults/${vault}/objects/${v1.snapshot}`);
    expect(snap.headers.get("x-object-type")).toBe("snapshot");
    const absent = await api(`/v1/vaults/${vault}/objects/${"0".repeat(64)}`);
    expect(absent.status).toBe(404);
    expect(((await absent.json()) as any).error).toBe("not_found");

    const some = [...v1.objects.keys()].slice(0, 5);
    const other = ["1".repeat(64), "2".repeat(64)];
    const m = await postJson(`/v1/vaults/${vault}/missing`, { addrs: [...some, ...other] });
    expect(m.status).toBe(200);
    expect(((await m.json()) as any).missing.sort()).toEqual(other);

    const v2 = buildVault(noteSpecs(41), [v1.snapshot]);
    expect((await pushVault(vault, v2, v1.snapshot, v1)).res.status).toBe(200);
    const log: any = await (await api(`/v1/vaults/${vault}/log?limit=10`)).json();
    expect(log.head.snapshot).toBe(v2.snapshot);
    expect(log.snapshots.map((s: any) => s.seq)).toEqual([2, 1]);
    const older: any = await (await api(`/v1/vaults/${vault}/log?before=2`)).json();
    expect(older.snapshots.map((s: any) => s.snapshot)).toEqual([v1.snapshot]);
  });

  it("keeps packs of a push without commit pending, and a later commit may use them", async () => {
    const vault = "pending";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(60));
    const pack = await packOf(v1.objects.values());
    const up = await push(vault, pushBody([pack.bytes]));
    expect(up.status).toBe(200);
    expect(((await up.json()) as any).commit).toBeNull();
    // Stored (pending): not missing, not pulled yet.
    const m: any = await (await postJson(`/v1/vaults/${vault}/missing`, { addrs: [v1.snapshot] })).json();
    expect(m.missing).toEqual([]);
    const before = await readPull(await pull(vault, { since: null }));
    expect(before.objects.size).toBe(0);
    // The commit alone (no packs in the body) references them: the snapshot and the tree are
    // read back from R2, a few coalesced ranged reads (snapshot, then one per tree level).
    const c = await push(vault, pushBody([], commitOf(v1, null, [pack])));
    expect(c.status, await c.clone().text()).toBe(200);
    expect(r2Ops(c).A).toBe(0);
    expect(r2Ops(c).B).toBeGreaterThan(0);
    expect(r2Ops(c).B).toBeLessThanOrEqual(4);
    const after = await readPull(await pull(vault, { since: null }));
    expect(after.objects.size).toBe(v1.objects.size);
    // Re-sending a stored pack does not store it again.
    const again = await push(vault, pushBody([pack.bytes]));
    expect(again.status).toBe(200);
    expect(r2Ops(again).A).toBe(0);
  });

  it("stores several packs in one push with one put each", async () => {
    const vault = "multipack";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(90));
    const objs = [...v1.objects.values()];
    const packs = await Promise.all([0, 1, 2].map((k) => packOf(objs.filter((_, i) => i % 3 === k))));
    const res = await push(vault, pushBody(packs.map((p) => p.bytes), commitOf(v1, null, packs)));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(r2Ops(res).A).toBe(packs.length);
    expect((await r2Keys(vault)).length).toBe(3);
    const p = await readPull(await pull(vault, { since: null }));
    expect(p.end.packs).toBe(3);
    expect(p.objects.size).toBe(v1.objects.size);
  });

  it("walks a tree of several levels and re-walks only the changed part", async () => {
    const vault = "scale";
    await createVault(vault);
    const specs = noteSpecs(9000); // ~560 leaves: more than one lookup batch of nodes
    const v1 = buildVault(specs);
    const objs = [...v1.objects.values()];
    const packs = [];
    for (let i = 0; i < objs.length; i += PACK_OBJECT_LIMIT) packs.push(await packOf(objs.slice(i, i + PACK_OBJECT_LIMIT)));
    const r1 = await push(vault, pushBody(packs.map((p) => p.bytes), commitOf(v1, null, packs)));
    expect(r1.status, await r1.clone().text()).toBe(200);
    expect(r2Ops(r1)).toEqual({ A: packs.length, B: 0 });
    const edited = specs.map((s, i) => (i === 4321 ? { ...s, version: 9 } : s));
    const v2 = buildVault(edited, [v1.snapshot]);
    const fresh = newObjects(v2, v1);
    expect(fresh.length).toBeLessThan(10); // note, embedding, position, the path of nodes, the snapshot
    const p2 = await packOf(fresh);
    const r2 = await push(vault, pushBody([p2.bytes], commitOf(v2, v1.snapshot, [p2])));
    expect(r2.status, await r2.clone().text()).toBe(200);
    // New nodes come from the request, unchanged ones are complete: nothing is read from R2.
    expect(r2Ops(r2)).toEqual({ A: 1, B: 0 });
    const p = await readPull(await pull(vault, { since: v1.snapshot }));
    expect(p.end.objects).toBe(fresh.length);
    expect((await vaultInfo(vault)).stats.objects).toBe(v1.objects.size + fresh.length);
  });

  it("commits in an encrypted vault checking only the snapshot object and packs", async () => {
    const vault = "sealed";
    await createVault(vault, "hmac-sha256");
    const v1 = buildVault(noteSpecs(20));
    const { res } = await pushVault(vault, v1, null);
    expect(res.status, await res.clone().text()).toBe(200);
    const p = await readPull(await pull(vault, { since: null }));
    expect(p.objects.size).toBe(v1.objects.size);
    expect(p.meta.snapshots[0].root).toBeUndefined();
    // The server cannot read objects here, but a commit naming a blob as its snapshot is refused.
    const notSnap = await push(vault, pushBody([], { snapshot: v1.entries[0].note, parents: [v1.snapshot], expect: v1.snapshot, packs: [] }));
    expect(notSnap.status).toBe(400);
    expect(((await notSnap.json()) as any).error).toBe("bad_commit");
    // A snapshot that is not stored: refused.
    const v2 = buildVault(noteSpecs(21), [v1.snapshot]);
    const r = await push(vault, pushBody([], commitOf(v2, v1.snapshot, [])));
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error).toBe("missing_objects");
  });
});
