// Which node a new tree node travels against on the push wire (engine/core/delta-frame.ts): the
// node at the same level of the server's tree (the last synced snapshot, which the server holds
// whole) whose key range takes the new node's first key. An edit keeps every boundary, so that is
// the node the new one replaces, and the two differ by the edited entry's addresses.
import { compareBytes } from "../core/bytes.ts";
import type { BaseFinder, DeltaBase } from "../core/delta-frame.ts";
import type { Address } from "../core/hash.ts";
import { decodeNode, nodeHead, type NodeLoader, type TreeNode } from "../core/tree.ts";

type InnerNode = Extract<TreeNode, { children: unknown }>;

export function treeBaseFinder(baseRoot: Address, load: NodeLoader): BaseFinder {
  // Inner nodes are read by every descent: a few hundred at 100,000 notes, kept decoded. Leaves
  // are read once each and only their bytes are needed.
  const inner = new Map<Address, TreeNode>();
  const children = async (addr: Address): Promise<TreeNode> => {
    let node = inner.get(addr);
    if (!node) inner.set(addr, (node = decodeNode(await load(addr))));
    return node;
  };
  let rootLevel: number | null = null;
  return async (_object, bytes): Promise<DeltaBase | null> => {
    const target = nodeHead(bytes); // a node of this device's own pack: one that does not decode is damage, not a reason to send it whole
    const key = target.firstKey;
    if (!key) return null; // the empty tree
    if (rootLevel === null) rootLevel = nodeHead(await load(baseRoot)).level;
    if (rootLevel < target.level) return null; // the base tree is lower than this node
    let addr = baseRoot;
    for (let level = rootLevel; level > target.level; level--) {
      const node = (await children(addr)) as InnerNode; // level > 0: decodeNode gave it children
      let i = node.keys.findIndex((k) => compareBytes(k, key) >= 0);
      if (i < 0) i = node.keys.length - 1;
      addr = node.children[i].addr;
    }
    return { addr, bytes: await load(addr) };
  };
}
