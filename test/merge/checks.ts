// The merge properties as plain functions returning the violations found (empty = holds), so the
// property tests here and the later multi-device model test (issue 3, property 3) share them.
import { canonicalJson } from "../../engine/core/canonical.ts";
import { isNoteId } from "../../engine/core/parts.ts";
import { CONFLICT_TITLE_SUFFIX } from "../../engine/sync/merge.ts";
import type { Conflict } from "../../engine/sync/report.ts";
import { bodyLines, type Model, type ModelEntry } from "./generators.ts";

export function eq(x: unknown, y: unknown): boolean {
  if (x === undefined || y === undefined) return x === y;
  return canonicalJson(x) === canonicalJson(y);
}

function copiesOf(conflicts: readonly Conflict[], id: string): string[] {
  return conflicts.filter((c) => c.kind === "text-conflict-copy" && c.id === id && c.copy).map((c) => c.copy as string);
}

function copyIds(conflicts: readonly Conflict[]): Set<string> {
  return new Set(conflicts.filter((c) => c.kind === "text-conflict-copy" && c.copy).map((c) => c.copy as string));
}

/**
 * Property 2, no lost edit:
 *  - every line a side inserted into a note body (a line of its body that the ancestor's body of that
 *    id lacks) is in the merged note's body or in the body of one of its conflict copies;
 *  - every note that exists on either side and was not deleted on the other without a concurrent
 *    edit exists after the merge (and an edit that beat a delete is kept exactly);
 *  - a note deleted on one side and untouched on the other stays deleted.
 */
export function noLostEdit(base: Model, a: Model, b: Model, result: Model, conflicts: readonly Conflict[]): string[] {
  const problems: string[] = [];
  const ids = new Set([...a.keys(), ...b.keys()]);
  for (const id of ids) {
    for (const [xn, yn, x] of [
      [a.get(id)?.note, b.get(id)?.note, "a"],
      [b.get(id)?.note, a.get(id)?.note, "b"],
    ] as const) {
      if (!xn) continue;
      const on = base.get(id)?.note;
      const edited = !eq(xn, on);
      const rn = result.get(id)?.note;
      if ((yn || edited) && !rn) problems.push(`${id}: the note of ${x} is gone`);
      if (edited && !yn && !eq(rn, xn)) problems.push(`${id}: ${x}'s edit beat a delete but was not kept as it was`);
      const baseLines = new Set(bodyLines(on));
      const present = new Set([...bodyLines(rn), ...copiesOf(conflicts, id).flatMap((c) => bodyLines(result.get(c)?.note))]);
      for (const line of bodyLines(xn)) {
        if (!baseLines.has(line) && !present.has(line)) problems.push(`${id}: line ${JSON.stringify(line)} inserted by ${x} is lost`);
      }
    }
  }
  for (const [id, e] of base) {
    if (!e.note) continue;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      if (!x.get(id)?.note && eq(y.get(id)?.note, e.note) && result.get(id)?.note) problems.push(`${id}: deleted on one side, untouched on the other, but came back`);
    }
  }
  return problems;
}

/**
 * The other rules of docs/merge.md that hold whatever the content:
 *  - an id only one side changed is that side's, exactly;
 *  - a position is one side's, never a blend;
 *  - the embedding follows the note: a note kept as one side had it (and the other side's differs)
 *    keeps that side's embedding; a note no side had, with an embedding, is listed in needsEmbedding;
 *  - conflict copies exist, have valid ids and marked titles; every id is valid.
 */
export function mergeRules(base: Model, a: Model, b: Model, result: Model, conflicts: readonly Conflict[], needsEmbedding: readonly string[]): string[] {
  const problems: string[] = [];
  const copies = copyIds(conflicts);
  const ids = new Set([...base.keys(), ...a.keys(), ...b.keys()]);
  const entry = (m: Model, id: string): ModelEntry | undefined => m.get(id);
  for (const id of ids) {
    if (copies.has(id)) continue;
    const [o, ea, eb, r] = [entry(base, id), entry(a, id), entry(b, id), entry(result, id)];
    if (eq(ea, o) && !eq(r, eb)) problems.push(`${id}: only b changed it, but the result is not b's`);
    if (eq(eb, o) && !eq(r, ea)) problems.push(`${id}: only a changed it, but the result is not a's`);
    if (r?.position && !eq(r.position, ea?.position) && !eq(r.position, eb?.position)) problems.push(`${id}: position is neither side's`);
    if (r?.note) {
      const [an, bn] = [ea?.note, eb?.note];
      if (eq(r.note, an) && !eq(an, bn) && !eq(r.embedding, ea?.embedding)) problems.push(`${id}: note is a's but the embedding is not`);
      if (eq(r.note, bn) && !eq(an, bn) && !eq(r.embedding, eb?.embedding)) problems.push(`${id}: note is b's but the embedding is not`);
      if (!eq(r.note, an) && !eq(r.note, bn) && r.embedding && !needsEmbedding.includes(id)) problems.push(`${id}: merged text with an embedding is not in needsEmbedding`);
    }
  }
  for (const c of copies) {
    const n = result.get(c)?.note;
    if (!n) problems.push(`conflict copy ${c} is missing`);
    else if (typeof n.title !== "string" || !n.title.endsWith(CONFLICT_TITLE_SUFFIX)) problems.push(`conflict copy ${c}: title not marked`);
  }
  for (const id of result.keys()) if (!isNoteId(id)) problems.push(`invalid id ${id}`);
  for (const c of conflicts) if (c.kind === "text-conflict-copy" && !c.copy) problems.push(`${c.id}: copy conflict without copy id`);
  return problems;
}
