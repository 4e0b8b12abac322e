// token create|list|revoke: the operator manages the folder's vault's tokens on its server
// (POST/GET /v1/vaults/:vault/tokens, DELETE /v1/vaults/:vault/tokens/:id; docs/security.md).
// Needs the operator token (SYNC_TOKEN) in --token or PENUMBRA_SYNC_TOKEN; the new token's text is
// printed once and kept nowhere by the server (it stores a hash).
import { emit, parse } from "../args.ts";
import { readFolderConfig, tokenFrom } from "../context.ts";
import { CliError, UsageError } from "../errors.ts";

export const summary = "Create, list or revoke the vault's access tokens (read or write scope; needs the operator token).";
export const usage = [
  "penumbra-sync token create <dir> --scope read|write [--label <text>] [--token <operator token>] [--json]",
  "       penumbra-sync token list <dir> [--token <operator token>] [--json]",
  "       penumbra-sync token revoke <dir> <id> [--token <operator token>] [--json]",
].join("\n");

interface TokenInfo {
  id: string;
  scope: string;
  label: string;
  createdAt: string;
  lastUsedAt: string | null;
}

async function call(dir: string, operatorToken: string, method: string, suffix: string, body?: unknown): Promise<any> {
  const config = await readFolderConfig(dir);
  const url = `${config.remote.replace(/\/+$/, "")}/v1/vaults/${encodeURIComponent(config.vault)}/tokens${suffix}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${operatorToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new CliError(`cannot reach ${config.remote}: ${(e as Error).message}`, "is the server running?", "unreachable");
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, any>;
  if (res.status === 401 || res.status === 403)
    throw new CliError(`the server refused the token (${res.status} ${answer.error ?? ""})`, "managing tokens needs the operator token (the server's SYNC_TOKEN) in --token or PENUMBRA_SYNC_TOKEN", String(answer.error ?? "unauthorized"));
  if (!res.ok) throw new CliError(`the server answered ${res.status} ${answer.error ?? ""}: ${answer.message ?? ""}`, undefined, String(answer.error ?? "token_failed"));
  return answer;
}

const describe = (t: TokenInfo) => `${t.id}  ${t.scope.padEnd(5)}  created ${t.createdAt}  last used ${t.lastUsedAt ?? "never"}${t.label ? `  ${t.label}` : ""}`;

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create": {
      const { values, positionals } = parse(rest, { scope: { type: "string" }, label: { type: "string" } });
      if (values.scope !== "read" && values.scope !== "write") throw new UsageError("--scope must be read or write");
      const made = await call(positionals[0], tokenFrom(values.token), "POST", "", values.label === undefined ? { scope: values.scope } : { scope: values.scope, label: values.label });
      emit(values.json, made, () => `${made.token}\n(token ${made.id}, scope ${made.scope}: shown once, the server keeps only its hash; give it to the device as PENUMBRA_SYNC_TOKEN)`);
      return 0;
    }
    case "list": {
      const { values, positionals } = parse(rest, {});
      const { tokens } = (await call(positionals[0], tokenFrom(values.token), "GET", "")) as { tokens: TokenInfo[] };
      emit(values.json, { tokens }, () => tokens.map(describe).join("\n") || "(no tokens)");
      return 0;
    }
    case "revoke": {
      const { values, positionals } = parse(rest, {}, 2);
      const id = positionals[1];
      if (!/^[0-9a-f]{16}$/.test(id)) throw new UsageError("the token id is 16 hex characters, as `token list` shows it");
      const r = await call(positionals[0], tokenFrom(values.token), "DELETE", `/${id}`);
      emit(values.json, r, () => `revoked ${id}: requests with it are refused from now on`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown token command '${sub}'` : "expected create, list or revoke");
  }
}
