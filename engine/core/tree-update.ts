// Incremental update of the manifest tree (tree.ts): apply a few changes to a stored tree by loading
// and rewriting only the nodes they touch, with a result byte-identical to buildTree of the final
// entry set (the tree is history-independent, so both must name the same root).
//
// Why this works. buildTree's shape is a pure function of the sorted keys (tree-boundary.ts): the
// nodes of level h are the runs of level-h items cut left to right, a cut depending only on the
// items since the last cut (level 0: entries; level h > 0: one item per level-(h-1) node, carrying
// its last key), and the root is the first level with a single node. Past a cut the cutting starts
// afresh, so a change only re-cuts the runs around it:
//
//   - level 0: the leaves holding a changed key are re-cut from their first entry (a cut that did
//     not move) with their changes applied. While the re-cut does not end with a cut exactly at the
//     end of the last leaf read (a deleted key closed it, or an insert shifted the weights), it
//     reads on into the next leaf; once it does, everything after it is cut as before. An insert
//     can split its leaf, a delete join it with the next. Every other leaf stays as it is.
//   - level h > 0: the same, on the parents of the re-cut nodes, whose child lists now name the new
//     nodes; up to the old root. Above it the new top level is grouped like buildTree does, and a
//     root with a single child is replaced by that child (buildTree stops at the first level that
//     has one node).
//
// Loads: the root-to-leaf path of each changed key, plus the next nodes (and their missing
// ancestors) a re-cut run reads on into until it meets an old cut: usually none or one, a few at
// most (measured: bench/tree-cost.ts, docs/design.md): O(changes x depth), never the whole tree.
import { compareBytes } from "./bytes.ts";
import { addressOf, type Address } from "./hash.ts";
import { cutRuns, innerWeight, levelHash } from "./tree-boundary.ts";
import {
  TREE_VERSION,
  buildTree,
  decodeNode,
  encodeInner,
  encodeLeaf,
  entriesEqual,
  iterateTree,
  leafItem,
  nodeVersion,
  validateEntry,
  plainKeying,
  type BuiltTree,
  type Entry,
  type KeyHashCache,
  type NodeLoader,
  type TreeChange,
  type TreeKeying,
} from "./tree.ts";

export interface UpdatedTree extends BuiltTree {
  /**
   * Only the nodes this update created that the old tree did not already hold (the root among
   * them unless it is an old node): what must be stored next to the old tree.
   */
  nodes: Map<Address, Uint8Array>;
  /** Nodes of the old tree this update loaded (the cost; O(changes x depth)). */
  loaded: number;
  /**
   * The changes that changed something, each with the entry it replaced (in no set order): what
   * walkTreeDiff of the old and new roots would find, known here without decoding any leaf again.
   * Absent when nothing changed, every entry was deleted or a format 1 tree was rebuilt (callers
   * walk the diff).
   */
  changes?: TreeChange[];
}

/** A node of the old tree, as loaded: where it sits (parent, index, path) and what it holds. */
interface Loaded {
  addr: Address;
  version: number;
  level: number;
  keys: Uint8Array[];
  entries: Entry[];
  children: { addr: Address; count: number }[];
  parent: Loaded | null;
  index: number;
  /** Child indices from the root: orders the nodes of one level. */
  path: number[];
  kids: Map<number, Promise<Loaded>>;
  resolved: Map<number, Loaded>;
}

/** One item of a level's sequence: an entry (level 0) or a reference to a node of the level below. */
interface Item {
  key: Uint8Array;
  /** Key hash and weight for cutting the level the item sits in (tree-boundary.ts). */
  hash: number;
  weight: number;
  entry?: Entry;
  addr?: Address;
  count: number;
}

interface Change {
  id: string;
  key: Uint8Array;
  entry: Entry | null;
}

function comparePaths(a: Loaded, b: Loaded): number {
  for (let i = 0; i < a.path.length; i++) if (a.path[i] !== b.path[i]) return a.path[i] - b.path[i];
  return 0;
}

/** Index of the child whose range holds `key`: the first whose last key is >= key, else the last one. */
function childIndex(keys: Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid], key) >= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function findKey(keys: Uint8Array[], key: Uint8Array): number {
  if (!keys.length) return -1;
  const i = childIndex(keys, key);
  return compareBytes(keys[i], key) === 0 ? i : -1;
}

