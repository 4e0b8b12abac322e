// Garbage collection and retention (worker/gc.ts, docs/reliability.md) against the real Durable
// Object and local R2. Policies other than the deployed one (and clocks moved past the grace period)
// go through runGc directly; the route and /sync/clear are tested through the Worker.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodePackHeader } from "../../engine/core/pack.ts";
import { runGc } from "../../worker/gc.ts";
import { PackStore } from "../../worker/pack-store.ts";
import type { GcPolicy } from "../../worker/vault-types.ts";
import { api, buildVault, createVault, noteSpecs, packOf, postJson, pull, push, pushBody, pushVault, r2Keys, readPull, vaultInfo, type BuiltVault, type NoteSpec } from "./helpers.ts";

const HOUR = 3600_000;
const stub = (vault: string) => env.VAULT.get(env.VAULT.idFromName(vault));
const store = (vault: string) => new PackStore(env.BUCKET, vault);
const policy = (p: Partial<GcPolicy> = {}): GcPolicy => ({ retentionDays: 0, retentionSnapshots: 2, graceSeconds: 3600, committedGraceSeconds: 0, uploadLeaseSeconds: 3600, ...p });

/** Commits `n` snapshots; each rewrites a quarter of the notes (one pack per push). */
async function history(vault: string, n: number, notes = 40): Promise<BuiltVault[]> {
  await createVault(vault);
  const out: BuiltVault[] = [];
  let specs: NoteSpec[] = noteSpecs(notes);
  let prev: BuiltVault | undefined;
  for (let i = 0; i < n; i++) {
    if (i > 0) specs = specs.map((s, k) => (k % 4 === i % 4 ? { ...s, version: i } : s));
    const v = buildVault(specs, prev ? [prev.snapshot] : [], `dev-${i}`);
    const { res } = await pushVault(vault, v, prev?.snapshot ?? null, prev);
    expect(res.status, await res.clone().text()).toBe(200);
    out.push(v);
    prev = v;
  }
  return out;
}

async function gcUntilDone(vault: string, p: GcPolicy, now = () => Date.now(), budget?: number) {
  const total = { deletedPacks: 0, repackedPacks: 0, prunedSnapshots: 0, steps: 0 };
  let first: any = null;
  let last: any = null;
  for (let i = 0; i < 50; i++) {
    last = await runGc(stub(vault), store(vault), p, { now, budget });
    first ??= last;
    total.deletedPacks += last.deletedPacks;
    total.repackedPacks += last.repackedPacks;
    total.prunedSnapshots += last.prunedSnapshots;
    total.steps++;
    if (!last.more) break;
  }
  return { ...total, before: first.before, after: last.after, last };
}

/** A fresh clone of the head through the Worker: every object of the head's tree arrives, verified. */
async function cloneHead(vault: string, v: BuiltVault): Promise<void> {
  const r = await pull(vault, { since: null });
  expect(r.status).toBe(200);
  const s = await readPull(r);
  expect(s.meta.head.snapshot).toBe(v.snapshot);
  for (const addr of v.objects.keys()) expect(s.objects.has(addr), `object ${addr} of the head`).toBe(true);
}

