// Three-way merge of two snapshot trees against their common ancestor: the rules of docs/merge.md,
// which are the contract with users. Keep the two in step.
//
// Symmetric by construction: every tie is broken by content (the notes' `updated`, the sides'
// device ids, part addresses), never by which side is "local", so two devices that merge the same
// heads concurrently write the same tree and converge instead of ping-ponging.
import { diff3Merge } from "node-diff3";
import { CanonicalJsonError, canonicalJson, type Json, type JsonObject } from "../core/canonical.ts";
import { sha256, type Address } from "../core/hash.ts";
import { toHex, utf8 } from "../core/bytes.ts";
import { buildTree, diffTrees, iterateTree, entriesEqual, type BuiltTree, type Entry, type TreeChange } from "../core/tree.ts";
import { decodeJsonPart, encodeJsonPart, isNoteId } from "../core/parts.ts";
import type { Vault } from "../vault/vault.ts";
import type { Conflict } from "./report.ts";

export interface MergeSide {
  root: Address;
  /** Device id of the side's head snapshot: a tie-breaker, never "who is local". */
  device: string;
}

export interface TreeMerge {
  tree: BuiltTree;
  /** Sorted by id, kind, copy, detail: the same list whichever side merges. */
  conflicts: Conflict[];
  /** Sorted ids whose merged note is text no device has embedded yet (they keep the newer embedding meanwhile). */
  needsEmbedding: string[];
}

/** Appended to the title of a conflict copy. */
export const CONFLICT_TITLE_SUFFIX = " (conflict copy)";
const COPY_INFIX = ".conflict-";
const TAG_CHARS = 12;
/** Details in the report quote a losing value up to this many characters. */
const MAX_DETAIL = 300;

export async function mergeTrees(v: Vault, ancestor: Address | null, a: MergeSide, b: MergeSide): Promise<TreeMerge> {
  const [da, db] = await Promise.all([diffTrees(ancestor, a.root, v.load), diffTrees(ancestor, b.root, v.load)]);
  const result = new Map<string, Entry>();
  for await (const e of iterateTree(b.root, v.load)) result.set(e.id, e);
  const bChanges = new Map<string, TreeChange>(db.changes.map((c) => [c.id, c]));
  const ctx = new MergeContext(v);
  const conflicts: Conflict[] = [];
  const needsEmbedding = new Set<string>();
  const copies: PendingCopy[] = [];
  // diffTrees lists changes sorted by id, so conflicts and copies are made in one fixed order.
  for (const ca of da.changes) {
    const cb = bChanges.get(ca.id);
    if (!cb) {
      // Only `a` changed this id (b's tree holds the ancestor's version, or nothing).
      if (ca.after) result.set(ca.id, ca.after);
      else result.delete(ca.id);
      continue;
    }
    const m = await mergeEntry(ctx, ca.id, ca.before, { entry: ca.after, device: a.device }, { entry: cb.after, device: b.device });
    if (m.entry) result.set(ca.id, m.entry);
    else result.delete(ca.id);
    conflicts.push(...m.conflicts);
    if (m.needsEmbedding) needsEmbedding.add(ca.id);
    if (m.copy) copies.push(m.copy);
  }
  // Conflict copies go in last, once every regular id is decided, so a copy never displaces a note.
  for (const c of copies) {
    const placed = placeCopy(ctx, result, c);
    conflicts.push({ id: c.of, kind: "text-conflict-copy", copy: placed.id, detail: c.fields.join(",") });
    if (placed.entry.embedding) needsEmbedding.add(placed.id);
  }
  const tree = buildTree(result.values(), v.keying, v.keyHashCache);
  conflicts.sort(compareConflicts);
  return { tree, conflicts, needsEmbedding: [...needsEmbedding].sort(cmp) };
}

