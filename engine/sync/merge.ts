// Three-way merge of two snapshots against their common ancestor (the rules of docs/merge.md).
// Symmetric by construction: every tie is broken by the content (times, device ids, addresses),
// never by which side is "local", so two devices merging the same heads write the same tree.
import { diff3Merge } from "node-diff3";
import { canonicalJson, type Json, type JsonObject } from "../core/canonical.ts";
import { sha256, type Address } from "../core/hash.ts";
import { toHex, utf8 } from "../core/bytes.ts";
import { buildTree, diffTrees, iterateTree, entriesEqual, type BuiltTree, type Entry } from "../core/tree.ts";
import { decodeJsonPart, encodeJsonPart } from "../core/parts.ts";
import type { Vault } from "../vault/vault.ts";
import type { Conflict } from "./report.ts";

export interface MergeSide {
  root: Address;
  device: string;
}

export interface TreeMerge {
  tree: BuiltTree;
  conflicts: Conflict[];
  needsEmbedding: string[];
}

export async function mergeTrees(v: Vault, ancestor: Address | null, a: MergeSide, b: MergeSide): Promise<TreeMerge> {
  const [da, db] = await Promise.all([diffTrees(ancestor, a.root, v.load), diffTrees(ancestor, b.root, v.load)]);
  const result = new Map<string, Entry>();
  for await (const e of iterateTree(b.root, v.load)) result.set(e.id, e);
  const bChanges = new Map(db.changes.map((c) => [c.id, c]));
  const conflicts: Conflict[] = [];
  const needsEmbedding: string[] = [];
  for (const ca of da.changes) {
    const cb = bChanges.get(ca.id);
    if (!cb) {
      if (ca.after) result.set(ca.id, ca.after);
      else result.delete(ca.id);
      continue;
    }
    const merged = await mergeEntry(v, ca.before, { entry: ca.after, device: a.device }, { entry: cb.after, device: b.device });
    conflicts.push(...merged.conflicts);
    if (merged.needsEmbedding) needsEmbedding.push(ca.id);
    if (merged.entry) result.set(ca.id, merged.entry);
    else result.delete(ca.id);
    for (const extra of merged.extra) result.set(extra.id, extra);
  }
  const tree = buildTree(result.values(), undefined, v.rankCache);
  conflicts.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : x.kind.localeCompare(y.kind)));
  return { tree, conflicts, needsEmbedding: needsEmbedding.sort() };
}

interface Side {
  entry: Entry | undefined;
  device: string;
}

interface EntryMerge {
  entry: Entry | undefined;
  extra: Entry[];
  conflicts: Conflict[];
  needsEmbedding: boolean;
}

/** Both sides changed this id. */
async function mergeEntry(v: Vault, base: Entry | undefined, a: Side, b: Side): Promise<EntryMerge> {
  const out: EntryMerge = { entry: undefined, extra: [], conflicts: [], needsEmbedding: false };
  if (entriesEqual(a.entry, b.entry)) return { ...out, entry: a.entry };
  if (!a.entry || !b.entry) {
    // Edit vs delete: the edit wins, the note stays.
    const kept = (a.entry ?? b.entry) as Entry;
    return { ...out, entry: kept, conflicts: [{ id: kept.id, kind: "edit-beats-delete" }] };
  }
  const id = a.entry.id;
  const [order, first, second] = await orderSides(v, a, b);
  const result: Entry = { id };

  // Note: field by field, strings line by line.
  const note = pick(base?.note, a.entry.note, b.entry.note);
  let noteFrom: "a" | "b" | "new" = note.from;
  if (note.conflict) {
    const nb = base?.note ? await readJson(v, base.note, base.chunked) : {};
    const nf = await readJson(v, first.entry!.note!, first.entry!.chunked);
    const ns = await readJson(v, second.entry!.note!, second.entry!.chunked);
    const m = mergeNoteJson(nb, nf, ns);
    const staged = v.stageNoteBytes(encodeJsonPart(m.merged));
    result.note = staged.note;
    if (staged.chunked) result.chunked = true;
    noteFrom = result.note === a.entry.note ? "a" : result.note === b.entry.note ? "b" : "new";
    for (const f of m.fieldWinners) out.conflicts.push({ id, kind: "field-winner", detail: f });
    if (m.textConflict) {
      const copy = conflictCopy(id, ns, result.note);
      const cs = v.stageNoteBytes(encodeJsonPart(copy.note));
      out.extra.push({ id: copy.id, note: cs.note, ...(cs.chunked ? { chunked: true } : {}) });
      out.conflicts.push({ id, kind: "text-conflict-copy", copy: copy.id });
    }
  } else if (note.value) {
    result.note = note.value;
    const src = note.from === "a" ? a.entry : b.entry;
    if (src.chunked) result.chunked = true;
  }

  // Embedding follows its note.
  const emb = pick(base?.embedding, a.entry.embedding, b.entry.embedding);
  const embOf = (s: Entry) => ({ embedding: s.embedding, dims: s.dims });
  let e: { embedding?: Address; dims?: number };
  if (!emb.conflict) e = emb.value ? embOf(emb.from === "a" ? a.entry : b.entry) : {};
  else if (noteFrom === "a") e = embOf(a.entry);
  else if (noteFrom === "b") e = embOf(b.entry);
  else {
    e = embOf(first.entry!);
    out.conflicts.push({ id, kind: "embedding-winner" });
  }
  if (noteFrom === "new" && result.note && (a.entry.embedding || b.entry.embedding)) {
    out.needsEmbedding = true;
    if (!e.embedding) e = embOf(first.entry!.embedding ? first.entry! : second.entry!);
  }
  if (e.embedding) Object.assign(result, e);

  // Position: a deterministic winner, never an average.
  const pos = pick(base?.position, a.entry.position, b.entry.position);
  if (pos.conflict) {
    result.position = first.entry!.position;
    out.conflicts.push({ id, kind: "position-winner" });
  } else if (pos.value) result.position = pos.value;
  if (!result.position) delete result.position;
  void order;
  out.entry = result.note || result.embedding || result.position ? result : undefined;
  return out;
}

