// worker/vault-schema.ts: the tables and their migration, and the meta table's helpers.
import { describe, expect, it } from "vitest";
import { installVaultSchema, SCHEMA_VERSION } from "../../worker/vault-schema.ts";
import { inVault } from "./stores.ts";

const tables = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .toArray()
    .map((r) => r.name);

describe("vault schema", () => {
  it("an object made before GC existed gains the GC tables once, its rows untouched", async () => {
    await inVault("schema-v1", (s) => {
      s.sql.exec("INSERT INTO snapshots (id, seq, parents, committed_at) VALUES ('old', 1, '[]', 5)");
      // What a version-1 object holds: no GC tables, no schema_version.
      s.sql.exec("DROP TABLE gc_marks");
      s.sql.exec("DROP TABLE gc_queue");
      s.sql.exec("DELETE FROM meta WHERE key = 'schema_version'");
      expect(tables(s.sql)).not.toContain("gc_marks");
      installVaultSchema(s.sql);
      expect(tables(s.sql)).toEqual(expect.arrayContaining(["gc_marks", "gc_queue", "meta", "objects", "packs", "snapshots"]));
      expect(s.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value).toBe(SCHEMA_VERSION);
      // A second start rewrites nothing: a mark and the old log entry stay.
      s.sql.exec("INSERT INTO gc_marks (addr) VALUES ('m')");
      installVaultSchema(s.sql);
      expect(s.sql.exec("SELECT addr FROM gc_marks").toArray()).toEqual([{ addr: "m" }]);
      expect(s.sql.exec("SELECT id, seq FROM snapshots").toArray()).toEqual([{ id: "old", seq: 1 }]);
    });
  });

  it("meta: the config and name of the vault, counters from 0, the GC epoch counting up", async () => {
    await inVault("schema-meta", (s) => {
      expect(s.meta.vaultName()).toBe("schema-meta");
      expect(s.meta.config()).toEqual({ format: 1, addressing: "sha256", encryption: null });
      expect(s.meta.stats()).toEqual({ packs: 0, objects: 0, bytes: 0, snapshots: 0 });
      s.meta.bump("bytes", 100);
      s.meta.bump("bytes", -30);
      s.meta.bump("packs", 2);
      expect(s.meta.stats()).toEqual({ packs: 2, objects: 0, bytes: 70, snapshots: 0 });
      expect(s.meta.gcEpoch()).toBe(0);
      s.meta.bumpGcEpoch();
      s.meta.bumpGcEpoch();
      expect(s.meta.gcEpoch()).toBe(2);
      s.meta.set("probe", JSON.stringify({ a: [1, 2] }));
      expect(s.meta.getJson("probe")).toEqual({ a: [1, 2] });
      expect(s.meta.getJson("absent")).toBeNull();
    });
  });

  it("a vault never created has no config (the stores answer null for it)", async () => {
    await inVault("schema-ghost", (s) => {
      expect(s.meta.config()).toBeNull();
      expect(s.objects.missing([])).toBeNull();
      expect(s.vault.info()).toBeNull();
    }, false);
  });
});
