// updateTree: an incremental update must give exactly buildTree's tree of the final entry set, while
// loading only O(changes x depth) nodes of the old tree.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { bytesEqual, toHex, utf8 } from "../../engine/core/bytes.ts";
import { addressOf, hmacSha256, portableSha256, useNativeSha256, type Address } from "../../engine/core/hash.ts";
import { nodeSha256 } from "../../engine/node/native.ts";
import { buildTree, decodeNode, iterateTree, plainKeying, type BuiltTree, type Entry, type TreeKeying } from "../../engine/core/tree.ts";
import { lookupEntries, updateTree } from "../../engine/core/tree-update.ts";
import { walkTreeDiff } from "../../engine/core/tree-walk.ts";
import { rng, shuffle } from "./util.ts";

beforeAll(() => useNativeSha256(nodeSha256));
afterAll(() => useNativeSha256(portableSha256));

const A = (s: string): Address => addressOf(utf8(s));

function entryOf(id: string, version: number): Entry {
  const e: Entry = { id, note: A(`${id}/note/${version}`) };
  if (version % 3 !== 1) Object.assign(e, { embedding: A(`${id}/emb/${version}`), dims: 384 });
  if (version % 2 === 0) e.position = A(`${id}/pos/${version}`);
  return e;
}

/** A loader over several node maps that counts what it is asked for. */
function counting(...maps: Map<Address, Uint8Array>[]) {
  const c = {
    loads: 0,
    load: async (addr: Address): Promise<Uint8Array> => {
      c.loads++;
      for (const m of maps) {
        const b = m.get(addr);
        if (b) return b;
      }
      throw new Error(`no node ${addr}`);
    },
  };
  return c;
}

const levels = (t: BuiltTree) => decodeNode(t.nodes.get(t.root)!).level + 1;

interface Case {
  n: number;
  seed: number;
  inserts: number;
  updates: number;
  deletes: number;
  boundaryDeletes: number;
  absentDeletes: number;
  clear: boolean;
}

/** A base set of `n` ids and a change set built from the case, with the final entries. */
function scenario(c: Case, keying: TreeKeying = plainKeying) {
  const random = rng(c.seed);
  const pool = [...new Set(shuffle(
    Array.from({ length: c.n + c.inserts + c.absentDeletes + 5 }, (_, i) => `id-${(i * 7919 + c.seed) % 100_000}`),
    random,
  ))];
  const baseIds = pool.slice(0, c.n);
  const base = new Map(baseIds.map((id) => [id, entryOf(id, 0)]));
  const changes = new Map<string, Entry | null>();
  const fresh = pool.slice(c.n);
  for (let i = 0; i < c.inserts && fresh.length; i++) {
    const id = fresh.shift()!;
    changes.set(id, entryOf(id, Math.floor(random() * 5)));
  }
  for (let i = 0; i < c.absentDeletes && fresh.length; i++) changes.set(fresh.shift()!, null);
  const pick = () => baseIds[Math.floor(random() * baseIds.length)];
  if (baseIds.length) {
    for (let i = 0; i < c.updates; i++) {
      const id = pick();
      // Version 0 is the stored one: an update to it changes nothing (a no-op change).
      changes.set(id, entryOf(id, Math.floor(random() * 4)));
    }
    for (let i = 0; i < c.deletes; i++) changes.set(pick(), null);
    // Keys that close a node (the last key of a leaf): deleting them moves a cut, often joining nodes.
    const lastKeys = new Set<string>();
    for (const b of buildTree(base.values(), keying).nodes.values()) {
      const node = decodeNode(b);
      if (node.level === 0 && node.keys.length) lastKeys.add(toHex(node.keys[node.keys.length - 1]));
    }
    const boundaries = baseIds.filter((id) => lastKeys.has(toHex(keying.keyOf(id))));
    for (let i = 0; i < c.boundaryDeletes && boundaries.length; i++) changes.set(boundaries[Math.floor(random() * boundaries.length)], null);
  }
  if (c.clear) for (const id of baseIds) changes.set(id, null);
  const final = new Map(base);
  for (const [id, e] of changes) {
    if (e) final.set(id, e);
    else final.delete(id);
  }
  return { base: [...base.values()], changes, final: [...final.values()] };
}

