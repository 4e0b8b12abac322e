// Every route the Worker serves, with the scope it needs (docs/security.md has the table with the
// reasons). The router matches only routes listed here, so a route cannot exist without a scope
// decision; test/worker/tokens.test.ts checks this list against its own copy of the decisions.
//
//   read   reads a vault: what a read-only device or a backup job needs
//   write  everything a syncing device does (read included)
//   admin  the operator token (SYNC_TOKEN) only: creating vaults, rekey, history-dropping GC, tokens
import { ApiError, badRequest } from "./http.ts";
import type { Scope } from "./tokens.ts";

export const VAULT_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface RouteSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  scope: Scope;
  /** The predecessor's API (worker/legacy/): acts on ?vault= or DEFAULT_VAULT. */
  legacy?: true;
}

export const ROUTES = [
  { method: "GET", path: "/v1/vaults/:vault", scope: "read" },
  { method: "PUT", path: "/v1/vaults/:vault", scope: "admin" },
  { method: "POST", path: "/v1/vaults/:vault/push", scope: "write" },
  { method: "POST", path: "/v1/vaults/:vault/pull", scope: "read" },
  { method: "GET", path: "/v1/vaults/:vault/log", scope: "read" },
  { method: "GET", path: "/v1/vaults/:vault/objects/:addr", scope: "read" },
  { method: "POST", path: "/v1/vaults/:vault/missing", scope: "read" },
  { method: "GET", path: "/v1/vaults/:vault/live", scope: "read" },
  { method: "POST", path: "/v1/vaults/:vault/gc", scope: "admin" },
  { method: "POST", path: "/v1/vaults/:vault/check", scope: "read" },
  { method: "POST", path: "/v1/vaults/:vault/repair", scope: "write" },
  { method: "POST", path: "/v1/vaults/:vault/tokens", scope: "admin" },
  { method: "GET", path: "/v1/vaults/:vault/tokens", scope: "admin" },
  { method: "DELETE", path: "/v1/vaults/:vault/tokens/:id", scope: "admin" },
  { method: "POST", path: "/sync/push", scope: "write", legacy: true },
  { method: "POST", path: "/sync/pull", scope: "read", legacy: true },
  { method: "GET", path: "/sync/status", scope: "read", legacy: true },
  { method: "POST", path: "/sync/clear", scope: "write", legacy: true },
  { method: "GET", path: "/notes/:id", scope: "read", legacy: true },
  { method: "PUT", path: "/notes/:id", scope: "write", legacy: true },
  { method: "DELETE", path: "/notes/:id", scope: "write", legacy: true },
  { method: "GET", path: "/embeddings/:id", scope: "read", legacy: true },
  { method: "PUT", path: "/embeddings/:id", scope: "write", legacy: true },
  { method: "DELETE", path: "/embeddings/:id", scope: "write", legacy: true },
  { method: "GET", path: "/positions/:id", scope: "read", legacy: true },
  { method: "PUT", path: "/positions/:id", scope: "write", legacy: true },
  { method: "DELETE", path: "/positions/:id", scope: "write", legacy: true },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
/** "METHOD /path" of each route (distributes over the union: no cross product of methods and paths). */
type KeyOf<R> = R extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;
export type RouteKey = KeyOf<Route>;
export type EngineRouteKey = KeyOf<Exclude<Route, { legacy: true }>>;

export const routeKey = (r: RouteSpec): string => `${r.method} ${r.path}`;

/** Where a request goes, found before any token is checked. */
export interface Target {
  /** The vault whose tokens may authorize it: a valid name, else null (only the operator token passes). */
  vault: string | null;
  /** The matching route, or null (404, or 405 when `allow` is not empty). */
  route: Route | null;
  params: Record<string, string>;
  /** Methods of the routes whose path matches. */
  allow: string[];
  /** A malformed request, answered after authentication (so that it tells a stranger nothing). */
  reject?: ApiError;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badRequest("malformed percent-encoding in the path");
  }
}

function matchPath(pattern: string, segs: string[]): Record<string, string> | null {
  const want = pattern.split("/").slice(1);
  if (want.length !== segs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) params[want[i].slice(1)] = segs[i];
    else if (want[i] !== segs[i]) return null;
  }
  return params;
}

const LEGACY_ITEM_COLLECTIONS = new Set(["notes", "embeddings", "positions"]);

/** `/sync/notes/:id` (the predecessor's spelling) is the same route as `/notes/:id`, with the same scope. */
export function legacyItemAlias(segs: string[]): string[] {
  return segs.length === 3 && segs[0] === "sync" && LEGACY_ITEM_COLLECTIONS.has(segs[1]) ? segs.slice(1) : segs;
}

/**
 * Engine routes are matched on percent-decoded segments (the vault name is then validated before
 * anything is named after it); the predecessor's routes on the raw path, as its handlers read it.
 */
export function resolveTarget(method: string, url: URL, defaultVault: string, isLegacyPath: (path: string) => boolean): Target {
  const raw = url.pathname.split("/").slice(1);
  const legacy = isLegacyPath(url.pathname);
  let segs = legacy ? legacyItemAlias(raw) : raw;
  let reject: ApiError | undefined;
  let vault: string | null = null;
  if (legacy) {
    const named = url.searchParams.get("vault") ?? defaultVault;
    vault = VAULT_NAME_RE.test(named) ? named : null;
  } else if (raw[0] === "v1" && raw[1] === "vaults" && raw.length >= 3) {
    try {
      segs = raw.map(decodeSegment);
      if (VAULT_NAME_RE.test(segs[2])) vault = segs[2];
      else reject = badRequest(`vault names match [A-Za-z0-9_-]{1,64}; got ${JSON.stringify(segs[2].slice(0, 80))}`);
    } catch (e) {
      reject = e as ApiError;
    }
  }
  const allow: string[] = [];
  let route: Route | null = null;
  let params: Record<string, string> = {};
  if (!reject)
    for (const r of ROUTES) {
      if (("legacy" in r) !== legacy) continue;
      const p = matchPath(r.path, segs);
      if (!p) continue;
      allow.push(r.method);
      if (r.method === method) {
        route = r;
        params = p;
      }
    }
  return { vault, route, params, allow, reject };
}
