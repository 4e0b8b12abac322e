// One Durable Object per vault: the vault's metadata authority. Packs live in R2; this object keeps
// in SQLite which packs exist, where every object is (pack, frame, range), the snapshot log and the
// head, and moves the head with a compare-and-swap inside one transaction. Requests to one object
// are serialized and every method below runs without awaiting (but releasePacks), so each one is
// atomic; transactionSync makes the multi-statement ones roll back as a whole on a throw.
//
// Pack states:
//   uploading  stored by a request still running; its objects are invisible to other requests
//              (`uploaders` counts those requests: the pack is deleted when the last one fails)
//   pending    stored by a request that ended well, no commit stamped it
//   committed  stamped by a commit
// Objects: `seq` NULL = pending, else the seq of the commit that first referenced them. An object
// is *located* in one pack (objects.pack) and may be a *member* of several (pack_members, which
// holds its range in each). A visible object (located in a settled pack) never moves, so pull
// plans stay valid; a committed object is never located in an uploading pack.
import { DurableObject } from "cloudflare:workers";
import { canonicalJson } from "../engine/core/canonical.ts";
import { ObjectType } from "../engine/core/object.ts";
import { decodePackHeader } from "../engine/core/pack.ts";
import type { Env } from "./env.ts";
import { packKey, type FrameRef } from "./pack-store.ts";
import type {
  CommitRequest,
  CommitResult,
  Head,
  LogEntry,
  LogPage,
  LookupRequest,
  LookupResult,
  ObjectLocation,
  PackPlan,
  PullPlan,
  VaultConfig,
  VaultInfo,
  VaultStats,
} from "./vault-types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS packs (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  bytes INTEGER NOT NULL,
  objects INTEGER NOT NULL,
  frames INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  uploaders INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
  pack INTEGER NOT NULL, idx INTEGER NOT NULL, off INTEGER NOT NULL,
  stored_len INTEGER NOT NULL, raw_len INTEGER NOT NULL, codec INTEGER NOT NULL,
  PRIMARY KEY (pack, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pack_members (
  pack INTEGER NOT NULL, addr TEXT NOT NULL, type INTEGER NOT NULL,
  frame INTEGER NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL,
  PRIMARY KEY (pack, addr)
) WITHOUT ROWID;
-- Which other packs hold an object (rollback moves it there).
CREATE INDEX IF NOT EXISTS pack_members_by_addr ON pack_members (addr);
CREATE TABLE IF NOT EXISTS objects (
  addr TEXT PRIMARY KEY, type INTEGER NOT NULL, pack INTEGER NOT NULL,
  seq INTEGER, complete INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Pulls: the packs of the objects committed after a seq. Objects located in a pack are found
-- through pack_members (its primary key starts with the pack), so no (pack) index here.
CREATE INDEX IF NOT EXISTS objects_by_seq ON objects (seq, pack) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS snapshots (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, parents TEXT NOT NULL,
  root TEXT, device TEXT, time TEXT, stats TEXT, committed_at INTEGER NOT NULL
);
`;

const COUNTERS = ["packs", "objects", "bytes", "snapshots"] as const;
type Counter = (typeof COUNTERS)[number];

/** Columns that locate an object: join objects/pack_members (m) with packs (p) and frames (f). */
const LOCATION_COLUMNS = "p.id AS pack, p.state AS state, m.type AS type, m.frame AS frame, m.off AS off, m.len AS len, f.off AS foff, f.stored_len AS stored_len, f.raw_len AS raw_len, f.codec AS codec";

interface LocationRow extends Record<string, SqlStorageValue> {
  addr: string;
  pack: string;
  state: string;
  type: number;
  frame: number;
  off: number;
  len: number;
  foff: number;
  stored_len: number;
  raw_len: number;
  codec: number;
}

/** An object found by findObjects; the location columns only when asked for. */
interface FoundRow extends LocationRow {
  seq: number | null;
  complete: number;
}

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

function toLocation(r: LocationRow): ObjectLocation {
  return {
    pack: r.pack,
    type: r.type,
    frame: { idx: r.frame, offset: r.foff, storedLength: r.stored_len, rawLength: r.raw_len, codec: r.codec as FrameRef["codec"] },
    off: r.off,
    len: r.len,
  };
}

function toLogEntry(r: SnapshotRow): LogEntry {
  const e: LogEntry = { snapshot: r.id, seq: r.seq, parents: JSON.parse(r.parents), committedAt: new Date(r.committed_at).toISOString() };
  if (r.root !== null) e.root = r.root;
  if (r.device !== null) e.device = r.device;
  if (r.time !== null) e.time = r.time;
  if (r.stats !== null) e.stats = JSON.parse(r.stats);
  return e;
}

export class VaultObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  // ---- vault ----------------------------------------------------------------------------------

  /** Creates the vault, or reports that it exists with the same (`created: false`) or another config. */
  create(vault: string, config: VaultConfig): { created: boolean; conflict: boolean; info: VaultInfo } {
    return this.ctx.storage.transactionSync(() => {
      const existing = this.config();
      if (existing) return { created: false, conflict: canonicalJson(existing) !== canonicalJson(config), info: this.infoOf(existing) };
      const put = (key: string, value: SqlStorageValue) => this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, value);
      put("vault", vault);
      put("config", canonicalJson(config));
      put("created_at", Date.now());
      for (const c of COUNTERS) put(c, 0);
      return { created: true, conflict: false, info: this.infoOf(config) };
    });
  }

  /**
   * `rekey`: replaces the `encryption` block of an encrypted vault (the vault key rewrapped under a
   * new passphrase). Nothing else of the config may change; compare-and-swap on the current block
   * (`expect`: its canonical JSON), so two concurrent rekeys cannot silently overwrite each other.
   */
  replaceEncryption(config: VaultConfig, expect: string): { ok: true; info: VaultInfo } | { ok: false; reason: "unknown_vault" | "not_encrypted" | "config_differs" | "encryption_changed"; config?: VaultConfig } {
    return this.ctx.storage.transactionSync(() => {
      const existing = this.config();
      if (!existing) return { ok: false as const, reason: "unknown_vault" as const };
      if (existing.addressing !== "hmac-sha256" || existing.encryption === null) return { ok: false as const, reason: "not_encrypted" as const, config: existing };
      if (config.format !== existing.format || config.addressing !== existing.addressing || config.encryption === null) return { ok: false as const, reason: "config_differs" as const, config: existing };
      if (canonicalJson(existing.encryption) !== expect) return { ok: false as const, reason: "encryption_changed" as const, config: existing };
      this.sql.exec("UPDATE meta SET value = ? WHERE key = 'config'", canonicalJson(config));
      return { ok: true as const, info: this.infoOf(config) };
    });
  }

  /** Null when the vault was never created. */
  info(): VaultInfo | null {
    const config = this.config();
    return config ? this.infoOf(config) : null;
  }

  private config(): VaultConfig | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").toArray()[0];
    return row ? (JSON.parse(row.value) as VaultConfig) : null;
  }

  private vaultName(): string {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'vault'").one().value;
  }

  private infoOf(config: VaultConfig): VaultInfo {
    return { vault: this.vaultName(), config, head: this.head(), stats: this.stats() };
  }

  /** O(1): counters kept in meta by the transactions that change them. */
  private stats(): VaultStats {
    const s = { packs: 0, objects: 0, bytes: 0, snapshots: 0 };
    for (const r of this.sql.exec<{ key: Counter; value: number }>("SELECT key, value FROM meta WHERE key IN ('packs', 'objects', 'bytes', 'snapshots')")) s[r.key] = r.value;
    return s;
  }

  private bump(counter: Counter, delta: number): void {
    if (delta !== 0) this.sql.exec("UPDATE meta SET value = value + ? WHERE key = ?", delta, counter);
  }

  /** The head is the last entry of the log: the log only grows through the compare-and-swap. */
  private head(): Head | null {
    const r = this.sql.exec<{ id: string; seq: number; committed_at: number }>("SELECT id, seq, committed_at FROM snapshots ORDER BY seq DESC LIMIT 1").toArray()[0];
    return r ? { snapshot: r.id, seq: r.seq, committedAt: new Date(r.committed_at).toISOString() } : null;
  }

  // ---- packs ----------------------------------------------------------------------------------

  /**
   * Indexes a verified pack before the Worker puts it to R2 (its objects stay invisible to other
   * requests until the request settles it). `stored: true` = the pack is already settled: the
   * Worker skips the put and must not release it. With `limitBytes`, a new pack that would take
   * the vault's stored bytes past it is refused (`quotaExceeded`, nothing indexed).
   */
  registerPack(id: string, bytes: number, header: Uint8Array, limitBytes?: number): { stored: boolean; quotaExceeded?: { used: number; limit: number } } {
    return this.ctx.storage.transactionSync(() => {
      const row = this.sql.exec<{ n: number; state: string }>("SELECT n, state FROM packs WHERE id = ?", id).toArray()[0];
      if (row && row.state !== "uploading") return { stored: true };
      if (row) {
        this.sql.exec("UPDATE packs SET uploaders = uploaders + 1 WHERE n = ?", row.n);
        return { stored: false };
      }
      // The vault quota (VAULT_LIMIT_BYTES): checked here, in the transaction that adds the bytes,
      // so concurrent requests cannot pass it together. Nothing is indexed when it refuses.
      if (limitBytes !== undefined) {
        const used = this.stats().bytes;
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
      const frames = JSON.stringify(h.frames.map((f, i) => [i, f.offset, f.storedLength, f.rawLength, f.codec]));
      this.sql.exec(
        `INSERT INTO frames (pack, idx, off, stored_len, raw_len, codec)
         SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
        n,
        frames,
      );
      const objects = JSON.stringify(h.objects.map((o) => [o.addr, o.type, o.frame, o.offset, o.length]));
      this.sql.exec(
        `INSERT OR IGNORE INTO pack_members (pack, addr, type, frame, off, len)
         SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
        n,
        objects,
      );
      this.sql.exec(
        `INSERT OR IGNORE INTO objects (addr, type, pack, seq, complete)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?, NULL, 0 FROM json_each(?)`,
        n,
        objects,
      );
      const fresh = this.sql.exec<{ c: number }>("SELECT changes() AS c").one().c;
      this.bump("packs", 1);
      this.bump("bytes", bytes);
      this.bump("objects", fresh);
      return { stored: false };
    });
  }

  /**
   * Rollback of a failed request: drops each pack it registered unless another running request is
   * storing it too or it got settled meanwhile, and deletes the dropped ones from R2. Runs with the
   * object's other events held back, so no request can register (and put) one of these packs
   * between the decision and the delete.
   */
  async releasePacks(ids: string[]): Promise<{ deleted: string[] }> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const deleted = this.ctx.storage.transactionSync(() => ids.filter((id) => this.dropPack(id)));
      if (deleted.length) {
        const vault = this.vaultName();
        // A failed delete leaves an unreferenced pack in R2 (garbage, never read): nothing points at it.
        await this.env.BUCKET.delete(deleted.map((id) => packKey(vault, id))).catch(() => {});
      }
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
    const n = row.n;
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
    this.bump("packs", -1);
    this.bump("bytes", -row.bytes);
    this.bump("objects", -gone);
    return true;
  }

  /** A request that stored packs and ended without a commit makes them visible (state pending). Answers the head. */
  settlePacks(own: string[]): Head | null {
    return this.ctx.storage.transactionSync(() => {
      const ns = this.packNumbers(own);
      this.adoptObjects(ns);
      this.sql.exec("UPDATE packs SET state = 'pending' WHERE state = 'uploading' AND n IN (SELECT value FROM json_each(?))", JSON.stringify(ns));
      return this.head();
    });
  }

  private packNumbers(ids: string[]): number[] {
    if (!ids.length) return [];
    return this.sql.exec<{ n: number }>("SELECT n FROM packs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray().map((r) => r.n);
  }

  /**
   * Objects located in another request's uploading pack that these packs also hold move into
   * these packs, before these become visible: a visible object must never sit in a pack that
   * its uploader may still roll back.
   */
  private adoptObjects(ns: number[]): void {
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

  // ---- objects --------------------------------------------------------------------------------

  /**
   * Rows for the given addresses, each located where this caller may read it: in a settled pack,
   * or in one of `own` (the caller's uploading packs). Others' uploading packs are invisible.
   * Without `withLocation` only existence and state are read (cheaper: the walk's blobs).
   */
  private findObjects(addrs: string[], own: string[], withLocation: boolean): Map<string, FoundRow> {
    const found = new Map<string, FoundRow>();
    if (!addrs.length) return found;
    const rows = withLocation
      ? this.sql.exec<FoundRow>(
          `SELECT o.addr AS addr, o.seq AS seq, o.complete AS complete, ${LOCATION_COLUMNS}
           FROM json_each(?) j JOIN objects o ON o.addr = j.value
           JOIN packs p ON p.n = o.pack
           JOIN pack_members m ON m.pack = o.pack AND m.addr = o.addr
           JOIN frames f ON f.pack = o.pack AND f.idx = m.frame`,
          JSON.stringify(addrs),
        )
      : this.sql.exec<FoundRow>(
          `SELECT o.addr AS addr, o.seq AS seq, o.complete AS complete, o.type AS type, p.id AS pack, p.state AS state
           FROM json_each(?) j JOIN objects o ON o.addr = j.value JOIN packs p ON p.n = o.pack`,
          JSON.stringify(addrs),
        );
    const ownSet = new Set(own);
    const hidden: FoundRow[] = [];
    for (const r of rows) {
      if (r.state !== "uploading" || ownSet.has(r.pack)) found.set(r.addr, r);
      else if (own.length) hidden.push(r);
    }
    // Located in someone else's uploading pack: still ours to read if one of our packs holds it.
    const ownPacks = JSON.stringify(own);
    for (const r of hidden) {
      const alt = this.sql
        .exec<LocationRow>(
          `SELECT m.addr AS addr, ${LOCATION_COLUMNS}
           FROM packs p JOIN pack_members m ON m.pack = p.n AND m.addr = ? JOIN frames f ON f.pack = m.pack AND f.idx = m.frame
           WHERE p.id IN (SELECT value FROM json_each(?)) LIMIT 1`,
          r.addr,
          ownPacks,
        )
        .toArray()[0];
      if (alt) found.set(r.addr, { ...alt, seq: r.seq, complete: r.complete });
    }
    return found;
  }

  /** Existence, completeness and locations for a commit's walk (see LookupRequest). */
  lookup(req: LookupRequest): LookupResult {
    const out: LookupResult = { missing: [], complete: [], locations: {}, pendingPacks: [] };
    const pending = new Set<string>();
    const nodes = this.findObjects(req.nodes, req.own, true);
    const leaves = this.findObjects(req.leaves, req.own, false);
    for (const [addrs, found] of [[req.nodes, nodes], [req.leaves, leaves]] as const) {
      for (const addr of addrs) {
        const r = found.get(addr);
        if (!r) out.missing.push(addr);
        else if (r.seq === null && r.state !== "uploading") pending.add(r.pack);
      }
    }
    for (const addr of req.nodes) {
      const r = nodes.get(addr);
      if (!r) continue;
      if (r.complete) out.complete.push(addr);
      else out.locations[addr] = toLocation(r);
    }
    out.pendingPacks = [...pending];
    return out;
  }

  /** Locations of visible objects (absent addresses are left out), with the vault's addressing; null when the vault does not exist. */
  locate(addrs: string[]): { addressing: VaultConfig["addressing"]; locations: Record<string, ObjectLocation> } | null {
    const config = this.config();
    if (!config) return null;
    const locations: Record<string, ObjectLocation> = {};
    for (const [addr, r] of this.findObjects(addrs, [], true)) locations[addr] = toLocation(r);
    return { addressing: config.addressing, locations };
  }

  /** Null when the vault does not exist; else the addresses not stored (pending or committed). */
  missing(addrs: string[]): string[] | null {
    if (!this.config()) return null;
    const found = this.findObjects(addrs, [], false);
    return addrs.filter((a) => !found.has(a));
  }

  // ---- commit ---------------------------------------------------------------------------------

  /**
   * Moves the head from `expect` to `snapshot` (compare-and-swap), appends the log entry with the
   * next seq, stamps the pending objects of `packs` and marks the walked nodes complete, all in one
   * transaction. The Worker has already checked that every referenced object is stored.
   */
  commit(c: CommitRequest): CommitResult {
    return this.ctx.storage.transactionSync((): CommitResult => {
      const head = this.head();
      if ((head?.snapshot ?? null) !== c.expect) return { ok: false, reason: "head_moved", head };
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
      const snap = this.findObjects([c.snapshot], c.own, false).get(c.snapshot);
      if (!snap) return { ok: false, reason: "missing_snapshot" };
      if (snap.type !== ObjectType.Snapshot) return { ok: false, reason: "not_a_snapshot" };
      const ns = usable.map((r) => r.n);
      // The snapshot object itself is stamped with the rest even if it sits in a pack not listed.
      const snapPack = this.packNumbers([snap.pack]);
      const stampSet = JSON.stringify([...new Set([...ns, ...snapPack])]);
      this.adoptObjects(ns);
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
      this.bump("snapshots", 1);
      return { ok: true, seq, head: { snapshot: c.snapshot, seq, committedAt: new Date(now).toISOString() } };
    });
  }

  // ---- pull -----------------------------------------------------------------------------------

  /**
   * What a pull since `since` sends: the log after it, the packs holding objects committed after
   * it (up to the current head), and the packs of the wanted objects. Per-pack detail comes from
   * planPack, one pack at a time, so no answer grows with the size of the vault.
   */
  planPull(since: string | null, want: string[]): PullPlan | "unknown_vault" | "unknown_snapshot" {
    if (!this.config()) return "unknown_vault";
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
    const found = this.findObjects(want, [], false);
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

  // ---- log ------------------------------------------------------------------------------------

  /** The log entries of these snapshots (those not in the log are left out). Empty when the vault does not exist. */
  logEntries(ids: string[]): LogEntry[] {
    if (!ids.length || !this.config()) return [];
    return this.sql
      .exec<SnapshotRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
      .toArray()
      .map(toLogEntry);
  }

  /** Newest first: `limit` entries with seq < `before` (all when null). Null when the vault does not exist. */
  log(limit: number, before: number | null): LogPage | null {
    if (!this.config()) return null;
    const rows = this.sql
      .exec<SnapshotRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE seq < ? ORDER BY seq DESC LIMIT ?`, before ?? Number.MAX_SAFE_INTEGER, limit)
      .toArray();
    return { head: this.head(), snapshots: rows.map(toLogEntry) };
  }
}