/**
 * The tree `root` with `changes` applied (id -> new entry, or null to delete), built from the nodes
 * on the changed paths only. `root` null = no tree yet (the result is buildTree of the entries).
 * Changes that change nothing (an equal entry, the delete of an absent id) are ignored; with none
 * left, the old root comes back with no new nodes. `cache` is a KeyHashCache as buildTree takes.
 * A tree of format version 1 is read whole and rebuilt (version 1 cut its nodes by another rule).
 */
export async function updateTree(
  root: Address | null,
  changes: Map<string, Entry | null>,
  load: NodeLoader,
  keying: TreeKeying = plainKeying,
  cache?: KeyHashCache,
): Promise<UpdatedTree> {
  const hashes: KeyHashCache = cache ?? new Map();
  const address = keying.addressOf ?? addressOf;
  /** A node of level `level` - 1 as an item of level `level`. */
  const childItem = (key: Uint8Array, addr: Address, count: number, level: number): Item => ({ key, hash: levelHash(key, level), weight: innerWeight(key), addr, count });

  const list: Change[] = [];
  const added: TreeChange[] = [];
  for (const [id, entry] of changes) {
    if (entry && entry.id !== id) throw new RangeError(`change for ${id} holds the entry of ${entry.id}`);
    // No tree yet: buildTree keys, sorts and checks the entries; every one is a change, as it is
    // (an initial push's 100,000 entries neither keyed twice nor decoded again by a walk).
    if (root === null) {
      if (entry) added.push({ id, after: entry });
      continue;
    }
    if (entry) validateEntry(entry);
    list.push({ id, key: keying.keyOf(id), entry });
  }
  if (root === null) return { ...buildTree(added.map((c) => c.after!), keying, hashes), loaded: 0, changes: added };
  list.sort((a, b) => compareBytes(a.key, b.key));
  for (let i = 1; i < list.length; i++) if (compareBytes(list[i - 1].key, list[i].key) === 0) throw new RangeError(`two changes for one key (${list[i].id})`);

  let loaded = 0;
  const oldAddrs = new Set<Address>();
  const loadNode = async (addr: Address, parent: Loaded | null, index: number): Promise<Loaded> => {
    const bytes = await load(addr);
    loaded++;
    oldAddrs.add(addr);
    const n = decodeNode(bytes);
    return {
      addr,
      version: nodeVersion(bytes),
      level: n.level,
      keys: n.keys,
      entries: n.level === 0 ? (n as { entries: Entry[] }).entries : [],
      children: n.level === 0 ? [] : (n as { children: { addr: Address; count: number }[] }).children,
      parent,
      index,
      path: parent ? [...parent.path, index] : [],
      kids: new Map(),
      resolved: new Map(),
    };
  };
  const child = (p: Loaded, i: number): Promise<Loaded> => {
    let k = p.kids.get(i);
    if (!k) {
      k = loadNode(p.children[i].addr, p, i).then((n) => {
        p.resolved.set(i, n);
        return n;
      });
      p.kids.set(i, k);
    }
    return k;
  };
  const nextNode = async (n: Loaded): Promise<Loaded | null> => {
    const p = n.parent;
    if (!p) return null;
    if (n.index + 1 < p.children.length) return child(p, n.index + 1);
    const pn = await nextNode(p);
    return pn ? child(pn, 0) : null;
  };

  const rootNode = await loadNode(root, null, 0);
  if (rootNode.version !== TREE_VERSION) return rebuild(root, list, load, keying, hashes);
  const countOf = (n: Loaded) => (n.level === 0 ? n.entries.length : n.children.reduce((s, c) => s + c.count, 0));

  // Down: every changed key to the leaf that holds it (or would), one level at a time so that the
  // loads of a level run concurrently (a batching loader turns them into one round trip).
  let frontier: { node: Loaded; changes: Change[] }[] = list.length ? [{ node: rootNode, changes: list }] : [];
  while (frontier.length && frontier[0].node.level > 0) {
    const next: { node: Loaded; changes: Change[] }[] = [];
    const loads: Promise<void>[] = [];
    for (const { node, changes: cs } of frontier) {
      let start = 0;
      while (start < cs.length) {
        const i = childIndex(node.keys, cs[start].key);
        let end = start + 1;
        while (end < cs.length && childIndex(node.keys, cs[end].key) === i) end++;
        const group = cs.slice(start, end);
        loads.push(child(node, i).then((n) => void next.push({ node: n, changes: group })));
        start = end;
      }
    }
    await Promise.all(loads);
    frontier = next;
  }

  // Leaves with a change that changes something; the entries they replace are at hand here.
  const leafChanges = new Map<Loaded, Change[]>();
  const applied: TreeChange[] = [];
  for (const { node, changes: cs } of frontier) {
    const effective = cs.filter((c) => {
      const before: Entry | undefined = node.entries[findKey(node.keys, c.key)]; // [-1]: absent
      if (c.entry ? before && entriesEqual(before, c.entry) : !before) return false;
      applied.push({ id: c.id, before, after: c.entry ?? undefined });
      return true;
    });
    if (effective.length) leafChanges.set(node, effective);
  }
  if (!leafChanges.size) return { root, count: countOf(rootNode), nodes: new Map(), loaded };

  const built = new Map<Address, { bytes: Uint8Array; children: Address[] }>();
  const entryItem = (key: Uint8Array, entry: Entry): Item => ({ ...leafItem(entry, key, keying, hashes), count: 1 });
  let replaced = new Map<Loaded, Item[]>();

  /** The node's items in the new tree: its changes applied (leaves), its re-cut children substituted (inner nodes). */
  const itemsOf = (n: Loaded): Item[] => {
    const out: Item[] = [];
    if (n.level === 0) {
      const cs = leafChanges.get(n) ?? [];
      let j = 0;
      for (let i = 0; i < n.keys.length; i++) {
        while (j < cs.length && compareBytes(cs[j].key, n.keys[i]) < 0) {
          if (cs[j].entry) out.push(entryItem(cs[j].key, cs[j].entry as Entry));
          j++;
        }
        if (j < cs.length && compareBytes(cs[j].key, n.keys[i]) === 0) {
          if (cs[j].entry) out.push(entryItem(cs[j].key, cs[j].entry as Entry));
          j++;
        } else out.push(entryItem(n.keys[i], n.entries[i]));
      }
      for (; j < cs.length; j++) if (cs[j].entry) out.push(entryItem(cs[j].key, cs[j].entry as Entry));
      return out;
    }
    for (let i = 0; i < n.children.length; i++) {
      const kid = n.resolved.get(i);
      const sub = kid && replaced.get(kid);
      if (sub) out.push(...sub);
      else out.push(childItem(n.keys[i], n.children[i].addr, n.children[i].count, n.level));
    }
    return out;
  };

  /** Cuts a level-`level` sequence into nodes exactly as buildTree does; answers the items for the level above. */
  const cut = (items: Item[], level: number): Item[] =>
    cutRuns(items).runs.map((group) => {
      const bytes = level === 0 ? encodeLeaf(group as { key: Uint8Array; entry: Entry }[], keying) : encodeInner(group as { key: Uint8Array; addr: Address; count: number }[], level);
      const addr = address(bytes);
      built.set(addr, { bytes, children: level === 0 ? [] : group.map((g) => g.addr as Address) });
      return childItem(group[group.length - 1].key, addr, group.reduce((s, g) => s + g.count, 0), level + 1);
    });

  // Up: re-cut the dirty nodes of each level, extending a run into the next node while its cut
  // does not end exactly where the items read end, until the old root has been re-cut.
  let dirty = new Set<Loaded>(leafChanges.keys());
  let level = 0;
  let top: Item[];
  for (;;) {
    const out = new Map<Loaded, Item[]>();
    const consumed = new Set<Loaded>();
    for (const first of [...dirty].sort(comparePaths)) {
      if (consumed.has(first)) continue;
      consumed.add(first);
      const run = [first];
      let items = itemsOf(first);
      let last = first;
      while (cutRuns(items).open) {
        const nx = await nextNode(last);
        if (!nx) break;
        consumed.add(nx);
        run.push(nx);
        items = items.concat(itemsOf(nx));
        last = nx;
      }
      out.set(first, cut(items, level));
      for (const n of run.slice(1)) out.set(n, []);
    }
    const r = out.get(rootNode);
    if (r) {
      top = r;
      break;
    }
    dirty = new Set([...out.keys()].map((n) => n.parent as Loaded));
    replaced = out;
    level++;
  }

  // Above the old root: group like buildTree until one node is left; or, if the tree shrank,
  // descend through single-child roots.
  let rootItem: Item;
  if (!top.length) {
    const empty = buildTree([], keying);
    return { root: empty.root, count: 0, nodes: oldAddrs.has(empty.root) ? new Map() : empty.nodes, loaded };
  }
  if (top.length > 1) {
    let h = level + 1;
    while (top.length > 1) top = cut(top, h++);
    rootItem = top[0];
  } else {
    rootItem = top[0];
    for (;;) {
      const b = built.get(rootItem.addr as Address);
      let kids: { addr: Address; count: number }[];
      let kidKeys: Uint8Array[];
      if (b) {
        const n = decodeNode(b.bytes);
        if (n.level === 0) break;
        kids = (n as { children: { addr: Address; count: number }[] }).children;
        kidKeys = n.keys;
      } else {
        const n = await loadNode(rootItem.addr as Address, null, 0);
        if (n.level === 0) break;
        kids = n.children;
        kidKeys = n.keys;
      }
      if (kids.length !== 1) break;
      rootItem = { key: kidKeys[0], hash: 0, weight: 0, addr: kids[0].addr, count: kids[0].count };
    }
  }

  // The new nodes reachable from the new root (nodes cut and then dropped by a collapse are left out).
  const nodes = new Map<Address, Uint8Array>();
  const stack = [rootItem.addr as Address];
  while (stack.length) {
    const a = stack.pop() as Address;
    const b = built.get(a);
    if (!b || nodes.has(a) || oldAddrs.has(a)) continue;
    nodes.set(a, b.bytes);
    stack.push(...b.children);
  }
  return { root: rootItem.addr as Address, count: rootItem.count, nodes, loaded, changes: applied };
}

