// The Worker's edge: CORS, bearer auth, routing, and the JSON error format (docs/protocol.md).
// Every route and the scope it needs is in routes.ts; who may use it is decided in access.ts.
// Everything about a vault happens in its Durable Object (worker/vault-object.ts) and in R2
// (worker/pack-store.ts); the routes live one per file.
//
//   PUT|GET /v1/vaults/:vault               create / info            vaults.ts
//   POST    /v1/vaults/:vault/push          upload packs, commit     push.ts (+ commit.ts)
//   POST    /v1/vaults/:vault/pull          changes since a snapshot pull.ts
//   GET     /v1/vaults/:vault/log           snapshot log             vaults.ts
//   GET     /v1/vaults/:vault/objects/:addr one object               objects.ts
//   POST    /v1/vaults/:vault/missing       which addresses are absent objects.ts
//   GET     /v1/vaults/:vault/live          WebSocket: head moves    live.ts
//   POST    /v1/vaults/:vault/gc            garbage collection       gc.ts (+ retention.ts; also the Cron Trigger)
//   POST    /v1/vaults/:vault/check|repair  corruption check, repair repair.ts
//   POST|GET /v1/vaults/:vault/tokens, DELETE .../tokens/:id   vault tokens   token-routes.ts
//   /sync/*, /notes|embeddings|positions/:id the predecessor's API   legacy/ (docs/legacy-api.md);
//                                           token-less on OPEN_VAULT only   open-vault.ts
import type { VaultRequest } from "./context.ts";
import { CountingBucket } from "./counting-bucket.ts";
import { allowedOrigin, corsHeaders, preflight } from "./cors.ts";
import { limitsOf, type Env } from "./env.ts";
import { ApiError, errorResponse, json } from "./http.ts";
import { handleLegacy, isLegacyPath, legacyPreflight } from "./legacy/index.ts";
import { handleGetObject, handleMissing } from "./objects.ts";
import { PackStore } from "./pack-store.ts";
import { handlePull } from "./pull.ts";
import { handlePush } from "./push.ts";
import { handleCreate, handleInfo, handleLog } from "./vaults.ts";
import { VaultObject } from "./vault-object.ts";
import { handleGc } from "./gc.ts";
import { handleLive } from "./live.ts";
import { handleCheck, handleRepair } from "./repair.ts";
import { serveApp } from "./app.ts";
import { authenticate, requireScope } from "./access.ts";
import { isTokenless, openAccess, openVaultOf } from "./open-vault.ts";
import { resolveTarget, routeKey, VAULT_NAME_RE, type EngineRouteKey } from "./routes.ts";
import { handleCreateToken, handleListTokens, handleRevokeToken } from "./token-routes.ts";

export { VaultObject };

export { VAULT_NAME_RE };

type Handler = (req: VaultRequest, arg: string) => Promise<Response>;

/** The handler of every engine route in worker/routes.ts (the type makes a missing one a compile error). */
const HANDLERS: Record<EngineRouteKey, Handler> = {
  "GET /v1/vaults/:vault": handleInfo,
  "PUT /v1/vaults/:vault": handleCreate,
  "POST /v1/vaults/:vault/push": handlePush,
  "POST /v1/vaults/:vault/pull": handlePull,
  "GET /v1/vaults/:vault/log": handleLog,
  "GET /v1/vaults/:vault/objects/:addr": handleGetObject,
  "POST /v1/vaults/:vault/missing": handleMissing,
  "GET /v1/vaults/:vault/live": handleLive,
  "POST /v1/vaults/:vault/gc": handleGc,
  "POST /v1/vaults/:vault/check": handleCheck,
  "POST /v1/vaults/:vault/repair": handleRepair,
  "POST /v1/vaults/:vault/tokens": handleCreateToken,
  "GET /v1/vaults/:vault/tokens": handleListTokens,
  "DELETE /v1/vaults/:vault/tokens/:id": handleRevokeToken,
};

