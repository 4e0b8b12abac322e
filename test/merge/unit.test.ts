// Unit tests of the merge rules of docs/merge.md: mergeLines, mergeNoteJson, `updated` parsing,
// conflict copy ids and notes, and mergeTrees rule by rule on hand-made vaults.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mergeLines, mergeNoteJson, updatedTime, conflictCopyId, conflictCopyNote, mergeTrees, CONFLICT_TITLE_SUFFIX } from "../../engine/sync/merge.ts";
import { isNoteId } from "../../engine/core/parts.ts";
import { addressOf } from "../../engine/core/hash.ts";
import { utf8 } from "../../engine/core/bytes.ts";
import { ObjectType, type StoredObject } from "../../engine/core/object.ts";
import { buildTree } from "../../engine/core/tree.ts";
import { encodeEntry, runMerge, note, plain, newVault, readTree, readEntries, writeWorking } from "./harness.ts";
import { arbLines, arbScenario, applyEdits, bigBody, type Model } from "./generators.ts";
import { noLostEdit, mergeRules } from "./checks.ts";
import { params } from "./config.ts";
import type { JsonObject } from "../../engine/core/canonical.ts";

const T1 = "2026-01-01T00:00:00.000Z";
const T2 = "2026-01-02T00:00:00.000Z";
const T3 = "2026-01-03T00:00:00.000Z";
const E0 = [0, 0, 1];
const EA = [1, 0, 0];
const EB = [0, 1, 0];
const P0 = { x: 0, y: 0, z: 0 };

function model(obj: Record<string, Model extends Map<string, infer E> ? E : never>): Model {
  return new Map(Object.entries(obj));
}

/** Runs the merge both ways, checks they agree and that P2 and the rules hold, returns a -> b. */
async function both(base: Model | null, a: Model, b: Model, devA = "dev-a", devB = "dev-b") {
  const ab = await runMerge(base, a, b, devA, devB);
  const ba = await runMerge(base, b, a, devB, devA);
  expect(ba.merge.tree.root).toBe(ab.merge.tree.root);
  expect(ba.merge.conflicts).toEqual(ab.merge.conflicts);
  expect(ba.merge.needsEmbedding).toEqual(ab.merge.needsEmbedding);
  const o = base ?? new Map();
  expect([...noLostEdit(o, a, b, ab.result, ab.merge.conflicts), ...mergeRules(o, a, b, ab.result, ab.merge.conflicts, ab.merge.needsEmbedding)]).toEqual([]);
  return { ...ab, out: plain(ab.result) };
}

describe("mergeLines", () => {
  it("merges edits of different lines", () => {
    expect(mergeLines("a\nb\nc\nd", "A\nb\nc\nd", "a\nb\nc\nD")).toEqual({ text: "A\nb\nc\nD", conflict: false });
  });
  it("takes the same change once", () => {
    expect(mergeLines("a\nb", "a\nX\nb", "a\nX\nb")).toEqual({ text: "a\nX\nb", conflict: false });
  });
  it("keeps the first side's lines where edits overlap", () => {
    expect(mergeLines("a\nb\nc", "a\nX\nc", "a\nY\nc")).toEqual({ text: "a\nX\nc", conflict: true });
    expect(mergeLines("a\nb\nc", "a\nY\nc", "a\nX\nc")).toEqual({ text: "a\nY\nc", conflict: true });
  });
  it("treats edits of adjacent lines as overlapping (as git does)", () => {
    expect(mergeLines("a\nb\nc", "A\nb\nc", "a\nB\nc").conflict).toBe(true);
  });
  it("treats two insertions at one place as overlapping, and a delete next to an insert too", () => {
    expect(mergeLines("a\nb", "a\nX\nb", "a\nY\nb").conflict).toBe(true);
    expect(mergeLines("x\ny", "y", "x\nq\ny").conflict).toBe(true);
  });
  it("merges against an empty ancestor (both sides created the text)", () => {
    expect(mergeLines("", "x\ny", "x\ny")).toEqual({ text: "x\ny", conflict: false });
    expect(mergeLines("", "x", "y")).toEqual({ text: "x", conflict: true });
  });
  it("keeps trailing newlines and empty texts exact", () => {
    expect(mergeLines("a\n", "a\n", "a\nb\n")).toEqual({ text: "a\nb\n", conflict: false });
    expect(mergeLines("a", "", "a")).toEqual({ text: "", conflict: false });
    expect(mergeLines("a\nb\nc", "b\nc", "a\nb")).toEqual({ text: "b", conflict: false });
  });
  it("handles lines that are Object.prototype member names", () => {
    expect(mergeLines("__proto__\nconstructor", "__proto__\nconstructor\ntoString", "x\n__proto__\nconstructor")).toEqual({ text: "x\n__proto__\nconstructor\ntoString", conflict: false });
  });
  it("is symmetric: same conflict flag either way, and the same text when there is no conflict", () => {
    fc.assert(
      fc.property(arbLines, arbLines, arbLines, (o, f, s) => {
        const [O, F, S] = [o.join("\n"), f.join("\n"), s.join("\n")];
        const x = mergeLines(O, F, S);
        const y = mergeLines(O, S, F);
        expect(y.conflict).toBe(x.conflict);
        if (!x.conflict) expect(y.text).toBe(x.text);
      }),
      params(300),
    );
  });
});