async function check(c: Case, keying: TreeKeying = plainKeying) {
  const { base, changes, final } = scenario(c, keying);
  const old = buildTree(base, keying);
  const want = buildTree(final, keying);
  const loader = counting(old.nodes);
  const got = await updateTree(old.root, changes, loader.load, keying);
  expect(got.root).toBe(want.root);
  expect(got.count).toBe(final.length);
  expect(got.loaded).toBe(loader.loads);
  // Exactly the nodes to store: every node of the new tree that the old one lacks, and nothing
  // that is not a node of the new tree.
  for (const [addr, bytes] of want.nodes) if (!old.nodes.has(addr)) expect(bytesEqual(got.nodes.get(addr) ?? new Uint8Array(0), bytes), `new node ${addr}`).toBe(true);
  for (const addr of got.nodes.keys()) expect(want.nodes.has(addr)).toBe(true);
  // O(changes x depth) loads.
  const depth = levels(old);
  expect(loader.loads).toBeLessThanOrEqual(2 * (changes.size + 1) * (depth + 1));
  // The changes it reports are the walk of both trees, entry for entry.
  const walked = [];
  for await (const ch of walkTreeDiff(old.root, got.root, counting(old.nodes, got.nodes, want.nodes).load)) walked.push(ch);
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  // Reported wherever the commit needs them (an old tree that changed and is not emptied); else absent.
  if (base.length && final.length && got.root !== old.root) expect(got.changes).toBeDefined();
  if (got.changes) expect([...got.changes].sort(byId)).toEqual(walked.sort(byId));
  if (!base.length) {
    // No tree at all (null, a first commit): the same tree, and every entry reported as added.
    const fromNull = await updateTree(null, changes, counting().load, keying);
    expect(fromNull.root).toBe(want.root);
    const added = [];
    for await (const ch of walkTreeDiff(null, want.root, counting(want.nodes).load)) added.push(ch);
    expect([...(fromNull.changes ?? [])].sort(byId)).toEqual(added.sort(byId));
  }
  return { loads: loader.loads, changes: changes.size, depth, oldNodes: old.nodes.size };
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  n: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 3000 })),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  inserts: fc.integer({ min: 0, max: 40 }),
  updates: fc.integer({ min: 0, max: 30 }),
  deletes: fc.integer({ min: 0, max: 30 }),
  boundaryDeletes: fc.integer({ min: 0, max: 12 }),
  absentDeletes: fc.integer({ min: 0, max: 3 }),
  clear: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
});

