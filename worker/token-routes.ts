// POST|GET /v1/vaults/:vault/tokens and DELETE /v1/vaults/:vault/tokens/:id: the operator creates,
// lists and revokes a vault's tokens. The token text is in the creation answer only; the vault keeps
// its SHA-256 (worker/tokens.ts). A revoked token fails from the next request on: every request
// looks its hash up in the vault's Durable Object, nothing is cached.
import type { VaultRequest } from "./context.ts";
import { ApiError, badRequest, json, readJsonObject } from "./http.ts";
import { MAX_LABEL_CHARS, MAX_TOKENS_PER_VAULT, newToken, TOKEN_ID_RE, tokenHash, type TokenScope } from "./tokens.ts";

const unknownVault = (vault: string) => new ApiError(404, "unknown_vault", `vault ${vault} does not exist; create it first (tokens belong to a vault)`);

function parseLabel(v: unknown): string {
  if (v === undefined) return "";
  // No control characters: labels are printed in terminals and logs.
  if (typeof v !== "string" || v.length > MAX_LABEL_CHARS || /[\u0000-\u001f\u007f]/.test(v)) throw badRequest(`label must be a string of at most ${MAX_LABEL_CHARS} characters without control characters`);
  return v;
}

export async function handleCreateToken(req: VaultRequest): Promise<Response> {
  const body = await readJsonObject(req.request, 4096);
  for (const k of Object.keys(body)) if (k !== "scope" && k !== "label") throw badRequest(`unknown field ${JSON.stringify(k).slice(0, 80)}; a token takes {"scope": "read"|"write", "label"?}`);
  if (body.scope !== "read" && body.scope !== "write") throw badRequest('scope must be "read" or "write"');
  const scope: TokenScope = body.scope;
  const label = parseLabel(body.label);
  const { token, id } = newToken(scope);
  const r = await req.stub.createToken(id, await tokenHash(token), scope, label);
  if (r === null) throw unknownVault(req.vault);
  if (r === "token_limit") throw new ApiError(409, "token_limit", `vault ${req.vault} holds ${MAX_TOKENS_PER_VAULT} tokens, the most it may; revoke some first`);
  return json({ ...r, token }, 201);
}

export async function handleListTokens(req: VaultRequest): Promise<Response> {
  const tokens = await req.stub.listTokens();
  if (tokens === null) throw unknownVault(req.vault);
  return json({ tokens });
}

export async function handleRevokeToken(req: VaultRequest, id: string): Promise<Response> {
  if (!TOKEN_ID_RE.test(id)) throw badRequest(`${JSON.stringify(id.slice(0, 80))} is not a token id (16 lowercase hex characters, as listed by GET /tokens)`);
  const r = await req.stub.revokeToken(id);
  if (r === null) throw unknownVault(req.vault);
  if (!r) throw new ApiError(404, "not_found", `vault ${req.vault} has no token ${id}`);
  return json({ id, revoked: true });
}
