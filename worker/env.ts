// The bindings and variables the Worker runs with (wrangler.toml), and the limits derived from them.
import type { VaultApi } from "./vault-types.ts";

export interface Env {
  BUCKET: R2Bucket;
  VAULT: DurableObjectNamespace<VaultApi>;
  /** Secret: `wrangler secret put SYNC_TOKEN`. Unset = every request is refused. */
  SYNC_TOKEN?: string;
  CORS_ORIGINS?: string;
  MAX_BODY_BYTES?: string;
  MAX_PACK_BYTES?: string;
  MAX_OBJECTS_PER_REQUEST?: string;
  MAX_INFLATE_BYTES?: string;
  VAULT_LIMIT_BYTES?: string;
  DEFAULT_VAULT?: string;
  /**
   * Off unless set: the one vault that requests to the predecessor's routes WITHOUT a token act on
   * (the predecessor's trust model, for the Penumbra app's unchanged client; docs/security.md).
   */
  OPEN_VAULT?: string;
  /** What token-less requests may do on OPEN_VAULT: "write" (the default: the app syncs) or "read". */
  OPEN_VAULT_ACCESS?: string;
  /** Retention and GC (worker/retention.ts, docs/reliability.md). */
  RETENTION_DAYS?: string;
  RETENTION_SNAPSHOTS?: string;
  GC_GRACE_SECONDS?: string;
  UPLOAD_LEASE_SECONDS?: string;
}

export interface Limits {
  maxBodyBytes: number;
  maxPackBytes: number;
  maxObjectsPerRequest: number;
  /**
   * Raw bytes one push may make the Worker inflate over all its packs (each at most MAX_PACK_RAW):
   * bounds the CPU a body of small bomb packs costs (native inflate: ~1 s for the default 512 MiB).
   */
  maxInflateBytes: number;
  /** JSON request bodies (create, pull, missing): 10,000 addresses fit with room to spare. */
  maxJsonBytes: number;
  /** Addresses per `want` / `missing` request. */
  maxAddrsPerRequest: number;
  /** Quota of one vault's stored bytes (VAULT_LIMIT_BYTES, default 512 MiB): a write past it is 413 quota_exceeded. */
  vaultLimitBytes: number;
}

function positiveInt(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

export function limitsOf(env: Env): Limits {
  const maxBodyBytes = positiveInt(env.MAX_BODY_BYTES, 32 * 1024 * 1024);
  return {
    maxBodyBytes,
    maxPackBytes: positiveInt(env.MAX_PACK_BYTES, 8 * 1024 * 1024),
    maxObjectsPerRequest: positiveInt(env.MAX_OBJECTS_PER_REQUEST, 200_000),
    maxInflateBytes: positiveInt(env.MAX_INFLATE_BYTES, 512 * 1024 * 1024),
    maxJsonBytes: Math.min(maxBodyBytes, 1024 * 1024),
    maxAddrsPerRequest: 10_000,
    vaultLimitBytes: positiveInt(env.VAULT_LIMIT_BYTES, 512 * 1024 * 1024),
  };
}