function cmp(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareConflicts(x: Conflict, y: Conflict): number {
  return cmp(x.id, y.id) || cmp(x.kind, y.kind) || cmp(x.copy ?? "", y.copy ?? "") || cmp(x.detail ?? "", y.detail ?? "");
}

interface Side {
  entry: Entry | undefined;
  device: string;
}

interface PendingCopy {
  of: string;
  /** Note addresses of the two versions: they name the copy. */
  winnerNote: Address;
  loserNote: Address;
  /** The losing note, whole; raw bytes when it is not a JSON object (then kept byte for byte). */
  loser: JsonObject | Uint8Array;
  embedding?: Address;
  dims?: number;
  position?: Address;
  fields: string[];
}

interface EntryMerge {
  entry: Entry | undefined;
  conflicts: Conflict[];
  needsEmbedding: boolean;
  copy?: PendingCopy;
}

/** Per-merge caches: decoded notes and side order. */
class MergeContext {
  private notes = new Map<Address, Promise<JsonObject | undefined>>();
  constructor(readonly v: Vault) {}

  async bytes(e: Entry): Promise<Uint8Array> {
    return this.v.readPart(e.note as Address, e.chunked);
  }

  /** The note as a JSON object, or undefined when its bytes are not one (foreign or damaged data). */
  note(e: Entry): Promise<JsonObject | undefined> {
    const addr = e.note as Address;
    let p = this.notes.get(addr);
    if (!p) {
      p = this.bytes(e).then((b) => {
        try {
          return decodeJsonPart(b, "note");
        } catch (err) {
          if (err instanceof CanonicalJsonError) return undefined;
          throw err;
        }
      });
      this.notes.set(addr, p);
    }
    return p;
  }

  async json(addr: Address, what: "position"): Promise<JsonObject | undefined> {
    try {
      return decodeJsonPart(await this.v.load(addr), what);
    } catch {
      return undefined;
    }
  }
}

/**
 * The parsed `updated` of a note, as milliseconds since the epoch, or undefined. Parsed the same way
 * on every runtime (Date.parse is not: it reads non-ISO text differently per engine and a time
 * without an offset as local time), so every device picks the same winner:
 *   - a finite number: milliseconds since the epoch, or seconds when below 1e11 (before 1973 in ms);
 *   - an ISO 8601 string YYYY-MM-DD[Thh:mm[:ss[.fff…]]][Z|±hh:mm]; no offset means UTC;
 *   - anything else: no time.
 */
export function updatedTime(u: unknown): number | undefined {
  if (typeof u === "number") {
    if (!Number.isFinite(u)) return undefined;
    return Math.abs(u) < 1e11 ? u * 1000 : u;
  }
  if (typeof u !== "string") return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/.exec(u.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? "0", m[5] ?? "0", m[6] ?? "0"].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return undefined;
  let t = Date.UTC(y, mo - 1, d, h, mi, s);
  if (m[7]) t += Number(`0.${m[7]}`) * 1000;
  const z = m[8];
  if (z && z !== "Z" && z !== "z") {
    const sign = z[0] === "-" ? -1 : 1;
    const digits = z.slice(1).replace(":", "");
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
    t -= sign * offset * 60_000;
  }
  return Number.isFinite(t) ? t : undefined;
}

/** Order of two sides for every tie: later `updated`, then larger device id, then larger part addresses. */
async function sideRank(ctx: MergeContext, s: Side): Promise<(number | string)[]> {
  const e = s.entry;
  let time = -Infinity;
  if (e?.note) {
    const n = await ctx.note(e);
    const t = n ? updatedTime(n.updated) : undefined;
    if (t !== undefined) time = t;
  }
  return [time, s.device, e?.note ?? "", e?.embedding ?? "", e?.position ?? ""];
}

/** [winner, loser]. Equal ranks mean equal sides, so which one is "first" then changes nothing. */
async function orderSides(ctx: MergeContext, a: Side, b: Side): Promise<[Side, Side]> {
  const [ka, kb] = await Promise.all([sideRank(ctx, a), sideRank(ctx, b)]);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] > kb[i]) return [a, b];
    if (ka[i] < kb[i]) return [b, a];
  }
  return [a, b];
}

type From = "a" | "b" | "both" | "new";

/** One part three ways, by address. `conflict` when both sides changed it, differently, and both still have it. */
function pick(base: Address | undefined, a: Address | undefined, b: Address | undefined): { from: "a" | "b" | "both"; conflict: boolean; overDelete: boolean } {
  if (a === b) return { from: "both", conflict: false, overDelete: false };
  if (a === base) return { from: "b", conflict: false, overDelete: false };
  if (b === base) return { from: "a", conflict: false, overDelete: false };
  // Both changed it. A part deleted on one side and changed on the other: the change wins.
  if (!a) return { from: "b", conflict: false, overDelete: true };
  if (!b) return { from: "a", conflict: false, overDelete: true };
  return { from: "a", conflict: true, overDelete: false };
}