describe("updateTree", () => {
  it("gives buildTree's root for random base sets and change sets (property)", async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await check(c);
      }),
      { numRuns: 150 },
    );
  });

  it("handles the corner cases: empty tree, emptying, no-ops, single leaf, growth and shrinking", async () => {
    const none = { inserts: 0, updates: 0, deletes: 0, boundaryDeletes: 0, absentDeletes: 0, clear: false };
    await check({ ...none, n: 0, seed: 1, inserts: 30 }); // from the empty tree
    await check({ ...none, n: 0, seed: 8, inserts: 3000, absentDeletes: 3 }); // a first commit of a bigger folder
    await check({ ...none, n: 2500, seed: 2, clear: true }); // to the empty tree
    await check({ ...none, n: 1, seed: 3, clear: true });
    await check({ ...none, n: 2500, seed: 4, absentDeletes: 3 }); // nothing to do
    await check({ ...none, n: 5, seed: 5, inserts: 40 }); // one leaf grows a level or two
    await check({ ...none, n: 3000, seed: 6, boundaryDeletes: 40 });
    await check({ ...none, n: 3000, seed: 7, deletes: 2990 }); // shrinks by levels
    // The empty tree as a stored root (what a cleared vault holds) and null (no tree at all).
    const empty = buildTree([]);
    const add = new Map([["a", entryOf("a", 0)], ["b", entryOf("b", 2)]]);
    const fromEmpty = await updateTree(empty.root, add, counting(empty.nodes).load);
    expect(fromEmpty.root).toBe(buildTree([...add.values()].map((e) => e!)).root);
    const fromNull = await updateTree(null, add, counting().load);
    expect(fromNull.root).toBe(fromEmpty.root);
    const back = await updateTree(fromEmpty.root, new Map([["a", null], ["b", null]]), counting(fromEmpty.nodes).load);
    expect(back.root).toBe(empty.root);
    expect(back.count).toBe(0);
    // No effective change: the same root, no new nodes.
    const same = await updateTree(fromEmpty.root, new Map([["a", entryOf("a", 0)], ["zz", null]]), counting(fromEmpty.nodes).load);
    expect(same.root).toBe(fromEmpty.root);
    expect(same.nodes.size).toBe(0);
    await expect(updateTree(empty.root, new Map([["x", { id: "y", note: A("n") }]]), counting(empty.nodes).load)).rejects.toThrow(RangeError);
  });

  it("chains: each update's result is a valid base for the next", async () => {
    const random = rng(99);
    let entries = new Map<string, Entry>();
    let tree = buildTree([]);
    const store = new Map(tree.nodes);
    for (let round = 0; round < 40; round++) {
      const changes = new Map<string, Entry | null>();
      const k = round % 10 === 9 ? 400 : 1 + Math.floor(random() * 60);
      const ids = [...entries.keys()];
      for (let i = 0; i < k; i++) {
        const r = random();
        if (r < 0.5 || !ids.length) {
          const id = `c-${Math.floor(random() * 5000)}`;
          changes.set(id, entryOf(id, 1 + Math.floor(random() * 9)));
        } else if (r < 0.75) {
          const id = ids[Math.floor(random() * ids.length)];
          changes.set(id, entryOf(id, 1 + Math.floor(random() * 9)));
        } else changes.set(ids[Math.floor(random() * ids.length)], null);
      }
      const got = await updateTree(tree.root, changes, counting(store).load);
      for (const [id, e] of changes) {
        if (e) entries.set(id, e);
        else entries.delete(id);
      }
      tree = buildTree(entries.values());
      expect(got.root).toBe(tree.root);
      for (const [a, b] of got.nodes) store.set(a, b);
      // Everything the new tree needs is in the store: read it back whole.
      const back: Entry[] = [];
      for await (const e of iterateTree(got.root, counting(store).load)) back.push(e);
      expect(back.map((e) => e.id)).toEqual([...entries.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
    entries = new Map();
  });

  it("works with keyed (encrypted-vault) keys, where entries carry their names", async () => {
    const secret = utf8("0123456789abcdef0123456789abcdef");
    const keyed: TreeKeying = { keyOf: (id) => hmacSha256(secret, utf8(id)), plainKeys: false };
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await check(c, keyed);
      }),
      { numRuns: 25 },
    );
  });

  it("loads a few paths of a 50k-entry tree, not the tree", async () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => `note-${String(i).padStart(6, "0")}`);
    const old = buildTree(ids.map((id) => entryOf(id, 0)));
    const random = rng(7);
    const changes = new Map<string, Entry | null>();
    for (let i = 0; i < 10; i++) {
      const id = ids[Math.floor(random() * ids.length)];
      changes.set(id, i % 3 === 0 ? null : entryOf(id, 2));
    }
    changes.set("note-new", entryOf("note-new", 0));
    const loader = counting(old.nodes);
    const got = await updateTree(old.root, changes, loader.load);
    const depth = levels(old);
    const final = new Map(ids.map((id) => [id, entryOf(id, 0)]));
    for (const [id, e] of changes) {
      if (e) final.set(id, e);
      else final.delete(id);
    }
    expect(got.root).toBe(buildTree(final.values()).root);
    expect(loader.loads).toBeLessThanOrEqual(2 * changes.size * depth);
    expect(old.nodes.size).toBeGreaterThan(3000);
    expect(got.nodes.size).toBeLessThanOrEqual(2 * changes.size * depth);
  });
});

describe("lookupEntries", () => {
  it("finds present ids and leaves out absent ones, loading only their paths", async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    const t = buildTree(ids.map((id) => entryOf(id, 0)));
    const loader = counting(t.nodes);
    const want = ["k0", "k1500", "k2999", "k999", "nope", "zzzz", "0", "k1500"];
    const got = await lookupEntries(t.root, want, loader.load);
    expect([...got.keys()].sort()).toEqual(["k0", "k1500", "k2999", "k999"]);
    expect(got.get("k999")).toEqual(entryOf("k999", 0));
    expect(loader.loads).toBeLessThanOrEqual(want.length * levels(t));
    expect((await lookupEntries(null, ["k0"], loader.load)).size).toBe(0);
    expect((await lookupEntries(buildTree([]).root, ["k0"], counting(buildTree([]).nodes).load)).size).toBe(0);
  });
});
