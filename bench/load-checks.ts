// The "nothing lost" check of the load run. Load clients only insert lines (each one unique, never
// deleted or rewritten), so after convergence every line a client wrote into note X must be in X
// or in one of X's conflict copies (`X.conflict-<hex>`, docs/merge.md; copies of copies keep the
// prefix). test/merge/checks.ts checks one three-way merge (base, a, b -> result); this checks the
// end state of a whole run, which is what a load run can observe.

const COPY_INFIX = ".conflict-";

/** The note a conflict copy descends from (the id itself for a regular note). */
export function originalIdOf(id: string): string {
  const i = id.indexOf(COPY_INFIX);
  return i < 0 ? id : id.slice(0, i);
}

/**
 * Lines written but absent from the final vault, as `"<line>" (note <id>)`.
 * `finalBodies`: note id -> body text of every note in the final state;
 * `written`: line -> the note id it was inserted into.
 */
export function lostLines(finalBodies: ReadonlyMap<string, string>, written: ReadonlyMap<string, string>): string[] {
  const present = new Map<string, Set<string>>(); // original id -> lines in it and its copies
  for (const [id, body] of finalBodies) {
    const key = originalIdOf(id);
    let set = present.get(key);
    if (!set) present.set(key, (set = new Set()));
    for (const line of body.split("\n")) set.add(line);
  }
  const lost: string[] = [];
  for (const [line, id] of written) if (!present.get(id)?.has(line)) lost.push(`${JSON.stringify(line)} (note ${id})`);
  return lost;
}