function notePart(e: Entry): Pick<Entry, "note" | "chunked"> {
  return e.note ? (e.chunked ? { note: e.note, chunked: true } : { note: e.note }) : {};
}
function embeddingPart(e: Entry | undefined): Pick<Entry, "embedding" | "dims"> {
  return e?.embedding ? { embedding: e.embedding, dims: e.dims } : {};
}
function hasParts(e: Entry): boolean {
  return !!(e.note || e.embedding || e.position);
}

/** An id that both sides changed (relative to the ancestor). */
async function mergeEntry(ctx: MergeContext, id: string, base: Entry | undefined, a: Side, b: Side): Promise<EntryMerge> {
  const out: EntryMerge = { entry: undefined, conflicts: [], needsEmbedding: false };
  if (entriesEqual(a.entry, b.entry)) return { ...out, entry: a.entry };
  if (!a.entry || !b.entry) return deletedOnOneSide(id, base, (a.entry ?? b.entry) as Entry);
  const ea = a.entry;
  const eb = b.entry;
  const result: Entry = { id };
  let order: [Side, Side] | undefined;
  const ordered = async () => (order ??= await orderSides(ctx, a, b));

  // ---- note: one side changed -> it; both -> field by field, strings line by line ----
  const np = pick(base?.note, ea.note, eb.note);
  let from: From | undefined;
  if (!np.conflict) {
    const src = np.from === "b" ? eb : ea;
    Object.assign(result, notePart(src));
    if (result.note) from = np.from;
    if (np.overDelete) out.conflicts.push({ id, kind: "edit-beats-delete", detail: "note" });
  } else {
    const [win, lose] = await ordered();
    const we = win.entry as Entry;
    const le = lose.entry as Entry;
    const [bn, wn, ln] = await Promise.all([base?.note ? ctx.note(base) : Promise.resolve({}), ctx.note(we), ctx.note(le)]);
    if (!wn || !ln) {
      // Not JSON objects: nothing to merge field by field. The winner keeps the id, the loser is copied whole.
      Object.assign(result, notePart(we));
      out.copy = copyOf(id, we, le, await ctx.bytes(le), ["note"]);
    } else {
      const m = mergeNoteJson(bn ?? {}, wn, ln);
      const staged = ctx.v.stageNoteBytes(encodeJsonPart(m.merged));
      result.note = staged.note;
      if (staged.chunked) result.chunked = true;
      for (const loss of m.losses) out.conflicts.push({ id, kind: "field-winner", detail: lossDetail(loss) });
      if (m.textConflict) out.copy = copyOf(id, we, le, ln, m.conflictFields);
    }
    from = result.note === ea.note ? "a" : result.note === eb.note ? "b" : "new";
  }

  // ---- embedding: follows its note ----
  if (from === "a" || from === "b") {
    // The kept note is one side's own (and differs from the other's): keep the embedding it had with it.
    Object.assign(result, embeddingPart(from === "a" ? ea : eb));
  } else {
    const ep = pick(base?.embedding, ea.embedding, eb.embedding);
    if (!ep.conflict) {
      Object.assign(result, embeddingPart(ep.from === "b" ? eb : ea));
      if (ep.overDelete && from !== "new") out.conflicts.push({ id, kind: "edit-beats-delete", detail: "embedding" });
    } else {
      const [win, lose] = await ordered();
      Object.assign(result, embeddingPart(win.entry));
      // New text gets re-embedded anyway (needsEmbedding): nothing of value is lost there.
      if (from !== "new") out.conflicts.push({ id, kind: "embedding-winner", detail: `lost embedding ${lose.entry?.embedding}` });
    }
  }
  if (from === "new" && result.embedding) out.needsEmbedding = true;

  // ---- position: one side moved -> it; both -> a deterministic winner, never an average ----
  const pp = pick(base?.position, ea.position, eb.position);
  if (!pp.conflict) {
    const src = pp.from === "b" ? eb : ea;
    if (src.position) result.position = src.position;
    if (pp.overDelete) out.conflicts.push({ id, kind: "edit-beats-delete", detail: "position" });
  } else {
    const [win, lose] = await ordered();
    result.position = win.entry?.position;
    const lost = await ctx.json(lose.entry?.position as Address, "position");
    out.conflicts.push({ id, kind: "position-winner", detail: `lost ${clip(lost ? canonicalJson(lost) : String(lose.entry?.position))}` });
  }

  out.entry = hasParts(result) ? result : undefined;
  return out;
}

