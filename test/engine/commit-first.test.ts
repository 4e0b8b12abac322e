// commitFirst (engine/vault/commit-first.ts): a vault's first snapshot built from entries as they come (an initial push's
// commit from the checkout rows) is the snapshot commit() records for the same working state:
// same tree, same counts, same bytes stored; and it refuses what it cannot build in one pass.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MemoryStore, Vault } from "../../engine/index.ts";
import { iterateTree, plainKeying, type Entry } from "../../engine/core/tree.ts";
import { compareBytes } from "../../engine/core/bytes.ts";
import { VaultKeys } from "../../engine/crypto/keys.ts";
import { commitFirst, keyOrder, takesFirstCommit } from "../../engine/vault/commit-first.ts";
import { decodePackHeader } from "../../engine/core/pack.ts";

const clock = () => new Date(0);
const json = (o: object) => new TextEncoder().encode(JSON.stringify(o));

/** Stages each note's parts in `v` (as a scan does) and returns its entries, sorted by id. */
function stageNotes(v: Vault, notes: { id: string; body: string; x: number; dims: number }[]): Entry[] {
  const entries = notes.map(({ id, body, x, dims }) => {
    const e: Entry = { id, note: v.stageNoteBytes(json({ body })).note };
    if (x % 3 !== 0) e.position = v.stageJsonBlob(json({ x, y: 0, z: 0 }));
    if (dims) {
      e.embedding = v.stageEmbeddingBytes(new Uint8Array(new Float32Array(dims).fill(x).buffer));
      e.dims = dims;
    }
    return e;
  });
  return entries.sort((a, b) => (a.id < b.id ? -1 : 1));
}

const notesArb = fc.uniqueArray(
  fc.record({ id: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((id) => id !== "." && id !== ".."), body: fc.string({ maxLength: 40 }), x: fc.integer(), dims: fc.constantFrom(0, 4, 384) }),
  { selector: (n) => n.id, minLength: 1, maxLength: 300 },
);

/** `ids` in their tree's key order. */
const inKeyOrder = (keying: Parameters<typeof keyOrder>[0], ids: string[]) => Array.from(keyOrder(keying, ids), (i) => ids[i]);