describe("mergeNoteJson", () => {
  it("merges different fields changed on each side", () => {
    const m = mergeNoteJson({ title: "T", body: "b", tags: ["x"] }, { title: "T2", body: "b", tags: ["x"] }, { title: "T", body: "b", tags: ["y"] });
    expect(m).toMatchObject({ merged: { title: "T2", body: "b", tags: ["y"] }, textConflict: false, losses: [] });
  });
  it("non-string fields changed differently: first wins, the loser's value is recorded", () => {
    const m = mergeNoteJson({ tags: ["x"] }, { tags: ["a"] }, { tags: ["b"], pinned: true });
    expect(m.merged).toEqual({ tags: ["a"], pinned: true });
    expect(m.losses).toEqual([{ field: "tags", value: ["b"] }]);
    expect(m.fieldWinners).toEqual(["tags"]);
    expect(m.textConflict).toBe(false);
  });
  it("`updated` changed on both sides takes the later time, whichever side is first, and is no conflict", () => {
    expect(mergeNoteJson({ updated: T1 }, { updated: T2 }, { updated: T3 })).toMatchObject({ merged: { updated: T3 }, textConflict: false, losses: [] });
    expect(mergeNoteJson({ updated: T1 }, { updated: Date.parse(T3) }, { updated: T2 }).merged.updated).toBe(Date.parse(T3));
    expect(mergeNoteJson({ updated: T1 }, { updated: "garbage" }, { updated: T2 }).merged.updated).toBe(T2);
    expect(mergeNoteJson({}, { updated: "x" }, { updated: "y" }).merged.updated).toBe("x");
  });
  it("a field deleted on one side and changed on the other keeps the change (recorded)", () => {
    const m = mergeNoteJson({ tags: ["x"], body: "b" }, { body: "b" }, { tags: ["y"], body: "b" });
    expect(m.merged).toEqual({ tags: ["y"], body: "b" });
    expect(m.losses).toEqual([{ field: "tags" }]);
  });
  it("a field deleted on one side and untouched on the other is deleted", () => {
    expect(mergeNoteJson({ tags: ["x"], body: "b" }, { body: "b" }, { tags: ["x"], body: "b2" }).merged).toEqual({ body: "b2" });
  });
  it("a string losing to a non-string is a text conflict (its text goes to the copy)", () => {
    const m = mergeNoteJson({ title: "T" }, { title: 42 }, { title: "New" });
    expect(m.merged.title).toBe(42);
    expect(m.textConflict).toBe(true);
    expect(m.conflictFields).toEqual(["title"]);
  });
  it("strings whose ancestor was not a string merge against an empty text", () => {
    expect(mergeNoteJson({ body: 5 }, { body: "a\nb" }, { body: "a\nb" }).merged.body).toBe("a\nb");
    expect(mergeNoteJson({ body: 5 }, { body: "a" }, { body: "b" })).toMatchObject({ merged: { body: "a" }, textConflict: true, conflictFields: ["body"] });
  });
  it("does not read inherited properties as fields", () => {
    const m = mergeNoteJson({}, JSON.parse('{"__proto__": "x", "body": "a"}'), { body: "a" });
    expect(Object.keys(m.merged).sort()).toEqual(["__proto__", "body"]);
  });
});

