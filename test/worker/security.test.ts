// The attacks of the security review (issue 18), each replayed against the Worker in workerd: every
// one must now get a 4xx (or, for the dead upload, be released by GC) with nothing stored.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { gzipSync } from "fflate";
import { utf8 } from "../../engine/core/bytes.ts";
import { fflateCompressor } from "../../engine/core/compress.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { ObjectType } from "../../engine/core/object.ts";
import { Codec, decodePackHeader, encodePackHeader, MAX_FRAME_RAW, PackBuilder } from "../../engine/core/pack.ts";
import { encodeJsonPart } from "../../engine/core/parts.ts";
import { encodeSnapshot } from "../../engine/core/snapshot.ts";
import { encodeLeaf, plainKeying, type Entry } from "../../engine/core/tree.ts";
import { runGc } from "../../worker/gc.ts";
import { packKey, PackStore } from "../../worker/pack-store.ts";
import type { GcPolicy } from "../../worker/vault-types.ts";
import {
  api,
  buildVault,
  createVault,
  direct,
  expectError,
  expectUntouched,
  noteSpecs,
  packOf,
  push,
  pushBody,
  pushVault,
  r2Keys,
  vaultInfo,
} from "./helpers.ts";

/** Objects of a one-leaf tree naming these ids (written with the raw leaf encoder: buildTree refuses them). */
async function treeNaming(ids: string[]) {
  const b = new PackBuilder();
  const items = [...ids].sort().map((id) => {
    const note = encodeJsonPart({ title: id, body: "chosen bytes" });
    const addr = addressOf(note);
    b.add(ObjectType.Blob, addr, note, true);
    return { key: utf8(id), entry: { id, note: addr } as Entry };
  });
  const leaf = encodeLeaf(items, plainKeying);
  const root = addressOf(leaf);
  b.add(ObjectType.Tree, root, leaf, false);
  const snap = encodeSnapshot({ parents: [], root, device: "attacker", time: "2026-12-01T00:00:00.000Z", stats: { notes: ids.length, embeddings: 0, positions: 0 } });
  b.add(ObjectType.Snapshot, snap.addr, snap.bytes, true);
  const pack = await b.finish(fflateCompressor);
  return { pack, commit: { snapshot: snap.addr, parents: [], expect: null, packs: [pack.id] } };
}

/** A pack of one gzip frame `stored` declared to inflate to `rawLength`, holding one object of `objectLength` bytes. */
function packOfFrame(stored: Uint8Array, rawLength: number, objectLength = 100): Uint8Array {
  const header = encodePackHeader([{ codec: Codec.Gzip, storedLength: stored.length, rawLength }], [{ type: ObjectType.Blob, addr: addressOf(new Uint8Array(objectLength)), frame: 0, offset: 0, length: objectLength }]);
  const out = new Uint8Array(header.length + stored.length);
  out.set(header);
  out.set(stored, header.length);
  return out;
}

/** 16 MiB of zeros in ~16 KB: DEFLATE's best ratio. */
const bomb = gzipSync(new Uint8Array(16 * 1024 * 1024), { level: 9 });

describe("1. note ids that name paths: the tree is not a tree", () => {
  for (const id of ["../../escaped-note", "/abs-looking", "..", ".", "a/b", "back\\slash", "x".repeat(129), "nul\u0000byte", "ünïcode"]) {
    it(`refuses a commit whose tree names ${JSON.stringify(id).slice(0, 40)} (400 bad_commit, nothing stored)`, async () => {
      const vault = `ids-${addressOf(utf8(id)).slice(0, 12)}`;
      await createVault(vault);
      const { pack, commit } = await treeNaming(["good-note", id]);
      const body = await expectError(await push(vault, pushBody([pack.bytes], commit)), 400, "bad_commit");
      expect(body.message).toMatch(/not a note id/);
      await expectUntouched(vault);
    });
  }

  it("the same tree with good ids only is committed (the control)", async () => {
    const vault = "ids-control";
    await createVault(vault);
    const { pack, commit } = await treeNaming(["good-note", "Other_Note.v2"]);
    const r = await push(vault, pushBody([pack.bytes], commit));
    expect(r.status, await r.clone().text()).toBe(200);
  });
});

