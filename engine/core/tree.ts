// The manifest: a history-independent Merkle tree (a prolly tree whose boundaries depend on keys
// only) mapping note id -> addresses of its parts.
//
// Where a node ends is decided by the hash of a key and the bytes the node already holds
// (tree-boundary.ts), never by values or by the order of edits, so one set of entries always gives
// the same nodes and the same root, nodes stay between ~0.5 and 4 KB, and editing one note rewrites
// only the nodes on its path (docs/design.md, "Manifest tree").
//
//   node       := "PNT" | version u8 (=2; 1 is still read) | level u8 | count varint | entry*
//   leaf entry := key (varint len + bytes) | flags u8 | [name] | [note addr] | [dims varint, embedding addr] | [position addr]
//   flags      := 0x01 note | 0x02 note is a chunk list | 0x04 embedding | 0x08 position | 0x10 name follows key
//   inner entry:= lastKey (varint len + bytes) | child addr [32] | entries below varint
import { ByteReader, ByteWriter, FormatError, compareBytes, fromHex, fromUtf8, toHex, utf8 } from "./bytes.ts";
import { ADDRESS_BYTES, addressOf, type Address } from "./hash.ts";
import { isNoteId } from "./parts.ts";
import { closesAfter, innerWeight, leafWeight, levelHash } from "./tree-boundary.ts";

export interface Entry {
  id: string;
  /** Note JSON blob, or its chunk list when `chunked`. */
  note?: Address;
  chunked?: boolean;
  embedding?: Address;
  /** float32 count of the embedding: recorded, never guessed from a length. */
  dims?: number;
  position?: Address;
}

const MAGIC = [0x50, 0x4e, 0x54]; // "PNT"
/** Version 2: size-aware boundaries. Version 1 (key-hash-only boundaries) has the same layout and is still read. */
export const TREE_VERSION = 2;
const F_NOTE = 0x01,
  F_CHUNKED = 0x02,
  F_EMBEDDING = 0x04,
  F_POSITION = 0x08,
  F_NAME = 0x10;
export const MAX_KEY_BYTES = 256;
/** Deeper than any tree the rule can build (every node but a level's last has >= 2 items). */
const MAX_LEVEL = 64;

export interface TreeKeying {
  /** Sort key of an id. Plain vaults: its UTF-8 bytes. Encrypted vaults: a keyed hash (the id then travels as `name`). */
  keyOf(id: string): Uint8Array;
  plainKeys: boolean;
  /** Address of a node's bytes. Plain vaults: SHA-256 (the default). Encrypted vaults: the vault's keyed hash. */
  addressOf?(bytes: Uint8Array): Address;
}

export const plainKeying: TreeKeying = { keyOf: utf8, plainKeys: true };

/** A leaf entry as the boundary rule sees it: its key, its level-0 hash and its weight. */
export interface LeafItem {
  key: Uint8Array;
  hash: number;
  weight: number;
  entry: Entry;
}
/** A node as an item of the level above: its last key, address and entry count. */
export interface ChildItem {
  key: Uint8Array;
  addr: Address;
  count: number;
}

export interface BuiltTree {
  root: Address;
  count: number;
  /** Every node of the tree, root included. Unchanged nodes come out with unchanged addresses. */
  nodes: Map<Address, Uint8Array>;
}

/** Cache of id -> level-0 key hash, kept by a long-lived caller so rebuilding a 100k-entry tree hashes no key twice. */
export type KeyHashCache = Map<string, number>;

/** A leaf item for `entry`, its hash taken from (and put in) the cache. */
export function leafItem(entry: Entry, key: Uint8Array, keying: TreeKeying, cache?: KeyHashCache): LeafItem {
  let hash = cache?.get(entry.id);
  if (hash === undefined) {
    hash = levelHash(key, 0);
    cache?.set(entry.id, hash);
  }
  return { key, hash, weight: leafWeight(key, keying.plainKeys ? null : entry.id), entry };
}

export function buildTree(entries: Iterable<Entry>, keying: TreeKeying = plainKeying, cache?: KeyHashCache): BuiltTree {
  const all = [...entries];
  for (const entry of all) validateEntry(entry);
  const b = new TreeBuilder(keying, cache);
  if (keying.plainKeys) {
    // A plain key is the id's UTF-8, and ids are ASCII (validateEntry): id order is key order, so
    // no key is made before its entry's turn.
    all.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    for (const entry of all) b.add(entry);
  } else {
    const keyed = all.map((entry) => ({ key: keying.keyOf(entry.id), entry }));
    keyed.sort((x, y) => compareBytes(x.key, y.key));
    for (const { key, entry } of keyed) b.add(entry, key);
  }
  return b.finish();
}

