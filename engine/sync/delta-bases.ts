// Which node a new tree node travels against on the push wire (engine/core/delta-frame.ts): the
// node at the same level of the server's tree (the last synced snapshot, which the server holds
// whole) whose key range takes the new node's first key. An edit keeps every boundary, so that is
// the node the new one replaces, and the two differ by the edited entry's addresses.
import { compareBytes } from "../core/bytes.ts";
import type { BaseFinder, DeltaBase } from "../core/delta-frame.ts";
import type { Address } from "../core/hash.ts";
import { decodeNode, type NodeLoader, type TreeNode } from "../core/tree.ts";

export function treeBaseFinder(baseRoot: Address, load: NodeLoader): BaseFinder {
  // Inner nodes are read by every descent: a few hundred at 100,000 notes, kept decoded.
  const inner = new Map<Address, { bytes: Uint8Array; node: TreeNode }>();
  const read = async (addr: Address) => {
    const hit = inner.get(addr);
    if (hit) return hit;
    const bytes = await load(addr);
    const node = decodeNode(bytes);
    if (node.level > 0) inner.set(addr, { bytes, node });
    return { bytes, node };
  };
  return async (_object, bytes): Promise<DeltaBase | null> => {
    let target: TreeNode;
    try {
      target = decodeNode(bytes);
    } catch {
      return null;
    }
    const key = target.keys[0];
    if (!key) return null; // the empty tree
    let addr = baseRoot;
    for (;;) {
      const { bytes: baseBytes, node } = await read(addr);
      if (node.level < target.level) return null; // the base tree is lower than this node
      if (node.level === target.level) return { addr, bytes: baseBytes };
      if (!("children" in node)) return null;
      let i = node.keys.findIndex((k) => compareBytes(k, key) >= 0);
      if (i < 0) i = node.keys.length - 1;
      addr = node.children[i].addr;
    }
  };
}
