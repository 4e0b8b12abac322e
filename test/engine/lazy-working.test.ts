// Vault's lazy working state (lazyWorking: the head's tree plus an overlay of changes, as the CLI
// opens it) against the default whole-map working state: the same edits give the same roots, the
// same snapshot counts and the same reads, while the lazy vault never walks the whole tree.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MemoryStore, Vault } from "../../engine/index.ts";
import type { LocalStore } from "../../engine/store/store.ts";

/** A store that counts object reads. */
function counting(store: LocalStore): LocalStore & { reads: number } {
  const s = Object.create(store) as LocalStore & { reads: number };
  s.reads = 0;
  s.getObject = async (a) => {
    s.reads++;
    return store.getObject(a);
  };
  return s;
}

const idArb = fc.integer({ min: 0, max: 400 }).map((i) => `n${String(i).padStart(4, "0")}`);
const opArb = fc.oneof(
  fc.record({ kind: fc.constant("note" as const), id: idArb, body: fc.string({ maxLength: 20 }) }),
  fc.record({ kind: fc.constant("position" as const), id: idArb, x: fc.integer() }),
  fc.record({ kind: fc.constant("remove" as const), id: idArb }),
);
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

/** Applies ops to the full vault with its own API and mirrors each resulting entry into the lazy one. */
async function apply(full: Vault, lazy: Vault, ops: Op[]): Promise<void> {
  for (const op of ops) {
    if (op.kind === "remove") {
      await full.delete(op.id);
      lazy.removeEntry(op.id);
      continue;
    }
    if (op.kind === "note") await full.putNote(op.id, { body: op.body });
    else await full.putPosition(op.id, { x: op.x, y: 0, z: 0 });
    const e = full.entry(op.id)!;
    // The lazy vault stages the same bytes (as a scan would) and gets the whole entry.
    if (op.kind === "note") lazy.stageJsonBlob(new TextEncoder().encode(JSON.stringify({ body: op.body })));
    else lazy.stageJsonBlob(new TextEncoder().encode(JSON.stringify({ x: op.x, y: 0, z: 0 })));
    lazy.putEntry(e);
  }
}

describe("Vault lazyWorking", () => {
  it("the same edits give the same root, counts and reads as the whole-map working state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 4 }), async (rounds) => {
        const fullStore = new MemoryStore();
        const lazyStore = new MemoryStore();
        const clock = () => new Date(0);
        const full = await Vault.open({ store: fullStore, device: "d", clock });
        let lazy = await Vault.open({ store: lazyStore, device: "d", clock, lazyWorking: true });
        for (const ops of rounds) {
          await apply(full, lazy, ops);
          const a = await full.commit();
          const b = await lazy.commit();
          expect(b.snapshot).toBe(a.snapshot); // same tree, same counts, same parents: the same snapshot
          expect(lazy.headRoot).toBe(full.headRoot);
          // Reopened lazily, the state reads the same.
          lazy = await Vault.open({ store: lazyStore, device: "d", clock, lazyWorking: true });
          for (const id of full.ids().slice(0, 5)) expect(await lazy.getNote(id)).toEqual(await full.getNote(id));
          expect(await lazy.entryOf("absent")).toBeUndefined();
        }
        expect(() => lazy.ids()).toThrow(/loadEntries/);
        await lazy.loadEntries();
        expect(lazy.ids()).toEqual(full.ids());
      }),
      { numRuns: 25 },
    );
  });

  it("opening, a no-op commit and a one-entry edit read O(depth) objects, not the tree", async () => {
    const store = counting(new MemoryStore());
    const v = await Vault.open({ store, device: "d" });
    for (let i = 0; i < 3000; i++) await v.putNote(`n${i}`, { body: `note ${i}` });
    await v.commit();
    store.reads = 0;
    const lazy = await Vault.open({ store, device: "d", lazyWorking: true });
    expect(await lazy.commit()).toEqual({ snapshot: v.refs.head, changes: [] });
    const openReads = store.reads;
    expect(openReads).toBeLessThanOrEqual(2); // the head snapshot (and nothing of its tree)
    const e = { ...(await lazy.entryOf("n1234"))! };
    e.note = lazy.stageJsonBlob(new TextEncoder().encode('{"body":"edited"}'));
    lazy.putEntry(e);
    const r = await lazy.commit();
    expect(r.changes.map((c) => c.id)).toEqual(["n1234"]);
    expect(store.reads - openReads).toBeLessThan(30); // a few root-to-leaf paths; the tree has hundreds of nodes
    const snap = await lazy.snapshot(r.snapshot!);
    expect(snap.stats).toEqual({ notes: 3000, embeddings: 0, positions: 0 });
  });

  it("a first commit reports every entry as added, with the whole-map vault's tree and counts", async () => {
    const store = counting(new MemoryStore());
    const lazy = await Vault.open({ store, device: "d", lazyWorking: true });
    const full = await Vault.open({ store: new MemoryStore(), device: "d" });
    const utf8 = (o: object) => new TextEncoder().encode(JSON.stringify(o));
    for (let i = 0; i < 2000; i++) {
      const id = `n${i}`;
      await full.putNote(id, { body: `note ${i}` });
      lazy.stageJsonBlob(utf8({ body: `note ${i}` }));
      if (i % 3 === 0) {
        await full.putPosition(id, { x: i, y: 0, z: 0 });
        lazy.stageJsonBlob(utf8({ x: i, y: 0, z: 0 }));
      }
      if (i % 5 === 0) {
        await full.putEmbedding(id, [i, 1, 2, 3]);
        lazy.stageEmbeddingBytes(new Uint8Array(Float32Array.from([i, 1, 2, 3]).buffer));
      }
      lazy.putEntry(full.entry(id)!); // as a scan hands the CLI's vault its entries
    }
    lazy.removeEntry("never-there"); // a delete of an absent id changes nothing
    const r = await lazy.commit();
    expect(store.reads).toBe(0);
    const want = await full.commit();
    expect(r.changes.map((c) => c.id)).toEqual(want.changes.map((c) => c.id));
    expect(r.changes.every((c) => !c.before && c.after)).toBe(true);
    const snap = await lazy.snapshot(r.snapshot!);
    expect(snap.root).toBe((await full.snapshot(want.snapshot!)).root);
    expect(snap.stats).toEqual({ notes: 2000, embeddings: 400, positions: 667 });
  });
});