/**
 * buildTree's nodes, made as the entries come in key order: each level keeps only its open run and
 * closes a node where the boundary rule says (as cutRuns would over the whole level), so no level
 * is ever held whole (an initial push's 100,000 leaf items and their runs were ~30 MiB at once).
 */
export class TreeBuilder {
  readonly nodes = new Map<Address, Uint8Array>();
  private readonly levels: { run: (LeafItem | (ChildItem & { hash: number; weight: number }))[]; weight: number; closed: number }[] = [];
  private lastKey: Uint8Array | null = null;
  private readonly address: (bytes: Uint8Array) => Address;

  constructor(
    private readonly keying: TreeKeying = plainKeying,
    private readonly cache?: KeyHashCache,
  ) {
    this.address = keying.addressOf ?? addressOf;
  }

  /** Adds the next entry (validated by the caller): its key must follow the last one's. */
  add(entry: Entry, key: Uint8Array = this.keying.keyOf(entry.id)): void {
    if (this.lastKey) {
      const c = compareBytes(this.lastKey, key);
      if (c === 0) throw new RangeError(`duplicate id ${entry.id}`);
      if (c > 0) throw new RangeError(`entry ${entry.id} out of key order`);
    }
    this.lastKey = key;
    this.push(0, leafItem(entry, key, this.keying, this.cache));
  }

  /** The tree of everything added: the open run of each level closed, bottom up, up to a single node. */
  finish(): BuiltTree {
    if (!this.levels.length) {
      const bytes = encodeLeaf([], this.keying);
      const root = this.address(bytes);
      this.nodes.set(root, bytes);
      return { root, count: 0, nodes: this.nodes };
    }
    for (let level = 0; ; level++) {
      const l = this.levels[level];
      // A level of one node (its only item, nothing closed before): that node is the root.
      if (level > 0 && l.closed === 0 && l.run.length === 1) {
        const top = l.run[0] as ChildItem;
        return { root: top.addr, count: top.count, nodes: this.nodes };
      }
      if (l.run.length) this.close(level);
    }
  }

  private push(level: number, item: LeafItem | (ChildItem & { hash: number; weight: number })): void {
    const l = (this.levels[level] ??= { run: [], weight: 0, closed: 0 });
    l.run.push(item);
    if (closesAfter(l.weight, item.weight, item.hash)) this.close(level);
    else l.weight += item.weight;
  }

  private close(level: number): void {
    const l = this.levels[level];
    const run = l.run;
    l.run = [];
    l.weight = 0;
    l.closed++;
    const bytes = level === 0 ? encodeLeaf(run as LeafItem[], this.keying) : encodeInner(run as ChildItem[], level);
    const addr = this.address(bytes);
    this.nodes.set(addr, bytes);
    const key = run[run.length - 1].key;
    const count = level === 0 ? run.length : (run as ChildItem[]).reduce((n, c) => n + c.count, 0);
    this.push(level + 1, { key, addr, count, hash: levelHash(key, level + 1), weight: innerWeight(key) });
  }
}

/** Refuses what buildTree and updateTree must never write; exported for the incremental update. */
export function validateEntry(e: Entry): void {
  // An id becomes a file name on every device (cli/vault-folder.ts): "../x" or "/x" would escape the vault folder.
  if (!isNoteId(e.id)) throw new RangeError(`entry id ${JSON.stringify(e.id).slice(0, 80)} is not a note id ([A-Za-z0-9._-]{1,128}, not "." or "..")`);
  if (!e.note && !e.embedding && !e.position) throw new RangeError(`entry ${e.id} has no parts`);
  if (e.embedding && !(Number.isInteger(e.dims) && (e.dims as number) > 0)) throw new RangeError(`entry ${e.id}: embedding without dims`);
  if (e.chunked && !e.note) throw new RangeError(`entry ${e.id}: chunked without note`);
}

function header(w: ByteWriter, level: number, count: number): void {
  w.byte(MAGIC[0]).byte(MAGIC[1]).byte(MAGIC[2]).byte(TREE_VERSION).byte(level).varint(count);
}

