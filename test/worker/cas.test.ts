// The head moves by compare-and-swap: concurrent commits on one head have exactly one winner, and
// a loser changes nothing.
import { describe, expect, it } from "vitest";
import { buildVault, commitOf, createVault, noteSpecs, packOf, newObjects, push, pushBody, pushVault, r2Keys, vaultInfo } from "./helpers.ts";

describe("compare-and-swap on the head", () => {
  it("lets exactly one of two concurrent commits on the same head win", async () => {
    const vault = "race2";
    await createVault(vault);
    const specs = noteSpecs(50);
    const v1 = buildVault(specs);
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const a = buildVault(specs.map((s, i) => (i === 1 ? { ...s, version: 1 } : s)), [v1.snapshot], "device-a");
    const b = buildVault(specs.map((s, i) => (i === 2 ? { ...s, version: 2 } : s)), [v1.snapshot], "device-b");
    const [ra, rb] = await Promise.all([pushVault(vault, a, v1.snapshot, v1), pushVault(vault, b, v1.snapshot, v1)]);
    const statuses = [ra.res.status, rb.res.status].sort();
    expect(statuses).toEqual([200, 409]);
    const [winner, loser] = ra.res.status === 200 ? [a, rb] : [b, ra];
    const lost: any = await loser.res.json();
    expect(lost.error).toBe("head_moved");
    expect(lost.head).toMatchObject({ snapshot: winner.snapshot, seq: 2 });
    const info = await vaultInfo(vault);
    expect(info.head).toMatchObject({ snapshot: winner.snapshot, seq: 2 });
    expect(info.stats.snapshots).toBe(2);
    // The loser's pack was rolled back: the index and R2 hold v1's and the winner's only.
    expect(info.stats.packs).toBe(2);
    expect((await r2Keys(vault)).length).toBe(2);
    expect((await r2Keys(vault)).some((k) => k.endsWith(loser.pack.id))).toBe(false);
  });

  it("has exactly one winner among ten concurrent commits", async () => {
    const vault = "race10";
    await createVault(vault);
    const specs = noteSpecs(20);
    const v1 = buildVault(specs);
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const forks = Array.from({ length: 10 }, (_, k) => buildVault(specs.map((s, i) => (i === k ? { ...s, version: 5 } : s)), [v1.snapshot], `d${k}`));
    const results = await Promise.all(forks.map((f) => pushVault(vault, f, v1.snapshot, v1)));
    const ok = results.filter((r) => r.res.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.res.status === 409)).toHaveLength(9);
    const info = await vaultInfo(vault);
    expect(info.head.seq).toBe(2);
    expect(info.stats.packs).toBe(2);
  });

  it("refuses a stale expect (409) and leaves the head where it was", async () => {
    const vault = "stale";
    await createVault(vault);
    const specs = noteSpecs(30);
    const v1 = buildVault(specs);
    expect((await pushVault(vault, v1, null)).res.status).toBe(200);
    const v2 = buildVault(noteSpecs(31), [v1.snapshot]);
    expect((await pushVault(vault, v2, v1.snapshot, v1)).res.status).toBe(200);
    const before = await vaultInfo(vault);

    // Built on v1, but the head is v2 now.
    const v3 = buildVault(noteSpecs(32), [v1.snapshot]);
    const { res } = await pushVault(vault, v3, v1.snapshot, v1);
    expect(res.status).toBe(409);
    const body: any = await res.json();
    expect(body).toMatchObject({ error: "head_moved", head: { snapshot: v2.snapshot, seq: 2 } });
    // expect null on a vault that has a head: also a lost race.
    const v4 = buildVault(noteSpecs(5));
    const r4 = await pushVault(vault, v4, null);
    expect(r4.res.status).toBe(409);
    expect(await vaultInfo(vault)).toEqual(before);
  });

  it("does not commit a snapshot twice", async () => {
    const vault = "twice";
    await createVault(vault);
    const v1 = buildVault(noteSpecs(10));
    const { pack } = await pushVault(vault, v1, null);
    const v2 = buildVault(noteSpecs(11), [v1.snapshot]);
    const p2 = await packOf(newObjects(v2, v1));
    expect((await push(vault, pushBody([p2.bytes], commitOf(v2, v1.snapshot, [p2])))).status).toBe(200);
    // Retrying an already applied commit answers head_moved with the head = its own snapshot.
    const retry = await push(vault, pushBody([], commitOf(v2, v1.snapshot, [p2])));
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as any).head.snapshot).toBe(v2.snapshot);
    expect(pack.id).toMatch(/^[0-9a-f]{64}$/);
  });
});