describe("commitFirst", () => {
  // One vault key: the two vaults of a run must share it.
  const keys = VaultKeys.generate();
  it.each([
    ["plain", undefined],
    ["encrypted (keyed tree keys)", keys],
  ] as const)("records the snapshot commit() records for the same entries, %s (property)", async (_, keys) => {
    await fc.assert(
      fc.asyncProperty(notesArb, async (notes) => {
        const storeA = new MemoryStore();
        const a = await Vault.open({ store: storeA, device: "d", clock, lazyWorking: true, keys });
        for (const e of stageNotes(a, notes)) a.putEntry(e);
        const viaCommit = await a.commit();

        const storeB = new MemoryStore();
        const b = await Vault.open({ store: storeB, device: "d", clock, lazyWorking: true, keys });
        expect(takesFirstCommit(b)).toBe(true);
        const byId = new Map(stageNotes(b, notes).map((e) => [e.id, e]));
        const entries = inKeyOrder(b.keying, [...byId.keys()]).map((id) => byId.get(id)!);
        const first = await commitFirst(b, entries);
        expect(first.snapshot).toBe(viaCommit.snapshot); // same tree, counts, parents and time
        expect(first.added).toBe(notes.length);
        expect(b.headRoot).toBe(a.headRoot);
        expect(b.hasUncommittedChanges).toBe(false);
        expect(takesFirstCommit(b)).toBe(false);
        // Everything the snapshot names is stored: every entry's parts, read back through the tree.
        const read: Entry[] = [];
        for await (const e of iterateTree(b.headRoot!, b.load)) read.push(e);
        expect(read).toEqual(entries);
        for (const e of read) for (const addr of [e.note, e.position, e.embedding]) if (addr) expect((await b.load(addr)).length).toBeGreaterThan(0);
        expect((await b.snapshot(first.snapshot!)).stats).toEqual((await a.snapshot(viaCommit.snapshot!)).stats);
        // The same objects stored, in one pack as commit() stores them.
        const packed = async (v: Vault, store: MemoryStore) => {
          const addrs = await Promise.all(v.refs.unpushed.map(async (id) => decodePackHeader((await store.getPack(id))!).objects.map((o) => o.addr)));
          return { packs: addrs.length, objects: addrs.flat().sort() };
        };
        expect(await packed(b, storeB)).toEqual(await packed(a, storeA));
      }),
      { numRuns: keys ? 10 : 25 },
    );
  });

  it("keyOrder: ids sorted by their tree keys (plain: the ids' order; keyed: the keyed hashes')", () => {
    const ids = Array.from({ length: 500 }, (_, i) => `note-${(i * 7919) % 500}`);
    for (const keying of [plainKeying, keys.keying]) {
      const sorted = inKeyOrder(keying, ids);
      expect([...sorted].sort()).toEqual([...ids].sort()); // a permutation
      for (let i = 1; i < sorted.length; i++) expect(compareBytes(keying.keyOf(sorted[i - 1]), keying.keyOf(sorted[i]))).toBeLessThan(0);
    }
    // A keyed order is not id order (it would tell the server the ids' order).
    expect(inKeyOrder(keys.keying, ids)).not.toEqual(inKeyOrder(plainKeying, ids));
  });

  it("gives the event loop turns while it adds many entries (a flush or an upload goes on meanwhile)", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "d", clock, lazyWorking: true });
    const entries = stageNotes(v, Array.from({ length: 5000 }, (_, i) => ({ id: `n${String(i).padStart(5, "0")}`, body: `${i}`, x: i, dims: 0 })));
    let timerRan = false;
    let ranBeforeLast = false;
    setTimeout(() => (timerRan = true), 0);
    function* given(): Generator<Entry> {
      for (let i = 0; i < entries.length; i++) {
        if (i === entries.length - 1) ranBeforeLast = timerRan;
        yield entries[i];
      }
    }
    expect((await commitFirst(v, given())).added).toBe(5000);
    expect(ranBeforeLast).toBe(true); // one synchronous loop would have taken every entry first

    // Work that ran in those turns and gave the vault working changes wins: nothing is recorded.
    const w = await Vault.open({ store: new MemoryStore(), device: "d", clock, lazyWorking: true });
    const more = stageNotes(w, Array.from({ length: 5000 }, (_, i) => ({ id: `n${String(i).padStart(5, "0")}`, body: `${i}`, x: i, dims: 0 })));
    setTimeout(() => w.putEntry({ id: "zz-elsewhere", note: more[0].note }), 0);
    await expect(commitFirst(w, more)).rejects.toThrow(/while its first tree was built/);
    expect(w.refs.head).toBeFalsy();
  });

  it("no entries: nothing recorded, as commit() does for an empty vault", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "d", clock, lazyWorking: true });
    expect(await commitFirst(v, [])).toEqual({ snapshot: null, added: 0 });
    expect(v.refs.head).toBeFalsy();
    expect(takesFirstCommit(v)).toBe(true);
  });

  it("refuses entries out of id order or given twice, and a vault that has a snapshot or working changes", async () => {
    const v = await Vault.open({ store: new MemoryStore(), device: "d", clock, lazyWorking: true });
    const [x, y] = stageNotes(v, [
      { id: "a", body: "1", x: 1, dims: 0 },
      { id: "b", body: "2", x: 2, dims: 0 },
    ]);
    await expect(commitFirst(v, [y, x])).rejects.toThrow(/out of key order/);
    const keyed = await Vault.open({ store: new MemoryStore(), device: "d", clock, lazyWorking: true, keys });
    const inIdOrder = stageNotes(keyed, Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, body: `${i}`, x: i, dims: 0 })));
    await expect(commitFirst(keyed, inIdOrder)).rejects.toThrow(/out of key order/); // keyed trees: id order is not key order
    expect(keyed.refs.head).toBeFalsy();
    await expect(commitFirst(v, [x, x])).rejects.toThrow(/duplicate id/);
    expect(v.refs.head).toBeFalsy(); // a refused build records nothing

    v.putEntry(x);
    expect(takesFirstCommit(v)).toBe(false); // working changes: commit() records them
    await v.commit();
    expect(takesFirstCommit(v)).toBe(false); // it has a snapshot now
    await expect(commitFirst(v, [y])).rejects.toThrow(/use commit\(\)/);
  });
});
