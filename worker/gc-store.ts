// The garbage collector's side of the vault's SQLite (worker/gc.ts drives it; docs/reliability.md):
// a run's lease and state in meta, its mark set and work queue (gc_marks, gc_queue), the sweep
// (which also releases uploads whose lease ran out), repacks, and the Cron Trigger's question.
// GcStore is a GcVault: the object's alarm runs worker/gc.ts over it directly.
import { ObjectType } from "../engine/core/object.ts";
import { decodePackHeader } from "../engine/core/pack.ts";
import { LOCATION_COLUMNS, toLocation, type LocationRow, type ObjectIndex } from "./object-index.ts";
import type { PackIndex } from "./pack-index.ts";
import type { PackStore } from "./pack-store.ts";
import { DEFAULT_UPLOAD_LEASE_SECONDS, retainedCondition } from "./retention.ts";
import type { SnapshotLog } from "./snapshot-log.ts";
import type { VaultDb, VaultMeta } from "./vault-schema.ts";
import type { GcBegin, GcPolicy, GcSweep, GcVault, ObjectLocation, VaultStats } from "./vault-types.ts";

/** A GC run in progress (meta gc_run), possibly spanning several requests. */
interface GcRun {
  startedAt: number;
  /** Head seq when the run started: retention is decided against it. */
  startHeadSeq: number;
  /** Every snapshot up to this seq has had its tree enqueued (catch-up moves it to the head). */
  markedSeq: number;
  policy: GcPolicy;
  plain: boolean;
}

const LEASE_MS = 120_000;

/** The vault's other stores a GC reads and changes, and its packs in R2. */
export interface GcStoreDeps {
  db: VaultDb;
  meta: VaultMeta;
  packs: PackIndex;
  objects: ObjectIndex;
  log: SnapshotLog;
  store: () => PackStore;
}

export class GcStore implements GcVault {
  private readonly db: VaultDb;
  private readonly sql: SqlStorage;
  private readonly meta: VaultMeta;
  private readonly packs: PackIndex;
  private readonly objects: ObjectIndex;
  private readonly log: SnapshotLog;
  private readonly store: () => PackStore;

  constructor(deps: GcStoreDeps) {
    ({ db: this.db, meta: this.meta, packs: this.packs, objects: this.objects, log: this.log, store: this.store } = deps);
    this.sql = deps.db.sql;
  }

  /**
   * Starts (or resumes) a GC run under a lease, so one vault runs one GC at a time. A new run
   * enqueues the roots of the retained snapshots. A run resumed with another policy starts over.
   */
  gcBegin(policy: GcPolicy, lease: string, now: number = Date.now()): GcBegin {
    return this.db.transaction((): GcBegin => {
      const config = this.meta.config();
      if (!config) return { status: "unknown_vault" };
      const held = this.meta.getJson<{ lease: string; until: number }>("gc_lease");
      if (held && held.lease !== lease && held.until > now) return { status: "busy" };
      this.meta.set("gc_lease", JSON.stringify({ lease, until: now + LEASE_MS }));
      const plain = config.addressing === "sha256";
      let run = this.meta.getJson<GcRun>("gc_run");
      const resumed = !!run && JSON.stringify(run.policy) === JSON.stringify(policy);
      if (!run || !resumed) {
        this.sql.exec("DELETE FROM gc_marks");
        this.sql.exec("DELETE FROM gc_queue");
        const headSeq = this.log.head()?.seq ?? 0;
        run = { startedAt: now, startHeadSeq: headSeq, markedSeq: headSeq, policy, plain };
        if (plain) {
          const keep = retainedCondition(policy, headSeq, now);
          this.enqueueSnapshots(`${keep.sql} AND seq <= ?`, [...keep.args, headSeq]);
        }
        this.meta.set("gc_run", JSON.stringify(run));
      }
      return { status: "ok", plain, resumed, stats: this.meta.stats() };
    });
  }

  /** Marks the snapshots matching `where` and enqueues their roots (or the snapshot, when the log lacks its root). */
  private enqueueSnapshots(where: string, args: SqlStorageValue[]): void {
    const rows = this.sql.exec<{ id: string; root: string | null }>(`SELECT id, root FROM snapshots WHERE ${where}`, ...args).toArray();
    for (const r of rows) {
      this.sql.exec("INSERT OR IGNORE INTO gc_marks (addr) VALUES (?)", r.id);
      if (r.root) this.markNode(r.root, ObjectType.Tree);
      else this.sql.exec("INSERT OR IGNORE INTO gc_queue (addr, kind) VALUES (?, ?)", r.id, ObjectType.Snapshot);
    }
  }

