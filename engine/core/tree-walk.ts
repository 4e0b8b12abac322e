// The changes between two manifest trees, streamed: a depth-first walk of both trees side by side
// in key order, holding one path of nodes per tree (depth x one node's items), not the whole diff.
// diffTrees (tree.ts) decodes every differing leaf and sorts the changes: for a clone of 100,000
// notes that is every entry at once (~40 MiB); this yields them one by one, so a checkout writes
// files as it walks. Equal subtrees (same address at the same point of the walk) are skipped unread.
import { compareBytes } from "./bytes.ts";
import type { Address } from "./hash.ts";
import { decodeNode, entriesEqual, type Entry, type NodeLoader, type TreeChange } from "./tree.ts";

type Item = { node: Address; level: number } | { key: Uint8Array; entry: Entry };

/** One tree's walk: the items still to visit, the next one last (a stack). */
class Cursor {
  private readonly stack: Item[] = [];

  constructor(root: Address | null, private readonly load: NodeLoader) {
    if (root) this.stack.push({ node: root, level: Number.MAX_SAFE_INTEGER });
  }

  get front(): Item | undefined {
    return this.stack[this.stack.length - 1];
  }

  pop(): void {
    this.stack.pop();
  }

  /** Replaces the front node by its items. */
  async expand(): Promise<void> {
    const { node: addr } = this.stack.pop() as { node: Address };
    const n = decodeNode(await this.load(addr));
    if (n.level === 0) {
      const entries = (n as { entries: Entry[] }).entries;
      for (let i = entries.length - 1; i >= 0; i--) this.stack.push({ key: n.keys[i], entry: entries[i] });
    } else {
      const children = (n as { children: { addr: Address }[] }).children;
      for (let i = children.length - 1; i >= 0; i--) this.stack.push({ node: children[i].addr, level: n.level - 1 });
    }
  }
}

const levelOf = (i: Item | undefined) => (i && "node" in i ? i.level : -1);

/** Every entry that differs between tree `before` (null: empty) and tree `after`, in key order. */
export async function* walkTreeDiff(before: Address | null, after: Address | null, load: NodeLoader): AsyncGenerator<TreeChange> {
  if (before === after) return;
  const a = new Cursor(before, load);
  const b = new Cursor(after, load);
  for (;;) {
    const fa = a.front;
    const fb = b.front;
    if (!fa && !fb) return;
    if (fa && fb && "node" in fa && "node" in fb && fa.node === fb.node) {
      a.pop(); // the same subtree on both sides: nothing in it changed
      b.pop();
      continue;
    }
    const la = levelOf(fa);
    const lb = levelOf(fb);
    if (la >= 0 || lb >= 0) {
      // Open the higher node first, so that equal subtrees below it can still meet.
      await (la >= lb ? a : b).expand();
      continue;
    }
    const ea = fa as { key: Uint8Array; entry: Entry } | undefined;
    const eb = fb as { key: Uint8Array; entry: Entry } | undefined;
    const order = !ea ? 1 : !eb ? -1 : compareBytes(ea.key, eb.key);
    if (order < 0) {
      a.pop();
      yield { id: ea!.entry.id, before: ea!.entry };
    } else if (order > 0) {
      b.pop();
      yield { id: eb!.entry.id, after: eb!.entry };
    } else {
      a.pop();
      b.pop();
      if (!entriesEqual(ea!.entry, eb!.entry)) yield { id: eb!.entry.id, before: ea!.entry, after: eb!.entry };
    }
  }
}
