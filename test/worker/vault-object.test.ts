// The vault's Durable Object through its RPC methods: pack states, visibility of objects that
// are still uploading, rollback, and stamping when two uploads share objects.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodePackHeader, type BuiltPack } from "../../engine/core/pack.ts";
import { buildVault, noteSpecs, packOf, type StoredObject } from "./helpers.ts";

const config = { format: 1 as const, addressing: "sha256" as const, encryption: null };

async function vaultStub(name: string) {
  const stub = env.VAULT.get(env.VAULT.idFromName(name));
  expect((await stub.create(name, config)).created).toBe(true);
  return stub;
}

const header = (p: BuiltPack) => p.bytes.slice(0, decodePackHeader(p.bytes).headerEnd);

describe("VaultObject", () => {
  it("hides uploading packs from other requests until they settle", async () => {
    const stub = await vaultStub("do-visibility");
    const objs = [...buildVault(noteSpecs(5)).objects.values()];
    const p = await packOf(objs);
    expect(await stub.registerPack(p.id, p.bytes.length, header(p))).toEqual({ stored: false });
    const addrs = objs.map((o) => o.addr);
    expect((await stub.missing(addrs))!.sort()).toEqual([...addrs].sort());
    expect((await stub.lookup({ nodes: [], leaves: addrs, own: [p.id] })).missing).toEqual([]);
    expect((await stub.info())!.stats).toMatchObject({ packs: 1, objects: objs.length, bytes: p.bytes.length });
    await stub.settlePacks([p.id]);
    expect(await stub.missing(addrs)).toEqual([]);
    // Settled: registering again says stored, and a release by a failed re-upload keeps it.
    expect(await stub.registerPack(p.id, p.bytes.length, header(p))).toEqual({ stored: true });
    expect(await stub.releasePacks([p.id])).toEqual({ deleted: [] });
    expect(await stub.missing(addrs)).toEqual([]);
  });

  it("drops a pack only when its last uploader fails", async () => {
    const stub = await vaultStub("do-uploaders");
    const objs = [...buildVault(noteSpecs(4)).objects.values()];
    const p = await packOf(objs);
    await stub.registerPack(p.id, p.bytes.length, header(p));
    await stub.registerPack(p.id, p.bytes.length, header(p)); // a second request, same pack
    expect(await stub.releasePacks([p.id])).toEqual({ deleted: [] });
    expect((await stub.info())!.stats.packs).toBe(1);
    expect(await stub.releasePacks([p.id])).toEqual({ deleted: [p.id] });
    expect((await stub.info())!.stats).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
  });

  it("moves shared objects to the pack that settles, and keeps them when the other upload fails", async () => {
    const stub = await vaultStub("do-shared");
    const v = buildVault(noteSpecs(6));
    const objs = [...v.objects.values()];
    const shared = objs.filter((o) => o.type === 1).slice(0, 4);
    const onlyA: StoredObject[] = objs.filter((o) => !shared.includes(o)).slice(0, 3);
    const a = await packOf([...shared, ...onlyA]);
    const b = await packOf(objs); // the whole snapshot, shared objects included
    await stub.registerPack(a.id, a.bytes.length, header(a)); // shared objects located in a (uploading)
    await stub.registerPack(b.id, b.bytes.length, header(b));
    expect((await stub.info())!.stats.objects).toBe(objs.length);
    // b's request commits: the shared objects move into b and are stamped.
    const r = await stub.commit({ snapshot: v.snapshot, parents: [], expect: null, packs: [b.id], own: [b.id], completeNodes: [] });
    expect(r.ok).toBe(true);
    const locs = (await stub.locate(shared.map((o) => o.addr)))!.locations;
    for (const o of shared) expect(locs[o.addr].pack).toBe(b.id);
    // a's request fails: a goes, the shared objects stay (in b), a's own objects go.
    expect(await stub.releasePacks([a.id])).toEqual({ deleted: [a.id] });
    expect(await stub.missing(shared.map((o) => o.addr))).toEqual([]);
    expect((await stub.info())!.stats).toEqual({ packs: 1, objects: objs.length, bytes: b.bytes.length, snapshots: 1 });
    const plan = await stub.planPull(null, []);
    if (typeof plan === "string") throw new Error(plan);
    expect(plan.packs.map((p) => p.id)).toEqual([b.id]);
    const pp = (await stub.planPack(b.id, plan.sinceSeq, plan.headSeq, []))!;
    expect(pp.objects.length).toBe(objs.length);
  });

  it("relocates objects of a failed upload into another running upload, still hidden", async () => {
    const stub = await vaultStub("do-relocate");
    const objs = [...buildVault(noteSpecs(3)).objects.values()];
    const a = await packOf(objs.slice(0, 6));
    const b = await packOf(objs.slice(3));
    await stub.registerPack(a.id, a.bytes.length, header(a));
    await stub.registerPack(b.id, b.bytes.length, header(b));
    await stub.releasePacks([a.id]);
    const moved = objs.slice(3, 6).map((o) => o.addr);
    expect((await stub.missing(moved))!.sort()).toEqual([...moved].sort()); // b still uploading
    expect((await stub.lookup({ nodes: [], leaves: moved, own: [b.id] })).missing).toEqual([]);
    await stub.settlePacks([b.id]);
    expect(await stub.missing(moved)).toEqual([]);
    expect((await stub.info())!.stats.objects).toBe(objs.length - 3);
  });

  it("answers unknown vaults with null and refuses a commit without its snapshot", async () => {
    const ghost = env.VAULT.get(env.VAULT.idFromName("do-ghost"));
    expect(await ghost.info()).toBeNull();
    expect(await ghost.missing([])).toBeNull();
    expect(await ghost.log(10, null)).toBeNull();
    expect(await ghost.planPull(null, [])).toBe("unknown_vault");
    const stub = await vaultStub("do-nosnap");
    const r = await stub.commit({ snapshot: "a".repeat(64), parents: [], expect: null, packs: [], own: [], completeNodes: [] });
    expect(r).toEqual({ ok: false, reason: "missing_snapshot" });
    expect(await stub.planPull("b".repeat(64), [])).toBe("unknown_snapshot");
  });
});
