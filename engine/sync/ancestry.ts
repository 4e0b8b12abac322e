// The snapshot DAG: where two heads last agreed (docs/merge.md, "Which ancestor").
//
// lowestCommonAncestors() paints the history down from both heads at once, newest snapshot first,
// and stops as soon as every snapshot still queued is known to lie below a common ancestor: a short
// fork off a long history reads the fork, not the history. Snapshot times only order the walk (a
// wrong clock makes it read more, never answer differently): the answer is exact.
//
// With several lowest common ancestors (criss-cross merges), mergeBase() merges them into one
// virtual ancestor, recursively, as git's "recursive" strategy does. Because our merge is
// symmetric, that virtual ancestor equals the merges the devices already made, so a note deleted
// after a criss-cross stays deleted (picking one of the ancestors instead could revive it).
import type { Address } from "../core/hash.ts";
import { encodeSnapshot } from "../core/snapshot.ts";
import { ObjectType } from "../core/object.ts";
import type { Vault } from "../vault/vault.ts";
import { MissingObjectError } from "../vault/vault.ts";
import { mergeTrees } from "./merge.ts";

const A = 1,
  B = 2,
  STALE = 4;

/** Virtual ancestors nest at most this deep; deeper, the smallest-address ancestor is used. */
const MAX_VIRTUAL_DEPTH = 8;
export const VIRTUAL_DEVICE = "virtual-merge-base";
const VIRTUAL_TIME = "1970-01-01T00:00:00.000Z";

interface Info {
  parents: Address[];
  time: number;
}

/** Snapshot parents and time, memoized. History this device does not hold ends the walk there. */
export class History {
  private infos = new Map<Address, Promise<Info>>();
  /** Snapshots read, for tests of how far a walk goes. */
  reads = 0;
  constructor(readonly v: Vault) {}

  info(addr: Address): Promise<Info> {
    let p = this.infos.get(addr);
    if (!p) {
      this.reads++;
      p = this.v.snapshot(addr).then(
        (s) => {
          const t = Date.parse(s.time);
          return { parents: s.parents, time: Number.isFinite(t) ? t : -Infinity };
        },
        (e) => {
          if (e instanceof MissingObjectError) return { parents: [], time: -Infinity };
          throw e;
        },
      );
      this.infos.set(addr, p);
    }
    return p;
  }
}

/** Max-heap of snapshots by time (newest first), ties by address, so the walk order is fixed. */
class Queue {
  private items: { addr: Address; time: number }[] = [];
  get size(): number {
    return this.items.length;
  }
  private before(x: { addr: Address; time: number }, y: { addr: Address; time: number }): boolean {
    return x.time > y.time || (x.time === y.time && x.addr < y.addr);
  }
  push(addr: Address, time: number): void {
    const h = this.items;
    h.push({ addr, time });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): Address {
    const h = this.items;
    const top = h[0];
    const last = h.pop() as { addr: Address; time: number };
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top.addr;
  }
}

/**
 * Every lowest common ancestor of the snapshot sets `as` and `bs`, sorted: the snapshots reachable
 * from both sets none of whose descendants is. Empty when they share no history.
 */
export async function lowestCommonAncestors(v: Vault, as: readonly Address[], bs: readonly Address[], history = new History(v)): Promise<Address[]> {
  const flags = new Map<Address, number>();
  const queued = new Set<Address>();
  const queue = new Queue();
  let nonStale = 0;
  const enqueue = async (addr: Address, f: number) => {
    const old = flags.get(addr) ?? 0;
    const now = old | f;
    if (now === old) return;
    flags.set(addr, now);
    if (queued.has(addr)) {
      if (!(old & STALE) && now & STALE) nonStale--;
      return;
    }
    const info = await history.info(addr);
    queued.add(addr);
    queue.push(addr, info.time);
    if (!(now & STALE)) nonStale++;
  };
  for (const a of as) await enqueue(a, A);
  for (const b of bs) await enqueue(b, B);
  const found: Address[] = [];
  // Once every queued snapshot is stale (below a common ancestor found), nothing lower can be lowest.
  while (nonStale > 0) {
    const n = queue.pop();
    queued.delete(n);
    let f = flags.get(n) as number;
    if (!(f & STALE)) {
      nonStale--;
      if ((f & (A | B)) === (A | B)) {
        found.push(n);
        f |= STALE;
        flags.set(n, f);
      }
    }
    for (const p of (await history.info(n)).parents) await enqueue(p, f);
  }
  return (await removeRedundant(found, history)).sort();
}

