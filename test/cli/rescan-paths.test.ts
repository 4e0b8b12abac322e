// rescanPaths (what `watch` does per change) leaves the vault's working state and the checkout
// index exactly as a full scan of the folder would, for random edits, deletes, bad files and bad
// names; it looks at the given paths' rows only; and files this device's own pull wrote change
// nothing when the watcher reports them back.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtemp, rm, writeFile, unlink, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { scanFolder, rescanPaths, applyTree } from "../../cli/vault-folder.ts";
import { CheckoutIndex } from "../../cli/checkout-index.ts";
import { canonicalBytes } from "../../engine/core/canonical.ts";

const subs = { note: ["notes", ".json"], embedding: ["embeddings", ".bin"], position: ["positions", ".json"] } as const;
const IDS = ["a", "b", "c", "d"];

interface Op {
  part: keyof typeof subs;
  id: string;
  kind: "write" | "delete" | "bad";
  value: number;
}

const op: fc.Arbitrary<Op> = fc.record({
  part: fc.constantFrom("note" as const, "embedding" as const, "position" as const),
  id: fc.constantFrom(...IDS, "bad name"),
  kind: fc.constantFrom("write" as const, "write" as const, "delete" as const, "bad" as const),
  value: fc.integer({ min: 0, max: 3 }),
});

async function apply(dir: string, o: Op): Promise<string> {
  const [sub, ext] = subs[o.part];
  const rel = `${sub}/${o.id}${ext}`;
  const file = path.join(dir, rel);
  if (o.kind === "delete") await unlink(file).catch(() => {});
  else if (o.kind === "bad") await writeFile(file, o.part === "embedding" ? new Uint8Array(3) : "{ not json");
  else await writeFile(file, o.part === "embedding" ? new Uint8Array(new Float32Array([o.value, 1, 2, 3]).buffer) : JSON.stringify({ title: `t${o.value}`, x: o.value }));
  return rel;
}

const stateOf = async (v: Vault) => Promise.all(IDS.map((id) => v.entryOf(id)));

async function tempFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-rescan-"));
  for (const [sub] of Object.values(subs)) await mkdir(path.join(dir, sub));
  return dir;
}

/** A device as the CLI has it: a lazy vault, the folder scanned, committed, and its checkout saved. */
async function device(dir: string) {
  const v = await Vault.open({ store: new MemoryStore(), device: "w", lazyWorking: true });
  const checkout = CheckoutIndex.empty();
  v.updateEntries((await scanFolder(dir, v, checkout)).changes);
  await v.commit();
  checkout.root = v.headRoot;
  // Saved and read back (saveCheckout): the rows are then the file's, found by binary search.
  return { v, checkout: CheckoutIndex.decode(checkout.encode()) };
}

describe("rescanPaths", () => {
  it("equals a full scan after random changes to the given paths", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 8 }), fc.array(op, { minLength: 1, maxLength: 12 }), async (setup, changes) => {
        const dir = await tempFolder();
        try {
          for (const o of setup) await apply(dir, o);
          const { v: watched, checkout } = await device(dir);
          const touched: string[] = [];
          for (const o of changes) touched.push(await apply(dir, o));
          const inc = await rescanPaths(dir, watched, checkout, touched);
          const fresh = await Vault.open({ store: new MemoryStore(), device: "f", lazyWorking: true });
          const freshCheckout = CheckoutIndex.empty();
          const full = await scanFolder(dir, fresh, freshCheckout);
          fresh.updateEntries(full.changes);
          expect(await stateOf(watched)).toEqual(await stateOf(fresh));
          expect([...checkout.rows()]).toEqual([...freshCheckout.rows()]);
          // The bad files among the touched ones are reported as the full scan reports them.
          for (const i of inc.ignored) expect(full.ignored).toContain(i);
          // A second look at the same paths finds nothing new.
          expect((await rescanPaths(dir, watched, checkout, touched)).changed).toBe(0);
          // Committed, the rows describe the new head: a full scan then finds nothing to change.
          await watched.commit();
          checkout.root = watched.headRoot;
          expect((await scanFolder(dir, watched, checkout)).changes.size).toBe(0);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });

  it("reads only the given paths' rows: another edited file waits for a full scan", async () => {
    const dir = await tempFolder();
    try {
      await writeFile(path.join(dir, "notes", "a.json"), JSON.stringify({ title: "a" }));
      await writeFile(path.join(dir, "notes", "b.json"), JSON.stringify({ title: "b" }));
      const { v, checkout } = await device(dir);
      const rowB = checkout.get("note", "b");
      await writeFile(path.join(dir, "notes", "a.json"), JSON.stringify({ title: "a2" }));
      await writeFile(path.join(dir, "notes", "b.json"), JSON.stringify({ title: "b2, longer" }));
      const r = await rescanPaths(dir, v, checkout, ["notes/a.json"]);
      expect([r.hashed, r.changed]).toEqual([1, 1]);
      expect(await v.getNote("a")).toEqual({ title: "a2" });
      expect(await v.getNote("b")).toEqual({ title: "b" });
      expect(checkout.get("note", "b")).toEqual(rowB);
      await v.commit();
      checkout.root = v.headRoot;
      const full = await scanFolder(dir, v, checkout);
      expect([...full.changes.keys()]).toEqual(["b"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("files this device's own pull wrote, reported back by the watcher, read nothing and change nothing", async () => {
    const dir = await tempFolder();
    try {
      await writeFile(path.join(dir, "notes", "a.json"), JSON.stringify({ title: "a" }));
      const { v, checkout } = await device(dir);
      // Another device's edit arrives as a new head; the pull writes it to the folder.
      const json = (o: object) => canonicalBytes(o);
      v.putEntry({ id: "a", note: v.stageNoteBytes(json({ title: "from elsewhere" })).note });
      v.putEntry({ id: "n", note: v.stageNoteBytes(json({ title: "new" })).note, embedding: v.stageEmbeddingBytes(new Uint8Array(new Float32Array([1, 2, 3]).buffer)), dims: 3 });
      await v.commit();
      const written = await applyTree(dir, v, v.headRoot!, checkout);
      expect(written.written).toBe(3);
      const r = await rescanPaths(dir, v, checkout, ["notes/a.json", "notes/n.json", "embeddings/n.bin"]);
      expect([r.hashed, r.changed, v.hasUncommittedChanges]).toEqual([0, 0, false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
