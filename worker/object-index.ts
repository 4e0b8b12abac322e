// Where every object of the vault is: the `objects` table (its located pack, its seq, whether its
// subtree is proven complete) joined with the pack index for its frame and byte range.
//
// Objects: `seq` NULL = pending, else the seq of the commit that first referenced them. An object
// is *located* in one pack (objects.pack) and may be a *member* of several (pack_members, which
// holds its range in each). A visible object (located in a settled pack) never moves, so pull
// plans stay valid; a committed object is never located in an uploading pack.
import type { FrameRef } from "./pack-store.ts";
import type { VaultDb, VaultMeta } from "./vault-schema.ts";
import type { LookupRequest, LookupResult, ObjectLocation, VaultConfig } from "./vault-types.ts";

/** Columns that locate an object: join objects/pack_members (m) with packs (p) and frames (f). */
export const LOCATION_COLUMNS = "p.id AS pack, p.state AS state, m.type AS type, m.frame AS frame, m.off AS off, m.len AS len, f.off AS foff, f.stored_len AS stored_len, f.raw_len AS raw_len, f.codec AS codec";

export interface LocationRow extends Record<string, SqlStorageValue> {
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
export interface FoundRow extends LocationRow {
  seq: number | null;
  complete: number;
}

export function toLocation(r: LocationRow): ObjectLocation {
  return {
    pack: r.pack,
    type: r.type,
    frame: { idx: r.frame, offset: r.foff, storedLength: r.stored_len, rawLength: r.raw_len, codec: r.codec as FrameRef["codec"] },
    off: r.off,
    len: r.len,
  };
}

export class ObjectIndex {
  private readonly sql: SqlStorage;

  constructor(
    db: VaultDb,
    private readonly meta: VaultMeta,
  ) {
    this.sql = db.sql;
  }

  /**
   * Rows for the given addresses, each located where this caller may read it: in a settled pack,
   * or in one of `own` (the caller's uploading packs). Others' uploading packs are invisible.
   * Without `withLocation` only existence and state are read (cheaper: the walk's blobs).
   */
  findObjects(addrs: string[], own: string[], withLocation: boolean): Map<string, FoundRow> {
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
    const config = this.meta.config();
    if (!config) return null;
    const locations: Record<string, ObjectLocation> = {};
    for (const [addr, r] of this.findObjects(addrs, [], true)) locations[addr] = toLocation(r);
    return { addressing: config.addressing, locations };
  }

  /** Null when the vault does not exist; else the addresses not stored (pending or committed). */
  missing(addrs: string[]): string[] | null {
    if (!this.meta.config()) return null;
    const found = this.findObjects(addrs, [], false);
    return addrs.filter((a) => !found.has(a));
  }

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
}
