// CORS: only the origins listed in CORS_ORIGINS (comma-separated) get CORS headers; none by
// default, "*" only when configured. Preflights (OPTIONS) are answered here, without a token,
// because browsers never send credentials on them.
import { ApiError, errorResponse } from "./http.ts";
import type { Env } from "./env.ts";

// DELETE: revoking a token (DELETE /v1/vaults/:vault/tokens/:id) and the predecessor's item deletes.
const ALLOW_METHODS = "GET, PUT, POST, DELETE, OPTIONS";
const ALLOW_HEADERS = "authorization, content-type";
const EXPOSE_HEADERS = "x-r2-ops, x-object-type";

/** The Access-Control-Allow-Origin value for this request, or null when its origin is not allowed. */
export function allowedOrigin(request: Request, env: Env): string | null {
  const origin = request.headers.get("origin");
  if (!origin) return null;
  const list = (env.CORS_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.includes("*")) return "*";
  return list.includes(origin) ? origin : null;
}

/** Headers every answer to an allowed origin carries. */
export function corsHeaders(origin: string | null): Record<string, string> {
  if (!origin) return {};
  return { "access-control-allow-origin": origin, "access-control-expose-headers": EXPOSE_HEADERS, vary: "Origin" };
}

export function preflight(origin: string | null): Response {
  if (!origin) return errorResponse(new ApiError(403, "origin_not_allowed", "this origin is not in CORS_ORIGINS"), { vary: "Origin" });
  return new Response(null, {
    status: 204,
    headers: {
      ...corsHeaders(origin),
      "access-control-allow-methods": ALLOW_METHODS,
      "access-control-allow-headers": ALLOW_HEADERS,
      "access-control-max-age": "86400",
    },
  });
}
