// worker/snapshot-log.ts: the head's compare-and-swap, the log, pull plans.
import { describe, expect, it } from "vitest";
import { buildVault, newObjects, noteSpecs, packOf } from "./helpers.ts";
import { headerOf, inVault } from "./stores.ts";

/** Two versions of a vault (the second adds one note) and the pack of each version's new objects. */
async function twoVersions(n: number) {
  const v1 = buildVault(noteSpecs(n));
  const v2 = buildVault([...noteSpecs(n), { id: "extra" }], [v1.snapshot]);
  return { v1, v2, p1: await packOf(v1.objects.values()), p2: await packOf(newObjects(v2, v1)) };
}

describe("snapshot log", () => {
  it("moves the head only by compare-and-swap: head_moved, already_committed and gc_raced change nothing", async () => {
    const { v1, v2, p1, p2 } = await twoVersions(3);
    await inVault("log-cas", (s) => {
      expect(s.log.head()).toBeNull();
      s.packs.register(p1.id, p1.bytes.length, headerOf(p1));
      const first = s.log.commit({ snapshot: v1.snapshot, parents: [], expect: null, packs: [], own: [p1.id], completeNodes: [v1.root] });
      expect(first).toMatchObject({ ok: true, seq: 1, head: { snapshot: v1.snapshot, seq: 1 } });
      expect(s.log.head()).toMatchObject({ snapshot: v1.snapshot, seq: 1 });
      s.packs.register(p2.id, p2.bytes.length, headerOf(p2));
      const c2 = { snapshot: v2.snapshot, parents: [v1.snapshot], expect: v1.snapshot, packs: [p1.id], own: [p2.id], completeNodes: [] };
      expect(s.log.commit({ ...c2, expect: null })).toEqual({ ok: false, reason: "head_moved", head: s.log.head() });
      expect(s.log.commit({ ...c2, snapshot: v1.snapshot })).toEqual({ ok: false, reason: "already_committed", seq: 1 });
      const epoch = s.meta.gcEpoch();
      s.meta.bumpGcEpoch(); // a GC step removed or moved objects after the walk began
      expect(s.log.commit({ ...c2, gcEpoch: epoch })).toEqual({ ok: false, reason: "gc_raced" });
      expect(s.meta.stats().snapshots).toBe(1);
      expect(s.sql.exec("SELECT count(*) AS c FROM objects WHERE seq = 2").one().c).toBe(0);
      const second = s.log.commit({ ...c2, gcEpoch: epoch + 1 });
      expect(second).toMatchObject({ ok: true, seq: 2 });
      // Every pending object of the commit's packs is stamped with its seq; the packs are committed.
      expect(s.sql.exec("SELECT count(*) AS c FROM objects WHERE seq IS NULL").one().c).toBe(0);
      expect(s.sql.exec("SELECT DISTINCT state FROM packs").toArray()).toEqual([{ state: "committed" }]);
      expect(s.sql.exec<{ complete: number }>("SELECT complete FROM objects WHERE addr = ?", v1.root).one().complete).toBe(1);
    });
  });

  it("plans a pull since a snapshot from the later log, and pages the log newest first", async () => {
    const { v1, v2, p1, p2 } = await twoVersions(2);
    await inVault("log-pull", (s) => {
      s.packs.register(p1.id, p1.bytes.length, headerOf(p1));
      s.log.commit({ snapshot: v1.snapshot, parents: [], expect: null, packs: [], own: [p1.id], completeNodes: [], device: "d1" });
      s.packs.register(p2.id, p2.bytes.length, headerOf(p2));
      s.log.commit({ snapshot: v2.snapshot, parents: [v1.snapshot], expect: v1.snapshot, packs: [], own: [p2.id], completeNodes: [] });
      const plan = s.log.planPull(v1.snapshot, []);
      if (typeof plan === "string") throw new Error(plan);
      expect(plan).toMatchObject({ sinceSeq: 1, headSeq: 2, missing: [] });
      expect(plan.snapshots.map((e) => e.snapshot)).toEqual([v2.snapshot]);
      expect(plan.packs).toEqual([{ id: p2.id, wanted: [] }]);
      expect(s.log.planPack(p2.id, 1, 2, [])!.objects.length).toBe(newObjects(v2, v1).length);
      // A wanted object of the older pack comes with its pack.
      const old = [...v1.objects.keys()][0];
      const wanting = s.log.planPull(v1.snapshot, [old, "e".repeat(64)]);
      if (typeof wanting === "string") throw new Error(wanting);
      expect(wanting.packs).toEqual([{ id: p2.id, wanted: [] }, { id: p1.id, wanted: [old] }]);
      expect(wanting.missing).toEqual(["e".repeat(64)]);
      expect(s.log.planPull("c".repeat(64), [])).toBe("unknown_snapshot");
      const page = s.log.log(1, null)!;
      expect(page.snapshots.map((e) => e.seq)).toEqual([2]);
      expect(s.log.log(10, 2)!.snapshots).toMatchObject([{ seq: 1, device: "d1", parents: [] }]);
      expect(s.log.logEntries([v1.snapshot, "d".repeat(64)]).map((e) => e.seq)).toEqual([1]);
    });
  });
});
