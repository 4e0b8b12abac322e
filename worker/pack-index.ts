// The pack index: which packs the vault's R2 holds, their frames and members, and each pack's
// state through an upload (docs/reliability.md). Every R2 delete of a pack goes through here or
// gc-store.ts, after the pack left the index (PackStore.delete in pack-store.ts does the delete).
//
// Pack states:
//   uploading  stored by a request still running; its objects are invisible to other requests
//              (`uploaders` counts those requests: the pack is deleted when the last one fails)
//   pending    stored by a request that ended well, no commit stamped it
//   committed  stamped by a commit
import { decodePackHeader, type PackHeader } from "../engine/core/pack.ts";
import type { PackStore } from "./pack-store.ts";
import type { VaultDb, VaultMeta } from "./vault-schema.ts";

export class PackIndex {
  private readonly sql: SqlStorage;

  constructor(
    private readonly db: VaultDb,
    private readonly meta: VaultMeta,
    private readonly store: () => PackStore,
  ) {
    this.sql = db.sql;
  }

  /**
   * Indexes a verified pack before the Worker puts it to R2 (its objects stay invisible to other
   * requests until the request settles it). `stored: true` = the pack is already settled: the
   * Worker skips the put and must not release it. With `limitBytes`, a new pack that would take
   * the vault's stored bytes past it is refused (`quotaExceeded`, nothing indexed).
   */
  register(id: string, bytes: number, header: Uint8Array, limitBytes?: number): { stored: boolean; quotaExceeded?: { used: number; limit: number } } {
    return this.db.transaction(() => {
      const row = this.sql.exec<{ n: number; state: string }>("SELECT n, state FROM packs WHERE id = ?", id).toArray()[0];
      if (row && row.state !== "uploading") {
        // Re-sent by a client about to rely on it: its grace period (GC_GRACE_SECONDS) starts again.
        if (row.state === "pending") this.sql.exec("UPDATE packs SET created_at = ? WHERE n = ?", Date.now(), row.n);
        return { stored: true };
      }
      if (row) {
        // Another request uploads it too: the lease (created_at) now runs from the newest upload.
        this.sql.exec("UPDATE packs SET uploaders = uploaders + 1, created_at = ? WHERE n = ?", Date.now(), row.n);
        return { stored: false };
      }
      // The vault quota (VAULT_LIMIT_BYTES): checked here, in the transaction that adds the bytes,
      // so concurrent requests cannot pass it together. Nothing is indexed when it refuses.
      if (limitBytes !== undefined) {
        const used = this.meta.stats().bytes;
        if (used + bytes > limitBytes) return { stored: false, quotaExceeded: { used, limit: limitBytes } };
      }
      const h = decodePackHeader(header);
      const n = this.sql
        .exec<{ n: number }>(
          "INSERT INTO packs (id, bytes, objects, frames, created_at, state, uploaders) VALUES (?, ?, ?, ?, ?, 'uploading', 1) RETURNING n",
          id,
          bytes,
          h.objects.length,
          h.frames.length,
          Date.now(),
        )
        .one().n;
      this.indexLayout(n, h);
      // From the rows just made (in address order, read along the primary key) rather than the JSON again.
      this.sql.exec("INSERT OR IGNORE INTO objects (addr, type, pack, seq, complete) SELECT addr, type, pack, NULL, 0 FROM pack_members WHERE pack = ?", n);
      const fresh = this.sql.exec<{ c: number }>("SELECT changes() AS c").one().c;
      this.meta.bump("packs", 1);
      this.meta.bump("bytes", bytes);
      this.meta.bump("objects", fresh);
      return { stored: false };
    });
  }

  /** Indexes the frames and members of pack `n` from its header. */
  indexLayout(n: number, h: PackHeader): void {
    const frames = JSON.stringify(h.frames.map((f, i) => [i, f.offset, f.storedLength, f.rawLength, f.codec]));
    this.sql.exec(
      `INSERT INTO frames (pack, idx, off, stored_len, raw_len, codec)
       SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
      n,
      frames,
    );
    // In address order (stable: of an address listed twice the first stays): the rows then go into
    // the primary key's B-tree one after another, not at random places in it.
    const members = h.objects.map((o) => [o.addr, o.type, o.frame, o.offset, o.length] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.sql.exec(
      `INSERT OR IGNORE INTO pack_members (pack, addr, type, frame, off, len)
       SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
      n,
      JSON.stringify(members),
    );
  }

