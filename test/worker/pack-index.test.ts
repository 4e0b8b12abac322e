// worker/pack-index.ts: a pack's states through an upload, its layout in the index, rollback.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodePackHeader } from "../../engine/core/pack.ts";
import { buildVault, noteSpecs, packOf } from "./helpers.ts";
import { headerOf, inVault, packRow, putAndRegister } from "./stores.ts";

const count = (sql: SqlStorage, q: string, ...args: SqlStorageValue[]) => sql.exec<{ c: number }>(q, ...args).one().c;

describe("pack index", () => {
  it("indexes a pack as uploading: its frames, members and objects, and counts it", async () => {
    const objs = [...buildVault(noteSpecs(6)).objects.values()];
    const p = await packOf(objs, 1024);
    const h = decodePackHeader(p.bytes);
    await inVault("pi-register", (s) => {
      expect(s.packs.register(p.id, p.bytes.length, headerOf(p))).toEqual({ stored: false });
      expect(packRow(s.sql, p.id)).toEqual({ state: "uploading", uploaders: 1 });
      expect(h.frames.length).toBeGreaterThan(1);
      expect(count(s.sql, "SELECT count(*) AS c FROM frames f JOIN packs p ON p.n = f.pack WHERE p.id = ?", p.id)).toBe(h.frames.length);
      expect(count(s.sql, "SELECT count(*) AS c FROM pack_members m JOIN packs p ON p.n = m.pack WHERE p.id = ?", p.id)).toBe(objs.length);
      expect(count(s.sql, "SELECT count(*) AS c FROM objects WHERE seq IS NULL")).toBe(objs.length);
      expect(s.meta.stats()).toEqual({ packs: 1, objects: objs.length, bytes: p.bytes.length, snapshots: 0 });
      // Each member where the header puts it (rows go in in address order, not the header's), each object of its type.
      const members = s.sql.exec<{ addr: string; type: number; frame: number; off: number; len: number }>("SELECT addr, type, frame, off, len FROM pack_members ORDER BY addr").toArray();
      const want = h.objects.map((o) => ({ addr: o.addr, type: o.type, frame: o.frame, off: o.offset, len: o.length })).sort((a, b) => (a.addr < b.addr ? -1 : 1));
      expect(members).toEqual(want);
      expect(s.sql.exec("SELECT addr, type FROM objects ORDER BY addr").toArray()).toEqual(want.map(({ addr, type }) => ({ addr, type })));
    });
  });

  it("refuses a pack past the quota and indexes nothing", async () => {
    const p = await packOf(buildVault(noteSpecs(3)).objects.values());
    await inVault("pi-quota", (s) => {
      expect(s.packs.register(p.id, p.bytes.length, headerOf(p), p.bytes.length - 1)).toEqual({ stored: false, quotaExceeded: { used: 0, limit: p.bytes.length - 1 } });
      expect(packRow(s.sql, p.id)).toBeUndefined();
      expect(s.meta.stats()).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
    });
  });

  it("release drops a pack only with its last uploader, and deletes it from R2 through the pack store", async () => {
    const p = await packOf(buildVault(noteSpecs(4)).objects.values());
    await inVault("pi-release", async (s) => {
      const key = await putAndRegister(s, p);
      s.packs.register(p.id, p.bytes.length, headerOf(p)); // a second request uploads it too
      expect(packRow(s.sql, p.id)).toEqual({ state: "uploading", uploaders: 2 });
      expect(await s.packs.release([p.id])).toEqual({ deleted: [] });
      expect(await env.BUCKET.head(key)).not.toBeNull();
      expect(await s.packs.release([p.id])).toEqual({ deleted: [p.id] });
      expect(await env.BUCKET.head(key)).toBeNull();
      expect(packRow(s.sql, p.id)).toBeUndefined();
      expect(s.meta.stats()).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
    });
  });

  it("settle makes a request's packs pending; a pending pack registered again is stored", async () => {
    const p = await packOf(buildVault(noteSpecs(2)).objects.values());
    await inVault("pi-settle", async (s) => {
      s.packs.register(p.id, p.bytes.length, headerOf(p));
      s.db.transaction(() => s.packs.settle([p.id]));
      expect(packRow(s.sql, p.id)?.state).toBe("pending");
      expect(s.packs.register(p.id, p.bytes.length, headerOf(p))).toEqual({ stored: true });
      // A settled pack is not released by a failed re-upload.
      expect(await s.packs.release([p.id])).toEqual({ deleted: [] });
      expect(packRow(s.sql, p.id)?.state).toBe("pending");
    });
  });

  it("unindex moves objects that another pack holds there, and drops the rest", async () => {
    const objs = [...buildVault(noteSpecs(3)).objects.values()];
    const a = await packOf(objs.slice(0, 6));
    const b = await packOf(objs.slice(3));
    await inVault("pi-unindex", (s) => {
      s.packs.register(a.id, a.bytes.length, headerOf(a));
      s.packs.register(b.id, b.bytes.length, headerOf(b));
      const n = s.sql.exec<{ n: number; bytes: number }>("SELECT n, bytes FROM packs WHERE id = ?", a.id).one();
      expect(s.packs.unindex(n.n, n.bytes)).toBe(3); // objs 0..2 were only in a
      const located = s.sql
        .exec<{ addr: string; pack: string }>("SELECT o.addr AS addr, p.id AS pack FROM objects o JOIN packs p ON p.n = o.pack")
        .toArray();
      expect(located.map((r) => r.addr).sort()).toEqual(objs.slice(3).map((o) => o.addr).sort());
      expect(new Set(located.map((r) => r.pack))).toEqual(new Set([b.id]));
      expect(s.meta.stats()).toEqual({ packs: 1, objects: objs.length - 3, bytes: b.bytes.length, snapshots: 0 });
    });
  });
});
