// worker/repair-store.ts: a repair's packs become the located copy of what they hold.
import { describe, expect, it } from "vitest";
import { buildVault, noteSpecs, packOf } from "./helpers.ts";
import { headerOf, inVault, packRow } from "./stores.ts";

describe("repair store", () => {
  it("re-points the objects a repair pack holds to it, seqs kept, and moves the GC epoch", async () => {
    const v = buildVault(noteSpecs(4));
    const objs = [...v.objects.values()];
    const damaged = await packOf(objs);
    const copy = await packOf(objs.slice(0, 5)); // the repair brings copies of five objects
    await inVault("repair-repoint", (s) => {
      s.packs.register(damaged.id, damaged.bytes.length, headerOf(damaged));
      expect(s.log.commit({ snapshot: v.snapshot, parents: [], expect: null, packs: [], own: [damaged.id], completeNodes: [] }).ok).toBe(true);
      s.packs.register(copy.id, copy.bytes.length, headerOf(copy));
      const epoch = s.meta.gcEpoch();
      expect(s.repair.repairPacks([copy.id])).toEqual({ repointed: 5 });
      const where = s.objects.locate(objs.map((o) => o.addr))!.locations;
      for (const o of objs.slice(0, 5)) expect(where[o.addr].pack).toBe(copy.id);
      for (const o of objs.slice(5)) expect(where[o.addr].pack).toBe(damaged.id);
      expect(s.sql.exec("SELECT DISTINCT seq FROM objects").toArray()).toEqual([{ seq: 1 }]);
      expect(packRow(s.sql, copy.id)).toEqual({ state: "committed", uploaders: 0 });
      expect(s.meta.gcEpoch()).toBe(epoch + 1);
      // A pull since nothing still sends each object once.
      const plan = s.log.planPull(null, []);
      if (typeof plan === "string") throw new Error(plan);
      const sent = plan.packs.flatMap((p) => s.log.planPack(p.id, 0, 1, [])!.objects.map((o) => o.addr));
      expect(sent.sort()).toEqual(objs.map((o) => o.addr).sort());
    });
  });
});