  /** Marks a node and queues it to be read, unless it was marked already (then its subtree is or will be). */
  private markNode(addr: string, kind: number): void {
    this.sql.exec("INSERT OR IGNORE INTO gc_marks (addr) VALUES (?)", addr);
    if (this.sql.exec<{ c: number }>("SELECT changes() AS c").one().c) this.sql.exec("INSERT OR IGNORE INTO gc_queue (addr, kind) VALUES (?, ?)", addr, kind);
  }

  /** The next nodes to read, with their locations (null location: not stored or not visible). */
  gcNext(limit: number): { addr: string; kind: number; location: ObjectLocation | null }[] {
    const batch = this.sql.exec<{ addr: string; kind: number }>("SELECT addr, kind FROM gc_queue LIMIT ?", limit).toArray();
    const found = this.objects.findObjects(batch.map((b) => b.addr), [], true);
    return batch.map((b) => ({ addr: b.addr, kind: b.kind, location: found.has(b.addr) ? toLocation(found.get(b.addr)!) : null }));
  }

  /** Records what reading `done` found: its child nodes (queued) and leaves (marked). */
  gcMark(done: string[], nodes: { addr: string; kind: number }[], leaves: string[]): number {
    return this.db.transaction(() => {
      for (const n of nodes) this.markNode(n.addr, n.kind);
      if (leaves.length) this.sql.exec("INSERT OR IGNORE INTO gc_marks (addr) SELECT value FROM json_each(?)", JSON.stringify(leaves));
      if (done.length) this.sql.exec("DELETE FROM gc_queue WHERE addr IN (SELECT value FROM json_each(?))", JSON.stringify(done));
      return this.sql.exec<{ c: number }>("SELECT count(*) AS c FROM gc_queue").one().c;
    });
  }

  /** Enqueues the snapshots committed since the run last looked: they are retained, and their trees must be marked. */
  gcCatchUp(): number {
    return this.db.transaction(() => {
      const run = this.meta.getJson<GcRun>("gc_run");
      const headSeq = this.log.head()?.seq ?? 0;
      if (!run || !run.plain || headSeq <= run.markedSeq) return 0;
      this.enqueueSnapshots("seq > ? AND seq <= ?", [run.markedSeq, headSeq]);
      run.markedSeq = headSeq;
      this.meta.set("gc_run", JSON.stringify(run));
      return this.sql.exec<{ c: number }>("SELECT count(*) AS c FROM gc_queue").one().c;
    });
  }

  /** SQL condition on pack_members m / objects o (located in m.pack) / packs p: the object must be kept. */
  private liveCondition(run: GcRun, now: number): { sql: string; args: SqlStorageValue[] } {
    const cg = this.sql
      .exec<{ s: number | null }>("SELECT min(seq) AS s FROM snapshots WHERE committed_at >= ?", now - run.policy.committedGraceSeconds * 1000)
      .one().s;
    const graceSeq = cg ?? Number.MAX_SAFE_INTEGER;
    const recentPack = "(p.state = 'uploading' OR (p.state = 'pending' AND p.created_at >= ?))";
    const args: SqlStorageValue[] = [now - run.policy.graceSeconds * 1000, graceSeq, run.markedSeq];
    // Plain vaults: marked (reachable from a retained snapshot). Encrypted vaults cannot be walked:
    // everything ever committed is kept; only pending packs past the grace period are collected.
    const reach = run.plain ? "EXISTS (SELECT 1 FROM gc_marks g WHERE g.addr = o.addr)" : "o.seq IS NOT NULL";
    return { sql: `(${recentPack} OR o.seq >= ? OR o.seq > ? OR ${reach})`, args };
  }

  /**
   * Uploading packs whose lease ran out (their upload began more than `leaseSeconds` ago): the
   * request that stored them died without rolling back (a killed isolate), so they are unindexed
   * here; the caller deletes them from R2. Their objects were never visible to anyone else.
   */
  private releaseStaleUploads(now: number, leaseSeconds: number): { n: number; id: string; bytes: number }[] {
    const stale = this.sql
      .exec<{ n: number; id: string; bytes: number }>("SELECT n, id, bytes FROM packs WHERE state = 'uploading' AND created_at < ?", now - leaseSeconds * 1000)
      .toArray();
    for (const p of stale) this.packs.unindex(p.n, p.bytes);
    return stale;
  }

