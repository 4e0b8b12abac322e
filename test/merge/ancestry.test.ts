// mergeBase on hand-built snapshot DAGs (encodeSnapshot + store.putObjects into a MemoryStore-backed
// Vault): linear, fork, unrelated, criss-cross (virtual ancestor), long chains (bounded walk),
// wrong clocks, and random DAGs against a brute-force answer.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import type { Address } from "../../engine/core/hash.ts";
import { encodeSnapshot } from "../../engine/core/snapshot.ts";
import { ObjectType } from "../../engine/core/object.ts";
import type { Vault } from "../../engine/vault/vault.ts";
import { mergeBase, mergeBases, lowestCommonAncestors, History, VIRTUAL_DEVICE } from "../../engine/sync/ancestry.ts";
import { mergeTrees } from "../../engine/sync/merge.ts";
import { newVault, writeModel, readTree, readEntries, plain, note, graph, T0 } from "./harness.ts";
import { readPack } from "../../engine/core/pack.ts";
import { decodeNode, entryRefs } from "../../engine/core/tree.ts";

async function treeNodes(v: Vault, root: Address): Promise<Address[]> {
  const out: Address[] = [];
  const walk = async (a: Address) => {
    out.push(a);
    const n = decodeNode(await v.load(a));
    if (n.level > 0) for (const c of (n as { children: { addr: Address }[] }).children) await walk(c.addr);
  };
  await walk(root);
  return out;
}
import type { Model } from "./generators.ts";
import { params } from "./config.ts";

function chain(prefix: string, from: string | null, n: number, t0: number): { name: string; parents: string[]; time: number }[] {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ name: `${prefix}${i}`, parents: i === 0 ? (from ? [from] : []) : [`${prefix}${i - 1}`], time: t0 + i * 1000 });
  return out;
}

describe("mergeBase on simple histories", () => {
  it("linear: the older head; the same head: itself", async () => {
    const v = await newVault();
    const g = await graph(v, [
      { name: "s1", parents: [] },
      { name: "s2", parents: ["s1"] },
      { name: "s3", parents: ["s2"] },
    ]);
    expect(await mergeBase(v, g.s3, g.s1)).toBe(g.s1);
    expect(await mergeBase(v, g.s1, g.s3)).toBe(g.s1);
    expect(await mergeBase(v, g.s3, g.s3)).toBe(g.s3);
  });

  it("fork: the fork point", async () => {
    const v = await newVault();
    const g = await graph(v, [
      { name: "o", parents: [] },
      { name: "s", parents: ["o"] },
      { name: "a1", parents: ["s"] },
      { name: "a2", parents: ["a1"] },
      { name: "b1", parents: ["s"] },
    ]);
    expect(await mergeBase(v, g.a2, g.b1)).toBe(g.s);
    expect(await mergeBase(v, g.b1, g.a2)).toBe(g.s);
  });

  it("unrelated histories: null", async () => {
    const v = await newVault();
    const g = await graph(v, [
      { name: "a", parents: [] },
      { name: "b", parents: [] },
      { name: "b2", parents: ["b"] },
    ]);
    expect(await mergeBase(v, g.a, g.b2)).toBeNull();
  });

  it("history this device does not hold ends the walk (no error)", async () => {
    const v = await newVault();
    const g = await graph(v, [
      { name: "o", parents: [] },
      { name: "a", parents: ["o"] },
      { name: "b", parents: ["o"] },
    ]);
    const missing = "f".repeat(64);
    const s = encodeSnapshot({ parents: [missing, g.a], root: (await v.snapshot(g.a)).root, device: "d", time: new Date(T0 + 1e7).toISOString(), stats: { notes: 0, embeddings: 0, positions: 0 } });
    await v.store.putObjects([{ type: ObjectType.Snapshot, addr: s.addr, bytes: s.bytes }]);
    expect(await mergeBase(v, s.addr, g.b)).toBe(g.o);
  });
});

