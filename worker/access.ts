// Who is asking: the operator token (SYNC_TOKEN, scope admin) or a token of the vault the request
// acts on (its scope as stored). Anything else is 401, the same answer whether or not the vault
// exists, so that a caller without a valid token learns nothing about which vaults there are.
import { secretsEqual } from "./crypto.ts";
import type { Env } from "./env.ts";
import { ApiError } from "./http.ts";
import { protocolToken } from "./live-upgrade.ts";
import { looksLikeToken, scopeAllows, tokenHash, type Scope } from "./tokens.ts";

export interface Access {
  scope: Scope;
  /** The vault token's id; null for the operator token. */
  tokenId: string | null;
}

const unauthorized = () => new ApiError(401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)");

export async function authenticate(request: Request, env: Env, vault: string | null): Promise<Access> {
  if (!env.SYNC_TOKEN)
    throw new ApiError(401, "unauthorized", "the server has no SYNC_TOKEN set, so it refuses every request: the operator must run `wrangler secret put SYNC_TOKEN`");
  const m = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "");
  // A browser's WebSocket cannot send headers: the live route also takes the token as a subprotocol.
  const presented = m ? m[1] : protocolToken(request);
  if (!presented) throw unauthorized();
  if (await secretsEqual(presented, env.SYNC_TOKEN)) return { scope: "admin", tokenId: null };
  // Only texts of the token format reach the vault's Durable Object.
  if (vault === null || !looksLikeToken(presented)) throw unauthorized();
  const found = await env.VAULT.get(env.VAULT.idFromName(vault)).authenticateToken(await tokenHash(presented));
  if (!found) throw unauthorized();
  return { scope: found.scope, tokenId: found.id };
}

export function requireScope(access: Access, needed: Scope): void {
  if (scopeAllows(access.scope, needed)) return;
  const message =
    needed === "admin"
      ? "this route needs the operator token (SYNC_TOKEN); vault tokens cannot use it"
      : `this token is read-only; ${needed} needs a token with scope "${needed}"`;
  throw new ApiError(403, "forbidden", message);
}
