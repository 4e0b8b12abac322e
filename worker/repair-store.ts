// The repair's side of the vault's SQLite (worker/repair.ts, verify --repair): the packs a repair
// brought become the located copy of what they hold. Which objects a repair may bring at all is
// the object index's answer (object-index.ts unexpectedObjects).
import type { PackIndex } from "./pack-index.ts";
import type { VaultDb, VaultMeta } from "./vault-schema.ts";

export class RepairStore {
  constructor(
    private readonly db: VaultDb,
    private readonly meta: VaultMeta,
    private readonly packs: PackIndex,
  ) {}

  /**
   * Makes the objects of these packs (uploaded by a repair request, already hash-checked, each one
   * committed before: unexpectedObjects) the located copy of every object they hold: a damaged or
   * missing copy elsewhere is no longer read, and GC collects the old pack once nothing is located
   * in it. Seqs are kept, so pulls see no change.
   */
  repairPacks(own: string[]): { repointed: number } {
    const sql = this.db.sql;
    return this.db.transaction(() => {
      const ns = this.packs.packNumbers(own);
      const set = JSON.stringify(ns);
      const mine = "SELECT m.pack FROM pack_members m WHERE m.addr = objects.addr AND m.pack IN (SELECT value FROM json_each(?)) LIMIT 1";
      sql.exec(`UPDATE objects SET pack = (${mine}) WHERE addr IN (SELECT addr FROM pack_members WHERE pack IN (SELECT value FROM json_each(?)))`, set, set);
      const repointed = sql.exec<{ c: number }>("SELECT changes() AS c").one().c;
      sql.exec("UPDATE packs SET state = 'committed', uploaders = 0 WHERE n IN (SELECT value FROM json_each(?))", set);
      this.meta.bumpGcEpoch();
      return { repointed };
    });
  }
}
