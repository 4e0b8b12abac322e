// worker/object-index.ts: where each object is, and who may see it.
import { describe, expect, it } from "vitest";
import { decodePackHeader } from "../../engine/core/pack.ts";
import { buildVault, noteSpecs, packOf } from "./helpers.ts";
import { headerOf, inVault } from "./stores.ts";

describe("object index", () => {
  it("hides another request's uploading pack; its uploader finds every object, located in its frame", async () => {
    const v = buildVault(noteSpecs(4));
    const objs = [...v.objects.values()];
    const p = await packOf(objs);
    const h = decodePackHeader(p.bytes);
    const addrs = objs.map((o) => o.addr);
    await inVault("oi-visibility", (s) => {
      s.packs.register(p.id, p.bytes.length, headerOf(p));
      expect(s.objects.findObjects(addrs, [], true).size).toBe(0);
      expect(s.objects.missing(addrs)!.sort()).toEqual([...addrs].sort());
      const mine = s.objects.findObjects(addrs, [p.id], true);
      expect(mine.size).toBe(addrs.length);
      const lookup = s.objects.lookup({ nodes: [v.root], leaves: addrs, own: [p.id] });
      expect(lookup.missing).toEqual([]);
      expect(lookup.pendingPacks).toEqual([]); // its own uploading pack is not someone else's pending one
      const loc = lookup.locations[v.root];
      const info = h.objects.find((o) => o.addr === v.root)!;
      expect(loc).toMatchObject({ pack: p.id, off: info.offset, len: info.length, frame: { idx: info.frame, offset: h.frames[info.frame].offset } });
      // Settled: visible to everyone, listed as a pending pack a commit would stamp.
      s.db.transaction(() => s.packs.settle([p.id]));
      expect(s.objects.missing(addrs)).toEqual([]);
      expect(s.objects.lookup({ nodes: [], leaves: addrs.slice(0, 1), own: [] }).pendingPacks).toEqual([p.id]);
      expect(Object.keys(s.objects.locate(addrs)!.locations).sort()).toEqual([...addrs].sort());
    });
  });

  it("a repair may bring only objects that some commit brought", async () => {
    const v = buildVault(noteSpecs(2));
    const later = buildVault(noteSpecs(1, "later"));
    const p = await packOf(v.objects.values());
    const q = await packOf(later.objects.values());
    await inVault("oi-unexpected", (s) => {
      s.packs.register(p.id, p.bytes.length, headerOf(p));
      expect(s.log.commit({ snapshot: v.snapshot, parents: [], expect: null, packs: [p.id], own: [p.id], completeNodes: [] }).ok).toBe(true);
      s.packs.register(q.id, q.bytes.length, headerOf(q));
      s.db.transaction(() => s.packs.settle([q.id])); // stored but never committed
      const committed = [...v.objects.keys()];
      const pending = [...later.objects.keys()];
      expect(s.objects.unexpectedObjects(committed)).toEqual([]);
      expect(s.objects.unexpectedObjects([committed[0], pending[0], "f".repeat(64)])).toEqual([pending[0], "f".repeat(64)]);
      expect(s.objects.unexpectedObjects([])).toEqual([]);
    });
  });

  it("answers null for a vault that does not exist", async () => {
    await inVault("oi-ghost", (s) => {
      expect(s.objects.locate(["a".repeat(64)])).toBeNull();
      expect(s.objects.missing(["a".repeat(64)])).toBeNull();
    }, false);
  });
});