describe("updatedTime", () => {
  it("parses ISO 8601 the same on every runtime (no offset = UTC)", () => {
    const t = Date.UTC(2026, 0, 1);
    expect(updatedTime("2026-01-01T00:00:00.000Z")).toBe(t);
    expect(updatedTime("2026-01-01T00:00:00Z")).toBe(t);
    expect(updatedTime("2026-01-01T02:00:00+02:00")).toBe(t);
    expect(updatedTime("2025-12-31T19:00-0500")).toBe(t);
    expect(updatedTime("2026-01-01T00:00:00")).toBe(t);
    expect(updatedTime("2026-01-01")).toBe(t);
    expect(updatedTime("2026-01-01 00:00:00.5Z")).toBe(t + 500);
  });
  it("reads numbers as epoch ms, or seconds below 1e11", () => {
    expect(updatedTime(1_767_225_600_000)).toBe(1_767_225_600_000);
    expect(updatedTime(1_767_225_600)).toBe(1_767_225_600_000);
  });
  it("has no time for anything else", () => {
    for (const u of ["yesterday", "", "2024-02-30T99:00", "2026-13-01", null, true, [], {}, NaN, Infinity, undefined]) expect(updatedTime(u)).toBeUndefined();
  });
});

describe("conflict copies", () => {
  const w = "a".repeat(64);
  const l = "b".repeat(64);
  it("ids are deterministic, valid, distinct per attempt and per versions", () => {
    const id = conflictCopyId("n1", w, l);
    expect(id).toMatch(/^n1\.conflict-[0-9a-f]{12}$/);
    expect(conflictCopyId("n1", w, l)).toBe(id);
    expect(conflictCopyId("n1", l, w)).not.toBe(id);
    expect(conflictCopyId("n1", w, l, 1)).not.toBe(id);
  });
  it("ids of the longest valid ids stay within 128 characters, and copies of copies too", () => {
    for (const id of ["y".repeat(128), "._-".repeat(42) + "ab", "Z"]) {
      let c = id;
      for (let i = 0; i < 8; i++) {
        c = conflictCopyId(c, w, l, i);
        expect(isNoteId(c)).toBe(true);
        expect(c.length).toBeLessThanOrEqual(128);
      }
    }
  });
  it("notes are the loser whole with the title marked (and an own id field renamed)", () => {
    expect(conflictCopyNote({ title: "T", body: "b", id: "n1" }, "n1", "n1.conflict-x")).toEqual({ title: "T" + CONFLICT_TITLE_SUFFIX, body: "b", id: "n1.conflict-x" });
    expect(conflictCopyNote({ body: "b" }, "n1", "c")).toEqual({ title: "n1" + CONFLICT_TITLE_SUFFIX, body: "b" });
    expect(conflictCopyNote({ title: 7, body: "b" }, "n1", "c").title).toBe("n1" + CONFLICT_TITLE_SUFFIX);
  });
});

