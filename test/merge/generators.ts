// Generators for merge and multi-device tests: a plain in-memory model of a vault (note id -> parts),
// random vaults, and random edits applied to the model. Pure (no engine imports beyond types), so
// the model-based multi-device test (issue 3, property 3) can reuse them with fc.commands: an Edit
// is a command's payload, applyEdit() is the model step, and writeWorking() (harness.ts) the real one.
import fc from "fast-check";
import type { Json, JsonObject } from "../../engine/core/canonical.ts";

export type PartName = "note" | "embedding" | "position";

export interface ModelEntry {
  note?: JsonObject;
  /** float32-exact values. */
  embedding?: number[];
  position?: JsonObject;
}

/** A vault's content: id -> parts. Entries always have at least one part. */
export type Model = Map<string, ModelEntry>;

// ---- ids ----

/** A small pool so that two devices create the same id now and then; includes the longest valid id. */
export const ID_POOL: readonly string[] = ["n0", "n1", "n2", "n3", "n4", "n5", "a.b-c_D", "Z", "x".repeat(120) + "-long-id", "y".repeat(128)];
export const arbId: fc.Arbitrary<string> = fc.constantFrom(...ID_POOL);

// ---- note bodies ----

/** Lines that repeat a lot (markdown-ish), which is what makes diff3 interesting. */
export const LINE_POOL: readonly string[] = ["# Heading", "", "- [ ] todo", "- [x] done", "- item", "some text", "more text", "```", "code();", "> quote", "  indented", "__proto__", "constructor"];
export const arbLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LINE_POOL) },
  { weight: 2, arbitrary: fc.nat({ max: 999 }).map((n) => `line ${n}`) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 12 }).map((s) => s.replace(/\n|\r/g, " ")) },
);
export const arbLines: fc.Arbitrary<string[]> = fc.array(arbLine, { maxLength: 12 });
export const arbBody: fc.Arbitrary<string> = fc.tuple(arbLines, fc.boolean()).map(([ls, nl]) => ls.join("\n") + (nl && ls.length ? "\n" : ""));

/** A body over 64 KiB (stored chunked): numbered paragraphs, so edits land in one chunk or a few. */
export function bigBody(seed: number, lines = 2400): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(i % 7 === 0 ? "" : `para ${i}.${seed % 97} lorem ipsum dolor sit amet`);
  return out.join("\n");
}

// ---- other fields ----

/** `updated` as apps really write it: ISO strings, epoch ms, epoch seconds, garbage, null, or absent. */
export const arbUpdated: fc.Arbitrary<Json | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_000 + 5 * 86_400_000 }).map((t) => new Date(t - (t % 60_000)).toISOString()) },
  { weight: 1, arbitrary: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_500_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_700_000_000, max: 1_700_000_500 }) },
  { weight: 1, arbitrary: fc.constantFrom<Json | undefined>("yesterday", "", null, true, undefined, "2024-02-30T99:00", "2026-01-01T10:00:00+02:00", "2026-01-01T08:00:00Z") },
);
export const arbTitle: fc.Arbitrary<Json | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("Groceries", "Ideas", "Meeting", "Todo", "Draft") },
  { weight: 2, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom<Json | undefined>(undefined, 42, null) },
);
export const arbTags: fc.Arbitrary<string[]> = fc.uniqueArray(fc.constantFrom("work", "home", "idea", "todo", "x"), { maxLength: 3 });

/** Other fields an app may keep, names that trip naive code included. */
export const EXTRA_KEYS: readonly string[] = ["color", "__proto__", "constructor"];
export const arbExtraValue: fc.Arbitrary<Json> = fc.oneof(fc.constantFrom("red", "blue"), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constant<Json>({ nested: [1, "x"] }));

export const arbNote: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      title: arbTitle,
      body: arbBody,
      tags: fc.option(arbTags, { nil: undefined }),
      updated: arbUpdated,
      pinned: fc.option(fc.boolean(), { nil: undefined }),
      extra: fc.option(fc.tuple(fc.constantFrom(...EXTRA_KEYS), arbExtraValue), { nil: undefined, freq: 4 }),
    },
    { requiredKeys: ["body"] },
  )
  .map(({ extra, ...r }) => {
    let o: JsonObject = {};
    for (const [k, v] of Object.entries(r)) if (v !== undefined) o = setField(o, k, v as Json);
    if (extra) o = setField(o, extra[0], extra[1]);
    return o;
  });

