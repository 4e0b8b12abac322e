// The vault inspector (app/, docs/browser.md) served by the Worker at /app/: off unless the
// APP_ENABLED var is "true" and an ASSETS binding holds the built site (dist/site: app/index.html,
// app.js, device-worker.js, style.css). `penumbra-sync serve` binds a folder it builds; a deployment binds
// Workers static assets. The page needs no token to load; the API it calls still does.
import { ApiError, errorResponse } from "./http.ts";

interface AppEnv {
  APP_ENABLED?: string;
  ASSETS?: { fetch(request: Request): Promise<Response> };
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  png: "image/png",
  svg: "image/svg+xml",
};

// The page talks to the API of its own origin by default; another server URL needs that server's CORS.
const CSP = "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The one error format (worker/http.ts). */
const problem = (status: number, error: string, message: string): Response => errorResponse(new ApiError(status, error, message));

/** The answer for /app and /app/*, or null when the app is off or the path is not the app's. */
export async function serveApp(request: Request, env: object): Promise<Response | null> {
  const e = env as AppEnv;
  if (e.APP_ENABLED !== "true") return null;
  const url = new URL(request.url);
  if (url.pathname !== "/app" && !url.pathname.startsWith("/app/")) return null;
  if (request.method !== "GET" && request.method !== "HEAD") return problem(405, "method_not_allowed", "the app is GET only");
  if (url.pathname === "/app") return new Response(null, { status: 308, headers: { location: "/app/" } });
  if (!e.ASSETS) return problem(503, "app_unavailable", "APP_ENABLED is set but there is no ASSETS binding with the built app (docs/browser.md)");
  const path = url.pathname === "/app/" ? "/app/index.html" : url.pathname;
  // Only the app's own flat files: no dot files, no sub-folders, nothing outside /app/.
  if (!/^\/app\/[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(path)) return problem(404, "not_found", `no such file: ${url.pathname}`);
  const res = await e.ASSETS.fetch(new Request(new URL(path, url.origin), { method: request.method }));
  if (!res.ok) return problem(404, "not_found", `no such file: ${url.pathname}`);
  const ext = path.slice(path.lastIndexOf(".") + 1);
  const headers = new Headers({
    "content-type": TYPES[ext] ?? "application/octet-stream",
    // File names are not content-hashed: revalidate, so a new build shows at once.
    "cache-control": "no-cache",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  const etag = res.headers.get("etag");
  if (etag) headers.set("etag", etag);
  return new Response(request.method === "HEAD" ? null : res.body, { status: 200, headers });
}
