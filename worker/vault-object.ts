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
import { packKey, PackStore, type FrameRef } from "./pack-store.ts";
import { DEFAULT_UPLOAD_LEASE_SECONDS, policyOf, retainedCondition } from "./retention.ts";
import { runGc } from "./gc.ts";
import { acceptLive, broadcastHead, closeTokenSockets, installKeepAlive, onLiveClose, onLiveMessage } from "./live.ts";
import { addToken, findToken, listTokens, removeToken, TOKEN_SCHEMA, type TokenInfo } from "./token-store.ts";
import type { TokenScope } from "./tokens.ts";
import type {
  CommitRequest,
  CommitResult,
  GcBegin,
  GcPolicy,
  GcSweep,
  Head,
  LogEntry,
  LogPage,
  LookupRequest,
  LookupResult,
  ObjectLocation,
  PackPlan,
  PullPlan,
  VaultApi,
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

/**
 * Schema version 2 (garbage collection): the mark set and work queue of a GC run. Guarded by
 * meta.schema_version so that a Durable Object created by an older version gains the tables once,
 * in one transaction; existing tables and rows are never rewritten.
 */
const SCHEMA_VERSION = 2;
const SCHEMA_V2 = `
CREATE TABLE IF NOT EXISTS gc_marks (addr TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gc_queue (addr TEXT PRIMARY KEY, kind INTEGER NOT NULL) WITHOUT ROWID;
`;

function migrateGcSchema(sql: SqlStorage): void {
  const row = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0];
  const version = row ? Number(row.value) : 1;
  if (version >= SCHEMA_VERSION) return;
  sql.exec(SCHEMA_V2);
  sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", SCHEMA_VERSION);
}

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

