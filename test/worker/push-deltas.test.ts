// Pushes whose tree nodes travel as deltas (engine/core/delta-frame.ts), through the real Worker,
// Durable Object and local R2: the Worker stores the client's own pack, and refuses what it cannot resolve.
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../engine/core/bytes.ts";
import { encodeWirePack, type BaseFinder } from "../../engine/core/delta-frame.ts";
import { addressOf, type Address } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { Codec, decodePackHeader } from "../../engine/core/pack.ts";
import { treeBaseFinder } from "../../engine/sync/delta-bases.ts";
import { api, buildVault, commitOf, createVault, expectError, newObjects, noteSpecs, packOf, pull, push, pushBody, pushVault, r2Keys, r2Ops, readPull, vaultInfo, type BuiltVault } from "./helpers.ts";

/** v1 committed; v2 = v1 with every 40th note edited, its new objects packed, and that pack as deltas against v1's tree. */
async function editedVault(vault: string, addressing: "sha256" | "hmac-sha256" = "sha256") {
  await createVault(vault, addressing);
  const specs = noteSpecs(600);
  const v1 = buildVault(specs);
  expect((await pushVault(vault, v1, null)).res.status).toBe(200);
  const v2 = buildVault(
    specs.map((s, i) => (i % 40 === 7 ? { ...s, version: 1 } : s)),
    [v1.snapshot],
  );
  const pack = await packOf(newObjects(v2, v1));
  const wire = await encodeWirePack(pack.bytes, treeBaseFinder(v1.root, loaderOf(v1)));
  return { v1, v2, pack, wire };
}

function loaderOf(v: BuiltVault) {
  return async (a: Address) => v.objects.get(a)!.bytes;
}

describe("push with delta frames", () => {
  it("stores the client's pack byte for byte, commits it, and pulls serve it whole", async () => {
    const vault = "deltas";
    const { v1, v2, pack, wire } = await editedVault(vault);
    const frames = decodePackHeader(wire, { deltaFrames: true }).frames;
    expect(frames.some((f) => f.codec === Codec.Delta)).toBe(true);
    const treeBytes = newObjects(v2, v1).filter((o) => o.type === ObjectType.Tree).reduce((n, o) => n + o.bytes.length, 0);
    expect(pack.bytes.length - wire.length).toBeGreaterThan(0.8 * treeBytes);

    const res = await push(vault, pushBody([wire], commitOf(v2, v1.snapshot, [pack])));
    expect(res.status, await res.clone().text()).toBe(200);
    const body: any = await res.json();
    expect(body.packs).toEqual([{ id: pack.id, objects: pack.objects.length, bytes: pack.bytes.length }]);
    expect(body.commit).toEqual({ snapshot: v2.snapshot, seq: 2 });
    // One put; the bases' reads (one ranged read of v1's tree frame) and the commit walk's.
    expect(r2Ops(res).A).toBe(1);
    expect(r2Ops(res).B).toBeGreaterThanOrEqual(1);
    expect(await r2Keys(vault)).toContain(`vaults/${vault}/packs/${pack.id.slice(0, 2)}/${pack.id}`);

    const p = await readPull(await pull(vault, { since: v1.snapshot }));
    expect(p.packs).toHaveLength(1);
    expect(bytesEqual(p.packs[0], pack.bytes)).toBe(true);
    for (const o of newObjects(v2, v1)) expect(bytesEqual(p.objects.get(o.addr)!.bytes, o.bytes)).toBe(true);
  });

  it("refuses a delta against an object the vault does not hold, or that is not a tree node, and keeps nothing", async () => {
    const vault = "deltas-bad-base";
    const { v1, v2, pack } = await editedVault(vault);
    const before = await vaultInfo(vault);
    // Bases the vault never saw: each node with its last byte changed.
    const strangers: Address[] = [];
    const unknown: BaseFinder = async (_o, bytes) => {
      const stranger = bytes.slice();
      stranger[stranger.length - 1] ^= 0xff;
      strangers.push(addressOf(stranger));
      return { addr: addressOf(stranger), bytes: stranger };
    };
    const r1 = await push(vault, pushBody([await encodeWirePack(pack.bytes, unknown)], commitOf(v2, v1.snapshot, [pack])));
    const e1 = await expectError(r1, 400, "bad_delta");
    expect(e1.missing.length).toBeGreaterThan(0);
    for (const a of e1.missing) expect(strangers).toContain(a);

    // Blobs the vault does hold (pushed without a commit), each a new node plus one byte.
    const blobs = new Map<Address, Uint8Array>();
    for (const o of newObjects(v2, v1)) if (o.type === ObjectType.Tree) blobs.set(o.addr, new Uint8Array([...o.bytes, 0]));
    const blobPack = await packOf([...blobs.values()].map((bytes) => ({ type: ObjectType.Blob, addr: addressOf(bytes), bytes, compressible: false })));
    expect((await push(vault, pushBody([blobPack.bytes]))).status).toBe(200);
    const notTree: BaseFinder = async (o) => {
      const bytes = blobs.get(o.addr)!;
      return { addr: addressOf(bytes), bytes };
    };
    const e2 = await expectError(await push(vault, pushBody([await encodeWirePack(pack.bytes, notTree)], commitOf(v2, v1.snapshot, [pack]))), 400, "bad_delta");
    expect(e2.message).toMatch(/not a tree node/);
    before.stats = { ...before.stats, packs: before.stats.packs + 1, objects: before.stats.objects + blobs.size, bytes: before.stats.bytes + blobPack.bytes.length };
    expect(await vaultInfo(vault)).toEqual(before);
  });

  it("refuses a delta made against other bytes than the stored base: the resolved node fails its hash", async () => {
    const vault = "deltas-wrong";
    const { v1, v2, pack } = await editedVault(vault);
    const real = treeBaseFinder(v1.root, loaderOf(v1));
    // The right base address, but the delta computed against the node itself (one copy of it all):
    // applied to the stored base it makes the base again, or overruns it, never the node.
    const lying: BaseFinder = async (o, bytes) => {
      const b = await real(o, bytes);
      return b && { addr: b.addr, bytes };
    };
    const r = await push(vault, pushBody([await encodeWirePack(pack.bytes, lying)], commitOf(v2, v1.snapshot, [pack])));
    expect(r.status).toBe(400);
    expect(["hash_mismatch", "bad_delta"]).toContain(((await r.json()) as any).error);
    expect((await vaultInfo(vault)).head.snapshot).toBe(v1.snapshot);
  });

  it("takes no delta frames in an encrypted vault, nor on the repair route", async () => {
    const vault = "deltas-encrypted";
    const { v1, v2, pack, wire } = await editedVault(vault, "hmac-sha256");
    const e = await expectError(await push(vault, pushBody([wire], commitOf(v2, v1.snapshot, [pack]))), 400, "bad_delta");
    expect(e.message).toMatch(/plain vault/);

    const plain = "deltas-repair";
    const { wire: w2 } = await editedVault(plain);
    const body = pushBody([w2]);
    const r = await api(`/v1/vaults/${plain}/repair`, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/vnd.penumbra.stream" } });
    await expectError(r, 400, "bad_delta");
  });
});