describe("mergeBase on criss-cross histories", () => {
  // o -> x1 (device a), o -> y1 (device b); each device merges the other's: ma = merge(x1, y1), mb = merge(y1, x1);
  // then each goes on: a2 after ma, b2 after mb. Lowest common ancestors of a2 and b2: x1 and y1.
  async function crissCross(edits: { x1: Model; y1: Model; a2: (m: Model) => Model; b2: (m: Model) => Model; o: Model }) {
    const v = await newVault();
    const o = await writeModel(v, edits.o, [], "dev-o", new Date(T0).toISOString());
    const x1 = await writeModel(v, edits.x1, [o.snapshot], "dev-a", new Date(T0 + 1000).toISOString());
    const y1 = await writeModel(v, edits.y1, [o.snapshot], "dev-b", new Date(T0 + 2000).toISOString());
    const m = await mergeTrees(v, o.root, { root: x1.root, device: "dev-a" }, { root: y1.root, device: "dev-b" });
    const merged = await readTree(v, m.tree.root, m.tree);
    const ma = await writeModel(v, merged, [x1.snapshot, y1.snapshot], "dev-a", new Date(T0 + 3000).toISOString());
    const mb = await writeModel(v, merged, [y1.snapshot, x1.snapshot], "dev-b", new Date(T0 + 3500).toISOString());
    expect(ma.root).toBe(mb.root);
    expect(ma.snapshot).not.toBe(mb.snapshot);
    const a2m = edits.a2(merged);
    const b2m = edits.b2(merged);
    const a2 = await writeModel(v, a2m, [ma.snapshot], "dev-a", new Date(T0 + 4000).toISOString());
    const b2 = await writeModel(v, b2m, [mb.snapshot], "dev-b", new Date(T0 + 5000).toISOString());
    return { v, o, x1, y1, ma, mb, a2, b2, merged, a2m, b2m };
  }

  const o: Model = new Map([["n", { note: note("N", "t0") }]]);
  const x1: Model = new Map([["n", { note: note("N", "t1 by a") }]]);
  const y1: Model = new Map([...o, ["m", { note: note("M", "m") }]]);

  it("finds both lowest common ancestors, and merges them into a virtual ancestor (deterministic, both ways)", async () => {
    const h = await crissCross({ o, x1, y1, a2: (m) => m, b2: (m) => m });
    expect(await mergeBases(h.v, h.a2.snapshot, h.b2.snapshot)).toEqual([h.x1.snapshot, h.y1.snapshot].sort());
    const va = await mergeBase(h.v, h.a2.snapshot, h.b2.snapshot);
    const vb = await mergeBase(h.v, h.b2.snapshot, h.a2.snapshot);
    expect(va).toBe(vb);
    const snap = await h.v.snapshot(va as Address);
    expect(snap.device).toBe(VIRTUAL_DEVICE);
    expect(snap.parents).toEqual([h.x1.snapshot, h.y1.snapshot].sort());
    // The virtual ancestor is the merge both devices made: every node of it readable.
    expect(snap.root).toBe(h.ma.root);
    expect(plain(await readTree(h.v, snap.root))).toEqual(plain(h.merged));
    // Staged, never stored: a later writeSnapshot must still upload any node it shares.
    expect(await h.v.store.getObject(va as Address)).toBeUndefined();
  });

  it("a note deleted after a criss-cross stays deleted (picking one ancestor could revive it)", async () => {
    // a deletes n (which x1 had edited); b changes only m.
    const h = await crissCross({
      o,
      x1,
      y1,
      a2: (m) => new Map([...m].filter(([id]) => id !== "n")),
      b2: (m) => new Map([...m].map(([id, e]) => [id, id === "m" ? { note: note("M", "m edited by b") } : e])),
    });
    const anc = await mergeBase(h.v, h.a2.snapshot, h.b2.snapshot);
    const merge = async (ancRoot: Address) => plain(await (async () => {
      const m = await mergeTrees(h.v, ancRoot, { root: h.a2.root, device: "dev-a" }, { root: h.b2.root, device: "dev-b" });
      return readTree(h.v, m.tree.root, m.tree);
    })());
    const viaVirtual = await merge((await h.v.snapshot(anc as Address)).root);
    expect(viaVirtual).toEqual({ m: { note: note("M", "m edited by b") } });
    // With y1 (which still had n's old text) as the ancestor, the delete would meet an "edit" and lose.
    expect(Object.keys(await merge(h.y1.root))).toContain("n");
  });

  it("a merge against a virtual ancestor, written as a snapshot, packs every new node and blob it needs", async () => {
    const h = await crissCross({
      o,
      x1,
      y1,
      a2: (m) => new Map([...m, ["k", { note: note("K", "by a") }]]),
      b2: (m) => new Map([...m].map(([id, e]) => [id, id === "n" ? { note: note("N", "t1 by a\nand b") } : e])),
    });
    const anc = await mergeBase(h.v, h.a2.snapshot, h.b2.snapshot);
    const m = await mergeTrees(h.v, (await h.v.snapshot(anc as Address)).root, { root: h.a2.root, device: "dev-a" }, { root: h.b2.root, device: "dev-b" });
    // As sync() does: the local head (a2) is the working state, the merge becomes the new head.
    await h.v.loadWorking(h.a2.snapshot);
    await h.v.setRefs({ head: h.a2.snapshot, base: h.b2.snapshot, unpushed: [] });
    await h.v.writeSnapshot(m.tree, [h.a2.snapshot, h.b2.snapshot], "merge", true);
    const packed = new Set<Address>();
    for (const id of h.v.refs.unpushed) for (const obj of await readPack((await h.v.store.getPack(id)) as Uint8Array, h.v.compressor, { verifyAddresses: true })) packed.add(obj.addr);
    // Everything reachable from the new head that neither a2 nor b2 had is in the new packs.
    const before = new Set<Address>();
    for (const r of [h.a2.root, h.b2.root]) {
      for (const n of await treeNodes(h.v, r)) before.add(n);
      for (const e of (await readEntries(h.v, r)).values()) for (const ref of entryRefs(e)) before.add(ref);
    }
    const head = h.v.refs.head as Address;
    expect(packed.has(head)).toBe(true);
    for (const n of await treeNodes(h.v, m.tree.root)) if (!before.has(n)) expect(packed.has(n)).toBe(true);
    for (const e of (await readEntries(h.v, m.tree.root)).values()) for (const ref of entryRefs(e)) if (!before.has(ref)) expect(packed.has(ref)).toBe(true);
    expect(plain(await readTree(h.v, m.tree.root))).toEqual({ ...plain(h.merged), k: { note: note("K", "by a") }, n: { note: note("N", "t1 by a\nand b") } });
  });

  it("three lowest common ancestors fold into one virtual ancestor the same way from both heads", async () => {
    const v = await newVault();
    const g = await graph(v, [
      { name: "o", parents: [] },
      { name: "p", parents: ["o"] },
      { name: "q", parents: ["o"] },
      { name: "r", parents: ["o"] },
      { name: "a", parents: ["p", "q", "r"] },
      { name: "b", parents: ["r", "q", "p"] },
    ]);
    expect(await mergeBases(v, g.a, g.b)).toEqual([g.p, g.q, g.r].sort());
    const x = await mergeBase(v, g.a, g.b);
    expect(await mergeBase(v, g.b, g.a)).toBe(x);
    expect((await v.snapshot(x as Address)).parents).toEqual([g.p, g.q, g.r].sort());
  });
});