describe("mergeTrees: one side, same change, both", () => {
  const base = model({ n: { note: note("T", "a\nb\nc\nd", T1), embedding: E0, position: P0 }, m: { note: note("M", "m", T1) } });

  it("takes the one side that changed each id or part", async () => {
    const a = model({ n: { note: note("T", "a\nb\nc\nd", T1), embedding: E0, position: { x: 1, y: 0, z: 0 } }, m: { note: note("M", "m2", T2) } });
    const b = model({ n: { note: note("T", "a\nb\nc\nd", T1), embedding: EB, position: P0 }, m: { note: note("M", "m", T1) }, k: { note: note("K", "k") } });
    const r = await both(base, a, b);
    expect(r.out).toEqual({ k: { note: note("K", "k") }, m: { note: note("M", "m2", T2) }, n: { note: note("T", "a\nb\nc\nd", T1), embedding: EB, position: { x: 1, y: 0, z: 0 } } });
    expect(r.merge.conflicts).toEqual([]);
  });

  it("takes a change made on both sides once", async () => {
    const a = model({ n: { note: note("T", "a\nX\nc\nd", T2), embedding: EA, position: P0 } });
    const r = await both(base, a, a);
    expect(r.out).toEqual(plain(a));
    expect(r.merge.conflicts).toEqual([]);
    expect(r.merge.needsEmbedding).toEqual([]);
  });

  it("merges edits of different lines made on both sides, `updated` to the later, with no conflict copy", async () => {
    const a = model({ n: { note: note("T", "a edited by a\nb\nc\nd", T2), embedding: EA, position: P0 }, m: base.get("m")! });
    const b = model({ n: { note: note("T", "a\nb\nc\nd edited by b", T3), embedding: EB, position: P0 }, m: base.get("m")! });
    const r = await both(base, a, b);
    expect(r.out.n.note).toEqual(note("T", "a edited by a\nb\nc\nd edited by b", T3));
    expect(Object.keys(r.out)).toEqual(["m", "n"]);
    expect(r.merge.conflicts).toEqual([]);
    // New text: the newer embedding (b's: later `updated`) meanwhile, and re-embed.
    expect(r.out.n.embedding).toEqual(EB);
    expect(r.merge.needsEmbedding).toEqual(["n"]);
  });
});

