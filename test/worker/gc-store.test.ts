// worker/gc-store.ts: a GC run's lease, the Cron Trigger's question, the sweep's release of dead uploads.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { policyOf } from "../../worker/retention.ts";
import { buildVault, noteSpecs, packOf } from "./helpers.ts";
import { headerOf, inVault, packRow, putAndRegister } from "./stores.ts";

const policy = policyOf({});
const HOUR = 3600_000;

describe("gc store", () => {
  it("runs one GC at a time: another lease is busy until the holder ends its part", async () => {
    await inVault("gcs-lease", (s) => {
      const now = Date.now();
      expect(s.gc.gcBegin(policy, "a", now)).toMatchObject({ status: "ok", plain: true, resumed: false });
      expect(s.gc.gcBegin(policy, "b", now)).toEqual({ status: "busy" });
      s.gc.gcEnd("a", false, now);
      // Not finished: the run's state stays, and the next holder resumes it.
      expect(s.gc.gcBegin(policy, "b", now)).toMatchObject({ status: "ok", resumed: true });
      s.gc.gcEnd("b", true, now);
      expect(s.meta.getJson("gc_run")).toBeNull();
      expect(s.gc.gcBegin(policy, "c", now)).toMatchObject({ status: "ok", resumed: false });
    });
  });

  it("kick: no run without activity since the last GC; an upload past its lease asks for one at once", async () => {
    const p = await packOf(buildVault(noteSpecs(2)).objects.values());
    await inVault("gcs-kick", async (s) => {
      const now = Date.now();
      expect(await s.gc.kick(now, 6 * HOUR, 3600)).toBe(false);
      expect(await s.db.storage.getAlarm()).toBeNull();
      s.packs.register(p.id, p.bytes.length, headerOf(p));
      // Activity, but the last GC is recent (and the upload within its lease): not yet.
      s.gc.gcEnd("none", true, now);
      expect(await s.gc.kick(now + 1000, 6 * HOUR, 3600)).toBe(false);
      expect(await s.gc.kick(now + 2 * HOUR, 6 * HOUR, 3600)).toBe(true);
      expect(await s.db.storage.getAlarm()).not.toBeNull();
      await s.db.storage.deleteAlarm();
    });
  });

  it("the sweep releases an upload whose lease ran out and deletes its pack from R2", async () => {
    const p = await packOf(buildVault(noteSpecs(3)).objects.values());
    await inVault("gcs-stale", async (s) => {
      const key = await putAndRegister(s, p);
      const now = Date.now();
      const short = { ...policy, uploadLeaseSeconds: 60 };
      expect(s.gc.gcBegin(short, "x", now).status).toBe("ok");
      // Within the lease: kept.
      const early = await s.gc.gcSweep(now + 30_000, 100);
      expect(early).toMatchObject({ again: false, deletedPacks: 0, r2Deletes: 0 });
      expect(packRow(s.sql, p.id)?.state).toBe("uploading");
      const epoch = s.meta.gcEpoch();
      const late = await s.gc.gcSweep(now + 61_000, 100);
      expect(late).toMatchObject({ again: false, deletedPacks: 1, deletedBytes: p.bytes.length, r2Deletes: 1 });
      expect(packRow(s.sql, p.id)).toBeUndefined();
      expect(await env.BUCKET.head(key)).toBeNull();
      expect(s.meta.gcEpoch()).toBe(epoch + 1);
      expect(s.gc.gcEnd("x", true, now).bytes).toBe(0);
    });
  });
});