describe("2. a gzip bomb inflates no further than its frame declares", () => {
  it("a 16 KB frame of 16 MiB zeros declared as 100 bytes: refused from the header, before inflating", async () => {
    const vault = "bomb-small";
    await createVault(vault);
    const body = await expectError(await push(vault, pushBody([packOfFrame(bomb, 100)])), 400, "bad_pack");
    expect(body.message).toMatch(/cannot inflate to only 100/);
    await expectUntouched(vault);
  });

  it("the same frame declared as 4 MiB (the frame limit): cut off once it passes 4 MiB", async () => {
    const vault = "bomb-max";
    await createVault(vault);
    const body = await expectError(await push(vault, pushBody([packOfFrame(bomb, MAX_FRAME_RAW)])), 400, "bad_pack");
    expect(body.message).toMatch(/inflates past the 4194304 bytes its header declares/);
    await expectUntouched(vault);
  });

  it("a frame declaring more than 1,032 x its size: refused from the header", async () => {
    const vault = "bomb-ratio";
    await createVault(vault);
    const tiny = gzipSync(new Uint8Array(1000));
    await expectError(await push(vault, pushBody([packOfFrame(tiny, tiny.length * 1032 + 2048)])), 400, "bad_pack");
    await expectUntouched(vault);
  });
});

describe("6. a raw-byte budget per request", () => {
  it("packs that together inflate past MAX_INFLATE_BYTES: 413, the first pack rolled back", async () => {
    const vault = "inflate-budget";
    await createVault(vault);
    const v = buildVault(noteSpecs(40));
    const all = [...v.objects.values()];
    const a = await packOf(all.slice(0, 60));
    const b = await packOf(all.slice(60));
    const limit = a.rawBytes + 10; // the first pack fits, the second does not
    const r = await direct(`/v1/vaults/${vault}/push`, pushBody([a.bytes, b.bytes]), { MAX_INFLATE_BYTES: String(limit) });
    const body = await expectError(r, 413, "too_large");
    expect(body.message).toMatch(/MAX_INFLATE_BYTES/);
    await expectUntouched(vault);
    // Under the default budget the same push goes through.
    expect((await push(vault, pushBody([a.bytes, b.bytes]))).status).toBe(200);
  });
});

describe("7. every frame of a pushed pack must hold an object", () => {
  for (const addressing of ["sha256", "hmac-sha256"] as const) {
    it(`one valid object plus an unreferenced bomb frame is refused whole (${addressing})`, async () => {
      const vault = `idle-frame-${addressing}`;
      await createVault(vault, addressing);
      const obj = encodeJsonPart({ title: "valid", body: "x" });
      const header = encodePackHeader(
        [
          { codec: Codec.Stored, storedLength: obj.length, rawLength: obj.length },
          { codec: Codec.Gzip, storedLength: bomb.length, rawLength: MAX_FRAME_RAW },
        ],
        [{ type: ObjectType.Blob, addr: addressOf(obj), frame: 0, offset: 0, length: obj.length }],
      );
      const pack = new Uint8Array(header.length + obj.length + bomb.length);
      pack.set(header);
      pack.set(obj, header.length);
      pack.set(bomb, header.length + obj.length);
      const body = await expectError(await push(vault, pushBody([pack])), 400, "bad_pack");
      expect(body.message).toMatch(/frame 1 of the pack holds no object/);
      await expectUntouched(vault);
    });
  }
});