/**
 * One side deleted the whole id, the other changed it (to `k`). A changed note text beats the
 * delete (the note stays as `k`). A change of only the embedding or position of a deleted note does
 * not bring the note back: a note never comes back from the dead without an edit of its text. Ids
 * that had no note (parts alone) merge part by part: changed parts stay.
 */
function deletedOnOneSide(id: string, base: Entry | undefined, k: Entry): EntryMerge {
  const out: EntryMerge = { entry: undefined, conflicts: [], needsEmbedding: false };
  // Unreachable (a side without the id changed it only if the ancestor had it), but safe: keep k.
  if (!base) return { ...out, entry: k };
  if (k.note && k.note !== base.note) return { ...out, entry: k, conflicts: [{ id, kind: "edit-beats-delete", detail: "note" }] };
  if (base.note) {
    if (k.embedding && k.embedding !== base.embedding) out.conflicts.push({ id, kind: "embedding-winner", detail: "dropped with the deleted note" });
    if (k.position && k.position !== base.position) out.conflicts.push({ id, kind: "position-winner", detail: "dropped with the deleted note" });
    return out;
  }
  const result: Entry = { id };
  const parts: string[] = [];
  if (k.embedding && k.embedding !== base.embedding) {
    Object.assign(result, embeddingPart(k));
    parts.push("embedding");
  }
  if (k.position && k.position !== base.position) {
    result.position = k.position;
    parts.push("position");
  }
  if (parts.length) out.conflicts.push({ id, kind: "edit-beats-delete", detail: parts.join(",") });
  out.entry = hasParts(result) ? result : undefined;
  return out;
}

function copyOf(id: string, winner: Entry, loser: Entry, note: JsonObject | Uint8Array, fields: string[]): PendingCopy {
  return {
    of: id,
    winnerNote: winner.note as Address,
    loserNote: loser.note as Address,
    loser: note,
    ...embeddingPart(loser),
    ...(loser.position ? { position: loser.position } : {}),
    fields,
  };
}

/** The id a conflict copy gets on its `attempt`-th try (0 first): `<id>.conflict-<12 hex>`, within [A-Za-z0-9._-]{1,128}. */
export function conflictCopyId(id: string, winnerNote: Address, loserNote: Address, attempt = 0): string {
  const tag = toHex(sha256(utf8(`${id}\n${winnerNote}\n${loserNote}${attempt ? `\n${attempt}` : ""}`))).slice(0, TAG_CHARS);
  const suffix = COPY_INFIX + tag;
  const copy = id.slice(0, 128 - suffix.length) + suffix;
  if (!isNoteId(copy)) throw new RangeError(`conflict copy id ${copy}`); // unreachable: a valid id's prefix + [a-z0-9.-]
  return copy;
}

/** The note JSON of a conflict copy: the loser whole, its title marked (and its own `id` field, if any, renamed). */
export function conflictCopyNote(loser: JsonObject, originalId: string, copyId: string): JsonObject {
  const title = typeof loser.title === "string" && loser.title !== "" ? loser.title : originalId;
  const note: JsonObject = { ...loser, title: title + CONFLICT_TITLE_SUFFIX };
  if (typeof loser.id === "string") note.id = copyId;
  return note;
}

function placeCopy(ctx: MergeContext, result: Map<string, Entry>, c: PendingCopy): { id: string; entry: Entry } {
  for (let attempt = 0; ; attempt++) {
    const copyId = conflictCopyId(c.of, c.winnerNote, c.loserNote, attempt);
    const bytes = c.loser instanceof Uint8Array ? c.loser : encodeJsonPart(conflictCopyNote(c.loser, c.of, copyId));
    const staged = ctx.v.stageNoteBytes(bytes);
    const entry: Entry = { id: copyId, ...notePart({ id: copyId, ...staged }), ...(c.embedding ? { embedding: c.embedding, dims: c.dims } : {}), ...(c.position ? { position: c.position } : {}) };
    const existing = result.get(copyId);
    // The same copy made by an earlier merge (e.g. the other side of a criss-cross) is that copy.
    if (!existing || existing.note === entry.note) {
      if (!existing) result.set(copyId, entry);
      return { id: copyId, entry: existing ?? entry };
    }
  }
}

function clip(s: string): string {
  return s.length > MAX_DETAIL ? s.slice(0, MAX_DETAIL) + "…" : s;
}