describe("mergeTrees: overlapping edits make a conflict copy", () => {
  const base = model({ n: { note: note("T", "a\nb\nc\nd", T1), embedding: E0, position: P0 } });
  const a = model({ n: { note: note("T", "a\nA's b\nc\nd\nend by a", T2), embedding: EA, position: { x: 1, y: 0, z: 0 } } });
  const b = model({ n: { note: note("T", "B's first\na\nB's b\nc\nd", T3), embedding: EB, position: P0 } });

  it("the later `updated` keeps the id (with both sides' clean edits), the other is copied whole, title marked", async () => {
    const r = await both(base, a, b);
    expect(r.out.n.note).toEqual(note("T", "B's first\na\nB's b\nc\nd\nend by a", T3));
    const copies = r.merge.conflicts.filter((c) => c.kind === "text-conflict-copy");
    expect(copies).toHaveLength(1);
    const copyId = copies[0].copy as string;
    expect(copyId).toMatch(/^n\.conflict-[0-9a-f]{12}$/);
    expect(copies[0]).toEqual({ id: "n", kind: "text-conflict-copy", copy: copyId, detail: "body" });
    expect(r.out[copyId]).toEqual({ note: { ...a.get("n")!.note, title: "T" + CONFLICT_TITLE_SUFFIX }, embedding: EA, position: { x: 1, y: 0, z: 0 } });
    // a moved, b did not: a's position; the merged text is new: b's (newer) embedding, to be redone; the copy too.
    expect(r.out.n.position).toEqual({ x: 1, y: 0, z: 0 });
    expect(r.out.n.embedding).toEqual(EB);
    expect(r.merge.needsEmbedding).toEqual([copyId, "n"].sort());
  });

  it("with equal or missing `updated`, the larger device id wins", async () => {
    const strip = (m: Model) => model({ n: { note: { ...m.get("n")!.note!, updated: T2 } } });
    const r = await both(base, strip(a), strip(b), "dev-z", "dev-a");
    expect(r.out.n.note!.body).toBe("B's first\na\nA's b\nc\nd\nend by a");
  });

  it("compares `updated` as times whatever their types (epoch ms against ISO strings)", async () => {
    const an = model({ n: { note: { ...a.get("n")!.note!, updated: Date.parse(T3) + 1 } } });
    const bn = model({ n: { note: { ...b.get("n")!.note!, updated: T3 } } });
    const r = await both(base, an, bn);
    expect(r.out.n.note!.body).toBe("B's first\na\nA's b\nc\nd\nend by a");
  });

  it("a title changed differently on both sides keeps the loser's title in the copy", async () => {
    const o = model({ n: { note: note("T", "x", T1) } });
    const r = await both(o, model({ n: { note: note("Title A", "x", T2) } }), model({ n: { note: note("Title B", "x", T3) } }));
    const copy = r.merge.conflicts[0].copy as string;
    expect(r.out.n.note).toEqual(note("Title B", "x", T3));
    expect(r.out[copy].note).toEqual(note("Title A" + CONFLICT_TITLE_SUFFIX, "x", T2));
  });

  it("both sides created the same id with different text: merged against an empty ancestor", async () => {
    const o = model({ other: { note: note("O", "o") } });
    const a2 = model({ other: o.get("other")!, n: { note: note("N", "x\ncommon", T2) } });
    const b2 = model({ other: o.get("other")!, n: { note: note("N", "y\ncommon", T3) } });
    const r = await both(o, a2, b2);
    expect(r.out.n.note).toEqual(note("N", "y\ncommon", T3));
    expect(r.merge.conflicts.map((c) => c.kind)).toEqual(["text-conflict-copy"]);
    // ... and with no common ancestor at all.
    const r2 = await both(null, a2, b2);
    expect(r2.out).toEqual(r.out);
  });

  it("a copy id taken by another note gets the next deterministic id", async () => {
    const objs: StoredObject[] = [];
    const win = encodeEntry("n", b.get("n")!, objs).note!;
    const lose = encodeEntry("n", a.get("n")!, objs).note!;
    const taken = conflictCopyId("n", win, lose);
    const squat = { note: note("I was here first", "z") };
    const o = new Map([...base, [taken, squat]]);
    const r = await both(o, new Map([...a, [taken, squat]]), new Map([...b, [taken, squat]]));
    const copy = r.merge.conflicts.find((c) => c.kind === "text-conflict-copy")!.copy!;
    expect(copy).toBe(conflictCopyId("n", win, lose, 1));
    expect(r.out[taken]).toEqual(squat);
    expect(r.out[copy].note!.title).toBe("T" + CONFLICT_TITLE_SUFFIX);
  });

  it("conflict copies of 128-character ids stay valid ids", async () => {
    const id = "q".repeat(128);
    const r = await both(model({ [id]: base.get("n")! }), model({ [id]: a.get("n")! }), model({ [id]: b.get("n")! }));
    const copy = r.merge.conflicts.find((c) => c.kind === "text-conflict-copy")!.copy!;
    expect(copy.length).toBe(128);
    expect(isNoteId(copy)).toBe(true);
  });

  it("notes over 64 KiB (chunked) merge and copy like small ones", async () => {
    const body = bigBody(1);
    const lines = body.split("\n");
    const edit = (i: number, s: string) => lines.map((l, j) => (j === i ? s : l)).join("\n");
    const o = model({ big: { note: note("Big", body, T1) } });
    const clean = await both(o, model({ big: { note: note("Big", edit(5, "A5"), T2) } }), model({ big: { note: note("Big", edit(2000, "B2000"), T3) } }));
    expect(clean.out.big.note!.body).toBe(lines.map((l, j) => (j === 5 ? "A5" : j === 2000 ? "B2000" : l)).join("\n"));
    const entries = await readEntries(clean.v, clean.merge.tree.root, clean.merge.tree);
    expect(entries.get("big")!.chunked).toBe(true);
    const conflict = await both(o, model({ big: { note: note("Big", edit(9, "A9"), T2) } }), model({ big: { note: note("Big", edit(9, "B9"), T3) } }));
    const copy = conflict.merge.conflicts[0].copy!;
    expect(conflict.out.big.note!.body).toBe(edit(9, "B9"));
    expect(conflict.out[copy].note!.body).toBe(edit(9, "A9"));
  });

  it("notes that are not JSON objects: the winner keeps the id, the loser is copied byte for byte", async () => {
    const v = await newVault();
    const put = async (bytes: Uint8Array, device: string, parents: string[]) => {
      const addr = addressOf(bytes);
      const tree = buildTree([{ id: "n", note: addr }]);
      const objects: StoredObject[] = [{ type: ObjectType.Blob, addr, bytes }, ...[...tree.nodes].map(([a, b2]) => ({ type: ObjectType.Tree, addr: a, bytes: b2 }))];
      await v.store.putObjects(objects);
      return { root: tree.root, device, addr, parents };
    };
    const o = await put(utf8("plain text"), "dev-o", []);
    const x = await put(utf8("plain text, edited by a"), "dev-a", []);
    const y = await put(utf8("{\"body\": \"json now\"}"), "dev-b", []);
    const m1 = await mergeTrees(v, o.root, x, y);
    const m2 = await mergeTrees(v, o.root, y, x);
    expect(m2.tree.root).toBe(m1.tree.root);
    const copy = m1.conflicts.find((c) => c.kind === "text-conflict-copy")!.copy!;
    const entries = await readEntries(v, m1.tree.root, m1.tree);
    // dev-b > dev-a wins (no `updated` readable on a non-JSON note).
    expect(entries.get("n")!.note).toBe(y.addr);
    expect(entries.get(copy)!.note).toBe(x.addr);
  });
});