  /**
   * Rollback of a failed request: drops each pack it registered unless another running request is
   * storing it too or it got settled meanwhile, and deletes the dropped ones from R2. Runs with the
   * object's other events held back, so no request can register (and put) one of these packs
   * between the decision and the delete.
   */
  release(ids: string[]): Promise<{ deleted: string[] }> {
    return this.db.exclusive(async () => {
      const deleted = this.db.transaction(() => ids.filter((id) => this.dropPack(id)));
      // A failed delete leaves an unreferenced pack in R2 (garbage, never read): nothing points at it.
      if (deleted.length) await this.store().delete(deleted).catch(() => {});
      return { deleted };
    });
  }

  private dropPack(id: string): boolean {
    const row = this.sql.exec<{ n: number; state: string; uploaders: number; bytes: number }>("SELECT n, state, uploaders, bytes FROM packs WHERE id = ?", id).toArray()[0];
    if (!row) return false;
    if (row.state !== "uploading" || row.uploaders > 1) {
      this.sql.exec("UPDATE packs SET uploaders = max(uploaders - 1, 0) WHERE n = ?", row.n);
      return false;
    }
    this.unindex(row.n, row.bytes);
    return true;
  }

  /**
   * Removes a pack from the index: objects located in it that another pack also holds move there
   * (settled packs first); the others are dropped. Counters follow. (Rollback and GC.)
   */
  unindex(n: number, bytes: number): number {
    // Objects located here that another pack also holds move there (settled packs first); the rest go.
    const located = "addr IN (SELECT addr FROM pack_members WHERE pack = ?) AND pack = ?";
    const elsewhere = "EXISTS (SELECT 1 FROM pack_members m WHERE m.addr = objects.addr AND m.pack != ?)";
    const gone = this.sql.exec<{ c: number }>(`SELECT count(*) AS c FROM objects WHERE ${located} AND NOT ${elsewhere}`, n, n, n).one().c;
    this.sql.exec(`DELETE FROM objects WHERE ${located} AND NOT ${elsewhere}`, n, n, n);
    this.sql.exec(
      `UPDATE objects SET pack = (SELECT m.pack FROM pack_members m JOIN packs p ON p.n = m.pack
                                  WHERE m.addr = objects.addr AND m.pack != ? ORDER BY p.state = 'uploading' LIMIT 1)
       WHERE ${located}`,
      n,
      n,
      n,
    );
    this.sql.exec("DELETE FROM pack_members WHERE pack = ?", n);
    this.sql.exec("DELETE FROM frames WHERE pack = ?", n);
    this.sql.exec("DELETE FROM packs WHERE n = ?", n);
    this.meta.bump("packs", -1);
    this.meta.bump("bytes", -bytes);
    this.meta.bump("objects", -gone);
    return gone;
  }

  /** A request that stored packs and ended without a commit makes them visible (state pending). Call inside a transaction. */
  settle(own: string[]): void {
    const ns = this.packNumbers(own);
    this.adoptObjects(ns);
    this.sql.exec("UPDATE packs SET state = 'pending' WHERE state = 'uploading' AND n IN (SELECT value FROM json_each(?))", JSON.stringify(ns));
  }

  packNumbers(ids: string[]): number[] {
    if (!ids.length) return [];
    return this.sql.exec<{ n: number }>("SELECT n FROM packs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray().map((r) => r.n);
  }

  /**
   * Objects located in another request's uploading pack that these packs also hold move into
   * these packs, before these become visible: a visible object must never sit in a pack that
   * its uploader may still roll back.
   */
  adoptObjects(ns: number[]): void {
    if (!ns.length) return;
    const set = JSON.stringify(ns);
    // Usually there is no other upload running, and nothing to do.
    const foreign = this.sql
      .exec<{ n: number }>("SELECT n FROM packs WHERE state = 'uploading' AND n NOT IN (SELECT value FROM json_each(?))", set)
      .toArray()
      .map((r) => r.n);
    const ours = `SELECT m.pack FROM pack_members m WHERE m.addr = objects.addr AND m.pack IN (SELECT value FROM json_each(?))`;
    for (const f of foreign) {
      this.sql.exec(
        `UPDATE objects SET pack = (${ours} LIMIT 1)
         WHERE addr IN (SELECT addr FROM pack_members WHERE pack = ?) AND pack = ? AND EXISTS (${ours})`,
        set,
        f,
        f,
        set,
      );
    }
  }
}