/** Few distinct values, so two devices computing "the same" embedding happens. Exact in float32. */
export const arbEmbedding: fc.Arbitrary<number[]> = fc.array(fc.constantFrom(0, 0.5, 1, -1, 0.25), { minLength: 3, maxLength: 3 });
export const arbPosition: fc.Arbitrary<JsonObject> = fc.record({ x: fc.integer({ min: -2, max: 2 }), y: fc.integer({ min: -2, max: 2 }), z: fc.constantFrom(0, 1) });

export const arbEntry: fc.Arbitrary<ModelEntry> = fc
  .record({ note: fc.option(arbNote, { nil: undefined, freq: 8 }), embedding: fc.option(arbEmbedding, { nil: undefined }), position: fc.option(arbPosition, { nil: undefined }) })
  .filter((e) => !!(e.note || e.embedding || e.position))
  .map(clean);

export const arbModel: fc.Arbitrary<Model> = fc
  .uniqueArray(fc.tuple(arbId, arbEntry), { selector: ([id]) => id, maxLength: 6 })
  .map((pairs) => new Map(pairs));

// ---- edits ----

/** `pick` chooses among the model's ids (sorted) modulo their count; `at` is a line index modulo length+1. */
export type Edit =
  | { kind: "insertLines"; pick: number; at: number; lines: string[]; updated?: Json }
  | { kind: "deleteLines"; pick: number; at: number; count: number; updated?: Json }
  | { kind: "replaceLines"; pick: number; at: number; count: number; lines: string[]; updated?: Json }
  | { kind: "setTitle"; pick: number; title: Json | undefined }
  | { kind: "setTags"; pick: number; tags: string[] | undefined }
  | { kind: "setUpdated"; pick: number; updated: Json | undefined }
  | { kind: "setField"; pick: number; key: string; value: Json | undefined }
  | { kind: "move"; pick: number; position: JsonObject }
  | { kind: "reembed"; pick: number; embedding: number[] }
  | { kind: "deleteNote"; pick: number }
  | { kind: "deletePart"; pick: number; part: PartName }
  | { kind: "createNote"; id: string; entry: ModelEntry };

const arbPick = fc.nat({ max: 50 });
const arbAt = fc.nat({ max: 40 });
const arbTouch = fc.option(arbUpdated.filter((u) => u !== undefined) as fc.Arbitrary<Json>, { nil: undefined, freq: 3 });

export const arbEdit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("insertLines" as const), pick: arbPick, at: arbAt, lines: fc.array(arbLine, { minLength: 1, maxLength: 4 }), updated: arbTouch }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("deleteLines" as const), pick: arbPick, at: arbAt, count: fc.integer({ min: 1, max: 3 }), updated: arbTouch }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("replaceLines" as const), pick: arbPick, at: arbAt, count: fc.integer({ min: 1, max: 3 }), lines: fc.array(arbLine, { minLength: 1, maxLength: 3 }), updated: arbTouch }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("setTitle" as const), pick: arbPick, title: arbTitle }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("setTags" as const), pick: arbPick, tags: fc.option(arbTags, { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("setUpdated" as const), pick: arbPick, updated: arbUpdated }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("setField" as const), pick: arbPick, key: fc.constantFrom(...EXTRA_KEYS), value: fc.option(arbExtraValue, { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("move" as const), pick: arbPick, position: arbPosition }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("reembed" as const), pick: arbPick, embedding: arbEmbedding }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("deleteNote" as const), pick: arbPick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deletePart" as const), pick: arbPick, part: fc.constantFrom<PartName>("note", "embedding", "position") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("createNote" as const), id: arbId, entry: arbEntry }) },
);
export const arbEdits: fc.Arbitrary<Edit[]> = fc.array(arbEdit, { maxLength: 6 });

/**
 * A base vault and two devices' independent edits of it. `shared` edits are applied to both copies
 * first (so "both made the same change" happens), then each side's own.
 */