/** One part, three ways. `conflict` when both sides changed it differently. */
function pick(base: Address | undefined, a: Address | undefined, b: Address | undefined): { value?: Address; from: "a" | "b"; conflict: boolean } {
  if (a === b) return { value: a, from: "a", conflict: false };
  if (a === base) return { value: b, from: "b", conflict: false };
  if (b === base) return { value: a, from: "a", conflict: false };
  if (!a) return { value: b, from: "b", conflict: false }; // part deleted on one side, edited on the other: the edit wins
  if (!b) return { value: a, from: "a", conflict: false };
  return { from: "a", conflict: true };
}

async function readJson(v: Vault, addr: Address, chunked?: boolean): Promise<JsonObject> {
  return decodeJsonPart(await v.readPart(addr, chunked), "note");
}

/**
 * Which side wins a tie: the later `updated` of its note, then the larger device id, then the larger
 * note address. Content decides, not the direction of the merge.
 */
async function orderSides(v: Vault, a: Side, b: Side): Promise<["ab" | "ba", Side, Side]> {
  const key = async (s: Side) => {
    let updated = "";
    if (s.entry?.note) {
      const u = (await readJson(v, s.entry.note, s.entry.chunked)).updated;
      if (typeof u === "string") updated = u;
    }
    return [updated, s.device, s.entry?.note ?? "", s.entry?.position ?? "", s.entry?.embedding ?? ""];
  };
  const [ka, kb] = await Promise.all([key(a), key(b)]);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] > kb[i]) return ["ab", a, b];
    if (ka[i] < kb[i]) return ["ba", b, a];
  }
  return ["ab", a, b];
}

export interface NoteMerge {
  merged: JsonObject;
  textConflict: boolean;
  fieldWinners: string[];
}

/** Field-by-field merge; `first` is the tie winner. String fields merge line by line with diff3. */
export function mergeNoteJson(base: JsonObject, first: JsonObject, second: JsonObject): NoteMerge {
  const merged: JsonObject = {};
  const fieldWinners: string[] = [];
  let textConflict = false;
  const keys = new Set([...Object.keys(base), ...Object.keys(first), ...Object.keys(second)]);
  const same = (x: Json | undefined, y: Json | undefined) => (x === undefined || y === undefined ? x === y : canonicalJson(x) === canonicalJson(y));
  for (const k of [...keys].sort()) {
    const o = base[k],
      f = first[k],
      s = second[k];
    let val: Json | undefined;
    if (same(f, s)) val = f;
    else if (same(f, o)) val = s;
    else if (same(s, o)) val = f;
    else if (typeof f === "string" && typeof s === "string" && (o === undefined || typeof o === "string")) {
      const m = mergeLines(o ?? "", f, s);
      val = m.text;
      if (m.conflict) textConflict = true;
    } else {
      val = f;
      fieldWinners.push(k);
    }
    if (val !== undefined) merged[k] = val;
  }
  return { merged, textConflict, fieldWinners };
}

/** diff3 over lines. On overlap the first side's lines are kept here; the second's go to a conflict copy. */
export function mergeLines(base: string, first: string, second: string): { text: string; conflict: boolean } {
  const regions = diff3Merge(first.split("\n"), base.split("\n"), second.split("\n"), { excludeFalseConflicts: true });
  const lines: string[] = [];
  let conflict = false;
  for (const r of regions) {
    if (r.ok) lines.push(...(r.ok as string[]));
    else if (r.conflict) {
      conflict = true;
      lines.push(...(r.conflict.a as string[]));
    }
  }
  return { text: lines.join("\n"), conflict };
}

/** The loser of a text conflict, kept whole as a new note whose id both versions determine. */
function conflictCopy(id: string, loser: JsonObject, winnerAddr: Address): { id: string; note: JsonObject } {
  const tag = toHex(sha256(utf8(canonicalJson(loser) + "\n" + winnerAddr))).slice(0, 12);
  const suffix = `.conflict-${tag}`;
  const copyId = id.slice(0, 128 - suffix.length) + suffix;
  const title = typeof loser.title === "string" ? loser.title : id;
  return { id: copyId, note: { ...loser, id: copyId, title: `${title} (conflict copy)` } };
}