describe("mergeBase walks only what it needs", () => {
  it("a short fork off a long history reads the fork, not the history", async () => {
    const v = await newVault();
    const nodes = [...chain("h", null, 3000, T0), ...chain("a", "h2999", 3, T0 + 4e6), ...chain("b", "h2999", 400, T0 + 3.5e6)];
    const g = await graph(v, nodes);
    const h = new History(v);
    expect(await lowestCommonAncestors(v, [g.a2], [g.b399], h)).toEqual([g.h2999]);
    expect(h.reads).toBeLessThan(3 + 400 + 10);
    const h2 = new History(v);
    expect(await lowestCommonAncestors(v, [g.h2999], [g.a2], h2)).toEqual([g.h2999]);
    expect(h2.reads).toBeLessThan(10);
  });

  it("wrong clocks make it read more, never answer differently", async () => {
    const v = await newVault();
    // Times run backwards on the b side and jump around on the a side.
    const nodes = [...chain("h", null, 50, T0), ...chain("a", "h49", 5, T0 - 1e9), ...chain("b", "h49", 20, T0 + 1e9).map((n, i) => ({ ...n, time: T0 + 1e9 - i * 1e6 }))];
    nodes.push({ name: "m", parents: ["a4", "b19"], time: 0 });
    nodes.push({ name: "c", parents: ["b10"], time: T0 + 5e9 });
    const g = await graph(v, nodes);
    expect(await mergeBases(v, g.a4, g.b19)).toEqual([g.h49]);
    expect(await mergeBases(v, g.m, g.c)).toEqual([g.b10]);
    expect(await mergeBases(v, g.c, g.m)).toEqual([g.b10]);
  });
});

