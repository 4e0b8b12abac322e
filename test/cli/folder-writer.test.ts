// The folder writer is the last line against a tree that names paths (issue 18, item 1): whatever
// the codec or the server let through, applyChanges writes nothing outside <dir>/<part>/, and a
// change list with one unsafe id writes nothing at all.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Vault } from "../../engine/vault/vault.ts";
import { MemoryStore } from "../../engine/store/memory-store.ts";
import { applyChanges, ensureFolders, partPath, UnsafePathError } from "../../cli/vault-folder.ts";
import { CheckoutIndex } from "../../cli/checkout-index.ts";

let root: string;
let dir: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "penumbra-writer-"));
  dir = path.join(root, "vault");
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe("partPath and applyChanges refuse ids that name other paths", () => {
  it("partPath: a note id stays a file name in its part folder", () => {
    expect(partPath(dir, "note", "a-b_c.9")).toBe(path.join(dir, "notes", "a-b_c.9.json"));
    for (const id of ["../../escaped-note", "/abs-looking", "..", ".", "a/b", "a\\b", "", "x".repeat(129)]) {
      for (const part of ["note", "embedding", "position"] as const) expect(() => partPath(dir, part, id), id).toThrow(UnsafePathError);
    }
  });

  it("applyChanges: one unsafe id among safe ones: nothing is written", async () => {
    const v = await Vault.open({ store: new MemoryStore() });
    await v.putNote("good-note", { title: "good" });
    await v.putNote("other", { title: "chosen bytes" });
    await v.commit();
    const good = v.entry("good-note")!;
    const bad = { ...v.entry("other")!, id: "../../escaped-note" };
    await expect(applyChanges(dir, v, [{ id: "good-note", after: good }, { id: bad.id, after: bad }], CheckoutIndex.empty())).rejects.toThrow(UnsafePathError);
    expect(await readdir(root)).toEqual([]);
    // The safe change alone is written (the control).
    await ensureFolders(dir);
    const r = await applyChanges(dir, v, [{ id: "good-note", after: good }], CheckoutIndex.empty());
    expect(r.written).toBe(1);
    expect(await readdir(path.join(dir, "notes"))).toEqual(["good-note.json"]);
  });
});
