// The open vault (docs/security.md, "The open vault"): an explicit, off-by-default setting that lets
// requests to the predecessor's routes that carry NO Authorization header act on one named vault,
// as the predecessor's Worker let anyone who knew its URL act on its one bucket. The Penumbra app's
// client sends no token and names no vault, so this is the only way it can sync unchanged.
// A request that carries a token is always checked as a token (a wrong one is 401, never "open").
import type { Access } from "./access.ts";
import type { Env } from "./env.ts";
import { ApiError } from "./http.ts";
import { VAULT_NAME_RE } from "./routes.ts";
import type { TokenScope } from "./tokens.ts";

export interface OpenVault {
  vault: string;
  access: TokenScope;
}

const misconfigured = (message: string) => new ApiError(500, "misconfigured", message);

/** The setting, or null when off; a malformed setting refuses (fails closed) instead of guessing. */
export function openVaultOf(env: Env): OpenVault | null {
  const vault = env.OPEN_VAULT ?? "";
  if (vault === "") return null;
  if (!VAULT_NAME_RE.test(vault)) throw misconfigured("OPEN_VAULT is not a valid vault name ([A-Za-z0-9_-]{1,64})");
  const access = env.OPEN_VAULT_ACCESS || "write";
  if (access !== "read" && access !== "write") throw misconfigured('OPEN_VAULT_ACCESS must be "read" or "write"');
  return { vault, access };
}

/** True when the request should be judged by the open-vault rule rather than by a token. */
export function isTokenless(request: Request): boolean {
  return !request.headers.has("authorization");
}

/** The access a token-less request gets: the open vault's, and only on the open vault itself. */
export function openAccess(open: OpenVault, vault: string | null): Access {
  if (vault !== open.vault)
    throw new ApiError(401, "unauthorized", `without a token only the open vault ${open.vault} is reachable; send Authorization: Bearer <token> for other vaults`);
  return { scope: open.access, tokenId: null };
}
