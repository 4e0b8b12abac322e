// The snapshot log and its head: one row per commit (seq 1, 2, ...), the head being the last one.
// The head moves only in `commit`, a compare-and-swap on `expect` in one transaction with the log
// entry, the stamping of the objects it brings and their packs. Pull plans and log pages read here.
import { ObjectType } from "../engine/core/object.ts";
import type { ObjectIndex } from "./object-index.ts";
import type { PackIndex } from "./pack-index.ts";
import type { FrameRef } from "./pack-store.ts";
import type { VaultDb, VaultMeta } from "./vault-schema.ts";
import type { CommitRequest, CommitResult, Head, LogEntry, LogPage, PackPlan, PullPlan } from "./vault-types.ts";

interface SnapshotRow extends Record<string, SqlStorageValue> {
  id: string;
  seq: number;
  parents: string;
  root: string | null;
  device: string | null;
  time: string | null;
  stats: string | null;
  committed_at: number;
}

const SNAPSHOT_COLUMNS = "id, seq, parents, root, device, time, stats, committed_at";

function toLogEntry(r: SnapshotRow): LogEntry {
  const e: LogEntry = { snapshot: r.id, seq: r.seq, parents: JSON.parse(r.parents), committedAt: new Date(r.committed_at).toISOString() };
  if (r.root !== null) e.root = r.root;
  if (r.device !== null) e.device = r.device;
  if (r.time !== null) e.time = r.time;
  if (r.stats !== null) e.stats = JSON.parse(r.stats);
  return e;
}

export class SnapshotLog {
  private readonly sql: SqlStorage;

  constructor(
    private readonly db: VaultDb,
    private readonly meta: VaultMeta,
    private readonly packs: PackIndex,
    private readonly objects: ObjectIndex,
  ) {
    this.sql = db.sql;
  }

  /** The head is the last entry of the log: the log only grows through the compare-and-swap. */
  head(): Head | null {
    const r = this.sql.exec<{ id: string; seq: number; committed_at: number }>("SELECT id, seq, committed_at FROM snapshots ORDER BY seq DESC LIMIT 1").toArray()[0];
    return r ? { snapshot: r.id, seq: r.seq, committedAt: new Date(r.committed_at).toISOString() } : null;
  }