describe("mergeBases matches a brute-force answer on random DAGs (any clock)", () => {
  // Arbitrary DAGs, and DAGs as devices make them: each step one device commits on its head or
  // merges another device's head into its own (which is how criss-crosses happen).
  const arbAnyDag = fc.integer({ min: 1, max: 22 }).chain((n) =>
    fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        i === 0
          ? fc.constant<number[]>([])
          : fc.oneof({ weight: 1, arbitrary: fc.constant<number[]>([]) }, { weight: 12, arbitrary: fc.uniqueArray(fc.integer({ min: Math.max(0, i - 5), max: i - 1 }), { minLength: 1, maxLength: 3 }) }),
      ),
    ),
  );
  // Rounds: every device commits 0-2 times, then merges the heads other devices had at the end of
  // those commits. Two devices merging each other in one round is a criss-cross.
  const arbDeviceDag = fc
    .record({
      devices: fc.integer({ min: 2, max: 3 }),
      rounds: fc.array(fc.record({ commits: fc.array(fc.nat({ max: 2 }), { minLength: 3, maxLength: 3 }), merges: fc.array(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), { minLength: 3, maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
    })
    .map(({ devices, rounds }) => {
      const parents: number[][] = [[]];
      const heads = Array.from({ length: devices }, () => 0);
      const add = (ps: number[]) => {
        parents.push([...new Set(ps)]);
        return parents.length - 1;
      };
      for (const r of rounds) {
        for (let d = 0; d < devices; d++) for (let i = 0; i < r.commits[d]; i++) heads[d] = add([heads[d]]);
        const seen = heads.slice();
        for (let d = 0; d < devices; d++) {
          const others = seen.filter((h, j) => j !== d && r.merges[d][j] && h !== heads[d]);
          if (others.length) heads[d] = add([heads[d], ...others]);
        }
      }
      return { parents, heads: [...new Set(heads)] };
    });
  const arbDag = fc
    .oneof(
      arbAnyDag.map((parents) => ({ parents, heads: parents.map((_, i) => i).slice(Math.floor(parents.length / 2)) })),
      arbDeviceDag,
    )
    .chain(({ parents, heads }) =>
      fc.record({
        parents: fc.constant(parents),
        times: fc.oneof(fc.constant(null), fc.array(fc.integer({ min: 0, max: 50 }), { minLength: parents.length, maxLength: parents.length })),
        x: fc.constantFrom(...heads),
        y: fc.constantFrom(...heads),
      }),
    );

  function bruteForce(parents: number[][], x: number, y: number): number[] {
    const anc = (s: number) => {
      const seen = new Set<number>();
      const st = [s];
      while (st.length) {
        const c = st.pop() as number;
        if (seen.has(c)) continue;
        seen.add(c);
        st.push(...parents[c]);
      }
      return seen;
    };
    const ax = anc(x);
    const ay = anc(y);
    const common = [...ax].filter((c) => ay.has(c));
    return common.filter((c) => !common.some((d) => d !== c && anc(d).has(c)));
  }

  it("holds", async () => {
    await fc.assert(
      fc.asyncProperty(arbDag, async ({ parents, times, x, y }) => {
        const v = await newVault();
        const g = await graph(
          v,
          parents.map((ps, i) => ({ name: `s${i}`, parents: ps.map((p) => `s${p}`), time: times ? T0 + times[i] * 1000 : T0 + i * 1000 })),
        );
        const expected = bruteForce(parents, x, y).map((i) => g[`s${i}`]).sort();
        expect(await mergeBases(v, g[`s${x}`], g[`s${y}`])).toEqual(expected);
        expect(await mergeBases(v, g[`s${y}`], g[`s${x}`])).toEqual(expected);
        const base = await mergeBase(v, g[`s${x}`], g[`s${y}`]);
        expect(await mergeBase(v, g[`s${y}`], g[`s${x}`])).toBe(base);
        if (expected.length <= 1) expect(base).toBe(expected[0] ?? null);
        else expect((await v.snapshot(base as Address)).parents).toEqual(expected);
      }),
      params(200),
    );
  });
});