describe("4. repair takes only replacements, within the quota", () => {
  it("a repair pack holding an object no commit brought: 400 unexpected_objects, nothing stored, nothing served", async () => {
    const vault = "repair-inject";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(20));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const before = await vaultInfo(vault);
    const keys = (await r2Keys(vault)).length;
    const foreign = encodeJsonPart({ title: "injected", body: "never committed" });
    const committed = [...v1.objects.values()][0];
    for (const objects of [[{ type: ObjectType.Blob, addr: addressOf(foreign), bytes: foreign, compressible: true }], [committed, { type: ObjectType.Blob, addr: addressOf(foreign), bytes: foreign, compressible: true }]]) {
      const pack = await packOf(objects);
      const body = await expectError(await api(`/v1/vaults/${vault}/repair`, { method: "POST", body: pushBody([pack.bytes]) as Uint8Array<ArrayBuffer> }), 400, "unexpected_objects");
      expect(body.unexpected).toEqual([addressOf(foreign)]);
      await expectUntouched(vault, before.stats, v1.snapshot, keys);
    }
    expect((await api(`/v1/vaults/${vault}/objects/${addressOf(foreign)}`)).status).toBe(404);
  });

  it("a repair past the quota: 413 quota_exceeded; within it, the copy is replaced", async () => {
    const vault = "repair-quota";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(20));
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const before = await vaultInfo(vault);
    const keys = (await r2Keys(vault)).length;
    const again = await packOf([...v1.objects.values()].slice(0, 10));
    const tight = String(before.stats.bytes + again.bytes.length - 1);
    const r = await direct(`/v1/vaults/${vault}/repair`, pushBody([again.bytes]), { VAULT_LIMIT_BYTES: tight });
    await expectError(r, 413, "quota_exceeded");
    await expectUntouched(vault, before.stats, v1.snapshot, keys);
    const ok = await direct(`/v1/vaults/${vault}/repair`, pushBody([again.bytes]), { VAULT_LIMIT_BYTES: String(before.stats.bytes + again.bytes.length) });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(((await ok.json()) as any).repointed).toBe(10);
  });
});

describe("3. an upload whose request died is released once its lease runs out", () => {
  const policy: GcPolicy = { retentionDays: 30, retentionSnapshots: 50, graceSeconds: 3600, committedGraceSeconds: 3600, uploadLeaseSeconds: 3600 };

  it("an uploading pack nobody settles: kept within the lease, released (index and R2) after it", async () => {
    const vault = "dead-upload";
    await createVault(vault);
    const stub = env.VAULT.get(env.VAULT.idFromName(vault));
    const pack = await packOf(buildVault(noteSpecs(5)).objects.values());
    // What a request killed after its R2 put leaves behind: indexed as uploading, bytes in R2, no rollback.
    const header = pack.bytes.slice(0, decodePackHeader(pack.bytes).headerEnd);
    await stub.registerPack(pack.id, pack.bytes.length, header, 1 << 30);
    await env.BUCKET.put(packKey(vault, pack.id), pack.bytes);
    expect((await vaultInfo(vault)).stats).toMatchObject({ packs: 1, bytes: pack.bytes.length });
    const gc = (at: number) => runGc(stub, new PackStore(env.BUCKET, vault), policy, { now: () => at });

    await gc(Date.now() + 30 * 60_000);
    expect((await vaultInfo(vault)).stats).toMatchObject({ packs: 1, bytes: pack.bytes.length });

    const later = Date.now() + 2 * 3600_000;
    const r = await gc(later);
    expect(r.deletedPacks).toBe(1);
    await expectUntouched(vault);
  });

  it("the Cron Trigger's check starts a GC for a stale upload even without other activity", async () => {
    const vault = "dead-upload-kick";
    await createVault(vault);
    const stub = env.VAULT.get(env.VAULT.idFromName(vault));
    const pack = await packOf(buildVault(noteSpecs(3)).objects.values());
    const header = pack.bytes.slice(0, decodePackHeader(pack.bytes).headerEnd);
    await stub.registerPack(pack.id, pack.bytes.length, header, 1 << 30);
    // A GC ran after the upload began (its lease had not run out then): no activity since.
    await runGc(stub, new PackStore(env.BUCKET, vault), policy, { now: () => Date.now() + 60_000 });
    expect(await stub.gcKick(Date.now() + 120_000, 6 * 3600_000)).toBe(false);
    expect(await stub.gcKick(Date.now() + 2 * 3600_000, 6 * 3600_000)).toBe(true);
  });
});