describe("mergeTrees: deletes", () => {
  const base = model({ n: { note: note("T", "a\nb", T1), embedding: E0, position: P0 }, gone: { note: note("G", "g") } });

  it("edit vs delete: the edit wins, the note stays as the editing side has it (reported)", async () => {
    const a = model({ gone: base.get("gone")! });
    const b = model({ n: { note: note("T", "a\nb\nnew", T2), embedding: E0, position: P0 }, gone: base.get("gone")! });
    const r = await both(base, a, b);
    expect(r.out.n).toEqual(b.get("n"));
    expect(r.merge.conflicts).toEqual([{ id: "n", kind: "edit-beats-delete", detail: "note" }]);
  });

  it("delete vs delete: deleted, nothing reported", async () => {
    const a = model({ gone: base.get("gone")! });
    const r = await both(base, a, a);
    expect(Object.keys(r.out)).toEqual(["gone"]);
    expect(r.merge.conflicts).toEqual([]);
  });

  it("a delete with no concurrent edit stays deleted", async () => {
    const a = model({ n: base.get("n")! });
    const b = model({ n: { ...base.get("n")!, note: note("T", "a\nb\nc", T2) } });
    const r = await both(base, a, b);
    expect(Object.keys(r.out)).toEqual(["n"]);
  });

  it("moving or re-embedding a note deleted elsewhere does not bring it back (reported)", async () => {
    const a = model({ gone: base.get("gone")! });
    const b = model({ n: { note: base.get("n")!.note, embedding: EB, position: { x: 2, y: 2, z: 0 } }, gone: base.get("gone")! });
    const r = await both(base, a, b);
    expect(Object.keys(r.out)).toEqual(["gone"]);
    expect(r.merge.conflicts).toEqual([
      { id: "n", kind: "embedding-winner", detail: "dropped with the deleted note" },
      { id: "n", kind: "position-winner", detail: "dropped with the deleted note" },
    ]);
  });

  it("a deleted note part against an edit of it: the edit wins", async () => {
    const a = model({ n: { embedding: E0, position: P0 }, gone: base.get("gone")! });
    const b = model({ n: { note: note("T", "a\nb\nc", T2), embedding: E0, position: P0 }, gone: base.get("gone")! });
    const r = await both(base, a, b);
    expect(r.out.n).toEqual(b.get("n"));
    expect(r.merge.conflicts).toEqual([{ id: "n", kind: "edit-beats-delete", detail: "note" }]);
  });

  it("a deleted note part with no concurrent edit of the text stays deleted, other parts merge", async () => {
    const a = model({ n: { embedding: E0, position: P0 }, gone: base.get("gone")! });
    const b = model({ n: { ...base.get("n")!, position: { x: 1, y: 1, z: 1 } }, gone: base.get("gone")! });
    const r = await both(base, a, b);
    expect(r.out.n).toEqual({ embedding: E0, position: { x: 1, y: 1, z: 1 } });
  });
});

