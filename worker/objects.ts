// GET /v1/vaults/:vault/objects/:addr (one object: one index lookup, one ranged read of one frame)
// and POST /v1/vaults/:vault/missing (which of these addresses the vault does not hold).
import { ADDRESS_RE } from "../engine/core/hash.ts";
import type { VaultRequest } from "./context.ts";
import { addressList, ApiError, badRequest, json, readJsonObject } from "./http.ts";
import { readObjects } from "./object-reader.ts";

const TYPE_NAMES: Record<number, string> = { 1: "blob", 2: "chunklist", 3: "tree", 4: "snapshot" };

export async function handleGetObject(req: VaultRequest, addr: string): Promise<Response> {
  if (!ADDRESS_RE.test(addr)) throw badRequest(`${JSON.stringify(addr.slice(0, 80))} is not an address (64 lowercase hex)`);
  const found = await req.stub.locate([addr]);
  if (!found) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  const loc = found.locations[addr];
  if (!loc) throw new ApiError(404, "not_found", `object ${addr} is not stored in vault ${req.vault}`);
  // Plain vaults: re-hashed before it is served (readObjects); encrypted ones cannot be checked here.
  const bytes = (await readObjects(req.store, { [addr]: loc }, found.addressing === "sha256")).get(addr)!;
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": "application/octet-stream",
      "x-object-type": TYPE_NAMES[loc.type] ?? "unknown",
      // Content-addressed: the bytes at this URL never change.
      "cache-control": "private, max-age=31536000, immutable",
    },
  });
}

export async function handleMissing(req: VaultRequest): Promise<Response> {
  const body = await readJsonObject(req.request, req.limits.maxJsonBytes);
  const addrs = addressList(body.addrs, "addrs", req.limits.maxAddrsPerRequest);
  const missing = await req.stub.missing(addrs);
  if (!missing) throw new ApiError(404, "unknown_vault", `vault ${req.vault} does not exist`);
  return json({ missing });
}