export class VaultObject extends DurableObject<Env> implements VaultApi {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
    migrateGcSchema(this.sql);
    this.sql.exec(TOKEN_SCHEMA);
    installKeepAlive(ctx);
  }

  // ---- live sockets (worker/live.ts: hibernatable, the head's moves pushed to listeners) -------

  /** Only the live route's upgrade comes here; everything else is an RPC method. */
  override async fetch(request: Request): Promise<Response> {
    return acceptLive(this.ctx, request, this.config() ? this.head() : undefined);
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    onLiveMessage(ws, message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    onLiveClose(ws, code);
  }

  override webSocketError(): void {
    // the runtime closes the socket; its client reconnects
  }

  // ---- access tokens (worker/token-store.ts; only their hashes are stored) ---------------------

  /** Null when the vault does not exist: tokens belong to a vault. */
  createToken(id: string, hash: string, scope: TokenScope, label: string, now: number = Date.now()): TokenInfo | "token_limit" | null {
    if (!this.config()) return null;
    return this.ctx.storage.transactionSync(() => addToken(this.sql, id, hash, scope, label, now));
  }

  listTokens(): TokenInfo[] | null {
    return this.config() ? listTokens(this.sql) : null;
  }

  /** False when no such token; null when the vault does not exist. */
  revokeToken(id: string): boolean | null {
    if (!this.config()) return null;
    const removed = removeToken(this.sql, id);
    if (removed) closeTokenSockets(this.ctx, id);
    return removed;
  }

  /** The scope of the token with this hash (and records its use), or null. */
  authenticateToken(hash: string, now: number = Date.now()): { id: string; scope: TokenScope } | null {
    return findToken(this.sql, hash, now);
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
    this.unindexPack(row.n, row.bytes);
    return true;
  }

  /**
   * Removes a pack from the index: objects located in it that another pack also holds move there
   * (settled packs first); the others are dropped. Counters follow. (Rollback and GC.)
   */
  private unindexPack(n: number, bytes: number): number {
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
    this.bump("bytes", -bytes);
    this.bump("objects", -gone);
    return gone;
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
    const result = this.commitTransaction(c);
    if (result.ok) broadcastHead(this.ctx, result.head);
    return result;
  }

  private commitTransaction(c: CommitRequest): CommitResult {
    return this.ctx.storage.transactionSync((): CommitResult => {
      const head = this.head();
      if ((head?.snapshot ?? null) !== c.expect) return { ok: false, reason: "head_moved", head };
      // A GC removed or moved objects since the caller's walk began: its proof may be stale.
      if (c.gcEpoch !== undefined && c.gcEpoch !== this.gcEpoch()) return { ok: false, reason: "gc_raced" };
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

  // ---- garbage collection (worker/gc.ts drives these; docs/reliability.md) --------------------

  /** Bumped by every GC step that removes or moves indexed objects; commits compare it (gc_raced). */
  gcEpoch(): number {
    const r = this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'gc_epoch'").toArray()[0];
    return r ? Number(r.value) : 0;
  }

  private setMeta(key: string, value: SqlStorageValue): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  private getMetaJson<T>(key: string): T | null {
    const r = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return r ? (JSON.parse(r.value) as T) : null;
  }

  /**
   * Starts (or resumes) a GC run under a lease, so one vault runs one GC at a time. A new run
   * enqueues the roots of the retained snapshots. A run resumed with another policy starts over.
   */
  gcBegin(policy: GcPolicy, lease: string, now: number = Date.now()): GcBegin {
    return this.ctx.storage.transactionSync((): GcBegin => {
      const config = this.config();
      if (!config) return { status: "unknown_vault" };
      const held = this.getMetaJson<{ lease: string; until: number }>("gc_lease");
      if (held && held.lease !== lease && held.until > now) return { status: "busy" };
      this.setMeta("gc_lease", JSON.stringify({ lease, until: now + LEASE_MS }));
      const plain = config.addressing === "sha256";
      let run = this.getMetaJson<GcRun>("gc_run");
      const resumed = !!run && JSON.stringify(run.policy) === JSON.stringify(policy);
      if (!run || !resumed) {
        this.sql.exec("DELETE FROM gc_marks");
        this.sql.exec("DELETE FROM gc_queue");
        const headSeq = this.head()?.seq ?? 0;
        run = { startedAt: now, startHeadSeq: headSeq, markedSeq: headSeq, policy, plain };
        if (plain) {
          const keep = retainedCondition(policy, headSeq, now);
          this.enqueueSnapshots(`${keep.sql} AND seq <= ?`, [...keep.args, headSeq]);
        }
        this.setMeta("gc_run", JSON.stringify(run));
      }
      return { status: "ok", plain, resumed, stats: this.stats() };
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
    const found = this.findObjects(batch.map((b) => b.addr), [], true);
    return batch.map((b) => ({ addr: b.addr, kind: b.kind, location: found.has(b.addr) ? toLocation(found.get(b.addr)!) : null }));
  }

  /** Records what reading `done` found: its child nodes (queued) and leaves (marked). */
  gcMark(done: string[], nodes: { addr: string; kind: number }[], leaves: string[]): number {
    return this.ctx.storage.transactionSync(() => {
      for (const n of nodes) this.markNode(n.addr, n.kind);
      if (leaves.length) this.sql.exec("INSERT OR IGNORE INTO gc_marks (addr) SELECT value FROM json_each(?)", JSON.stringify(leaves));
      if (done.length) this.sql.exec("DELETE FROM gc_queue WHERE addr IN (SELECT value FROM json_each(?))", JSON.stringify(done));
      return this.sql.exec<{ c: number }>("SELECT count(*) AS c FROM gc_queue").one().c;
    });
  }

  /** Enqueues the snapshots committed since the run last looked: they are retained, and their trees must be marked. */
  gcCatchUp(): number {
    return this.ctx.storage.transactionSync(() => {
      const run = this.getMetaJson<GcRun>("gc_run");
      const headSeq = this.head()?.seq ?? 0;
      if (!run || !run.plain || headSeq <= run.markedSeq) return 0;
      this.enqueueSnapshots("seq > ? AND seq <= ?", [run.markedSeq, headSeq]);
      run.markedSeq = headSeq;
      this.setMeta("gc_run", JSON.stringify(run));
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
    for (const p of stale) this.unindexPack(p.n, p.bytes);
    return stale;
  }

  /**
   * The sweep, with every other event of this object held back: checks that the marking is
   * complete up to the head, prunes the log, unindexes up to `maxPacks` packs without a live
   * object (bumping the epoch), then deletes them from R2. Answers the packs worth repacking.
   */
  async gcSweep(now: number, maxPacks: number): Promise<GcSweep> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const result = this.ctx.storage.transactionSync((): GcSweep & { keys: string[] } => {
        const run = this.getMetaJson<GcRun>("gc_run");
        const empty = { again: false, deletedPacks: 0, deletedBytes: 0, prunedSnapshots: 0, morePacks: false, repack: [], keys: [] };
        if (!run) return empty;
        const headSeq = this.head()?.seq ?? 0;
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
            this.bump("snapshots", -prunedSnapshots);
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
          this.unindexPack(d.n, d.bytes);
          deletedBytes += d.bytes;
        }
        if (dead.length || released.length) this.setMeta("gc_epoch", this.gcEpoch() + 1);
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
        const vault = this.vaultName();
        const gone = [...released, ...dead];
        return { again: false, deletedPacks: gone.length, deletedBytes, prunedSnapshots, morePacks: dead.length === maxPacks, repack, keys: gone.map((d) => packKey(vault, d.id)) };
      });
      const { keys, ...answer } = result;
      let r2Deletes = 0;
      // A failed delete leaves unreferenced bytes in R2 (never read; see gcOrphans in docs/reliability.md).
      for (let i = 0; i < keys.length; i += 1000) {
        r2Deletes++;
        await this.env.BUCKET.delete(keys.slice(i, i + 1000)).catch((e) => console.error("gc: R2 delete failed", e));
      }
      return { ...answer, r2Deletes };
    });
  }

  /** The live objects located in a pack (for a repack), with their locations; null when the pack is gone or not committed. */
  gcLiveObjects(id: string, now: number): Record<string, ObjectLocation> | null {
    const run = this.getMetaJson<GcRun>("gc_run");
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
    return this.ctx.blockConcurrencyWhile(async () => {
      const r = this.ctx.storage.transactionSync(() => {
        const old = this.sql.exec<{ n: number; bytes: number; state: string }>("SELECT n, bytes, state FROM packs WHERE id = ?", oldId).toArray()[0];
        if (!old || old.state !== "committed" || this.sql.exec("SELECT 1 FROM packs WHERE id = ?", newId).toArray().length) return null;
        const live = Object.keys(this.gcLiveObjects(oldId, now) ?? {});
        const h = decodePackHeader(header);
        const inNew = new Set(h.objects.map((o) => o.addr));
        if (live.some((a) => !inNew.has(a))) return null;
        const n = this.sql
          .exec<{ n: number }>("INSERT INTO packs (id, bytes, objects, frames, created_at, state, uploaders) VALUES (?, ?, ?, ?, ?, 'committed', 0) RETURNING n", newId, bytes, h.objects.length, h.frames.length, now)
          .one().n;
        this.sql.exec(
          `INSERT INTO frames (pack, idx, off, stored_len, raw_len, codec)
           SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
          n,
          JSON.stringify(h.frames.map((f, i) => [i, f.offset, f.storedLength, f.rawLength, f.codec])),
        );
        this.sql.exec(
          `INSERT OR IGNORE INTO pack_members (pack, addr, type, frame, off, len)
           SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)`,
          n,
          JSON.stringify(h.objects.map((o) => [o.addr, o.type, o.frame, o.offset, o.length])),
        );
        this.sql.exec("UPDATE objects SET pack = ? WHERE pack = ? AND addr IN (SELECT value FROM json_each(?))", n, old.n, JSON.stringify([...inNew]));
        this.bump("packs", 1);
        this.bump("bytes", bytes);
        this.unindexPack(old.n, old.bytes);
        this.setMeta("gc_epoch", this.gcEpoch() + 1);
        return { freedBytes: old.bytes - bytes };
      });
      if (!r) return { ok: false, freedBytes: 0, r2Deletes: 0 };
      await this.env.BUCKET.delete(packKey(this.vaultName(), oldId)).catch((e) => console.error("gc: R2 delete failed", e));
      return { ok: true, freedBytes: r.freedBytes, r2Deletes: 1 };
    });
  }

  /** Deletes these packs from R2 if the index does not know them (a repack that was refused, orphans). */
  async gcDeleteUnindexed(ids: string[]): Promise<number> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const known = new Set(this.sql.exec<{ id: string }>("SELECT id FROM packs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray().map((r) => r.id));
      const gone = ids.filter((id) => !known.has(id));
      if (gone.length) await this.env.BUCKET.delete(gone.map((id) => packKey(this.vaultName(), id))).catch(() => {});
      return gone.length;
    });
  }

  /** Ends this request's part of a run: releases the lease; a finished run forgets its marks. */
  gcEnd(lease: string, finished: boolean, now: number = Date.now()): VaultStats {
    return this.ctx.storage.transactionSync(() => {
      const held = this.getMetaJson<{ lease: string }>("gc_lease");
      if (held?.lease === lease) this.sql.exec("DELETE FROM meta WHERE key = 'gc_lease'");
      if (finished) {
        this.sql.exec("DELETE FROM meta WHERE key = 'gc_run'");
        this.sql.exec("DELETE FROM gc_marks");
        this.sql.exec("DELETE FROM gc_queue");
        this.setMeta("gc_last_end", now);
      }
      return this.stats();
    });
  }

  /**
   * The Cron Trigger asks each vault: collect if something was committed or uploaded since the last
   * GC (and that GC is older than `minIntervalMs`); the work then runs in this object's alarm,
   * where it has its own budget of subrequests, one bounded step per alarm.
   */
  async gcKick(now: number = Date.now(), minIntervalMs = 6 * 3600_000): Promise<boolean> {
    if (!this.config()) return false;
    const last = Number(this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'gc_last_end'").toArray()[0]?.value ?? 0);
    const activity = this.sql.exec<{ t: number | null }>("SELECT max(t) AS t FROM (SELECT max(committed_at) AS t FROM snapshots UNION ALL SELECT max(created_at) FROM packs)").one().t ?? 0;
    const running = !!this.getMetaJson<GcRun>("gc_run");
    // An upload whose lease ran out holds quota until a GC releases it: worth a run at once.
    const lease = policyOf(this.env).uploadLeaseSeconds;
    const staleUpload = this.sql.exec("SELECT 1 FROM packs WHERE state = 'uploading' AND created_at < ? LIMIT 1", now - lease * 1000).toArray().length > 0;
    if (!running && !staleUpload && (activity <= last || now - last < minIntervalMs)) return false;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + 1000);
    return true;
  }

  /** One bounded GC step; another alarm follows while work remains. */
  override async alarm(): Promise<void> {
    const r = await runGc(this, new PackStore(this.env.BUCKET, this.vaultName()), policyOf(this.env));
    if (r.more || r.busy) await this.ctx.storage.setAlarm(Date.now() + (r.busy ? 60_000 : 1000));
  }

  // ---- repair (docs/protocol.md, verify --repair) ----------------------------------------------

  /**
   * Of these addresses, those a repair may not bring: objects the index does not hold as committed.
   * A repair replaces damaged or lost copies of what commits already reference; anything else would
   * enter the vault without a commit (and past the checks a commit makes).
   */
  unexpectedObjects(addrs: string[]): string[] {
    if (!addrs.length) return [];
    const known = new Set(
      this.sql
        .exec<{ addr: string }>("SELECT addr FROM objects WHERE seq IS NOT NULL AND addr IN (SELECT value FROM json_each(?))", JSON.stringify(addrs))
        .toArray()
        .map((r) => r.addr),
    );
    return addrs.filter((a) => !known.has(a));
  }

  /**
   * Makes the objects of these packs (uploaded by a repair request, already hash-checked, each one
   * committed before: unexpectedObjects) the located copy of every object they hold: a damaged or
   * missing copy elsewhere is no longer read, and GC collects the old pack once nothing is located
   * in it. Seqs are kept, so pulls see no change.
   */
  repairPacks(own: string[]): { repointed: number } {
    return this.ctx.storage.transactionSync(() => {
      const ns = this.packNumbers(own);
      const set = JSON.stringify(ns);
      const mine = "SELECT m.pack FROM pack_members m WHERE m.addr = objects.addr AND m.pack IN (SELECT value FROM json_each(?)) LIMIT 1";
      this.sql.exec(`UPDATE objects SET pack = (${mine}) WHERE addr IN (SELECT addr FROM pack_members WHERE pack IN (SELECT value FROM json_each(?)))`, set, set);
      const repointed = this.sql.exec<{ c: number }>("SELECT changes() AS c").one().c;
      this.sql.exec("UPDATE packs SET state = 'committed', uploaders = 0 WHERE n IN (SELECT value FROM json_each(?))", set);
      this.setMeta("gc_epoch", this.gcEpoch() + 1);
      return { repointed };
    });
  }
}
