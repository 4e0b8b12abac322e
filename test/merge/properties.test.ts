// Property tests of the merge (issue 3, properties 1 and 2), in process: MemoryStore + Vault, no server.
// On failure fast-check prints the seed and path; replay with PENUMBRA_SEED=… PENUMBRA_PATH=… .
// Every shrunk counterexample found goes into regressions.test.ts as a plain test.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import type { Address } from "../../engine/core/hash.ts";
import { mergeTrees, type TreeMerge } from "../../engine/sync/merge.ts";
import { mergeBase } from "../../engine/sync/ancestry.ts";
import type { Vault } from "../../engine/vault/vault.ts";
import { arbScenario, arbEdits, arbUpdated, bigBody, sides, type Model, type Scenario } from "./generators.ts";
import { newVault, readTree, writeModel, plain, type WrittenSnapshot } from "./harness.ts";
import { noLostEdit, mergeRules } from "./checks.ts";
import { params, LONG } from "./config.ts";

interface Fixture {
  v: Vault;
  base: WrittenSnapshot;
  a: WrittenSnapshot;
  b: WrittenSnapshot;
  models: { base: Model; a: Model; b: Model };
}

async function fixture(s: Scenario): Promise<Fixture> {
  const models = sides(s);
  const v = await newVault();
  const base = await writeModel(v, models.base, [], "dev-base");
  const a = await writeModel(v, models.a, [base.snapshot], s.deviceA);
  const b = await writeModel(v, models.b, [base.snapshot], s.deviceB);
  return { v, base, a, b, models };
}

function merge(f: Fixture, base: Address | null, x: { root: Address; device: string }, y: { root: Address; device: string }): Promise<TreeMerge> {
  return mergeTrees(f.v, base, x, y);
}

function explain(problems: string[], extra: Record<string, unknown>): void {
  if (problems.length) throw new Error(`${problems.join("\n")}\n${JSON.stringify(extra, null, 1)}`);
}

describe("P1: merge is a no-op where it should be, and symmetric", () => {
  it("merge(base, x, x) = x and merge(base, base, x) = merge(base, x, base) = x, with nothing reported", async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async (s) => {
        const f = await fixture(s);
        const A = { root: f.a.root, device: s.deviceA };
        const B = { root: f.b.root, device: s.deviceB };
        const O = { root: f.base.root, device: "dev-base" };
        for (const [x, y] of [
          [A, A],
          [A, { ...A, device: s.deviceB }],
          [O, A],
          [A, O],
          [O, B],
        ]) {
          const m = await merge(f, f.base.root, x, y);
          const expected = x.root === f.base.root ? y.root : x.root;
          expect(m.tree.root).toBe(expected);
          expect(m.conflicts).toEqual([]);
          expect(m.needsEmbedding).toEqual([]);
        }
        expect(await mergeBase(f.v, f.a.snapshot, f.b.snapshot)).toBe(f.base.snapshot);
      }),
      params(80),
    );
  });

  it("merge(base, a, b) and merge(base, b, a) have the same root, content, report; also with no common ancestor", async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, fc.boolean(), async (s, noBase) => {
        const f = await fixture(s);
        const anc = noBase ? null : f.base.root;
        const A = { root: f.a.root, device: s.deviceA };
        const B = { root: f.b.root, device: s.deviceB };
        const ab = await merge(f, anc, A, B);
        const ba = await merge(f, anc, B, A);
        expect(ba.tree.root).toBe(ab.tree.root);
        expect(ba.conflicts).toEqual(ab.conflicts);
        expect(ba.needsEmbedding).toEqual(ab.needsEmbedding);
        // Deterministic: the same merge again, in a vault that never saw it, gives the same root.
        const g = await fixture(s);
        const again = await mergeTrees(g.v, noBase ? null : g.base.root, A, B);
        expect(again.tree.root).toBe(ab.tree.root);
      }),
      params(200),
    );
  });
});

describe("P2: no lost edit", () => {
  it("keeps every inserted line, every surviving note, and every delete without a concurrent edit", async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async (s) => {
        const f = await fixture(s);
        const m = await merge(f, f.base.root, { root: f.a.root, device: s.deviceA }, { root: f.b.root, device: s.deviceB });
        const result = await readTree(f.v, m.tree.root, m.tree);
        const { base, a, b } = f.models;
        explain([...noLostEdit(base, a, b, result, m.conflicts), ...mergeRules(base, a, b, result, m.conflicts, m.needsEmbedding)], {
          base: plain(base),
          a: plain(a),
          b: plain(b),
          result: plain(result),
          conflicts: m.conflicts,
        });
      }),
      params(300),
    );
  });

  it("with no common ancestor (both sides added everything), nothing is lost either", async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async (s) => {
        const f = await fixture(s);
        const m = await merge(f, null, { root: f.a.root, device: s.deviceA }, { root: f.b.root, device: s.deviceB });
        const result = await readTree(f.v, m.tree.root, m.tree);
        const { a, b } = f.models;
        const empty: Model = new Map();
        explain([...noLostEdit(empty, a, b, result, m.conflicts), ...mergeRules(empty, a, b, result, m.conflicts, m.needsEmbedding)], {
          a: plain(a),
          b: plain(b),
          result: plain(result),
          conflicts: m.conflicts,
        });
      }),
      params(150),
    );
  });

  it("notes over 64 KiB (chunked) merge line by line like small ones", async () => {
    const arbBig = fc.record({
      seed: fc.nat({ max: 1000 }),
      updated: arbUpdated,
      editsA: arbEdits,
      editsB: arbEdits,
      deviceA: fc.constantFrom("dev-a", "dev-b"),
      deviceB: fc.constantFrom("dev-a", "dev-b"),
    });
    await fc.assert(
      fc.asyncProperty(arbBig, async (g) => {
        const base: Model = new Map([["big", { note: { title: "Big", body: bigBody(g.seed), ...(g.updated === undefined ? {} : { updated: g.updated }) } }]]);
        const s: Scenario = { base, shared: [], editsA: g.editsA, editsB: g.editsB, deviceA: g.deviceA, deviceB: g.deviceB };
        const f = await fixture(s);
        const A = { root: f.a.root, device: s.deviceA };
        const B = { root: f.b.root, device: s.deviceB };
        const m = await merge(f, f.base.root, A, B);
        const ba = await merge(f, f.base.root, B, A);
        expect(ba.tree.root).toBe(m.tree.root);
        const result = await readTree(f.v, m.tree.root, m.tree);
        explain([...noLostEdit(base, f.models.a, f.models.b, result, m.conflicts), ...mergeRules(base, f.models.a, f.models.b, result, m.conflicts, m.needsEmbedding)], {
          editsA: g.editsA,
          editsB: g.editsB,
          conflicts: m.conflicts,
        });
      }),
      params(12),
    );
  }, LONG ? 600_000 : 60_000);
});
