// Per-vault access tokens (docs/security.md, "Server access control"): their text format, scopes
// and the hash that is all the server keeps of them.
//
//   pst_<r|w>_<43 base64url characters>      e.g. pst_w_Zm9v...   (32 random bytes = 256 bits)
//
// The prefix makes a leaked token recognisable in logs and by secret scanners, and tells its scope
// at a glance; the scope that counts is the one stored with the hash, never the letter.
import { toHex } from "../engine/core/bytes.ts";

export type TokenScope = "read" | "write";
/** What a request may do: a vault token's scope, or the operator token (SYNC_TOKEN). */
export type Scope = TokenScope | "admin";

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** Write implies read; admin implies both. */
export function scopeAllows(held: Scope, needed: Scope): boolean {
  return RANK[held] >= RANK[needed];
}

export const TOKEN_RE = /^pst_([rw])_([A-Za-z0-9_-]{43})$/;
export const TOKEN_ID_RE = /^[0-9a-f]{16}$/;
/** Tokens one vault may hold: each request compares against all of them (in constant time). */
export const MAX_TOKENS_PER_VAULT = 100;
export const MAX_LABEL_CHARS = 100;

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A new token's text and its public id (16 hex characters, independent of the secret). */
export function newToken(scope: TokenScope): { token: string; id: string } {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const id = crypto.getRandomValues(new Uint8Array(8));
  return { token: `pst_${scope[0]}_${base64url(secret)}`, id: toHex(id) };
}

/** True when the text has the token format (only such texts are looked up in a vault). */
export function looksLikeToken(text: string): boolean {
  return TOKEN_RE.test(text);
}

/**
 * What the server stores: SHA-256 of the whole token text, hex. No slow KDF: the token carries 256
 * random bits, so guessing it from the hash is infeasible at any hashing speed, while a KDF would
 * cost CPU on every request.
 */
export async function tokenHash(token: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
}

/** Equality of two strings whose time depends only on their lengths (hashes: always 64 characters). */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}
