// rescanPaths (what `watch` does per change) leaves the vault's working state and the stat cache
// exactly as a full scan of the folder would, for random edits, deletes, bad files and bad names.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtemp, rm, writeFile, unlink, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { scanFolder, rescanPaths, type StatCache } from "../../cli/vault-folder.ts";

const subs = { note: ["notes", ".json"], embedding: ["embeddings", ".bin"], position: ["positions", ".json"] } as const;

interface Op {
  part: keyof typeof subs;
  id: string;
  kind: "write" | "delete" | "bad";
  value: number;
}

const op: fc.Arbitrary<Op> = fc.record({
  part: fc.constantFrom("note" as const, "embedding" as const, "position" as const),
  id: fc.constantFrom("a", "b", "c", "d", "bad name"),
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

const stateOf = (v: Vault) => v.ids().map((id) => v.entry(id));

describe("rescanPaths", () => {
  it("equals a full scan after random changes to the given paths", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 8 }), fc.array(op, { minLength: 1, maxLength: 12 }), async (setup, changes) => {
        const dir = await mkdtemp(path.join(tmpdir(), "penumbra-rescan-"));
        try {
          for (const [sub] of Object.values(subs)) await mkdir(path.join(dir, sub));
          for (const o of setup) await apply(dir, o);
          const watched = await Vault.open({ store: new MemoryStore(), device: "w" });
          const cache: StatCache = {};
          watched.replaceEntries((await scanFolder(dir, watched, cache)).entries);
          await watched.commit();
          const touched: string[] = [];
          for (const o of changes) touched.push(await apply(dir, o));
          const inc = rescanPaths(dir, watched, cache, touched);
          const fresh = await Vault.open({ store: new MemoryStore(), device: "f" });
          const freshCache: StatCache = {};
          const full = await scanFolder(dir, fresh, freshCache);
          fresh.replaceEntries(full.entries);
          expect(stateOf(watched)).toEqual(stateOf(fresh));
          expect(cache).toEqual(freshCache);
          // The bad files among the touched ones are reported as the full scan reports them.
          for (const i of inc.ignored) expect(full.ignored).toContain(i);
          // A second look at the same paths finds nothing new.
          expect(rescanPaths(dir, watched, cache, touched).changed).toBe(0);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});