describe("garbage collection", () => {
  it("prunes old snapshots, deletes and repacks dead packs, and the head still clones", async () => {
    const vault = "gc-basic";
    const vs = await history(vault, 6);
    const before = (await vaultInfo(vault)).stats;
    const r = await gcUntilDone(vault, policy());
    expect(r.prunedSnapshots).toBe(4);
    console.log(`gc 40 notes x 6 snapshots, keep 2: bytes ${r.before.bytes} -> ${r.after.bytes}, packs ${r.before.packs} -> ${r.after.packs}, objects ${r.before.objects} -> ${r.after.objects}; deleted ${r.deletedPacks}, repacked ${r.repackedPacks}`);
    expect(r.before).toEqual({ bytes: before.bytes, packs: before.packs, objects: before.objects });
    expect(r.after.bytes).toBeLessThan(r.before.bytes);
    expect(r.deletedPacks + r.repackedPacks).toBeGreaterThan(0);
    const info = await vaultInfo(vault);
    expect(info.stats.snapshots).toBe(2);
    expect(info.stats.bytes).toBe(r.after.bytes);
    // R2 holds exactly the indexed packs.
    expect((await r2Keys(vault)).length).toBe(info.stats.packs);
    await cloneHead(vault, vs[5]);
    // A pull since a pruned snapshot: 404 unknown_snapshot (the client falls back to a full pull).
    expect((await pull(vault, { since: vs[1].snapshot })).status).toBe(404);
    const since4 = await readPull(await pull(vault, { since: vs[4].snapshot }));
    expect(since4.meta.snapshots.map((e: any) => e.snapshot)).toEqual([vs[5].snapshot]);
    // Nothing else to collect.
    const again = await runGc(stub(vault), store(vault), policy());
    expect(again).toMatchObject({ deletedPacks: 0, repackedPacks: 0, prunedSnapshots: 0, more: false });
    // The vault keeps working: a new commit on top of the head.
    const next = buildVault(noteSpecs(40).map((s) => ({ ...s, version: 9 })), [vs[5].snapshot]);
    expect((await pushVault(vault, next, vs[5].snapshot, vs[5])).res.status).toBe(200);
    await cloneHead(vault, next);
  });

  it("keeps snapshots by age and by count, and always the head", async () => {
    const vault = "gc-retention";
    const vs = await history(vault, 4, 12);
    // Everything is younger than a day: all kept by age.
    expect((await gcUntilDone(vault, policy({ retentionDays: 1, retentionSnapshots: 1 }))).prunedSnapshots).toBe(0);
    // By count only: the head and one more.
    expect((await gcUntilDone(vault, policy({ retentionDays: 0, retentionSnapshots: 2 }))).prunedSnapshots).toBe(2);
    const log: any = await (await api(`/v1/vaults/${vault}/log`)).json();
    expect(log.snapshots.map((e: any) => e.snapshot)).toEqual([vs[3].snapshot, vs[2].snapshot]);
    await cloneHead(vault, vs[3]);
  });

  it("never collects a pending pack within the grace period, nor an uploading one within its lease", async () => {
    const vault = "gc-grace";
    const [v1] = await history(vault, 1, 8);
    // A push in flight: packs uploaded without a commit (pending), and one still uploading.
    const stray = await packOf([...buildVault(noteSpecs(8, "stray")).objects.values()]);
    expect((await push(vault, pushBody([stray.bytes]))).status).toBe(200);
    const uploading = await packOf([...buildVault(noteSpecs(5, "up")).objects.values()]);
    const s = env.VAULT.get(env.VAULT.idFromName(vault));
    await s.registerPack(uploading.id, uploading.bytes.length, uploading.bytes.slice(0, decodePackHeader(uploading.bytes).headerEnd));
    await env.BUCKET.put(`vaults/${vault}/packs/${uploading.id.slice(0, 2)}/${uploading.id}`, uploading.bytes);

    const now = await gcUntilDone(vault, policy());
    expect(now.deletedPacks).toBe(0);
    expect((await vaultInfo(vault)).stats.packs).toBe(3);
    // Two hours later: the pending pack is collected; the uploading one (lease: 3 hours) stays; the head is whole.
    const later = await gcUntilDone(vault, policy({ uploadLeaseSeconds: 3 * 3600 }), () => Date.now() + 2 * HOUR);
    expect(later.deletedPacks).toBe(1);
    const keys = await r2Keys(vault);
    expect(keys.some((k) => k.endsWith(stray.id))).toBe(false);
    expect(keys.some((k) => k.endsWith(uploading.id))).toBe(true);
    await cloneHead(vault, v1);
    await s.releasePacks([uploading.id]);
  });

  it("objects committed within the committed grace period are kept even when no retained snapshot reaches them", async () => {
    const vault = "gc-committed-grace";
    await history(vault, 3, 12);
    const kept = await gcUntilDone(vault, policy({ retentionSnapshots: 1, committedGraceSeconds: 3600 }));
    expect(kept.prunedSnapshots).toBe(2);
    expect(kept.deletedPacks + kept.repackedPacks).toBe(0);
    const later = await gcUntilDone(vault, policy({ retentionSnapshots: 1, committedGraceSeconds: 3600 }), () => Date.now() + 2 * HOUR);
    expect(later.deletedPacks + later.repackedPacks).toBeGreaterThan(0);
  });

  it("a commit whose walk began before a sweep is refused (gc_raced) and walks again", async () => {
    const vault = "gc-epoch";
    const [v1, v2] = await history(vault, 2, 8);
    const s = env.VAULT.get(env.VAULT.idFromName(vault));
    const epoch = await s.gcEpoch();
    await gcUntilDone(vault, policy({ retentionSnapshots: 1 }));
    expect(await s.gcEpoch()).toBeGreaterThan(epoch);
    const v3 = buildVault(noteSpecs(8).map((x) => ({ ...x, version: 7 })), [v2.snapshot]);
    const p = await packOf([...v3.objects.values()]);
    await s.registerPack(p.id, p.bytes.length, p.bytes.slice(0, decodePackHeader(p.bytes).headerEnd));
    const r = await s.commit({ snapshot: v3.snapshot, parents: [v2.snapshot], expect: v2.snapshot, packs: [p.id], own: [p.id], completeNodes: [], gcEpoch: epoch });
    expect(r).toEqual({ ok: false, reason: "gc_raced" });
    await s.releasePacks([p.id]);
    void v1;
  });

  it("bounded work: a small budget answers more: true and later calls finish", async () => {
    const vault = "gc-budget";
    const vs = await history(vault, 5, 60);
    const r = await gcUntilDone(vault, policy(), undefined, 2);
    expect(r.steps).toBeGreaterThan(1);
    expect(r.last.more).toBe(false);
    expect(r.prunedSnapshots).toBe(3);
    await cloneHead(vault, vs[4]);
  });

  it("encrypted vaults: only pending packs past the grace period go; nothing committed, no pruning", async () => {
    const vault = "gc-encrypted";
    await createVault(vault, "hmac-sha256");
    let prev: BuiltVault | undefined;
    for (let i = 0; i < 3; i++) {
      const v = buildVault(noteSpecs(6).map((s) => ({ ...s, version: i })), prev ? [prev.snapshot] : []);
      expect((await pushVault(vault, v, prev?.snapshot ?? null, prev)).res.status).toBe(200);
      prev = v;
    }
    const stray = await packOf([...buildVault(noteSpecs(4, "stray")).objects.values()]);
    expect((await push(vault, pushBody([stray.bytes]))).status).toBe(200);
    const r = await gcUntilDone(vault, policy({ retentionSnapshots: 1 }), () => Date.now() + 2 * HOUR);
    expect(r).toMatchObject({ deletedPacks: 1, repackedPacks: 0, prunedSnapshots: 0 });
    expect(r.last.plain).toBe(false);
    expect((await vaultInfo(vault)).stats).toMatchObject({ packs: 3, snapshots: 3 });
  });

  it("POST /gc answers bytes before and after; a second GC is refused while one holds the lease", async () => {
    const vault = "gc-route";
    await history(vault, 3, 10);
    const res = await api(`/v1/vaults/${vault}/gc`, { method: "POST" });
    expect(res.status, await res.clone().text()).toBe(200);
    const body: any = await res.json();
    expect(Object.keys(body)).toEqual(expect.arrayContaining(["before", "after", "deletedPacks", "repackedPacks", "prunedSnapshots", "more"]));
    // Deployed defaults (30 days, 50 snapshots, 1 h grace): nothing young is collected.
    expect(body).toMatchObject({ deletedPacks: 0, prunedSnapshots: 0, more: false });
    expect(body.before.bytes).toBe(body.after.bytes);
    const head = await api(`/v1/vaults/${vault}/gc`, { method: "POST", body: JSON.stringify({ keep: "head" }) });
    const hb: any = await head.json();
    expect(hb.prunedSnapshots).toBe(2);
    expect(hb.after.bytes).toBeLessThan(hb.before.bytes);
    expect((await api(`/v1/vaults/${vault}/gc`, { method: "POST", body: JSON.stringify({ keep: "all" }) })).status).toBe(400);
    expect((await api(`/v1/vaults/nope-gc/gc`, { method: "POST" })).status).toBe(404);
    // Lease: a second GC while one runs is `busy` and does nothing.
    const s = stub(vault);
    expect((await s.gcBegin(policy(), "someone-else")).status).toBe("ok");
    const busy: any = await (await api(`/v1/vaults/${vault}/gc`, { method: "POST" })).json();
    expect(busy).toMatchObject({ busy: true, more: true });
    await s.gcEnd("someone-else", false);
  });

  it("/sync/clear reclaims storage through GC and /sync/status shows it", async () => {
    const vault = "gc-clear";
    await createVault(vault);
    for (let i = 0; i < 3; i++) {
      const notes = Object.fromEntries(Array.from({ length: 30 }, (_, k) => [`n${k}`, { title: `n${k}`, body: `version ${i} `.repeat(40) }]));
      expect((await postJson(`/sync/push?vault=${vault}`, { notes })).status).toBe(200);
    }
    const before: any = await (await api(`/sync/status?vault=${vault}`)).json();
    const res = await api(`/sync/clear?vault=${vault}`, { method: "POST" });
    expect(res.status, await res.clone().text()).toBe(200);
    const body: any = await res.json();
    expect(body.cleared).toBe(30); // the 30 notes the clear removed
    expect(body.gc.before.bytes).toBeGreaterThan(body.gc.after.bytes);
    const after: any = await (await api(`/sync/status?vault=${vault}`)).json();
    expect(after.notes).toBe(0);
    expect(after.bytes).toBe(body.gc.after.bytes);
    expect(after.bytes).toBeLessThan(before.bytes / 10);
    // The vault still works after the clear.
    expect((await postJson(`/sync/push?vault=${vault}`, { notes: { again: { title: "again" } } })).status).toBe(200);
    expect(((await (await api(`/notes/again?vault=${vault}`)).json()) as any).title).toBe("again");
  });

  it("the Cron Trigger kicks vaults with activity since their last GC", async () => {
    const vault = "gc-cron";
    await history(vault, 2, 6);
    const s = env.VAULT.get(env.VAULT.idFromName(vault));
    expect(await s.gcKick(Date.now(), 0)).toBe(true);
    await gcUntilDone(vault, policy());
    // Nothing new since that GC: not due.
    expect(await s.gcKick(Date.now() + 1, 0)).toBe(false);
    const worker = (await import("../../worker/index.ts")).default;
    await worker.scheduled!({ cron: "17 3 * * *", scheduledTime: Date.now(), type: "scheduled", noRetry() {} } as ScheduledController, env);
  });
});
