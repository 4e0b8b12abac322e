// A vault's first snapshot built from its entries as they come (an initial push's commit).
//
// commit() records the working state from the overlay of changed entries: for a first snapshot of
// 100,000 notes that is the overlay, a change list and the tree's item list at once (~40 MiB,
// most of what an initial push's commit added to the heap). Here the entries come in id order
// (the CLI walks them off its checkout rows) and go straight into the tree builder, counted for
// the snapshot's stats; none is held. Kept out of Vault: the browser's engine never commits this
// way and carries only what it uses (test/browser/build-size.test.ts).
import { TreeBuilder, plainKeying, validateEntry, type Entry } from "../core/tree.ts";
import type { Address } from "../core/hash.ts";
import { countParts } from "../core/snapshot.ts";
import type { Vault } from "./vault.ts";

/**
 * Whether commitFirst can record `v`'s working state: a vault that never had a snapshot, with no
 * working changes given, whose tree keys are the ids (plain vaults: ids in key order).
 */
export function takesFirstCommit(v: Vault): boolean {
  return !v.refs.head && !v.refs.base && !v.headRoot && !v.hasUncommittedChanges && v.keying.plainKeys;
}

/**
 * Records `entries` (in id order) as the first snapshot of `v` (takesFirstCommit), with every
 * object still staged, as commit() would for the same working state (the same snapshot). No
 * entries: nothing is recorded, as commit() does for an empty vault. Throws, recording nothing,
 * on an id out of order or given twice.
 */
export async function commitFirst(v: Vault, entries: Iterable<Entry>, message?: string): Promise<{ snapshot: Address | null; added: number }> {
  if (!takesFirstCommit(v)) throw new Error("commitFirst: the vault has a snapshot, working changes or keyed tree keys; use commit()");
  const builder = new TreeBuilder(plainKeying);
  const stats = { notes: 0, embeddings: 0, positions: 0 };
  let added = 0;
  for (const e of entries) {
    validateEntry(e);
    builder.add(e); // throws on an id out of order or given twice
    countParts(stats, e);
    added++;
  }
  if (!added) return { snapshot: null, added };
  // The new head becomes the working state (in either of the vault's modes).
  const { snapshot } = await v.writeSnapshot({ ...builder.finish(), changes: [], stats }, [], message, true);
  return { snapshot, added };
}