async function route(request: Request, env: Env, ctx: ExecutionContext, bucket: CountingBucket): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  const legacy = isLegacyPath(path);
  // With an open vault set, it is also the predecessor's routes' vault when no ?vault= is given.
  const open = legacy ? openVaultOf(env) : null;
  const defaultVault = open?.vault ?? (env.DEFAULT_VAULT || "default");
  const target = resolveTarget(request.method, url, defaultVault, isLegacyPath);
  // Before anything else: 404, 405 and 400 are answers for callers holding a valid token only
  // (or, on the predecessor's routes of an open vault, for token-less callers).
  const access = open && isTokenless(request) ? openAccess(open, target.vault) : await authenticate(request, env, target.vault);
  if (target.reject) throw target.reject;
  if (!target.route) {
    if (!target.allow.length) throw new ApiError(404, "not_found", `no route for ${path}`);
    const allow = target.allow.join(", ");
    return errorResponse(new ApiError(405, "method_not_allowed", `${request.method} is not allowed here; use ${allow}`), { allow });
  }
  requireScope(access, target.route.scope);

  if ("legacy" in target.route) {
    if (!VAULT_NAME_RE.test(defaultVault)) throw new ApiError(500, "misconfigured", "DEFAULT_VAULT is not a valid vault name");
    const r = await handleLegacy(request, { env, bucket, defaultVault, waitUntil: (p) => ctx.waitUntil(p) });
    if (r) return r;
    throw new ApiError(404, "not_found", `no route for ${path}`);
  }

  const vault = target.params.vault;
  const req: VaultRequest = {
    request,
    url,
    env,
    limits: limitsOf(env),
    vault,
    stub: env.VAULT.get(env.VAULT.idFromName(vault)),
    bucket,
    store: new PackStore(bucket, vault),
    waitUntil: (p) => ctx.waitUntil(p),
    access,
  };
  return HANDLERS[routeKey(target.route) as EngineRouteKey](req, target.params.addr ?? target.params.id ?? "");
}

function failure(e: unknown): Response {
  if (e instanceof ApiError) return errorResponse(e, e.status === 401 ? { "www-authenticate": 'Bearer realm="penumbra-sync"' } : {});
  // Details go to the log, never to the client.
  console.error("unhandled error", e);
  return json({ error: "internal", message: "internal error; retry later" }, 500);
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const app = await serveApp(request, env); // the inspector at /app/: null unless APP_ENABLED (worker/app.ts)
    if (app) return app;
    const origin = allowedOrigin(request, env);
    const bucket = new CountingBucket(env.BUCKET);
    let response: Response;
    try {
      if (request.method !== "OPTIONS") response = await route(request, env, ctx, bucket);
      else response = isLegacyPath(new URL(request.url).pathname) ? legacyPreflight(origin) : preflight(origin);
    } catch (e) {
      response = failure(e);
    }
    if (response.webSocket) return response; // a live socket (101): its headers are the handshake's
    const out = new Response(response.body, response);
    for (const [k, v] of Object.entries(corsHeaders(origin))) out.headers.set(k, v);
    out.headers.set("x-r2-ops", bucket.header());
    return out;
  },

  /**
   * Cron Trigger (wrangler.toml [triggers]): the vaults are the `vaults/<name>/` prefixes of R2 (a
   * Worker cannot list Durable Objects); each is asked whether it saw activity since its last GC,
   * and if so runs the GC in its own alarm, one bounded step at a time (docs/reliability.md).
   */
  async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
    let cursor: string | undefined;
    let kicked = 0;
    for (let page = 0; page < 10 && kicked < 900; page++) {
      const list = await env.BUCKET.list({ prefix: "vaults/", delimiter: "/", cursor });
      for (const prefix of list.delimitedPrefixes) {
        const vault = prefix.slice("vaults/".length, -1);
        if (!VAULT_NAME_RE.test(vault)) continue;
        kicked++;
        await env.VAULT.get(env.VAULT.idFromName(vault))
          .gcKick()
          .catch((e) => console.error(`gc kick of ${vault} failed`, e));
      }
      if (!list.truncated) break;
      cursor = list.cursor;
    }
  },
} satisfies ExportedHandler<Env>;
