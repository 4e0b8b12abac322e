// A vault's first snapshot built from its entries as they come (an initial push's commit).
//
// commit() records the working state from the overlay of changed entries: for a first snapshot of
// 100,000 notes that is the overlay, a change list and the tree's item list at once (~40 MiB,
// most of what an initial push's commit added to the heap; an encrypted vault's commit added
// ~100 MiB). Here the entries come in the tree's key order and go straight into the tree builder,
// counted for the snapshot's stats; none is held. A plain tree's key order is id order (the CLI
// walks its checkout rows); a keyed tree's (encrypted vaults) is the order of the ids' keyed
// hashes, which keyOrder gives from the ids alone. Kept out of Vault: the browser's engine
// never commits this way and carries only what it uses (test/browser/build-size.test.ts).
import { TreeBuilder, validateEntry, type Entry, type TreeKeying } from "../core/tree.ts";
import type { Address } from "../core/hash.ts";
import { countParts } from "../core/snapshot.ts";
import type { Vault } from "./vault.ts";

/** Whether commitFirst can record `v`'s working state: a vault that never had a snapshot, with no working changes given. */
export function takesFirstCommit(v: Vault): boolean {
  return !v.refs.head && !v.refs.base && !v.headRoot && !v.hasUncommittedChanges;
}

/**
 * The positions of `ids` (distinct) in their tree's key order (the i-th id in key order is
 * ids[order[i]]), the order commitFirst takes their entries in: id
 * order for plain keys; for keyed ones (encrypted vaults, 32-byte keyed hashes) the keys are made
 * once into one buffer and sorted there, not kept as an object each (100,000 keys as objects are
 * ~10 MiB of heap).
 */
export function keyOrder(keying: TreeKeying, ids: readonly string[]): Uint32Array {
  const order = new Uint32Array(ids.length).map((_, i) => i);
  if (keying.plainKeys) return order.sort((x, y) => (ids[x] < ids[y] ? -1 : ids[x] > ids[y] ? 1 : 0));
  const keys = new Uint8Array(ids.length * KEYED_KEY_BYTES);
  ids.forEach((id, i) => {
    const key = keying.keyOf(id);
    if (key.length !== KEYED_KEY_BYTES) throw new RangeError(`a keyed tree key is ${KEYED_KEY_BYTES} bytes, got ${key.length}`);
    keys.set(key, i * KEYED_KEY_BYTES);
  });
  return order.sort((x, y) => {
    for (let a = x * KEYED_KEY_BYTES, b = y * KEYED_KEY_BYTES, end = a + KEYED_KEY_BYTES; a < end; a++, b++) if (keys[a] !== keys[b]) return keys[a] - keys[b];
    return 0;
  });
}

const KEYED_KEY_BYTES = 32;

/**
 * Entries added between two turns of the event loop. An encrypted first commit of 100,000 notes
 * was one synchronous stretch of ~5 s while the scan's last flush and the early upload's requests
 * waited on it; with turns it peaked at 354/355 MiB instead of 375/395, in 43.6/46.5 s instead of
 * 46.4/49.5 (alternating runs; a plain one's peak, in its scan, did not move).
 */
const ENTRIES_PER_TURN = 2048;

/**
 * Records `entries` (in key order: keyOrder) as the first snapshot of `v` (takesFirstCommit), with every
 * object still staged, as commit() would for the same working state (the same snapshot). No
 * entries: nothing is recorded, as commit() does for an empty vault. Throws, recording nothing,
 * on an id out of order or given twice, or if the vault stops taking a first commit meanwhile.
 */
export async function commitFirst(v: Vault, entries: Iterable<Entry>, message?: string): Promise<{ snapshot: Address | null; added: number }> {
  if (!takesFirstCommit(v)) throw new Error("commitFirst: the vault has a snapshot or working changes; use commit()");
  const builder = new TreeBuilder(v.keying);
  const stats = { notes: 0, embeddings: 0, positions: 0 };
  let added = 0;
  for (const e of entries) {
    validateEntry(e);
    builder.add(e); // throws on an id out of order or given twice
    countParts(stats, e);
    if (++added % ENTRIES_PER_TURN === 0) await new Promise((r) => setTimeout(r, 0));
  }
  if (!added) return { snapshot: null, added };
  // The turns above let other work run: a head or working changes that came meanwhile win.
  if (!takesFirstCommit(v)) throw new Error("commitFirst: the vault got a snapshot or working changes while its first tree was built; use commit()");
  // The new head becomes the working state (in either of the vault's modes).
  const { snapshot } = await v.writeSnapshot({ ...builder.finish(), changes: [], stats }, [], message, true);
  return { snapshot, added };
}
