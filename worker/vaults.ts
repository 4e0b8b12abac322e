// PUT/GET /v1/vaults/:vault (create, info) and GET /v1/vaults/:vault/log.
import { canonicalBytes, canonicalJson } from "../engine/core/canonical.ts";
import type { VaultRequest } from "./context.ts";
import { ApiError, badRequest, json, readJsonObject } from "./http.ts";
import type { VaultConfig } from "./vault-types.ts";

const MAX_ENCRYPTION_JSON = 4096;
const MAX_LOG_LIMIT = 1000;

function parseConfig(v: unknown): VaultConfig {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw badRequest("`config` must be an object: {format: 1, addressing, encryption}");
  const c = v as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!["format", "addressing", "encryption"].includes(k)) throw badRequest(`unknown config field ${JSON.stringify(k).slice(0, 80)}`);
  if (c.format !== 1) throw badRequest("config.format must be 1");
  if (c.addressing !== "sha256" && c.addressing !== "hmac-sha256") throw badRequest('config.addressing must be "sha256" (plain) or "hmac-sha256" (encrypted)');
  const enc = c.encryption ?? null;
  if (enc !== null && (typeof enc !== "object" || Array.isArray(enc))) throw badRequest("config.encryption must be an object or null");
  if (enc !== null) {
    let size: number;
    try {
      size = canonicalBytes(enc).length;
    } catch {
      throw badRequest("config.encryption is not plain JSON");
    }
    if (size > MAX_ENCRYPTION_JSON) throw new ApiError(413, "too_large", `config.encryption is ${size} bytes of JSON; at most ${MAX_ENCRYPTION_JSON}`);
  }
  return { format: 1, addressing: c.addressing, encryption: enc as VaultConfig["encryption"] };
}

export async function handleCreate(req: VaultRequest): Promise<Response> {
  const body = await readJsonObject(req.request, req.limits.maxJsonBytes);
  const config = parseConfig(body.config);
  if (body.replaceEncryption !== undefined) return replaceEncryption(req, config, body);
  const r = await req.stub.create(req.vault, config);
  if (r.conflict) throw new ApiError(409, "vault_exists", `vault ${req.vault} exists with another config`, { config: r.info.config });
  return json(r.info, r.created ? 201 : 200);
}

export async function handleInfo(req: VaultRequest): Promise<Response> {
  const info = await req.stub.info();
  if (!info) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist; create it with PUT /v1/vaults/${req.vault}`);
  return json(info);
}

function intParam(url: URL, name: string, min: number, max: number): number | null {
  const raw = url.searchParams.get(name);
  if (raw === null) return null;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`?${name} must be an integer in [${min}, ${max}]`);
  return n;
}

export async function handleLog(req: VaultRequest): Promise<Response> {
  const limit = intParam(req.url, "limit", 1, MAX_LOG_LIMIT) ?? 50;
  const before = intParam(req.url, "before", 1, Number.MAX_SAFE_INTEGER);
  const page = await req.stub.log(limit, before);
  if (!page) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  return json(page);
}

/**
 * PUT {"config", "replaceEncryption": true, "expect": <the current encryption block>}: `rekey` of an
 * encrypted vault. Only `encryption` may change (format and addressing must stay), and only if
 * `expect` is the block the vault holds now (409 encryption_changed otherwise, with the current config).
 */
async function replaceEncryption(req: VaultRequest, config: VaultConfig, body: Record<string, unknown>): Promise<Response> {
  if (body.replaceEncryption !== true) throw badRequest("replaceEncryption must be true when given");
  if (config.addressing !== "hmac-sha256" || config.encryption === null) throw badRequest("replaceEncryption applies to encrypted vaults: config.addressing must be hmac-sha256 and config.encryption an object");
  const expect = body.expect;
  if (!expect || typeof expect !== "object" || Array.isArray(expect)) throw badRequest("`expect` must be the vault's current config.encryption (compare-and-swap)");
  const r = await req.stub.replaceEncryption(config, canonicalJson(expect));
  if (r.ok) return json(r.info);
  switch (r.reason) {
    case "unknown_vault":
      throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
    case "not_encrypted":
      throw new ApiError(409, "not_encrypted", `vault ${req.vault} is not encrypted: its config cannot change`, { config: r.config });
    case "config_differs":
      throw new ApiError(409, "vault_exists", `vault ${req.vault} exists with another format or addressing; replaceEncryption changes only config.encryption`, { config: r.config });
    case "encryption_changed":
      throw new ApiError(409, "encryption_changed", `the encryption block of vault ${req.vault} is not \`expect\` (changed meanwhile?): read it again and retry`, { config: r.config });
  }
}
