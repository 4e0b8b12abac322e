// The vault's SQLite inside its Durable Object: the tables, their migrations, and the meta table's
// helpers (config, name, counters, GC epoch) every store of the vault uses. The stores that own the
// other tables: pack-index.ts (packs, frames, pack_members), object-index.ts (objects),
// snapshot-log.ts (snapshots), gc-store.ts (gc_marks, gc_queue), token-store.ts (tokens).
//
// Requests to one object are serialized and every store method runs without awaiting (but the few
// that delete from R2, under `exclusive`), so each one is atomic; `transaction` makes the
// multi-statement ones roll back as a whole on a throw.
import type { VaultConfig, VaultStats } from "./vault-types.ts";

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
export const SCHEMA_VERSION = 2;
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

/** Creates the tables a vault needs, once per object start (every statement is IF NOT EXISTS). */
export function installVaultSchema(sql: SqlStorage): void {
  sql.exec(SCHEMA);
  migrateGcSchema(sql);
}

/** The object's storage as the stores use it. */
export class VaultDb {
  readonly storage: DurableObjectStorage;
  readonly sql: SqlStorage;

  constructor(private readonly ctx: DurableObjectState) {
    this.storage = ctx.storage;
    this.sql = ctx.storage.sql;
  }

  /** Runs `fn` in one transaction: a throw rolls back every statement it made. */
  transaction<T>(fn: () => T): T {
    return this.storage.transactionSync(fn);
  }

  /** Runs `fn` with every other event of this object held back (for work that awaits R2). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.ctx.blockConcurrencyWhile(fn);
  }
}

export const COUNTERS = ["packs", "objects", "bytes", "snapshots"] as const;
export type Counter = (typeof COUNTERS)[number];

/** The meta table: one row per key (config, vault, created_at, the counters, schema and GC state). */
export class VaultMeta {
  constructor(private readonly sql: SqlStorage) {}

  config(): VaultConfig | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'config'").toArray()[0];
    return row ? (JSON.parse(row.value) as VaultConfig) : null;
  }

  vaultName(): string {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'vault'").one().value;
  }

  /** O(1): counters kept in meta by the transactions that change them. */
  stats(): VaultStats {
    const s = { packs: 0, objects: 0, bytes: 0, snapshots: 0 };
    for (const r of this.sql.exec<{ key: Counter; value: number }>("SELECT key, value FROM meta WHERE key IN ('packs', 'objects', 'bytes', 'snapshots')")) s[r.key] = r.value;
    return s;
  }

  bump(counter: Counter, delta: number): void {
    if (delta !== 0) this.sql.exec("UPDATE meta SET value = value + ? WHERE key = ?", delta, counter);
  }

  set(key: string, value: SqlStorageValue): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  getJson<T>(key: string): T | null {
    const r = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return r ? (JSON.parse(r.value) as T) : null;
  }

  /** Bumped by every GC step that removes or moves indexed objects; commits compare it (gc_raced). */
  gcEpoch(): number {
    const r = this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'gc_epoch'").toArray()[0];
    return r ? Number(r.value) : 0;
  }

  bumpGcEpoch(): void {
    this.set("gc_epoch", this.gcEpoch() + 1);
  }
}