  /**
   * The sweep, with every other event of this object held back: checks that the marking is
   * complete up to the head, prunes the log, unindexes up to `maxPacks` packs without a live
   * object (bumping the epoch), then deletes them from R2. Answers the packs worth repacking.
   */
  async gcSweep(now: number, maxPacks: number): Promise<GcSweep> {
    return this.db.exclusive(async () => {
      const result = this.db.transaction((): GcSweep & { ids: string[] } => {
        const run = this.meta.getJson<GcRun>("gc_run");
        const empty = { again: false, deletedPacks: 0, deletedBytes: 0, prunedSnapshots: 0, morePacks: false, repack: [], ids: [] };
        if (!run) return empty;
        const headSeq = this.log.head()?.seq ?? 0;
        const queued = this.sql.exec<{ c: number }>("SELECT count(*) AS c FROM gc_queue").one().c;
        if (queued || (run.plain && headSeq !== run.markedSeq)) return { ...empty, again: true };
        const released = this.releaseStaleUploads(now, run.policy.uploadLeaseSeconds ?? DEFAULT_UPLOAD_LEASE_SECONDS);
        const live = this.liveCondition(run, now);
        let prunedSnapshots = 0;
        if (run.plain) {
          const keep = retainedCondition(run.policy, run.startHeadSeq, run.startedAt);
          prunedSnapshots = this.sql.exec<{ c: number }>(`SELECT count(*) AS c FROM snapshots WHERE NOT ${keep.sql}`, ...keep.args).one().c;
          if (prunedSnapshots) {
            this.sql.exec(`DELETE FROM snapshots WHERE NOT ${keep.sql}`, ...keep.args);
            this.meta.bump("snapshots", -prunedSnapshots);
          }
        }
        const dead = this.sql
          .exec<{ n: number; id: string; bytes: number }>(
            `SELECT p.n AS n, p.id AS id, p.bytes AS bytes FROM packs p
             WHERE p.state != 'uploading' AND NOT (p.state = 'pending' AND p.created_at >= ?) AND NOT EXISTS (
               SELECT 1 FROM pack_members m JOIN objects o ON o.addr = m.addr AND o.pack = m.pack
               WHERE m.pack = p.n AND ${live.sql})
             ORDER BY p.n LIMIT ?`,
            now - run.policy.graceSeconds * 1000,
            ...live.args,
            maxPacks,
          )
          .toArray();
        let deletedBytes = released.reduce((n, r) => n + r.bytes, 0);
        for (const d of dead) {
          this.packs.unindex(d.n, d.bytes);
          deletedBytes += d.bytes;
        }
        if (dead.length || released.length) this.meta.bumpGcEpoch();
        // Nodes not reachable from a retained snapshot may have lost descendants: never trust them as complete.
        if (run.plain) this.sql.exec("UPDATE objects SET complete = 0 WHERE complete = 1 AND NOT EXISTS (SELECT 1 FROM gc_marks g WHERE g.addr = objects.addr)");
        // Packs mostly garbage (more than half their object bytes dead): worth copying the rest out.
        const repack = run.plain
          ? this.sql
              .exec<{ id: string }>(
                `SELECT p.id AS id FROM packs p JOIN pack_members m ON m.pack = p.n LEFT JOIN objects o ON o.addr = m.addr AND o.pack = m.pack
                 WHERE p.state = 'committed'
                 GROUP BY p.n
                 HAVING sum(CASE WHEN o.addr IS NOT NULL AND ${live.sql} THEN m.len ELSE 0 END) * 2 < sum(m.len)
                 ORDER BY p.n LIMIT 16`,
                ...live.args,
              )
              .toArray()
              .map((r) => r.id)
          : [];
        const gone = [...released, ...dead];
        return { again: false, deletedPacks: gone.length, deletedBytes, prunedSnapshots, morePacks: dead.length === maxPacks, repack, ids: gone.map((d) => d.id) };
      });
      const { ids, ...answer } = result;
      let r2Deletes = 0;
      // A failed delete leaves unreferenced bytes in R2 (never read; see gcOrphans in docs/reliability.md).
      for (let i = 0; i < ids.length; i += 1000) {
        r2Deletes++;
        await this.store().delete(ids.slice(i, i + 1000)).catch((e) => console.error("gc: R2 delete failed", e));
      }
      return { ...answer, r2Deletes };
    });
  }

  /** The live objects located in a pack (for a repack), with their locations; null when the pack is gone or not committed. */
  gcLiveObjects(id: string, now: number): Record<string, ObjectLocation> | null {
    const run = this.meta.getJson<GcRun>("gc_run");
    const p = this.sql.exec<{ n: number; state: string }>("SELECT n, state FROM packs WHERE id = ?", id).toArray()[0];
    if (!run || !p || p.state !== "committed") return null;
    const live = this.liveCondition(run, now);
    const rows = this.sql
      .exec<LocationRow>(
        `SELECT m.addr AS addr, ${LOCATION_COLUMNS}
         FROM pack_members m JOIN objects o ON o.addr = m.addr AND o.pack = m.pack JOIN packs p ON p.n = m.pack JOIN frames f ON f.pack = m.pack AND f.idx = m.frame
         WHERE m.pack = ? AND ${live.sql}`,
        p.n,
        ...live.args,
      )
      .toArray();
    const out: Record<string, ObjectLocation> = {};
    for (const r of rows) out[r.addr] = toLocation(r);
    return out;
  }