  /**
   * Moves the head from `expect` to `snapshot` (compare-and-swap), appends the log entry with the
   * next seq, stamps the pending objects of `packs` and marks the walked nodes complete, all in one
   * transaction. The Worker has already checked that every referenced object is stored.
   */
  commit(c: CommitRequest): CommitResult {
    return this.db.transaction((): CommitResult => {
      const head = this.head();
      if ((head?.snapshot ?? null) !== c.expect) return { ok: false, reason: "head_moved", head };
      // A GC removed or moved objects since the caller's walk began: its proof may be stale.
      if (c.gcEpoch !== undefined && c.gcEpoch !== this.meta.gcEpoch()) return { ok: false, reason: "gc_raced" };
      const done = this.sql.exec<{ seq: number }>("SELECT seq FROM snapshots WHERE id = ?", c.snapshot).toArray()[0];
      if (done) return { ok: false, reason: "already_committed", seq: done.seq };
      const own = new Set(c.own);
      const packs = [...new Set([...c.packs, ...c.own])];
      const rows = this.sql
        .exec<{ n: number; id: string; state: string }>("SELECT n, id, state FROM packs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(packs))
        .toArray();
      const usable = rows.filter((r) => r.state !== "uploading" || own.has(r.id));
      if (usable.length !== packs.length) {
        const have = new Set(usable.map((r) => r.id));
        return { ok: false, reason: "missing_packs", packs: packs.filter((p) => !have.has(p)) };
      }
      const snap = this.objects.findObjects([c.snapshot], c.own, false).get(c.snapshot);
      if (!snap) return { ok: false, reason: "missing_snapshot" };
      if (snap.type !== ObjectType.Snapshot) return { ok: false, reason: "not_a_snapshot" };
      const ns = usable.map((r) => r.n);
      // The snapshot object itself is stamped with the rest even if it sits in a pack not listed.
      const snapPack = this.packs.packNumbers([snap.pack]);
      const stampSet = JSON.stringify([...new Set([...ns, ...snapPack])]);
      this.packs.adoptObjects(ns);
      const seq = (head?.seq ?? 0) + 1;
      this.sql.exec(
        "UPDATE objects SET seq = ? WHERE seq IS NULL AND addr IN (SELECT m.addr FROM pack_members m WHERE m.pack IN (SELECT value FROM json_each(?)))",
        seq,
        stampSet,
      );
      this.sql.exec("UPDATE packs SET state = 'committed' WHERE n IN (SELECT value FROM json_each(?))", stampSet);
      if (c.completeNodes.length) this.sql.exec("UPDATE objects SET complete = 1 WHERE addr IN (SELECT value FROM json_each(?))", JSON.stringify(c.completeNodes));
      const now = Date.now();
      this.sql.exec(
        "INSERT INTO snapshots (id, seq, parents, root, device, time, stats, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        c.snapshot,
        seq,
        JSON.stringify(c.parents),
        c.root ?? null,
        c.device ?? null,
        c.time ?? null,
        c.stats ? JSON.stringify(c.stats) : null,
        now,
      );
      this.meta.bump("snapshots", 1);
      return { ok: true, seq, head: { snapshot: c.snapshot, seq, committedAt: new Date(now).toISOString() } };
    });
  }

  /**
   * What a pull since `since` sends: the log after it, the packs holding objects committed after
   * it (up to the current head), and the packs of the wanted objects. Per-pack detail comes from
   * planPack, one pack at a time, so no answer grows with the size of the vault.
   */
  planPull(since: string | null, want: string[]): PullPlan | "unknown_vault" | "unknown_snapshot" {
    if (!this.meta.config()) return "unknown_vault";
    let sinceSeq = 0;
    if (since !== null) {
      const r = this.sql.exec<{ seq: number }>("SELECT seq FROM snapshots WHERE id = ?", since).toArray()[0];
      if (!r) return "unknown_snapshot";
      sinceSeq = r.seq;
    }
    const head = this.head();
    const headSeq = head?.seq ?? 0;
    const snapshots = this.sql.exec<SnapshotRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE seq > ? AND seq <= ? ORDER BY seq`, sinceSeq, headSeq).toArray().map(toLogEntry);
    const order: string[] = [];
    const wanted = new Map<string, string[]>();
    const add = (id: string) => {
      if (!wanted.has(id)) {
        wanted.set(id, []);
        order.push(id);
      }
      return wanted.get(id)!;
    };
    if (headSeq > sinceSeq) {
      for (const r of this.sql.exec<{ id: string }>(
        "SELECT p.id AS id FROM packs p WHERE p.n IN (SELECT DISTINCT pack FROM objects WHERE seq > ? AND seq <= ?) ORDER BY p.n",
        sinceSeq,
        headSeq,
      ))
        add(r.id);
    }
    const found = this.objects.findObjects(want, [], false);
    for (const [addr, r] of found) add(r.pack).push(addr);
    return {
      head,
      sinceSeq,
      headSeq,
      snapshots,
      packs: order.map((id) => ({ id, wanted: wanted.get(id)! })),
      missing: want.filter((a) => !found.has(a)),
    };
  }

  /** The objects of one pack that a pull sends: committed in (sinceSeq, headSeq], plus `wanted`. */
  planPack(id: string, sinceSeq: number, headSeq: number, wanted: string[]): PackPlan | null {
    const p = this.sql.exec<{ n: number; bytes: number; objects: number }>("SELECT n, bytes, objects FROM packs WHERE id = ?", id).toArray()[0];
    if (!p) return null;
    const frames = this.sql
      .exec<{ idx: number; off: number; stored_len: number; raw_len: number; codec: number }>("SELECT idx, off, stored_len, raw_len, codec FROM frames WHERE pack = ? ORDER BY idx", p.n)
      .toArray()
      .map((f): FrameRef => ({ idx: f.idx, offset: f.off, storedLength: f.stored_len, rawLength: f.raw_len, codec: f.codec as FrameRef["codec"] }));
    const objects = this.sql
      .exec<{ addr: string; type: number; frame: number; off: number; len: number }>(
        `SELECT m.addr AS addr, m.type AS type, m.frame AS frame, m.off AS off, m.len AS len
         FROM pack_members m JOIN objects o ON o.addr = m.addr AND o.pack = m.pack
         WHERE m.pack = ? AND ((o.seq > ? AND o.seq <= ?) OR m.addr IN (SELECT value FROM json_each(?)))
         ORDER BY m.frame, m.off`,
        p.n,
        sinceSeq,
        headSeq,
        JSON.stringify(wanted),
      )
      .toArray();
    return { id, bytes: p.bytes, frames, objectCount: p.objects, objects };
  }

  /** The log entries of these snapshots (those not in the log are left out). Empty when the vault does not exist. */
  logEntries(ids: string[]): LogEntry[] {
    if (!ids.length || !this.meta.config()) return [];
    return this.sql
      .exec<SnapshotRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
      .toArray()
      .map(toLogEntry);
  }

  /** Newest first: `limit` entries with seq < `before` (all when null). Null when the vault does not exist. */
  log(limit: number, before: number | null): LogPage | null {
    if (!this.meta.config()) return null;
    const rows = this.sql
      .exec<SnapshotRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE seq < ? ORDER BY seq DESC LIMIT ?`, before ?? Number.MAX_SAFE_INTEGER, limit)
      .toArray();
    return { head: this.head(), snapshots: rows.map(toLogEntry) };
  }
}