describe("mergeTrees: embeddings and positions", () => {
  const base = model({ n: { note: note("T", "a\nb", T1), embedding: E0, position: P0 } });

  it("a note kept as one side had it keeps that side's embedding (even if the other re-embedded the old text)", async () => {
    const a = model({ n: { note: note("T", "a\nb\nc", T2), embedding: E0, position: P0 } });
    const b = model({ n: { note: note("T", "a\nb", T1), embedding: EB, position: P0 } });
    const r = await both(base, a, b);
    expect(r.out.n).toEqual({ note: note("T", "a\nb\nc", T2), embedding: E0, position: P0 });
    expect(r.merge.needsEmbedding).toEqual([]);
  });

  it("the same note re-embedded differently on both sides: the winner's embedding (reported)", async () => {
    const r = await both(base, model({ n: { ...base.get("n")!, embedding: EA } }), model({ n: { ...base.get("n")!, embedding: EB } }), "dev-a", "dev-b");
    expect(r.out.n.embedding).toEqual(EB);
    expect(r.merge.conflicts.map((c) => c.kind)).toEqual(["embedding-winner"]);
  });

  it("both moved: one side's position (the winner's), never an average (reported with the loser)", async () => {
    const a = model({ n: { ...base.get("n")!, note: note("T", "a\nb", T3), position: { x: 2, y: 0, z: 0 } } });
    const b = model({ n: { ...base.get("n")!, note: note("T", "a\nb", T2), position: { x: -2, y: 0, z: 0 } } });
    const r = await both(base, a, b);
    expect(r.out.n.position).toEqual({ x: 2, y: 0, z: 0 });
    expect(r.merge.conflicts).toEqual([{ id: "n", kind: "position-winner", detail: 'lost {"x":-2,"y":0,"z":0}' }]);
  });

  it("embeddings and positions without a note merge on their own", async () => {
    const o = model({ p: { position: P0 }, e: { embedding: E0 } });
    const a = model({ p: { position: { x: 1, y: 0, z: 0 } }, e: { embedding: EA }, q: { embedding: EA } });
    const b = model({ e: { embedding: E0, position: P0 }, q: { embedding: EA } });
    const r = await both(o, a, b);
    // p: moved on a, deleted on b -> kept (edit beats delete); e: parts merge; q: added the same on both.
    expect(r.out).toEqual({ p: { position: { x: 1, y: 0, z: 0 } }, e: { embedding: EA, position: P0 }, q: { embedding: EA } });
    expect(r.merge.conflicts).toEqual([{ id: "p", kind: "edit-beats-delete", detail: "position" }]);
  });
});

describe("mergeTrees: results are stored content", () => {
  it("every object of a merged tree is readable, and writing it as a snapshot round-trips", async () => {
    const base = model({ n: { note: note("T", "a\nb", T1) } });
    const r = await runMerge(base, model({ n: { note: note("T", "X\nb", T2) } }), model({ n: { note: note("T", "Y\nb", T3) } }));
    const v = r.v;
    const w = await v.writeSnapshot(r.merge.tree, [r.a.snapshot, r.b.snapshot], "merge", true);
    expect(plain(await readTree(v, (await v.snapshot(w.snapshot)).root))).toEqual(plain(r.result));
  });
});

