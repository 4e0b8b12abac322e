// The folder scan looks at each part folder in windows of 4,096 files (cli/vault-folder.ts) while it
// walks the checkout index's rows beside them: deletes, edits and additions on both sides of a
// window boundary are each reported once, and nothing else is.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MemoryStore, Vault } from "../../engine/index.ts";
import { scanFolder } from "../../cli/vault-folder.ts";
import { CheckoutIndex } from "../../cli/checkout-index.ts";
import type { Entry } from "../../engine/core/tree.ts";

const N = 4100 * 2 + 50; // more than two windows of notes
let folder: string;
const id = (i: number) => `n${String(i).padStart(5, "0")}`;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "penumbra-scan-windows-"));
  for (const sub of ["notes", "positions", "embeddings"]) await mkdir(path.join(folder, sub));
  const writes: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    writes.push(writeFile(path.join(folder, "notes", `${id(i)}.json`), JSON.stringify({ body: `note ${i}` })));
    if (i % 3 === 0) writes.push(writeFile(path.join(folder, "positions", `${id(i)}.json`), JSON.stringify({ x: i, y: 0, z: 0 })));
    if (writes.length > 256) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
}, 60_000);

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("scan windows", () => {
  it("changes around window boundaries are found exactly", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "d", lazyWorking: true });
    const checkout = CheckoutIndex.empty();
    // Changes handed over one by one (as a sync's scan does) leave the returned map empty.
    const handed = new Map<string, Entry | null>();
    const first = await scanFolder(folder, v, checkout, undefined, undefined, (noteId, e) => handed.set(noteId, e));
    expect([first.changes.size, handed.size]).toEqual([0, N]);
    expect(first.hashed).toBe(N + Math.ceil(N / 3));
    v.updateEntries(handed);
    await v.commit();
    checkout.root = v.headRoot;

    const again = await scanFolder(folder, v, checkout);
    expect([again.changes.size, again.hashed]).toEqual([0, 0]);

    // Notes at, just before and just after the boundaries (the 4,096th and 8,192nd ids), edits,
    // deletes and a position added to a note that had none.
    await unlink(path.join(folder, "notes", `${id(4095)}.json`));
    await unlink(path.join(folder, "notes", `${id(4096)}.json`));
    await unlink(path.join(folder, "positions", `${id(4095)}.json`)); // 4095 % 3 === 0: the whole note goes
    await writeFile(path.join(folder, "notes", `${id(4097)}.json`), JSON.stringify({ body: "edited" }));
    await writeFile(path.join(folder, "notes", `${id(8191)}.json`), JSON.stringify({ body: "edited too" }));
    await writeFile(path.join(folder, "positions", `${id(8192)}.json`), JSON.stringify({ x: 1, y: 2, z: 3 }));
    await unlink(path.join(folder, "notes", `${id(N - 1)}.json`)); // the last row of the part
    await writeFile(path.join(folder, "notes", "zzz-new.json"), JSON.stringify({ body: "new" }));
    const third = await scanFolder(folder, v, checkout);
    const kinds = Object.fromEntries([...third.changes].map(([k, e]) => [k, e === null ? "gone" : e.note ? (e.position ? "note+position" : "note") : "position only"]));
    expect(kinds).toEqual({
      [id(4095)]: "gone",
      [id(4096)]: "gone",
      [id(4097)]: "note",
      [id(8191)]: "note",
      [id(8192)]: "note+position",
      [id(N - 1)]: "gone",
      "zzz-new": "note",
    });
    expect(third.hashed).toBe(4);
    v.updateEntries(third.changes);
    await v.commit();
    checkout.root = v.headRoot;
    // Committed and rescanned: clean again, and the vault holds exactly the folder.
    expect((await scanFolder(folder, v, checkout)).changes.size).toBe(0);
    expect(await v.getNote(id(4097))).toEqual({ body: "edited" });
    expect(await v.entryOf(id(4096))).toBeUndefined();
    await v.loadEntries();
    expect(v.size).toBe(N - 3 + 1);
  }, 120_000);
});