/** The bytes of a leaf holding these entries (sorted by key). */
export function encodeLeaf(items: readonly { key: Uint8Array; entry: Entry }[], keying: TreeKeying): Uint8Array {
  const w = new ByteWriter(items.length * 140 + 8);
  header(w, 0, items.length);
  for (const { key, entry: e } of items) {
    w.lenBytes(key);
    const named = !keying.plainKeys;
    w.byte((e.note ? F_NOTE : 0) | (e.chunked ? F_CHUNKED : 0) | (e.embedding ? F_EMBEDDING : 0) | (e.position ? F_POSITION : 0) | (named ? F_NAME : 0));
    if (named) w.lenBytes(utf8(e.id));
    if (e.note) w.bytes(fromHex(e.note));
    if (e.embedding) w.varint(e.dims as number).bytes(fromHex(e.embedding));
    if (e.position) w.bytes(fromHex(e.position));
  }
  return w.finish();
}

/** The bytes of a level-`level` node over these children (sorted by key). */
export function encodeInner(items: readonly ChildItem[], level: number): Uint8Array {
  const w = new ByteWriter(items.length * 80 + 8);
  header(w, level, items.length);
  for (const c of items) w.lenBytes(c.key).bytes(fromHex(c.addr)).varint(c.count);
  return w.finish();
}

export type TreeNode =
  | { level: 0; keys: Uint8Array[]; entries: Entry[] }
  | { level: number; keys: Uint8Array[]; children: { addr: Address; count: number }[] };

/** Format version of a node (its byte 3): 1 or 2. A tree is written whole by one version. */
export function nodeVersion(bytes: Uint8Array): number {
  return bytes[3];
}

/** Magic, version and level: the start of every node. */
function readNodeStart(r: ByteReader): number {
  for (const m of MAGIC) if (r.byte() !== m) throw new FormatError("not a tree node");
  const version = r.byte();
  if (version !== TREE_VERSION && version !== 1) throw new FormatError("unsupported tree node version");
  const level = r.byte();
  if (level > MAX_LEVEL) throw new FormatError(`tree level ${level}`);
  return level;
}

/** A node's level and first key, read from its first bytes only (no entries decoded); null key for the empty tree. */
export function nodeHead(bytes: Uint8Array): { level: number; firstKey: Uint8Array | null } {
  const r = new ByteReader(bytes);
  const level = readNodeStart(r);
  return { level, firstKey: r.varint() ? r.lenBytes(MAX_KEY_BYTES) : null };
}

export function decodeNode(bytes: Uint8Array): TreeNode {
  const r = new ByteReader(bytes);
  const level = readNodeStart(r);
  const count = r.varint();
  if (count > bytes.length) throw new FormatError("tree node count exceeds its size");
  const keys: Uint8Array[] = [];
  const readKey = () => {
    const k = r.lenBytes(MAX_KEY_BYTES);
    const prev = keys[keys.length - 1];
    if (prev && compareBytes(prev, k) >= 0) throw new FormatError("tree node keys out of order");
    keys.push(k);
    return k;
  };
  const addr = () => toHex(r.bytes(ADDRESS_BYTES));
  if (level === 0) {
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const key = readKey();
      const flags = r.byte();
      if (flags & ~0x1f || !(flags & (F_NOTE | F_EMBEDDING | F_POSITION)) || (flags & F_CHUNKED && !(flags & F_NOTE))) throw new FormatError(`bad entry flags ${flags}`);
      let id: string;
      try {
        id = fromUtf8(flags & F_NAME ? r.lenBytes(MAX_KEY_BYTES) : key);
      } catch {
        throw new FormatError("entry id is not UTF-8");
      }
      // Checked on decode too, so no device (nor the Worker) takes a tree that names a path outside the vault.
      if (!isNoteId(id)) throw new FormatError(`entry id ${JSON.stringify(id).slice(0, 80)} is not a note id`);
      const e: Entry = { id };
      if (flags & F_NOTE) e.note = addr();
      if (flags & F_CHUNKED) e.chunked = true;
      if (flags & F_EMBEDDING) {
        e.dims = r.varint();
        if (e.dims === 0) throw new FormatError("embedding of 0 dims");
        e.embedding = addr();
      }
      if (flags & F_POSITION) e.position = addr();
      entries.push(e);
    }
    r.end("tree leaf");
    return { level: 0, keys, entries };
  }
  const children: { addr: Address; count: number }[] = [];
  for (let i = 0; i < count; i++) {
    readKey();
    children.push({ addr: addr(), count: r.varint() });
  }
  if (count === 0) throw new FormatError("empty inner node");
  r.end("tree node");
  return { level, keys, children };
}