/**
 * Drops candidates that are ancestors of other candidates (a wrong clock can make the walk above meet
 * an older common ancestor before a newer one). Paints down from all candidates, one bit each, and
 * stops once every queued snapshot carries every bit: below that point no candidate can be reached
 * from another.
 */
async function removeRedundant(cands: Address[], history: History): Promise<Address[]> {
  const unique = [...new Set(cands)];
  if (unique.length <= 1) return unique;
  const all = (1n << BigInt(unique.length)) - 1n;
  const bits = new Map<Address, bigint>();
  const queued = new Set<Address>();
  const queue = new Queue();
  let partial = 0;
  const enqueue = async (addr: Address, f: bigint) => {
    const old = bits.get(addr) ?? 0n;
    const now = old | f;
    if (now === old) return;
    bits.set(addr, now);
    if (queued.has(addr)) {
      if (old !== all && now === all) partial--;
      return;
    }
    const info = await history.info(addr);
    queued.add(addr);
    queue.push(addr, info.time);
    if (now !== all) partial++;
  };
  for (let i = 0; i < unique.length; i++) await enqueue(unique[i], 1n << BigInt(i));
  while (partial > 0) {
    const n = queue.pop();
    queued.delete(n);
    const f = bits.get(n) as bigint;
    if (f !== all) partial--;
    for (const p of (await history.info(n)).parents) await enqueue(p, f);
  }
  return unique.filter((c, i) => (bits.get(c) as bigint) === 1n << BigInt(i));
}

/**
 * The ancestor to merge heads `a` and `b` against, or null when they share no history.
 *
 * One lowest common ancestor: that snapshot. Several (criss-cross): a virtual snapshot whose tree is
 * the merge of them all (sorted by address, folded left, each merge against their own merge base,
 * recursively). The virtual snapshot and its tree are staged in the vault, never stored or pushed:
 * `v.snapshot(result)` and the tree are readable until the vault's next writeSnapshot.
 */
export async function mergeBase(v: Vault, a: Address, b: Address): Promise<Address | null> {
  const history = new History(v);
  return resolve(v, history, await lowestCommonAncestors(v, [a], [b], history), 0);
}

/** All lowest common ancestors of two heads (sorted); mergeBase() is built on this. */
export async function mergeBases(v: Vault, a: Address, b: Address): Promise<Address[]> {
  return lowestCommonAncestors(v, [a], [b]);
}

async function resolve(v: Vault, history: History, lcas: Address[], depth: number): Promise<Address | null> {
  if (lcas.length === 0) return null;
  if (lcas.length === 1 || depth >= MAX_VIRTUAL_DEPTH) return lcas[0];
  return virtualAncestor(v, history, lcas, depth);
}

async function virtualAncestor(v: Vault, history: History, lcas: Address[], depth: number): Promise<Address> {
  const first = await v.snapshot(lcas[0]);
  let acc = { starts: [lcas[0]], root: first.root, device: first.device };
  for (const next of lcas.slice(1)) {
    const base = await resolve(v, history, await lowestCommonAncestors(v, acc.starts, [next], history), depth + 1);
    const baseRoot = base ? (await v.snapshot(base)).root : null;
    const ns = await v.snapshot(next);
    const m = await mergeTrees(v, baseRoot, { root: acc.root, device: acc.device }, { root: ns.root, device: ns.device });
    // Staged (readable through v.load), never written to the store: a node only a virtual tree has
    // must not look "already stored" to a later writeSnapshot, or it would never be uploaded.
    for (const bytes of m.tree.nodes.values()) v.stageObject(ObjectType.Tree, bytes);
    acc = { starts: [...acc.starts, next], root: m.tree.root, device: acc.device > ns.device ? acc.device : ns.device };
  }
  const snap = encodeSnapshot({
    parents: lcas,
    root: acc.root,
    device: VIRTUAL_DEVICE,
    time: VIRTUAL_TIME,
    stats: { notes: 0, embeddings: 0, positions: 0 },
    message: "virtual merge base",
  });
  // Named by the vault (SHA-256, or the keyed hash of an encrypted vault), like every object.
  return v.stageObject(ObjectType.Snapshot, snap.bytes);
}
