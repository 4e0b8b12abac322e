// The Worker's edge: CORS, bearer auth, routing, and the JSON error format (docs/protocol.md).
// Everything about a vault happens in its Durable Object (worker/vault-object.ts) and in R2
// (worker/pack-store.ts); the routes live one per file.
//
//   PUT|GET /v1/vaults/:vault               create / info            vaults.ts
//   POST    /v1/vaults/:vault/push          upload packs, commit     push.ts (+ commit.ts)
//   POST    /v1/vaults/:vault/pull          changes since a snapshot pull.ts
//   GET     /v1/vaults/:vault/log           snapshot log             vaults.ts
//   GET     /v1/vaults/:vault/objects/:addr one object               objects.ts
//   POST    /v1/vaults/:vault/missing       which addresses are absent objects.ts
//   POST    /v1/vaults/:vault/gc            garbage collection       gc.ts (+ retention.ts; also the Cron Trigger)
//   POST    /v1/vaults/:vault/check|repair  corruption check, repair repair.ts
//   /sync/*, /notes|embeddings|positions/:id the predecessor's API   legacy/ (docs/legacy-api.md)
import type { VaultRequest } from "./context.ts";
import { CountingBucket } from "./counting-bucket.ts";
import { allowedOrigin, corsHeaders, preflight } from "./cors.ts";
import { secretsEqual } from "./crypto.ts";
import { limitsOf, type Env } from "./env.ts";
import { ApiError, badRequest, errorResponse, json } from "./http.ts";
import { handleLegacy, isLegacyPath, legacyPreflight } from "./legacy/index.ts";
import { handleGetObject, handleMissing } from "./objects.ts";
import { PackStore } from "./pack-store.ts";
import { handlePull } from "./pull.ts";
import { handlePush } from "./push.ts";
import { handleCreate, handleInfo, handleLog } from "./vaults.ts";
import { VaultObject } from "./vault-object.ts";
import { handleGc } from "./gc.ts";
import { handleCheck, handleRepair } from "./repair.ts";
import { serveApp } from "./app.ts";

export { VaultObject };

export const VAULT_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

type Handler = (req: VaultRequest, arg: string) => Promise<Response>;

/** Per vault sub-path: the handler of each method. */
function routeOf(rest: string[]): Partial<Record<string, Handler>> | null {
  if (rest.length === 0) return { GET: handleInfo, PUT: handleCreate };
  if (rest.length === 1) {
    switch (rest[0]) {
      case "push":
        return { POST: handlePush };
      case "pull":
        return { POST: handlePull };
      case "log":
        return { GET: handleLog };
      case "missing":
        return { POST: handleMissing };
      case "gc":
        return { POST: handleGc };
      case "check":
        return { POST: handleCheck };
      case "repair":
        return { POST: handleRepair };
    }
  }
  if (rest.length === 2 && rest[0] === "objects") return { GET: handleGetObject };
  return null;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badRequest("malformed percent-encoding in the path");
  }
}

async function authorize(request: Request, env: Env): Promise<void> {
  if (!env.SYNC_TOKEN)
    throw new ApiError(401, "unauthorized", "the server has no SYNC_TOKEN set, so it refuses every request: the operator must run `wrangler secret put SYNC_TOKEN`");
  const m = /^Bearer +(\S+) *$/i.exec(request.headers.get("authorization") ?? "");
  if (!m || !(await secretsEqual(m[1], env.SYNC_TOKEN))) throw new ApiError(401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)");
}

async function route(request: Request, env: Env, ctx: ExecutionContext, bucket: CountingBucket): Promise<Response> {
  await authorize(request, env);
  const url = new URL(request.url);
  const path = url.pathname;

  if (isLegacyPath(path)) {
    const defaultVault = env.DEFAULT_VAULT || "default";
    if (!VAULT_NAME_RE.test(defaultVault)) throw new ApiError(500, "misconfigured", "DEFAULT_VAULT is not a valid vault name");
    const r = await handleLegacy(request, { env, bucket, defaultVault, waitUntil: (p) => ctx.waitUntil(p) });
    if (r) return r;
    throw new ApiError(404, "not_found", `no route for ${path}`);
  }

  const segs = path.split("/").slice(1);
  if (segs[0] !== "v1" || segs[1] !== "vaults" || segs.length < 3) throw new ApiError(404, "not_found", `no route for ${path}`);
  const vault = decodeSegment(segs[2]);
  // Validated before it names a Durable Object or an R2 key.
  if (!VAULT_NAME_RE.test(vault)) throw badRequest(`vault names match [A-Za-z0-9_-]{1,64}; got ${JSON.stringify(vault.slice(0, 80))}`);
  const rest = segs.slice(3).map(decodeSegment);
  const handlers = routeOf(rest);
  if (!handlers) throw new ApiError(404, "not_found", `no route for ${path}`);
  const handler = handlers[request.method];
  if (!handler) {
    const allow = Object.keys(handlers).join(", ");
    return errorResponse(new ApiError(405, "method_not_allowed", `${request.method} is not allowed here; use ${allow}`), { allow });
  }
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
  };
  return handler(req, rest[1] ?? "");
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