describe("the examples of docs/merge.md", () => {
  const at = (h: number) => `2026-01-01T${String(h).padStart(2, "0")}:00:00Z`;
  const groceries = (body: string, h: number, extra: JsonObject = {}): JsonObject => ({ title: "Groceries", body, updated: at(h), ...extra });
  const base = model({ n: { note: groceries("milk\neggs\nbread", 9), embedding: E0, position: P0 } });
  const phone = "dev-phone";
  const laptop = "dev-laptop";

  it("1: edits of different lines merge; the newer embedding is kept and re-embedding asked", async () => {
    const r = await both(base, model({ n: { note: groceries("milk\neggs\nbread\nbutter", 10), embedding: EA, position: P0 } }), model({ n: { note: groceries("milk\n6 eggs\nbread", 11), embedding: EB, position: P0 } }), phone, laptop);
    expect(r.out).toEqual({ n: { note: groceries("milk\n6 eggs\nbread\nbutter", 11), embedding: EB, position: P0 } });
    expect(r.merge.conflicts).toEqual([]);
    expect(r.merge.needsEmbedding).toEqual(["n"]);
  });

  it("2: overlapping edits: the later keeps the id, the other is a conflict copy", async () => {
    const r = await both(base, model({ n: { note: groceries("milk\n12 eggs\nbread", 10) } }), model({ n: { note: groceries("milk\n6 eggs\nbread", 11) } }), phone, laptop);
    const copy = r.merge.conflicts[0].copy as string;
    expect(r.merge.conflicts).toEqual([{ id: "n", kind: "text-conflict-copy", copy, detail: "body" }]);
    expect(r.out).toEqual({ n: { note: groceries("milk\n6 eggs\nbread", 11) }, [copy]: { note: { ...groceries("milk\n12 eggs\nbread", 10), title: "Groceries (conflict copy)" } } });
  });

  it("3 and 4: a delete loses to an edit of the text, not to a re-embedding", async () => {
    const edited = await both(base, model({}), model({ n: { note: groceries("milk\neggs\nbread\nbutter", 11), embedding: E0, position: P0 } }), phone, laptop);
    expect(Object.keys(edited.out)).toEqual(["n"]);
    expect(edited.merge.conflicts.map((c) => c.kind)).toEqual(["edit-beats-delete"]);
    const reembedded = await both(base, model({}), model({ n: { ...base.get("n")!, embedding: EB } }), phone, laptop);
    expect(reembedded.out).toEqual({});
  });

  it("5: both moved: the later note's position, not the midpoint", async () => {
    const r = await both(base, model({ n: { note: groceries("milk\neggs\nbread", 10), embedding: E0, position: { x: 2, y: 0, z: 0 } } }), model({ n: { note: groceries("milk\neggs\nbread", 11), embedding: E0, position: { x: -2, y: 2, z: 0 } } }), phone, laptop);
    expect(r.out.n.position).toEqual({ x: -2, y: 2, z: 0 });
  });

  it("6: tags changed on both: the later wins, the loser recorded", async () => {
    const o = model({ n: { note: groceries("milk", 9, { tags: ["shop"] }) } });
    const r = await both(o, model({ n: { note: groceries("milk", 10, { tags: ["shop", "weekly"] }) } }), model({ n: { note: groceries("milk", 11, { tags: ["food"] }) } }), phone, laptop);
    expect(r.out.n.note).toEqual(groceries("milk", 11, { tags: ["food"] }));
    expect(r.merge.conflicts).toEqual([{ id: "n", kind: "field-winner", detail: 'tags: lost ["shop","weekly"]' }]);
  });
});

describe("the test harness", () => {
  it("writeWorking + commit through the Vault API stores exactly the model (for the multi-device test)", async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async (s) => {
        const v = await newVault();
        await writeWorking(v, s.base);
        await v.commit();
        const next = applyEdits(s.base, s.editsA);
        await writeWorking(v, next);
        const c = await v.commit();
        const root = c.snapshot ? (await v.snapshot(c.snapshot)).root : null;
        expect(root ? plain(await readTree(v, root)) : {}).toEqual(plain(next));
      }),
      params(30),
    );
  });
});
