// What a vault route gets: the request, its limits, the vault's Durable Object and its packs.
import type { Access } from "./access.ts";
import type { CountingBucket } from "./counting-bucket.ts";
import type { Env, Limits } from "./env.ts";
import type { PackStore } from "./pack-store.ts";
import type { VaultApi } from "./vault-types.ts";

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