/** Addresses of the blobs (or chunk lists) an entry points at. */
export function entryRefs(e: Entry): Address[] {
  const out: Address[] = [];
  if (e.note) out.push(e.note);
  if (e.embedding) out.push(e.embedding);
  if (e.position) out.push(e.position);
  return out;
}

export function entriesEqual(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b) return a === b;
  return a.note === b.note && !!a.chunked === !!b.chunked && a.embedding === b.embedding && a.dims === b.dims && a.position === b.position;
}

export type NodeLoader = (addr: Address) => Promise<Uint8Array>;

export async function* iterateTree(root: Address, load: NodeLoader): AsyncGenerator<Entry> {
  const node = decodeNode(await load(root));
  if (node.level === 0) {
    yield* (node as { entries: Entry[] }).entries;
    return;
  }
  for (const c of (node as { children: { addr: Address }[] }).children) yield* iterateTree(c.addr, load);
}

export async function lookup(root: Address, key: Uint8Array, load: NodeLoader): Promise<Entry | undefined> {
  let node = decodeNode(await load(root));
  while (node.level > 0) {
    const i = node.keys.findIndex((k) => compareBytes(key, k) <= 0);
    if (i < 0) return undefined;
    node = decodeNode(await load((node as { children: { addr: Address }[] }).children[i].addr));
  }
  const i = node.keys.findIndex((k) => compareBytes(k, key) === 0);
  return i < 0 ? undefined : (node as { entries: Entry[] }).entries[i];
}

export async function treeCount(root: Address, load: NodeLoader): Promise<number> {
  const node = decodeNode(await load(root));
  return node.level === 0 ? node.keys.length : (node as { children: { count: number }[] }).children.reduce((n, c) => n + c.count, 0);
}

export interface TreeChange {
  id: string;
  before?: Entry;
  after?: Entry;
}

export interface TreeDiff {
  changes: TreeChange[];
  /** Nodes reachable from `after` but not from `before`: what a push of `after` must upload. */
  newNodes: Address[];
}

/**
 * Changes from tree `before` to tree `after`, touching only the nodes that differ: subtrees with
 * the same address are equal and skipped, so cost follows the size of the change, not the vault.
 */
export async function diffTrees(before: Address | null, after: Address, load: NodeLoader): Promise<TreeDiff> {
  type Side = Map<Address, TreeNode>;
  const a: Side = new Map();
  const b: Side = new Map();
  const newNodes = new Set<Address>();
  const aEntries: Entry[] = [];
  const bEntries: Entry[] = [];
  const loadInto = async (side: Side, addr: Address, isNew: boolean) => {
    side.set(addr, decodeNode(await load(addr)));
    if (isNew) newNodes.add(addr);
  };
  if (before !== after) await Promise.all([before ? loadInto(a, before, false) : null, loadInto(b, after, true)]);
  for (;;) {
    // Equal addresses are equal subtrees: drop them from both sides before looking deeper.
    for (const addr of [...a.keys()]) {
      if (b.has(addr)) {
        a.delete(addr);
        b.delete(addr);
        newNodes.delete(addr);
      }
    }
    let top = 0;
    for (const n of a.values()) top = Math.max(top, n.level);
    for (const n of b.values()) top = Math.max(top, n.level);
    if (top === 0) break;
    const expand = (side: Side) => {
      const kids: Address[] = [];
      for (const [addr, n] of side) {
        if (n.level !== top) continue;
        side.delete(addr);
        for (const c of (n as { children: { addr: Address }[] }).children) kids.push(c.addr);
      }
      return kids;
    };
    const ak = expand(a);
    const bk = expand(b);
    const inB = new Set(bk);
    const shared = new Set(ak.filter((x) => inB.has(x)));
    await Promise.all([
      ...ak.filter((x) => !shared.has(x) && !a.has(x)).map((x) => loadInto(a, x, false)),
      ...bk.filter((x) => !shared.has(x) && !b.has(x)).map((x) => loadInto(b, x, true)),
    ]);
  }
  for (const n of a.values()) aEntries.push(...(n as { entries: Entry[] }).entries);
  for (const n of b.values()) bEntries.push(...(n as { entries: Entry[] }).entries);
  const byId = new Map<string, TreeChange>();
  for (const e of aEntries) byId.set(e.id, { id: e.id, before: e });
  for (const e of bEntries) {
    const c = byId.get(e.id);
    if (c) c.after = e;
    else byId.set(e.id, { id: e.id, after: e });
  }
  const changes = [...byId.values()].filter((c) => !entriesEqual(c.before, c.after));
  changes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return { changes, newNodes: [...newNodes] };
}
