// Shrunk counterexamples found by the property tests, kept as plain tests. Each runs every check
// of properties.test.ts (both merge directions, P2, the rules) plus what the case was about.
// Found against the first version of engine/sync/merge.ts (seed 20260701, and 1-6).
import { describe, it, expect } from "vitest";
import type { JsonObject } from "../../engine/core/canonical.ts";
import { mergeTrees } from "../../engine/sync/merge.ts";
import { sides, bigBody, ID_POOL, type Model, type Scenario } from "./generators.ts";
import { newVault, writeModel, readTree, plain, graph, T0 } from "./harness.ts";
import { mergeBases, mergeBase } from "../../engine/sync/ancestry.ts";
import { noLostEdit, mergeRules } from "./checks.ts";

async function check(s: Scenario, noBase = false) {
  const m = sides(s);
  const v = await newVault();
  const base = await writeModel(v, m.base, [], "dev-base");
  const a = await writeModel(v, m.a, [base.snapshot], s.deviceA);
  const b = await writeModel(v, m.b, [base.snapshot], s.deviceB);
  const anc = noBase ? null : base.root;
  const ab = await mergeTrees(v, anc, { root: a.root, device: s.deviceA }, { root: b.root, device: s.deviceB });
  const ba = await mergeTrees(v, anc, { root: b.root, device: s.deviceB }, { root: a.root, device: s.deviceA });
  expect(ba.tree.root).toBe(ab.tree.root);
  expect(ba.conflicts).toEqual(ab.conflicts);
  expect(ba.needsEmbedding).toEqual(ab.needsEmbedding);
  const result = await readTree(v, ab.tree.root, ab.tree);
  const o: Model = noBase ? new Map() : m.base;
  expect([...noLostEdit(o, m.a, m.b, result, ab.conflicts), ...mergeRules(o, m.a, m.b, result, ab.conflicts, ab.needsEmbedding)]).toEqual([]);
  return { result: plain(result), conflicts: ab.conflicts, needsEmbedding: ab.needsEmbedding };
}

/** A note with an own "__proto__" field, as JSON.parse makes it. */
const protoNote = (): JsonObject => JSON.parse('{"body":"","__proto__":{"nested":[1,"x"]}}');