function lossDetail(l: FieldLoss): string {
  return `${l.field}: lost ${l.value === undefined ? "(field deleted)" : clip(canonicalJson(l.value))}`;
}

export interface FieldLoss {
  field: string;
  /** The losing value; undefined when the loser had deleted the field. */
  value?: Json;
}

export interface NoteMerge {
  merged: JsonObject;
  /** Some string field had overlapping edits (or a string lost to a non-string): the loser needs a conflict copy. */
  textConflict: boolean;
  /** Fields decided by a winner, whose losing value the report records. */
  fieldWinners: string[];
  losses: FieldLoss[];
  /** Fields that made `textConflict`. */
  conflictFields: string[];
}

function same(x: Json | undefined, y: Json | undefined): boolean {
  if (x === undefined || y === undefined) return x === y;
  if (typeof x !== "object" || typeof y !== "object" || x === null || y === null) return x === y;
  return canonicalJson(x) === canonicalJson(y);
}

/**
 * Field-by-field merge of note JSON. `first` is the tie winner (docs/merge.md: later `updated`,
 * then device id); `second` the loser. Per field:
 *   - one side changed it -> that side's value (a deletion of the field counts as a change);
 *   - both made the same change -> it;
 *   - one side deleted it, the other changed it -> the changed value (reported);
 *   - `updated` changed on both -> the later time (not a conflict: both edits are merged);
 *   - both strings -> diff3 line by line against the ancestor's string ("" when it had none or not
 *     a string); overlapping edits keep `first`'s lines and set textConflict;
 *   - otherwise -> `first`'s value, the loser's recorded (and a losing string sets textConflict, so
 *     its text survives in the conflict copy).
 */
export function mergeNoteJson(base: JsonObject, first: JsonObject, second: JsonObject): NoteMerge {
  const merged: JsonObject = {};
  const losses: FieldLoss[] = [];
  const conflictFields: string[] = [];
  const has = (o: JsonObject, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const get = (o: JsonObject, k: string): Json | undefined => (has(o, k) ? o[k] : undefined);
  const keys = new Set([...Object.keys(base), ...Object.keys(first), ...Object.keys(second)]);
  for (const k of [...keys].sort(cmp)) {
    const o = get(base, k),
      f = get(first, k),
      s = get(second, k);
    let val: Json | undefined;
    if (same(f, s)) val = f;
    else if (same(f, o)) val = s;
    else if (same(s, o)) val = f;
    else if (f === undefined || s === undefined) {
      val = f ?? s;
      losses.push({ field: k });
    } else if (k === "updated") {
      const tf = updatedTime(f),
        ts = updatedTime(s);
      val = tf === undefined && ts === undefined ? f : ts !== undefined && (tf === undefined || ts > tf) ? s : f;
    } else if (typeof f === "string" && typeof s === "string") {
      const m = mergeLines(typeof o === "string" ? o : "", f, s);
      val = m.text;
      if (m.conflict) conflictFields.push(k);
    } else {
      val = f;
      losses.push({ field: k, value: s });
      if (typeof s === "string") conflictFields.push(k);
    }
    // defineProperty, not `merged[k] =`: a field named "__proto__" must stay a field.
    if (val !== undefined) Object.defineProperty(merged, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  return { merged, textConflict: conflictFields.length > 0, fieldWinners: losses.map((l) => l.field), losses, conflictFields };
}

function lines(s: string): string[] {
  return s === "" ? [] : s.split("\n");
}

/**
 * diff3 over lines (node-diff3). Changes of one side merge in; identical changes on both sides are
 * taken once; changes to the same or adjacent lines overlap: there `first`'s lines are kept (the
 * caller copies `second` whole into a conflict copy). Call with `first` = the tie winner, so the
 * result never depends on which device merges.
 */
export function mergeLines(base: string, first: string, second: string): { text: string; conflict: boolean } {
  if (first === second) return { text: first, conflict: false };
  if (base === second) return { text: first, conflict: false };
  if (base === first) return { text: second, conflict: false };
  const regions = diff3Merge(lines(first), lines(base), lines(second), { excludeFalseConflicts: true });
  const out: string[] = [];
  let conflict = false;
  for (const r of regions) {
    if (r.ok) out.push(...(r.ok as string[]));
    else if (r.conflict) {
      conflict = true;
      out.push(...(r.conflict.a as string[]));
    }
  }
  return { text: out.join("\n"), conflict };
}
