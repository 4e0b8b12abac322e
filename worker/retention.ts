// The retention policy and the garbage collector's settings (docs/reliability.md).
//
//   keep every snapshot committed in the last RETENTION_DAYS days (default 30), the last
//   RETENTION_SNAPSHOTS snapshots (default 50) and always the head; GC_GRACE_SECONDS (default
//   3600): packs uploaded and objects committed more recently than this are never collected.
//   UPLOAD_LEASE_SECONDS (default 3600): a pack still marked uploading this long after its upload
//   began belongs to a request that died (an isolate killed mid-push never rolls back): GC releases it.
import type { Env } from "./env.ts";
import type { GcPolicy } from "./vault-types.ts";

export const DEFAULT_RETENTION_DAYS = 30;
export const DEFAULT_RETENTION_SNAPSHOTS = 50;
export const DEFAULT_GC_GRACE_SECONDS = 3600;
export const DEFAULT_UPLOAD_LEASE_SECONDS = 3600;

/** A non-negative integer from a wrangler var, else the default. */
function nonNegativeInt(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

/** The policy of the deployed Worker: wrangler vars RETENTION_DAYS, RETENTION_SNAPSHOTS, GC_GRACE_SECONDS, UPLOAD_LEASE_SECONDS. */
export function policyOf(env: Pick<Env, "RETENTION_DAYS" | "RETENTION_SNAPSHOTS" | "GC_GRACE_SECONDS" | "UPLOAD_LEASE_SECONDS">): GcPolicy {
  const grace = nonNegativeInt(env.GC_GRACE_SECONDS, DEFAULT_GC_GRACE_SECONDS);
  return {
    retentionDays: nonNegativeInt(env.RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
    retentionSnapshots: Math.max(1, nonNegativeInt(env.RETENTION_SNAPSHOTS, DEFAULT_RETENTION_SNAPSHOTS)),
    graceSeconds: grace,
    committedGraceSeconds: grace,
    uploadLeaseSeconds: nonNegativeInt(env.UPLOAD_LEASE_SECONDS, DEFAULT_UPLOAD_LEASE_SECONDS),
  };
}

/**
 * `/sync/clear` (and `POST /gc {"keep": "head"}`): keep only the head. Committed history is not
 * protected by age (the compare-and-swap epoch makes that safe, docs/reliability.md); uploads in
 * flight still are (the grace period of pending and uploading packs).
 */
export function headOnlyPolicy(base: GcPolicy): GcPolicy {
  return { ...base, retentionDays: 0, retentionSnapshots: 1, committedGraceSeconds: 0 };
}

/**
 * SQL condition (on table `snapshots`) for the snapshots a GC run started at `startedAt` with head
 * `headSeq` retains; every snapshot committed after the run started is retained too.
 */
export function retainedCondition(policy: GcPolicy, headSeq: number, startedAt: number): { sql: string; args: number[] } {
  return {
    sql: "(seq > ? OR committed_at >= ? OR seq > ?)",
    args: [headSeq - policy.retentionSnapshots, policy.retentionDays > 0 ? startedAt - policy.retentionDays * 86_400_000 : Number.MAX_SAFE_INTEGER, headSeq],
  };
}
