// Damaged storage: a bit flipped in a stored pack, a truncated pack, a missing pack (the R2 object
// changed directly through the binding). The Worker never serves bad bytes (corrupt_object), the
// check route names the damaged objects, and a repair upload re-points them to a good copy.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { readPack } from "../../engine/core/pack.ts";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { runGc } from "../../worker/gc.ts";
import { PackStore } from "../../worker/pack-store.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { api, buildVault, createVault, noteSpecs, packOf, postJson, pull, push, pushBody, pushVault, readPull, type BuiltVault } from "./helpers.ts";

type Damage = "bitflip" | "truncate" | "missing";

async function setup(vault: string): Promise<{ v: BuiltVault; key: string; packId: string }> {
  await createVault(vault);
  const v = buildVault(noteSpecs(30));
  const { res, pack } = await pushVault(vault, v, null);
  expect(res.status).toBe(200);
  return { v, key: `vaults/${vault}/packs/${pack.id.slice(0, 2)}/${pack.id}`, packId: pack.id };
}

async function damage(key: string, how: Damage): Promise<void> {
  const obj = await env.BUCKET.get(key);
  const bytes = new Uint8Array(await obj!.arrayBuffer());
  if (how === "missing") return void (await env.BUCKET.delete(key));
  if (how === "truncate") return void (await env.BUCKET.put(key, bytes.slice(0, Math.floor(bytes.length * 0.6))));
  // A bit in the last frame's data (past the header): the frame's objects no longer hash right.
  const b = bytes.slice();
  b[b.length - 40] ^= 0x10;
  await env.BUCKET.put(key, b);
}

async function check(vault: string, addrs: string[]): Promise<{ damaged: string[]; missing: string[] }> {
  const r = await postJson(`/v1/vaults/${vault}/check`, { addrs });
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json();
}

describe("corruption", () => {
  for (const how of ["bitflip", "truncate", "missing"] as Damage[]) {
    it(`${how}: never served, reported by check, repaired by re-upload`, async () => {
      const vault = `corrupt-${how}`;
      const { v, key, packId } = await setup(vault);
      await damage(key, how);
      const addrs = [...v.objects.keys()];
      const c = await check(vault, addrs);
      expect(c.missing).toEqual([]);
      expect(c.damaged.length).toBeGreaterThan(0);
      // GET of a damaged object: 500 corrupt_object, never the bad bytes.
      const r = await api(`/v1/vaults/${vault}/objects/${c.damaged[c.damaged.length - 1]}`);
      expect(r.status).toBe(500);
      expect(((await r.json()) as any).error).toBe("corrupt_object");
      // A full pull cannot deliver a good copy: the client's check refuses it or the stream is cut.
      const p = await pull(vault, { since: null });
      await expect(readPull(p)).rejects.toThrow();
      // GC refuses to sweep a vault whose retained tree it cannot read.
      const gc = await runGc(env.VAULT.get(env.VAULT.idFromName(vault)), new PackStore(env.BUCKET, vault), {
        retentionDays: 0,
        retentionSnapshots: 1,
        graceSeconds: 0,
        committedGraceSeconds: 0,
        uploadLeaseSeconds: 3600,
      });
      if (how !== "bitflip" || c.damaged.some((a) => v.objects.get(a)!.type !== 1)) expect(gc.unreadable?.length).toBeGreaterThan(0);

      // Repair: a device that still has the objects uploads them in a fresh pack.
      const good = await packOf(c.damaged.map((a) => v.objects.get(a)!));
      const rep = await api(`/v1/vaults/${vault}/repair`, { method: "POST", body: pushBody([good.bytes]) as Uint8Array<ArrayBuffer> });
      expect(rep.status, await rep.clone().text()).toBe(200);
      expect(((await rep.json()) as any).repointed).toBe(c.damaged.length);
      expect(await check(vault, addrs)).toMatchObject({ damaged: [], missing: [] });
      const clone = await readPull(await pull(vault, { since: null }));
      for (const a of addrs) expect(clone.objects.has(a)).toBe(true);
      // Once nothing is located in the damaged pack, GC collects it (when the undamaged rest moved too).
      if (c.damaged.length === addrs.length) {
        await runGc(env.VAULT.get(env.VAULT.idFromName(vault)), new PackStore(env.BUCKET, vault), {
          retentionDays: 0,
          retentionSnapshots: 1,
          graceSeconds: 0,
          committedGraceSeconds: 0,
          uploadLeaseSeconds: 3600,
        });
        expect(((await (await api(`/v1/vaults/${vault}`)).json()) as any).stats.packs).toBe(1);
        if (good.id !== packId) expect(await env.BUCKET.head(key)).toBeNull();
      }
      void packId;
    });
  }

  it("a repair pack with a bad object is refused whole (hash_mismatch); encrypted vaults refuse repair", async () => {
    const vault = "corrupt-badrepair";
    const { v } = await setup(vault);
    const objs = [...v.objects.values()].slice(0, 3);
    const pk = await packOf(objs);
    const bad = pk.bytes.slice();
    const all = await readPack(pk.bytes, fflateCompressor, { verifyAddresses: true });
    expect(all.length).toBe(3);
    bad[bad.length - 3] ^= 1;
    const r = await api(`/v1/vaults/${vault}/repair`, { method: "POST", body: pushBody([bad]) as Uint8Array<ArrayBuffer> });
    expect(r.status).toBe(400);
    await createVault("corrupt-enc", "hmac-sha256");
    expect((await api(`/v1/vaults/corrupt-enc/repair`, { method: "POST", body: pushBody([pk.bytes]) as Uint8Array<ArrayBuffer> })).status).toBe(409);
  });

  it("a check of more frames than the reader's 32 MiB frame cache reports no intact object as damaged", async () => {
    // 36 objects of 1 MiB, each its own stored frame, in 12 packs: the check reads 36 MiB of frames,
    // so the cache evicts the first frames before the last are read (it reported those as damaged).
    const vault = "check-big";
    await createVault(vault);
    const addrs: string[] = [];
    for (let p = 0; p < 12; p++) {
      const objects = [0, 1, 2].map((i) => {
        const bytes = new Uint8Array(1024 * 1024);
        crypto.getRandomValues(bytes.subarray(0, 65536));
        bytes[65536] = p * 3 + i; // distinct objects, little randomness to make
        return { type: ObjectType.Blob, addr: addressOf(bytes), bytes, compressible: false };
      });
      const pack = await packOf(objects);
      expect((await push(vault, pushBody([pack.bytes]))).status).toBe(200);
      addrs.push(...objects.map((o) => o.addr));
    }
    const r = await check(vault, addrs);
    expect(r).toMatchObject({ damaged: [], missing: [] });
  }, 60_000);
});
