// The vault's tokens in its Durable Object's SQLite: a table of its own, created if absent, so
// vaults made before tokens existed gain it untouched (no existing row is rewritten). Only the
// SHA-256 of each token is stored (worker/tokens.ts), with its scope, label and times.
import { constantTimeEqual, MAX_TOKENS_PER_VAULT, type TokenScope } from "./tokens.ts";

export const TOKEN_SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  scope TEXT NOT NULL,
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
) WITHOUT ROWID;
`;

/** last_used_at is written at most this often per token: a use is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** A token as listed: never its hash, never its text. */
export interface TokenInfo {
  id: string;
  scope: TokenScope;
  label: string;
  createdAt: string;
  lastUsedAt: string | null;
}

interface TokenRow extends Record<string, SqlStorageValue> {
  id: string;
  hash: string;
  scope: string;
  label: string;
  created_at: number;
  last_used_at: number | null;
}

function toInfo(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    scope: r.scope as TokenScope,
    label: r.label,
    createdAt: new Date(r.created_at).toISOString(),
    lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at).toISOString(),
  };
}

export function addToken(sql: SqlStorage, id: string, hash: string, scope: TokenScope, label: string, now: number): TokenInfo | "token_limit" {
  const count = sql.exec<{ c: number }>("SELECT count(*) AS c FROM tokens").one().c;
  if (count >= MAX_TOKENS_PER_VAULT) return "token_limit";
  const row = sql.exec<TokenRow>("INSERT INTO tokens (id, hash, scope, label, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, NULL) RETURNING *", id, hash, scope, label, now).one();
  return toInfo(row);
}

export function listTokens(sql: SqlStorage): TokenInfo[] {
  return sql.exec<TokenRow>("SELECT * FROM tokens ORDER BY created_at, id").toArray().map(toInfo);
}

export function removeToken(sql: SqlStorage, id: string): boolean {
  sql.exec("DELETE FROM tokens WHERE id = ?", id);
  return sql.exec<{ c: number }>("SELECT changes() AS c").one().c > 0;
}

/**
 * The token whose hash this is, or null. Every stored hash is compared, each in constant time and
 * without stopping at a match, so the time taken says nothing about which bytes matched.
 */
export function findToken(sql: SqlStorage, hash: string, now: number): { id: string; scope: TokenScope } | null {
  let found: TokenRow | null = null;
  for (const r of sql.exec<TokenRow>("SELECT * FROM tokens")) if (constantTimeEqual(r.hash, hash)) found = r;
  if (!found) return null;
  if (found.last_used_at === null || now - found.last_used_at >= LAST_USED_RESOLUTION_MS) sql.exec("UPDATE tokens SET last_used_at = ? WHERE id = ?", now, found.id);
  return { id: found.id, scope: found.scope as TokenScope };
}
