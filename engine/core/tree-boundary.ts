// Where the manifest tree's nodes end (tree format 2; docs/design.md, "The manifest tree").
//
// A node closes after an item when the item's key hash falls under a threshold that grows with
// the bytes the node already holds, and always once it holds MAX_NODE_WEIGHT. Nodes are therefore
// never empty-ish and never huge (v1 cut on the key hash alone: 1 in 16 keys closed a leaf, which
// gave geometric node sizes and leaves of 150 entries). Sizes count as "weights": an upper bound of
// the item's encoded bytes computed from its key (and name) alone, never from its values, so the
// shape of the tree stays a function of the set of keys: editing a note's parts moves no boundary.
//
// Everything here is integer arithmetic exact in float64, so every runtime cuts the same nodes.
import { utf8 } from "./bytes.ts";
import { sha256 } from "./hash.ts";

/** Below this weight a node never closes by its hash (so nodes hold at least ~4 entries, ~7 children). */
export const MIN_NODE_WEIGHT = 512;
/** At this weight a node closes whatever the hash: its bytes stay under this + one item + 6 header bytes. */
export const MAX_NODE_WEIGHT = 4096;
/**
 * The chance that an item of weight w closes a node holding s >= MIN bytes (itself included) is
 * w * (s - MIN) / 2^19: a per-byte rate that grows linearly, so node weights follow MIN plus a
 * Rayleigh tail (sigma = 2^9.5 = 724 B): mean ~1.42 KB, 99th percentile ~2.7 KB, MAX reached about
 * once in 200,000 nodes.
 */
const RATE_SHIFT = 32 - 19;

const varintLength = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/**
 * Upper bound of a leaf entry's bytes: key, name (encrypted vaults), flags, three addresses and a
 * 3-byte dims varint (dims < 2^21), whichever parts the entry has.
 */
export function leafWeight(key: Uint8Array, id: string | null): number {
  const name = id === null ? 0 : utf8(id).length;
  return varintLength(key.length) + key.length + (id === null ? 0 : varintLength(name) + name) + 1 + 32 + 3 + 32 + 32;
}

/** Upper bound of an inner entry's bytes: last key, child address, a 4-byte count varint (< 2^28 entries). */
export function innerWeight(key: Uint8Array): number {
  return varintLength(key.length) + key.length + 32 + 4;
}

/** The key's hash for cutting level `level`: a big-endian u32 of SHA-256(level u8 | key), independent per level. */
export function levelHash(key: Uint8Array, level: number): number {
  const input = new Uint8Array(key.length + 1);
  input[0] = level;
  input.set(key, 1);
  const d = sha256(input);
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

/** Whether a node holding `before` bytes closes after adding an item of `weight` bytes with this hash. */
export function closesAfter(before: number, weight: number, hash: number): boolean {
  const s = before + weight;
  if (s >= MAX_NODE_WEIGHT) return true;
  if (s <= MIN_NODE_WEIGHT) return false;
  return hash < weight * (s - MIN_NODE_WEIGHT) * 2 ** RATE_SHIFT;
}

export interface Cuttable {
  weight: number;
  hash: number;
}

/**
 * A level's items (in key order) cut into the runs that become its nodes. `open` is true when the
 * last run ended with the items, not on a boundary: at the end of a level it still makes a node,
 * but an incremental update must read on into the next node first (tree-update.ts).
 */
export function cutRuns<T extends Cuttable>(items: readonly T[]): { runs: T[][]; open: boolean } {
  const runs: T[][] = [];
  let start = 0;
  let weight = 0;
  for (let i = 0; i < items.length; i++) {
    if (closesAfter(weight, items[i].weight, items[i].hash)) {
      runs.push(items.slice(start, i + 1));
      start = i + 1;
      weight = 0;
    } else weight += items[i].weight;
  }
  const open = start < items.length;
  if (open) runs.push(items.slice(start));
  return { runs, open };
}