export interface Scenario {
  base: Model;
  shared: Edit[];
  editsA: Edit[];
  editsB: Edit[];
  deviceA: string;
  deviceB: string;
}
export const arbDevice: fc.Arbitrary<string> = fc.constantFrom("dev-a", "dev-b", "dev-c");
export const arbScenario: fc.Arbitrary<Scenario> = fc.record({
  base: arbModel,
  shared: fc.array(arbEdit, { maxLength: 2 }),
  editsA: arbEdits,
  editsB: arbEdits,
  deviceA: arbDevice,
  deviceB: arbDevice,
});

export function sides(s: Scenario): { base: Model; a: Model; b: Model } {
  const common = applyEdits(s.base, s.shared);
  return { base: s.base, a: applyEdits(common, s.editsA), b: applyEdits(common, s.editsB) };
}

// ---- the model step ----

function clean(e: ModelEntry): ModelEntry {
  const o: ModelEntry = {};
  if (e.note) o.note = e.note;
  if (e.embedding) o.embedding = e.embedding;
  if (e.position) o.position = e.position;
  return o;
}

export function cloneModel(m: Model): Model {
  return new Map([...m].map(([id, e]) => [id, structuredClone(e)]));
}

function splitLines(s: string): string[] {
  return s === "" ? [] : s.split("\n");
}

/** A copy of the note with field k set (or removed); "__proto__" stays a plain field. */
export function setField(note: JsonObject, k: string, v: Json | undefined): JsonObject {
  const n = { ...note };
  if (v === undefined) delete n[k];
  else Object.defineProperty(n, k, { value: v, enumerable: true, writable: true, configurable: true });
  return n;
}

/** Applies one edit to a copy of the model. Edits whose target does not exist are no-ops. */
export function applyEdit(model: Model, edit: Edit): Model {
  const m = cloneModel(model);
  if (edit.kind === "createNote") {
    m.set(edit.id, structuredClone(edit.entry));
    return m;
  }
  const ids = [...m.keys()].sort();
  if (!ids.length) return m;
  const id = ids[edit.pick % ids.length];
  const e = m.get(id) as ModelEntry;
  const note = e.note;
  const bodyEdit = (f: (ls: string[]) => string[], touch?: Json) => {
    if (!note) return;
    const body = typeof note.body === "string" ? note.body : "";
    let n = setField(note, "body", f(splitLines(body)).join("\n"));
    if (touch !== undefined) n = setField(n, "updated", touch);
    e.note = n;
  };
  switch (edit.kind) {
    case "insertLines":
      bodyEdit((ls) => {
        const at = edit.at % (ls.length + 1);
        return [...ls.slice(0, at), ...edit.lines, ...ls.slice(at)];
      }, edit.updated);
      break;
    case "deleteLines":
      bodyEdit((ls) => {
        const at = edit.at % (ls.length + 1);
        return [...ls.slice(0, at), ...ls.slice(at + edit.count)];
      }, edit.updated);
      break;
    case "replaceLines":
      bodyEdit((ls) => {
        const at = edit.at % (ls.length + 1);
        return [...ls.slice(0, at), ...edit.lines, ...ls.slice(at + edit.count)];
      }, edit.updated);
      break;
    case "setTitle":
      if (note) e.note = setField(note, "title", edit.title);
      break;
    case "setTags":
      if (note) e.note = setField(note, "tags", edit.tags);
      break;
    case "setUpdated":
      if (note) e.note = setField(note, "updated", edit.updated);
      break;
    case "setField":
      if (note) e.note = setField(note, edit.key, edit.value);
      break;
    case "move":
      e.position = structuredClone(edit.position);
      break;
    case "reembed":
      e.embedding = [...edit.embedding];
      break;
    case "deleteNote":
      m.delete(id);
      return m;
    case "deletePart":
      delete e[edit.part];
      break;
  }
  if (!e.note && !e.embedding && !e.position) m.delete(id);
  return m;
}

export function applyEdits(model: Model, edits: readonly Edit[]): Model {
  return edits.reduce(applyEdit, model);
}

/** Lines of a note's body (empty when it has no string body). */
export function bodyLines(note: JsonObject | undefined): string[] {
  return note && typeof note.body === "string" ? splitLines(note.body) : [];
}