describe("regressions", () => {
  it("an orphan embedding re-embedded on one side, no common ancestor: same result both ways (was asymmetric)", async () => {
    const r = await check(
      { base: new Map([["n0", { embedding: [0, 0, 0] }]]), shared: [], editsA: [{ kind: "reembed", pick: 0, embedding: [0, 0, 1] }], editsB: [], deviceA: "dev-a", deviceB: "dev-a" },
      true,
    );
    expect(r.conflicts.map((c) => c.kind)).toEqual(["embedding-winner"]);
  });

  it("a field named `constructor` that the ancestor lacks (was: crash, Object.prototype.constructor read as the ancestor's value)", async () => {
    const r = await check({
      base: new Map([["n0", { note: { body: "" } }]]),
      shared: [],
      editsA: [{ kind: "insertLines", pick: 0, at: 0, lines: ["# Heading"] }],
      editsB: [{ kind: "setField", pick: 0, key: "constructor", value: false }],
      deviceA: "dev-a",
      deviceB: "dev-a",
    });
    expect(r.result.n0.note).toEqual({ body: "# Heading", constructor: false });
  });

  it("a field named `__proto__` (was: crash, the merged object's prototype was set instead of the field)", async () => {
    const s: Scenario = {
      base: new Map([["n0", { note: protoNote() }]]),
      shared: [],
      editsA: [{ kind: "insertLines", pick: 0, at: 0, lines: ["# Heading", ""] }],
      editsB: [{ kind: "insertLines", pick: 0, at: 0, lines: ["line 0"] }],
      deviceA: "dev-a",
      deviceB: "dev-a",
    };
    const r = await check(s);
    expect(Object.keys(r.result.n0.note as JsonObject).sort()).toEqual(["__proto__", "body"]);
    await check(s, true);
    await check({ base: new Map(), shared: [{ kind: "createNote", id: "n0", entry: { note: protoNote() } }], editsA: [], editsB: [{ kind: "insertLines", pick: 0, at: 0, lines: ["# Heading"] }], deviceA: "dev-a", deviceB: "dev-a" }, true);
  });

  it("re-embedding a note deleted on the other side does not bring it back (was: resurrected)", async () => {
    const r = await check({ base: new Map([["n0", { note: { body: "" } }]]), shared: [], editsA: [{ kind: "reembed", pick: 0, embedding: [0, 0, 0] }], editsB: [{ kind: "deleteNote", pick: 0 }], deviceA: "dev-a", deviceB: "dev-a" });
    expect(r.result).toEqual({});
  });

  it("moving a chunked note deleted on the other side does not bring it back (was: resurrected)", async () => {
    const base: Model = new Map([["big", { note: { title: "Big", body: bigBody(0), updated: "2023-11-14T22:13:00.000Z" } }]]);
    const r = await check({ base, shared: [], editsA: [{ kind: "move", pick: 0, position: { x: 0, y: 0, z: 0 } }], editsB: [{ kind: "deleteNote", pick: 0 }], deviceA: "dev-a", deviceB: "dev-a" });
    expect(r.result).toEqual({});
  });

  it("both re-embedded an unchanged chunked note differently: one winner, the same both ways", async () => {
    const base: Model = new Map([["big", { note: { title: "Big", body: bigBody(0), updated: "2023-11-14T22:13:00.000Z" } }]]);
    const r = await check({ base, shared: [], editsA: [{ kind: "reembed", pick: 0, embedding: [0, 0, 0] }], editsB: [{ kind: "reembed", pick: 0, embedding: [0, 0, 0.5] }], deviceA: "dev-a", deviceB: "dev-a" });
    expect(r.conflicts.map((c) => c.kind)).toEqual(["embedding-winner"]);
  });

  it("the merged note is one side's: that side's embedding, not the other's (was: the other side's re-embed of other text)", async () => {
    const r = await check({
      base: new Map([[ID_POOL[8], { note: { body: "" } }]]),
      shared: [],
      editsA: [{ kind: "setUpdated", pick: 0, updated: "2023-11-14T22:13:00.000Z" }],
      editsB: [{ kind: "reembed", pick: 0, embedding: [0, 0, 0] }],
      deviceA: "dev-a",
      deviceB: "dev-a",
    });
    expect(Object.values(r.result)[0].embedding).toBeUndefined();
    await check(
      {
        base: new Map([["n0", { note: { body: "" }, embedding: [0, 0, 0] }]]),
        shared: [],
        editsA: [],
        editsB: [{ kind: "deletePart", pick: 0, part: "embedding" }, { kind: "insertLines", pick: 0, at: 0, lines: ["# Heading"] }],
        deviceA: "dev-a",
        deviceB: "dev-a",
      },
      true,
    );
    await check({ base: new Map([["n3", { note: { body: "" } }]]), shared: [], editsA: [], editsB: [{ kind: "createNote", id: "n3", entry: { embedding: [0, 0, 0] } }], deviceA: "dev-a", deviceB: "dev-a" }, true);
  });

  it("both sides edit different lines and bump `updated` (the e2e case): no conflict copy (was: one per concurrent edit)", async () => {
    const n = (body: string, updated: string) => ({ note: { title: "T", body, updated } });
    const s: Scenario = {
      base: new Map([["n", n("line1\nline2\nline3\nline4", "2026-01-01T00:00:00.000Z")]]),
      shared: [],
      editsA: [{ kind: "replaceLines", pick: 0, at: 0, count: 1, lines: ["line1 edited by a"], updated: "2026-01-02T00:00:00.000Z" }],
      editsB: [
        { kind: "replaceLines", pick: 0, at: 3, count: 1, lines: ["line4 edited by b"], updated: "2026-01-03T00:00:00.000Z" },
        { kind: "createNote", id: "only-b", entry: { note: { title: "B", body: "new" } } },
      ],
      deviceA: "dev-a",
      deviceB: "dev-b",
    };
    const r = await check(s);
    expect(Object.keys(r.result)).toEqual(["n", "only-b"]);
    expect(r.result.n.note).toEqual({ title: "T", body: "line1 edited by a\nline2\nline3\nline4 edited by b", updated: "2026-01-03T00:00:00.000Z" });
    expect(r.conflicts).toEqual([]);
  });

  it("mergeBases with wrong clocks: an older common ancestor met first is dropped (random-DAG property, against a version without the redundancy filter)", async () => {
    const parents = [[], [0], [1], [0, 2], [3, 2], [0, 3], [2, 3]];
    const times = [0, 0, 1, 0, 0, 0, 0];
    const v = await newVault();
    const g = await graph(v, parents.map((ps, i) => ({ name: `s${i}`, parents: ps.map((p) => `s${p}`), time: T0 + times[i] * 1000 })));
    expect(await mergeBases(v, g.s6, g.s4)).toEqual([g.s3]);
    expect(await mergeBase(v, g.s4, g.s6)).toBe(g.s3);
  });
});