/** A version-1 tree with changes applied, rebuilt whole in the current format (loads every node). */
async function rebuild(root: Address, changes: Change[], load: NodeLoader, keying: TreeKeying, hashes: KeyHashCache): Promise<UpdatedTree> {
  let loaded = 0;
  const entries = new Map<string, Entry>();
  const counting: NodeLoader = (addr) => {
    loaded++;
    return load(addr);
  };
  for await (const e of iterateTree(root, counting)) entries.set(e.id, e);
  for (const c of changes) {
    if (c.entry) entries.set(c.id, c.entry);
    else entries.delete(c.id);
  }
  return { ...buildTree(entries.values(), keying, hashes), loaded };
}

/**
 * The entries of these ids in the tree `root` (absent ids are left out), loading only the paths to
 * their leaves, one level at a time (the loads of a level are concurrent).
 */
export async function lookupEntries(root: Address | null, ids: Iterable<string>, load: NodeLoader, keying: TreeKeying = plainKeying): Promise<Map<string, Entry>> {
  const found = new Map<string, Entry>();
  if (root === null) return found;
  const wanted = [...new Set(ids)].map((id) => ({ id, key: keying.keyOf(id) }));
  wanted.sort((a, b) => compareBytes(a.key, b.key));
  let frontier: { addr: Address; keys: typeof wanted }[] = wanted.length ? [{ addr: root, keys: wanted }] : [];
  while (frontier.length) {
    const nodes = await Promise.all(frontier.map(async (f) => ({ f, node: decodeNode(await load(f.addr)) })));
    const next: typeof frontier = [];
    for (const { f, node } of nodes) {
      if (node.level === 0) {
        for (const w of f.keys) {
          const i = findKey(node.keys, w.key);
          if (i >= 0) found.set(w.id, (node as { entries: Entry[] }).entries[i]);
        }
        continue;
      }
      const children = (node as { children: { addr: Address }[] }).children;
      let start = 0;
      while (start < f.keys.length) {
        const i = childIndex(node.keys, f.keys[start].key);
        let end = start + 1;
        while (end < f.keys.length && childIndex(node.keys, f.keys[end].key) === i) end++;
        // Keys past the last child's last key are in no leaf.
        if (compareBytes(f.keys[start].key, node.keys[i]) <= 0) next.push({ addr: children[i].addr, keys: f.keys.slice(start, end).filter((k) => compareBytes(k.key, node.keys[i]) <= 0) });
        start = end;
      }
    }
    frontier = next;
  }
  return found;
}
