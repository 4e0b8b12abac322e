// HOOK for the predecessor's API (/sync/*, /notes/:id, ...), to be implemented in this folder.
//
// worker/index.ts calls handleLegacy for every path that isLegacyPath accepts, after CORS and
// after the bearer-token check (if the predecessor's clients authenticate differently, move the
// call above the check in worker/index.ts). It gets the request's CountingBucket (so x-r2-ops
// counts its R2 calls) and the DEFAULT_VAULT name (already validated); answer null to fall
// through to 404.
// Throw ApiError (worker/http.ts) for client errors: the edge turns it into the JSON error format.
import type { CountingBucket } from "../counting-bucket.ts";
import type { Env } from "../env.ts";

export interface LegacyContext {
  env: Env;
  bucket: CountingBucket;
  /** env.DEFAULT_VAULT, validated like any vault name. */
  defaultVault: string;
  waitUntil(p: Promise<unknown>): void;
}

export function isLegacyPath(path: string): boolean {
  return path.startsWith("/sync/") || path === "/sync" || path.startsWith("/notes/") || path === "/notes";
}

export async function handleLegacy(_request: Request, _ctx: LegacyContext): Promise<Response | null> {
  return null; // not implemented yet
}