  /**
   * A repack: `newId` (already in R2) holds copies of the live objects of `oldId`. In one
   * transaction the new pack is indexed (committed) and those objects re-pointed to it (their seq
   * kept, so pulls see no change), then the old pack is unindexed and deleted from R2. Refused
   * (ok: false) when the old pack changed meanwhile; the caller then deletes the new one.
   */
  async gcReplacePack(oldId: string, newId: string, bytes: number, header: Uint8Array, now: number): Promise<{ ok: boolean; freedBytes: number; r2Deletes: number }> {
    return this.db.exclusive(async () => {
      const r = this.db.transaction(() => {
        const old = this.sql.exec<{ n: number; bytes: number; state: string }>("SELECT n, bytes, state FROM packs WHERE id = ?", oldId).toArray()[0];
        if (!old || old.state !== "committed" || this.sql.exec("SELECT 1 FROM packs WHERE id = ?", newId).toArray().length) return null;
        const live = Object.keys(this.gcLiveObjects(oldId, now) ?? {});
        const h = decodePackHeader(header);
        const inNew = new Set(h.objects.map((o) => o.addr));
        if (live.some((a) => !inNew.has(a))) return null;
        const n = this.sql
          .exec<{ n: number }>("INSERT INTO packs (id, bytes, objects, frames, created_at, state, uploaders) VALUES (?, ?, ?, ?, ?, 'committed', 0) RETURNING n", newId, bytes, h.objects.length, h.frames.length, now)
          .one().n;
        this.packs.indexLayout(n, h);
        this.sql.exec("UPDATE objects SET pack = ? WHERE pack = ? AND addr IN (SELECT value FROM json_each(?))", n, old.n, JSON.stringify([...inNew]));
        this.meta.bump("packs", 1);
        this.meta.bump("bytes", bytes);
        this.packs.unindex(old.n, old.bytes);
        this.meta.bumpGcEpoch();
        return { freedBytes: old.bytes - bytes };
      });
      if (!r) return { ok: false, freedBytes: 0, r2Deletes: 0 };
      await this.store().delete([oldId]).catch((e) => console.error("gc: R2 delete failed", e));
      return { ok: true, freedBytes: r.freedBytes, r2Deletes: 1 };
    });
  }

  /** Deletes these packs from R2 if the index does not know them (a repack that was refused, orphans). */
  async gcDeleteUnindexed(ids: string[]): Promise<number> {
    return this.db.exclusive(async () => {
      const known = new Set(this.sql.exec<{ id: string }>("SELECT id FROM packs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray().map((r) => r.id));
      const gone = ids.filter((id) => !known.has(id));
      if (gone.length) await this.store().delete(gone).catch(() => {});
      return gone.length;
    });
  }

  /** Ends this request's part of a run: releases the lease; a finished run forgets its marks. */
  gcEnd(lease: string, finished: boolean, now: number = Date.now()): VaultStats {
    return this.db.transaction(() => {
      const held = this.meta.getJson<{ lease: string }>("gc_lease");
      if (held?.lease === lease) this.sql.exec("DELETE FROM meta WHERE key = 'gc_lease'");
      if (finished) {
        this.sql.exec("DELETE FROM meta WHERE key = 'gc_run'");
        this.sql.exec("DELETE FROM gc_marks");
        this.sql.exec("DELETE FROM gc_queue");
        this.meta.set("gc_last_end", now);
      }
      return this.meta.stats();
    });
  }

  /**
   * The Cron Trigger asks each vault: collect if something was committed or uploaded since the last
   * GC (and that GC is older than `minIntervalMs`); the work then runs in this object's alarm,
   * where it has its own budget of subrequests, one bounded step per alarm.
   */
  async kick(now: number, minIntervalMs: number, uploadLeaseSeconds: number): Promise<boolean> {
    if (!this.meta.config()) return false;
    const last = Number(this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'gc_last_end'").toArray()[0]?.value ?? 0);
    const activity = this.sql.exec<{ t: number | null }>("SELECT max(t) AS t FROM (SELECT max(committed_at) AS t FROM snapshots UNION ALL SELECT max(created_at) FROM packs)").one().t ?? 0;
    const running = !!this.meta.getJson<GcRun>("gc_run");
    // An upload whose lease ran out holds quota until a GC releases it: worth a run at once.
    const staleUpload = this.sql.exec("SELECT 1 FROM packs WHERE state = 'uploading' AND created_at < ? LIMIT 1", now - uploadLeaseSeconds * 1000).toArray().length > 0;
    if (!running && !staleUpload && (activity <= last || now - last < minIntervalMs)) return false;
    if ((await this.db.storage.getAlarm()) === null) await this.db.storage.setAlarm(now + 1000);
    return true;
  }
}
