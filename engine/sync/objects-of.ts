// What a snapshot references, object by object: its type, the frame codec it packs best with, and
// the notes it belongs to. `verify` names the notes that damage touches; repair and the re-upload
// after `missing_objects` re-pack objects from the local store with it (engine/sync/repair.ts).
import type { Address } from "../core/hash.ts";
import { ObjectType } from "../core/object.ts";
import { Codec } from "../core/pack.ts";
import { decodeChunkList } from "../core/chunklist.ts";
import { diffTrees } from "../core/tree.ts";
import type { Vault } from "../vault/vault.ts";

export interface ObjectUse {
  type: ObjectType;
  /** As PackBuilder.add takes it: true gzip, false stored, or a codec (embeddings: shuffle4). */
  codec: boolean | Codec;
  /** Note ids whose parts this object is (empty for tree nodes and the snapshot). */
  notes: string[];
}

export type ObjectMap = Map<Address, ObjectUse>;

/** An empty leaf ("PNT", v1, level 0, no entries): what an unreadable node counts as in a tolerant walk. */
const EMPTY_LEAF = new Uint8Array([0x50, 0x4e, 0x54, 0x01, 0x00, 0x00]);

export interface ObjectsOfOptions {
  /**
   * Only what `snapshot` has that this snapshot's tree lacks (the size of the change): what a
   * remote that holds `since` whole may still need.
   */
  since?: Address | null;
  /**
   * Collect objects that cannot be read here (address -> error) instead of failing: an unreadable
   * tree node is walked as empty, so the rest of the tree is still listed (verify).
   */
  unreadable?: Map<Address, string>;
}

export async function objectsOf(v: Vault, snapshot: Address, opts: ObjectsOfOptions = {}): Promise<ObjectMap> {
  const out: ObjectMap = new Map();
  const add = (addr: Address, type: ObjectType, codec: boolean | Codec, note?: string) => {
    let u = out.get(addr);
    if (!u) out.set(addr, (u = { type, codec, notes: [] }));
    if (note && !u.notes.includes(note)) u.notes.push(note);
  };
  const failed = (addr: Address, e: unknown) => {
    if (!opts.unreadable) throw e;
    opts.unreadable.set(addr, (e as Error).message);
  };
  add(snapshot, ObjectType.Snapshot, true);
  let root: Address;
  let sinceRoot: Address | null = null;
  try {
    root = (await v.snapshot(snapshot)).root;
    if (opts.since) sinceRoot = await v.rootOf(opts.since);
  } catch (e) {
    failed(snapshot, e);
    return out;
  }
  const load = async (addr: Address) => {
    try {
      return await v.load(addr);
    } catch (e) {
      failed(addr, e);
      return EMPTY_LEAF;
    }
  };
  const diff = await diffTrees(sinceRoot, root, load);
  for (const n of diff.newNodes) add(n, ObjectType.Tree, false);
  // A node that could not be read is listed too (diffTrees saw it as an empty leaf, so as new or equal).
  if (opts.unreadable) for (const a of opts.unreadable.keys()) if (a !== snapshot) add(a, ObjectType.Tree, false);
  for (const c of diff.changes) {
    const e = c.after;
    if (!e) continue;
    if (e.note && e.chunked) {
      add(e.note, ObjectType.ChunkList, false, e.id);
      let list: Uint8Array | null = null;
      try {
        list = await v.load(e.note);
      } catch (err) {
        failed(e.note, err);
      }
      if (list) for (const ch of decodeChunkList(list).chunks) add(ch.addr, ObjectType.Blob, true, e.id);
    } else if (e.note) add(e.note, ObjectType.Blob, true, e.id);
    if (e.embedding) add(e.embedding, ObjectType.Blob, Codec.Shuffle4Gzip, e.id);
    if (e.position) add(e.position, ObjectType.Blob, true, e.id);
  }
  return out;
}

/** The notes a set of objects touches, sorted. */
export function notesOf(objects: ObjectMap, addrs: Iterable<Address>): string[] {
  const ids = new Set<string>();
  for (const a of addrs) for (const id of objects.get(a)?.notes ?? []) ids.add(id);
  return [...ids].sort();
}
