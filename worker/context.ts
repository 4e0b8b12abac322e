// What a route's handler gets: every route (RouteCall, worker/index.ts), and an engine route on one
// vault (VaultRequest: its limits, the vault's Durable Object and its packs).
import type { Access } from "./access.ts";
import type { CountingBucket } from "./counting-bucket.ts";
import type { Env, Limits } from "./env.ts";
import type { PackStore } from "./pack-store.ts";
import type { VaultApi } from "./vault-types.ts";

/** Every route's handler: one table of them in worker/index.ts, keyed by worker/routes.ts. */
export type RouteHandler = (call: RouteCall) => Promise<Response>;

/** A request matched to a route of worker/routes.ts, its caller authenticated and its scope checked. */
export interface RouteCall {
  request: Request;
  url: URL;
  env: Env;
  /** Counts this request's R2 operations (x-r2-ops). */
  bucket: CountingBucket;
  access: Access;
  /** The route's path parameters: percent-decoded on engine routes, raw on the predecessor's. */
  params: Record<string, string>;
  /** The predecessor's routes act on this vault when no ?vault= is given: OPEN_VAULT if set, else DEFAULT_VAULT. */
  defaultVault: string;
  waitUntil(p: Promise<unknown>): void;
}

export interface VaultRequest {
  request: Request;
  url: URL;
  env: Env;
  limits: Limits;
  /** Validated ([A-Za-z0-9_-]{1,64}) before anything was named after it. */
  vault: string;
  stub: DurableObjectStub<VaultApi>;
  /** Counts this request's R2 operations (x-r2-ops). */
  bucket: CountingBucket;
  store: PackStore;
  waitUntil(p: Promise<unknown>): void;
  /** Who is asking (the route's scope is already checked). */
  access: Access;
}
